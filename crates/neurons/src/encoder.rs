//! Rate encoders turning analog inputs into spike trains.

use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};

use serde::{Deserialize, Serialize};

use crate::counter;

/// Which generator a [`PoissonEncoder`] draws from, as a config value
/// (`"host"` or `"counter"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputGenerator {
    /// [`PoissonEncoder::new`]: a seeded host generator, uploaded per draw.
    #[default]
    Host,
    /// [`PoissonEncoder::counter`]: counter-based, on the device off the CPU.
    Counter,
}

impl InputGenerator {
    /// An encoder of this kind with seed `seed`.
    pub fn encoder(self, seed: u64) -> PoissonEncoder {
        match self {
            InputGenerator::Host => PoissonEncoder::new(seed),
            InputGenerator::Counter => PoissonEncoder::counter(seed),
        }
    }
}

/// Signed Poisson rate encoder (PrivateSNN Sec. 2.1, authors' code).
///
/// For an input `x` (normalised, typically in `[-1, 1]`) each timestep emits
/// `s = sign(x) · [r <= |x|]` with `r ~ U(0, 1)` drawn independently per
/// element and timestep, so the expected firing rate is `min(|x|, 1)` and the
/// sign of `x` is kept.
///
/// The random numbers never come from the device's own generator, so the
/// same seed gives the same spikes on every backend (flex, ndarray, wgpu,
/// ...), which makes runs reproducible and backends comparable. Two
/// generators do this:
///
/// - [`new`](Self::new): a seeded host generator (xoshiro256++), its
///   numbers uploaded to the device at every draw;
/// - [`counter`](Self::counter): counter-based, each number a hash of
///   (seed, draw, element index) (see `counter.rs`). On a CPU backend it is
///   computed on the host; on any other (wgpu, ...) on the device with
///   integer tensor operations, with no upload; the numbers are the same
///   bit for bit (tested on flex, ndarray and wgpu).
///
/// The two generators give different (equally distributed) spike trains.
#[derive(Clone, Debug)]
pub struct PoissonEncoder {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Host(StdRng),
    /// The seed and the number of draws (timesteps or masks) so far.
    Counter {
        seed: u64,
        draws: u64,
    },
}

impl PoissonEncoder {
    /// A new encoder whose spike trains are fully determined by `seed`,
    /// from a host generator (xoshiro256++).
    pub fn new(seed: u64) -> Self {
        Self {
            source: Source::Host(StdRng::seed_from_u64(seed)),
        }
    }

    /// A new encoder whose spike trains are fully determined by `seed`,
    /// from the counter-based generator: generated on the device where the
    /// device is not a CPU backend.
    pub fn counter(seed: u64) -> Self {
        Self {
            source: Source::Counter { seed, draws: 0 },
        }
    }

