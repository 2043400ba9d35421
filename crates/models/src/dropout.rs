//! Dropout on the CPU backends with masks from the counter-based generator
//! ([`privatesnn_neurons::counter_uniform`]), in parallel.
//!
//! Burn's `Dropout` draws its Bernoulli mask from the device's ChaCha
//! stream one number at a time on the host and applies it in two tensor
//! operations: about 5% of a VGG16 training step at batch 8 on two cores.
//! Here the mask is a hash of (seed, element) computed in parallel, with
//! the seed drawn from the device's generator (so `device.seed(s)` still
//! makes a run reproducible), and applied as one multiplication by
//! `0` or `1/(1 − p)`. Same distribution and the same rule as Burn's (active
//! only in training mode on an autodiff device), other masks. Elsewhere
//! (wgpu) Burn's `Dropout` runs.

use burn::nn::Dropout;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use privatesnn_neurons::counter_uniform;
use privatesnn_neurons::cpu::is_host;

/// A fresh seed from `device`'s generator: three 30-bit draws (the
/// integer range every backend's `Int` holds), folded into 64 bits.
fn draw_seed(device: &Device) -> u64 {
    let halves = Tensor::<1, Int>::random([3], Distribution::Uniform(0.0, 1_073_741_824.0), device)
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("an integer tensor converts to i64");
    halves.iter().fold(0u64, |acc, &h| {
        acc.rotate_left(30) ^ (h as u64 & 0x3fff_ffff)
    })
}

/// `dropout.forward(x)`, with the mask made by the counter-based
/// generator on the CPU backends (see the [module docs](self)).
pub fn dropout<const D: usize>(dropout: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !dropout.training.is_enabled() || !device.is_autodiff() || dropout.prob == 0.0 {
        return x;
    }
    if !is_host(&device) {
        return dropout.forward(x);
    }
    let keep = 1.0 - dropout.prob;
    let (scale, keep) = ((1.0 / keep) as f32, keep as f32);
    let n = x.shape().num_elements();
    let mask: Vec<f32> = counter_uniform(draw_seed(&device), 0, n)
        .into_iter()
        .map(|u| if u < keep { scale } else { 0.0 })
        .collect();
    let mask = Tensor::<D>::from_data(TensorData::new(mask, x.shape()), &device);
    x * mask
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::DropoutConfig;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::dropout;

    /// About `1 − p` of the elements kept, each scaled by exactly
    /// `1/(1 − p)`, the rest exactly 0; the gradient is the same mask;
    /// two calls draw different masks, the same device seed the same ones.
    #[test]
    fn masks_keep_the_right_share_scaled_with_matching_gradients() {
        let device = Device::flex().autodiff();
        let d = DropoutConfig::new(0.3).init();
        let n = 200_000;
        let x = Tensor::<1>::random([n], Distribution::Uniform(1.0, 2.0), &device).require_grad();
        device.seed(5);
        let y = dropout(&d, x.clone());
        let g = x
            .grad(&y.clone().sum().backward())
            .expect("grad")
            .into_data();
        let (xs, ys) = (x.clone().into_data(), y.into_data());
        let (xs, ys, gs): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            xs.try_to_vec().unwrap(),
            ys.try_to_vec().unwrap(),
            g.try_to_vec().unwrap(),
        );
        let scale = (1.0 / 0.7f64) as f32;
        let mut kept = 0usize;
        for ((x, y), g) in xs.iter().zip(&ys).zip(&gs) {
            if *y == 0.0 {
                assert_eq!(*g, 0.0);
            } else {
                kept += 1;
                assert_eq!(*y, x * scale);
                assert_eq!(*g, scale);
            }
        }
        let share = kept as f64 / n as f64;
        assert!((share - 0.7).abs() < 0.005, "kept {share}");

        let mask = |seed: Option<u64>| {
            if let Some(s) = seed {
                device.seed(s);
            }
            dropout(&d, Tensor::<1>::ones([1000], &device)).into_data()
        };
        let (a, b) = (mask(Some(9)), mask(None));
        assert_ne!(a, b, "two calls, two masks");
        assert_eq!(mask(Some(9)), a, "the device seed fixes the masks");
    }

    /// On a CPU backend the mask is exactly the counter generator's for the
    /// seed drawn from the device (so this is the path that ran, not
    /// Burn's `Dropout`), on flex and ndarray.
    #[test]
    #[allow(deprecated)] // Device::ndarray
    fn the_mask_is_the_counter_generators() {
        for base in [Device::flex(), Device::ndarray()] {
            let device = base.autodiff();
            let d = DropoutConfig::new(0.4).init();
            let n = 5_000;
            device.seed(21);
            let seed = super::draw_seed(&device);
            device.seed(21);
            let y = dropout(&d, Tensor::<1>::ones([n], &device)).into_data();
            let want: Vec<f32> = privatesnn_neurons::counter_uniform(seed, 0, n)
                .into_iter()
                .map(|u| if u < 0.6 { (1.0 / 0.6f64) as f32 } else { 0.0 })
                .collect();
            assert_eq!(y.to_vec::<f32>().unwrap(), want);
        }
    }

    /// Burn's rule: no dropout without autodiff, on a frozen layer, or at p = 0.
    #[test]
    fn inactive_where_burns_dropout_is() {
        let x = Tensor::<1>::random([64], Distribution::Uniform(1.0, 2.0), &Device::flex());
        let d = DropoutConfig::new(0.5).init();
        assert_eq!(dropout(&d, x.clone()).into_data(), x.clone().into_data());
        let ad = Device::flex().autodiff();
        let xa = Tensor::<1>::from_data(x.clone().into_data(), &ad);
        let frozen = d.clone().freeze();
        assert_eq!(
            dropout(&frozen, xa.clone()).into_data(),
            x.clone().into_data()
        );
        assert_ne!(
            dropout(&d, xa.clone()).into_data(),
            x.clone().into_data(),
            "active"
        );
        let off = DropoutConfig::new(0.0).init();
        assert_eq!(dropout(&off, xa.clone()).into_data(), x.into_data());
    }
}
