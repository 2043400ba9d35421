//! Rate encoders turning analog inputs into spike trains.

use burn::tensor::{Tensor, TensorData};
use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};

/// Signed Poisson rate encoder (PrivateSNN Sec. 2.1, authors' code).
///
/// For an input `x` (normalised, typically in `[-1, 1]`) each timestep emits
/// `s = sign(x) · [r <= |x|]` with `r ~ U(0, 1)` drawn independently per
/// element and timestep, so the expected firing rate is `min(|x|, 1)` and the
/// sign of `x` is kept.
///
/// The random numbers come from a seeded host generator (xoshiro256++, a
/// fixed algorithm), not the device's: the
/// same seed gives the same spikes on every backend (flex, ndarray, wgpu, ...),
/// which makes runs reproducible and backends comparable.
#[derive(Clone, Debug)]
pub struct PoissonEncoder {
    rng: StdRng,
}

impl PoissonEncoder {
    /// A new encoder whose spike trains are fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn uniform(&mut self, shape: Vec<usize>) -> TensorData {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| self.rng.random::<f32>()).collect();
        TensorData::new(values, shape)
    }

    /// A dropout mask drawn from this encoder's generator: each element is
    /// `1 / (1 - prob)` with probability `1 - prob`, else 0 (inverted
    /// dropout, as `torch.nn.Dropout` applied to ones). Advances the generator.
    ///
    /// SNN training draws one such mask per layer and forward pass and keeps it
    /// across timesteps; taking it from the same seeded stream as the input
    /// spikes keeps the whole forward pass reproducible on every backend.
    ///
    /// # Panics
    /// If `prob` is not in `[0, 1)`.
    pub fn dropout_mask<const D: usize>(
        &mut self,
        shape: [usize; D],
        prob: f64,
        device: &burn::tensor::Device,
    ) -> Tensor<D> {
        assert!(
            (0.0..1.0).contains(&prob),
            "dropout probability {prob} not in [0, 1)"
        );
        let n: usize = shape.iter().product();
        let keep = (1.0 / (1.0 - prob)) as f32;
        let values: Vec<f32> = (0..n)
            .map(|_| {
                if self.rng.random::<f64>() < prob {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
    }

    /// Spikes for one timestep; advances the generator.
    ///
    /// # Shapes
    /// - x: any
    /// - output: same as `x`, values in {-1, 0, 1}
    pub fn encode_step<const D: usize>(&mut self, x: Tensor<D>) -> Tensor<D> {
        let r = Tensor::<D>::from_data(self.uniform(x.dims().to_vec()), &x.device());
        let fired = r.lower_equal(x.clone().abs()).float();
        fired * x.sign()
    }

    /// Spikes for `timesteps` steps, time-major; advances the generator.
    ///
    /// Identical to stacking `timesteps` calls of [`encode_step`](Self::encode_step).
    ///
    /// # Shapes
    /// - x: `[N, ...]` (rank `D`)
    /// - output: `[T, N, ...]` (rank `D2 = D + 1`)
    ///
    /// # Panics
    /// If `D2 != D + 1` (a programming error).
    pub fn encode<const D: usize, const D2: usize>(
        &mut self,
        x: Tensor<D>,
        timesteps: usize,
    ) -> Tensor<D2> {
        assert_eq!(D2, D + 1, "encode: output rank must be input rank + 1");
        let mut shape = vec![timesteps];
        shape.extend(x.dims());
        let r = Tensor::<D2>::from_data(self.uniform(shape), &x.device());
        let x = x.unsqueeze_dim::<D2>(0);
        let fired = r.lower_equal(x.clone().abs()).float();
        fired * x.sign()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn rate_matches_magnitude_and_sign_is_kept() {
        let device = Device::flex();
        let levels = [-1.0f32, -0.75, -0.3, 0.0, 0.1, 0.5, 0.9, 1.0, 1.7];
        let n = 4000;
        let x = Tensor::<1>::from_floats(levels, &device);
        let s: Tensor<2> = PoissonEncoder::new(7).encode(x, n);
        let data = s.into_data().try_to_vec::<f32>().unwrap();
        for (j, &level) in levels.iter().enumerate() {
            let col: Vec<f32> = (0..n).map(|t| data[t * levels.len() + j]).collect();
            // sign kept: every spike has the sign of x
            assert!(
                col.iter().all(|&v| v == 0.0 || v == level.signum()),
                "level {level}"
            );
            let rate = col.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
            let p = (level.abs() as f64).min(1.0);
            // 5 standard deviations of a binomial proportion, plus a floor for p in {0, 1}
            let bound = 5.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-9;
            assert!(
                (rate - p).abs() <= bound,
                "level {level}: rate {rate} vs {p} ± {bound}"
            );
        }
    }

    #[test]
    fn same_seed_same_spikes_other_seed_different() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[0.5, -0.5, 0.2], [0.9, 0.1, -0.7]], &device);
        let a: Tensor<3> = PoissonEncoder::new(3).encode(x.clone(), 50);
        let b: Tensor<3> = PoissonEncoder::new(3).encode(x.clone(), 50);
        let c: Tensor<3> = PoissonEncoder::new(4).encode(x, 50);
        a.clone().into_data().assert_eq(&b.into_data(), true);
        assert_ne!(
            a.into_data().try_to_vec::<f32>().unwrap(),
            c.into_data().try_to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn dropout_mask_rate_and_scale() {
        let device = Device::flex();
        let m = PoissonEncoder::new(5).dropout_mask([100, 100], 0.2, &device);
        let v = m.into_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|&x| x == 0.0 || x == 1.25));
        let dropped = v.iter().filter(|&&x| x == 0.0).count() as f64 / 1e4;
        assert!(
            (dropped - 0.2).abs() < 5.0 * (0.2f64 * 0.8 / 1e4).sqrt(),
            "{dropped}"
        );
    }

    #[test]
    fn encode_equals_stacked_steps() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[0.5, -0.5], [0.9, 0.1]], &device);
        let all: Tensor<3> = PoissonEncoder::new(11).encode(x.clone(), 5);
        let mut enc = PoissonEncoder::new(11);
        let steps: Vec<Tensor<3>> = (0..5)
            .map(|_| enc.encode_step(x.clone()).unsqueeze_dim(0))
            .collect();
        all.into_data()
            .assert_eq(&Tensor::cat(steps, 0).into_data(), true);
    }
}