    /// Uniform numbers in `[0, 1)` of `shape`, whose first dimension counts
    /// draws (timesteps) for the counter-based generator.
    fn uniform<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let n: usize = shape.iter().product();
        match &mut self.source {
            Source::Host(rng) => {
                let values: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
                Tensor::from_data(TensorData::new(values, shape), device)
            }
            Source::Counter { seed, draws } => {
                let rows = if D == 0 { 1 } else { shape[0] };
                let width = n.checked_div(rows).unwrap_or(0);
                let first = *draws;
                *draws += rows as u64;
                let u = if crate::cpu::is_host(device) {
                    let values = counter::host_uniform(*seed, first, rows, width);
                    Tensor::<2>::from_data(TensorData::new(values, [rows, width]), device)
                } else {
                    counter::device_uniform(*seed, first, rows, width, device)
                };
                u.reshape(shape)
            }
        }
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
        let keep = 1.0 / (1.0 - prob);
        match &mut self.source {
            Source::Host(rng) => {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n)
                    .map(|_| {
                        if rng.random::<f64>() < prob {
                            0.0
                        } else {
                            keep as f32
                        }
                    })
                    .collect();
                Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
            }
            Source::Counter { .. } => {
                // One draw for the whole mask.
                let n: usize = shape.iter().product();
                let u = self.uniform([1, n], device);
                u.greater_equal_elem(prob)
                    .float()
                    .mul_scalar(keep)
                    .reshape(shape)
            }
        }
    }

    /// Spikes for one timestep; advances the generator.
    ///
    /// # Shapes
    /// - x: any
    /// - output: same as `x`, values in {-1, 0, 1}
    pub fn encode_step<const D: usize>(&mut self, x: Tensor<D>) -> Tensor<D> {
        let n = x.shape().num_elements();
        let r = self.uniform([1, n], &x.device()).reshape(x.dims());
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
        let n = x.shape().num_elements();
        let mut shape = [timesteps; D2];
        shape[1..].copy_from_slice(&x.dims());
        let r = self.uniform([timesteps, n], &x.device()).reshape(shape);
        let x = x.unsqueeze_dim::<D2>(0);
        let fired = r.lower_equal(x.clone().abs()).float();
        fired * x.sign()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encoder constructor.
    type Make = fn(u64) -> PoissonEncoder;

    /// Both generators: the host one and the counter-based one.
    const GENERATORS: [(&str, Make); 2] = [
        ("host", PoissonEncoder::new),
        ("counter", PoissonEncoder::counter),
    ];

    #[test]
    fn rate_matches_magnitude_and_sign_is_kept() {
        let device = Device::flex();
        let levels = [-1.0f32, -0.75, -0.3, 0.0, 0.1, 0.5, 0.9, 1.0, 1.7];
        let n = 4000;
        for (name, make) in GENERATORS {
            let x = Tensor::<1>::from_floats(levels, &device);
            let s: Tensor<2> = make(7).encode(x, n);
            let data = s.into_data().try_to_vec::<f32>().unwrap();
            for (j, &level) in levels.iter().enumerate() {
                let col: Vec<f32> = (0..n).map(|t| data[t * levels.len() + j]).collect();
                // sign kept: every spike has the sign of x
                assert!(
                    col.iter().all(|&v| v == 0.0 || v == level.signum()),
                    "{name}: level {level}"
                );
                let rate = col.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
                let p = (level.abs() as f64).min(1.0);
                // 5 standard deviations of a binomial proportion, plus a floor for p in {0, 1}
                let bound = 5.0 * (p * (1.0 - p) / n as f64).sqrt() + 1e-9;
                assert!(
                    (rate - p).abs() <= bound,
                    "{name}: level {level}: rate {rate} vs {p} ± {bound}"
                );
            }
        }
    }

    #[test]
    fn same_seed_same_spikes_other_seed_different() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[0.5, -0.5, 0.2], [0.9, 0.1, -0.7]], &device);
        for (_, make) in GENERATORS {
            let a: Tensor<3> = make(3).encode(x.clone(), 50);
            let b: Tensor<3> = make(3).encode(x.clone(), 50);
            let c: Tensor<3> = make(4).encode(x.clone(), 50);
            a.clone().into_data().assert_eq(&b.into_data(), true);
            assert_ne!(
                a.into_data().try_to_vec::<f32>().unwrap(),
                c.into_data().try_to_vec::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn dropout_mask_rate_and_scale() {
        let device = Device::flex();
        for (name, make) in GENERATORS {
            let m = make(5).dropout_mask([100, 100], 0.2, &device);
            let v = m.into_data().try_to_vec::<f32>().unwrap();
            assert!(v.iter().all(|&x| x == 0.0 || x == 1.25), "{name}");
            let dropped = v.iter().filter(|&&x| x == 0.0).count() as f64 / 1e4;
            assert!(
                (dropped - 0.2).abs() < 5.0 * (0.2f64 * 0.8 / 1e4).sqrt(),
                "{name}: {dropped}"
            );
        }
    }

    #[test]
    fn encode_equals_stacked_steps() {
        let device = Device::flex();
        let x = Tensor::<2>::from_floats([[0.5, -0.5], [0.9, 0.1]], &device);
        for (_, make) in GENERATORS {
            let all: Tensor<3> = make(11).encode(x.clone(), 5);
            let mut enc = make(11);
            let steps: Vec<Tensor<3>> = (0..5)
                .map(|_| enc.encode_step(x.clone()).unsqueeze_dim(0))
                .collect();
            all.into_data()
                .assert_eq(&Tensor::cat(steps, 0).into_data(), true);
        }
    }

    /// The counter-based generator gives the same spikes and dropout masks
    /// on flex (host numbers) as on wgpu (device numbers), chunk after chunk.
    #[test]
    fn counter_spikes_are_the_same_on_every_backend() {
        let run = |device: &Device| {
            let x = Tensor::<3>::from_data(
                TensorData::new(
                    (0..2 * 3 * 50)
                        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
                        .collect::<Vec<f32>>(),
                    [2, 3, 50],
                ),
                device,
            );
            let mut enc = PoissonEncoder::counter(99);
            let a: Tensor<4> = enc.encode(x.clone(), 4);
            let b = enc.encode_step(x.clone());
            let m = enc.dropout_mask([2, 3, 50], 0.3, device);
            let c: Tensor<4> = enc.encode(x, 3);
            [a.into_data(), b.into_data(), m.into_data(), c.into_data()]
        };
        let flex = run(&Device::flex());
        let gpu = run(&Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
        for (f, g) in flex.iter().zip(&gpu) {
            f.assert_eq(g, true);
        }
        let spikes: f32 = flex[0].iter::<f32>().map(f32::abs).sum();
        assert!(spikes > 0.0 && spikes < 1200.0, "{spikes}");
    }
}
