//! Attack scenario 2: class images straight from the SNN with its surrogate
//! gradient (PrivateSNN Sec. 4, Algorithm 4).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;
use burn::tensor::{Device, Tensor, TensorData};
use privatesnn_models::Snn;
use privatesnn_neurons::PoissonEncoder;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::{AttackError, ClassImages, check_classes, num_classes, one_hot};

/// Settings of [`snn_gradient_attack`] (Algorithm 4).
#[derive(Config, Debug, PartialEq)]
pub struct SnnAttackConfig {
    /// Iterations `N` (the paper does not give it; attack 1 uses 150).
    #[config(default = 150)]
    pub iterations: usize,
    /// Step size ζ on the image (paper: 0.01).
    #[config(default = 0.01)]
    pub zeta: f64,
    /// Timesteps `T` of each forward pass; 0 = the SNN's own.
    #[config(default = 0)]
    pub timesteps: usize,
    /// Seed of the initial noise and of the Poisson spikes.
    #[config(default = 0)]
    pub seed: u64,
}

impl SnnAttackConfig {
    fn validate(&self) -> Result<(), AttackError> {
        if !(self.zeta.is_finite() && self.zeta > 0.0) {
            return Err(AttackError::Config {
                field: "zeta",
                reason: format!("must be finite and > 0, got {}", self.zeta),
            });
        }
        Ok(())
    }
}

/// The deconvolution of Algorithm 4: `conv1`'s transposed convolution (3x3,
/// stride 1, padding 1, as in the VGG), mapping a gradient at conv1's output
/// `[N, C1, H, W]` to image space `[N, C, H, W]`. It is the adjoint of the
/// convolution: `<conv(x), y> = <x, deconvolve(y)>` (tested), so it gives
/// the gradient with respect to conv1's input spikes.
///
/// # Shapes
/// - grad: `[N, C1, H, W]`
/// - weight: conv1's `[C1, C, 3, 3]`
/// - output: `[N, C, H, W]`
pub fn deconvolve(grad: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    let [_, _, k, _] = weight.dims();
    conv_transpose2d(
        grad,
        weight,
        None,
        ConvTransposeOptions::new([1, 1], [k / 2, k / 2], [0, 0], [1, 1], 1),
    )
}

/// Attack 2: one image per entry of `classes` (`shape` = `[C, H, W]`) by
/// gradient ascent straight through `snn`:
///
/// 1. `x` starts as uniform noise in `[0, 1]`;
/// 2. each iteration Poisson-encodes the normalised image over `T` steps,
///    runs conv1, and runs the rest of the SNN from conv1's currents
///    ([`Snn::forward_conv1_current`]) with the surrogate gradient;
/// 3. `G = (1/T) Σ_t ∂y_c/∂I_1(t)`, the gradient of the target output
///    membrane `y_c = u_T[c]` with respect to conv1's currents, averaged over
///    time (Algorithm 4, line 7);
/// 4. `δx = deconvolve(G, W_1)` (line 9), `x ← clip(x + ζ δx, 0, 1)` (line 10;
///    the clip keeps a valid image, which the paper leaves implicit).
///
/// The final images are quantised to 8 bits. The SNN may be on `device` or
/// its autodiff counterpart; it is run in evaluation mode (no dropout).
pub fn snn_gradient_attack(
    snn: &Snn,
    classes: &[usize],
    shape: [usize; 3],
    config: &SnnAttackConfig,
    device: &Device,
) -> Result<ClassImages, AttackError> {
    config.validate()?;
    let k = num_classes(snn);
    check_classes(classes, k)?;
    let [c, h, w] = shape;
    let [_, c_in, _, _] = snn.ann.convs[0].weight.dims();
    if c_in != c {
        return Err(AttackError::Config {
            field: "shape",
            reason: format!("the SNN takes {c_in} channels, the images have {c}"),
        });
    }
    let t = if config.timesteps == 0 {
        snn.timesteps
    } else {
        config.timesteps
    };
    let plain = device.clone().without_autodiff();
    let ad = plain.clone().autodiff();
    let net = snn.valid().fork(&ad);
    let select = one_hot(classes, k, &ad);
    let n = classes.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let noise: Vec<f32> = (0..n * c * h * w).map(|_| rng.random::<f32>()).collect();
    let mut x = Tensor::<4>::from_data(TensorData::new(noise.clone(), [n, c, h, w]), &plain);
    let mut encoder = snn.encoder(config.seed ^ 0x5EED_A77A_C002);
    let objective = |x: &Tensor<4>, encoder: &mut PoissonEncoder| -> Vec<f32> {
        let out =
            net.valid()
                .forward_timesteps(x.clone().mul_scalar(2.0).sub_scalar(1.0), t, encoder);
        (out.logits * select.clone().inner())
            .sum_dim(1)
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let objective_start = objective(&x, &mut encoder.clone());
    for _ in 0..config.iterations {
        let delta = image_gradient(&net, &select, x.clone(), t, &mut encoder)?;
        x = (x + delta.mul_scalar(config.zeta)).clamp(0.0, 1.0);
    }
    let x = x.mul_scalar(255.0).round().div_scalar(255.0);
    let pixels: Vec<f32> = x.clone().into_data().iter::<f32>().collect();
    if pixels.iter().any(|p| !p.is_finite()) {
        return Err(AttackError::NonFinite(
            "the image became NaN (a non-finite gradient)".into(),
        ));
    }
    let objective_end = objective(&x, &mut encoder.clone());
    Ok(ClassImages {
        classes: classes.to_vec(),
        shape,
        objective_start,
        objective_end,
        mean_abs_change: crate::mean_abs_change(&pixels, &noise),
        pixels,
    })
}

/// One iteration's `δx` (Algorithm 4, lines 5-9) for images `x` in `[0, 1]`
/// (plain device): `deconvolve((1/T) Σ_t ∂(Σ_i u_T[i, c_i])/∂I_1(t), W_1)`,
/// with the spikes drawn from `encoder`. `net` is on an autodiff device,
/// `select` the one-hot targets there.
pub(crate) fn image_gradient(
    net: &Snn,
    select: &Tensor<2>,
    x: Tensor<4>,
    t: usize,
    encoder: &mut PoissonEncoder,
) -> Result<Tensor<4>, AttackError> {
    let [n, ..] = x.dims();
    let z = x.mul_scalar(2.0).sub_scalar(1.0);
    let spikes: Tensor<5> = encoder.encode(z, t);
    let current = weight_forward(net, spikes);
    let [_, _, c1, h1, w1] = current.dims();
    let current = Tensor::<5>::from_inner(current).require_grad();
    let out = net.forward_conv1_current(current.clone());
    let target = (out.membrane * select.clone()).sum();
    let grads = target.backward();
    let g = current
        .grad(&grads)
        .ok_or_else(|| AttackError::NonFinite("no gradient reached conv1".into()))?;
    let g: Tensor<4> = g.mean_dim(0).reshape([n, c1, h1, w1]);
    Ok(deconvolve(g, net.ann.convs[0].weight.val().inner()))
}

/// conv1's output currents `[T, N, C1, H, W]` for input spikes
/// `[T, N, C, H, W]`, on the plain device (the attack's leaf).
fn weight_forward(net: &Snn, spikes: Tensor<5>) -> Tensor<5> {
    let [t, n, c, h, w] = spikes.dims();
    let plain = net.ann.convs[0].valid();
    let cur = plain.forward(spikes.reshape([t * n, c, h, w]));
    let [_, c1, h1, w1] = cur.dims();
    cur.reshape([t, n, c1, h1, w1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_model::trained_snn;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;

    /// `<conv(x), y> = <x, deconvolve(y)>` for random `x`, `y`, `W`.
    #[test]
    fn deconvolution_is_the_adjoint_of_the_convolution() {
        let device = Device::flex();
        device.seed(2);
        let x = Tensor::<4>::random([2, 3, 7, 6], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<4>::random([2, 5, 7, 6], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([5, 3, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        let conv = conv2d(
            x.clone(),
            w.clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        );
        let lhs: f64 = (conv * y.clone()).sum().into_scalar::<f64>();
        let rhs: f64 = (x * deconvolve(y, w)).sum().into_scalar::<f64>();
        assert!(
            (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    /// One iteration's image gradient equals the time-averaged gradient with
    /// respect to the input spikes, computed on another path (the SNN driven
    /// by the tracked spike train, autodiff through conv1).
    #[test]
    fn image_gradient_is_the_mean_spike_gradient() {
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let net = trained_snn(&device).fork(&ad);
        let classes = [0, 2, 1];
        let select = one_hot(&classes, 3, &ad);
        device.seed(4);
        let x = Tensor::<4>::random([3, 1, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
        let t = 6;
        let delta =
            image_gradient(&net, &select, x.clone(), t, &mut PoissonEncoder::new(5)).unwrap();
        assert!(
            delta.clone().abs().sum().into_scalar::<f32>() > 0.0,
            "no gradient"
        );

        let spikes: Tensor<5> = PoissonEncoder::new(5).encode(x.mul_scalar(2.0).sub_scalar(1.0), t);
        let spikes = Tensor::<5>::from_inner(spikes).require_grad();
        let out = net.forward_spike_train(spikes.clone());
        let grads = (out.membrane * select).sum().backward();
        let g: Tensor<5> = spikes.grad(&grads).unwrap();
        let expected: Tensor<4> = g.mean_dim(0).reshape([3, 1, 8, 8]);
        delta.into_data().assert_approx_eq::<f32>(
            &expected.into_data(),
            burn::tensor::Tolerance::absolute(1e-5),
        );
    }

    #[test]
    fn attack_2_makes_valid_images_and_checks_its_input() {
        let device = Device::flex();
        let snn = trained_snn(&device);
        let config = SnnAttackConfig::new().with_iterations(20).with_zeta(0.05);
        let out = snn_gradient_attack(&snn, &[0, 1, 2], [1, 8, 8], &config, &device).unwrap();
        assert_eq!(out.pixels.len(), 3 * 64);
        assert!(out.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        // The ascent moved the images away from the starting noise.
        let start = snn_gradient_attack(
            &snn,
            &[0, 1, 2],
            [1, 8, 8],
            &config.clone().with_iterations(0),
            &device,
        )
        .unwrap();
        let moved: f32 = out
            .pixels
            .iter()
            .zip(&start.pixels)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(moved > 0.1, "images barely moved: {moved}");
        for (field, cfg) in [
            ("zeta", config.clone().with_zeta(0.0)),
            ("zeta", config.clone().with_zeta(f64::NAN)),
        ] {
            let e = snn_gradient_attack(&snn, &[0], [1, 8, 8], &cfg, &device).unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        let e = snn_gradient_attack(&snn, &[0], [3, 8, 8], &config, &device).unwrap_err();
        assert!(e.to_string().contains("channels"), "{e}");
    }

    /// A hand value: 1x2x2 images of ones (every input spike fires at
    /// T = 1), conv1 all 0.5 (each current I = 2), thresholds 1.5 and 0.8,
    /// fc1 = 1, fc2 = [2, -1], triangle surrogate (scale 1). Then
    /// `∂u_T[c]/∂I = b_c · S'(1/0.8 - 1)/0.8 · 1 · 1/4 · S'(2/1.5 - 1)/1.5`
    /// `= b_c · 0.9375 · 0.25 · 0.4444 = b_c · 0.104167`, and the
    /// deconvolution sums it over the 4 outputs each pixel feeds, times 0.5:
    /// `δx = 2 b_c · 0.104167`.
    #[test]
    fn image_gradient_equals_a_hand_derived_value() {
        use burn::module::Param;
        use privatesnn_models::{SnnConfig, VggConfig};
        let device = Device::flex();
        let mut ann = VggConfig::new()
            .with_in_channels(1)
            .with_image_size(2)
            .with_num_classes(2)
            .with_arch("1,A".into())
            .with_hidden(1)
            .init(&device);
        ann.convs[0].weight =
            Param::from_tensor(Tensor::<4>::ones([1, 1, 3, 3], &device).mul_scalar(0.5));
        ann.fc1.weight = Param::from_tensor(Tensor::<2>::ones([1, 1], &device));
        ann.fc2.weight = Param::from_tensor(Tensor::<2>::from_floats([[2.0, -1.0]], &device));
        let snn = Snn::from_ann(ann, &SnnConfig::new()).with_thresholds(&[1.5, 0.8]);
        let ad = device.clone().autodiff();
        let net = snn.valid().fork(&ad);
        let select = one_hot(&[0, 1], 2, &ad);
        let x = Tensor::<4>::ones([2, 1, 2, 2], &device);
        let delta = image_gradient(&net, &select, x, 1, &mut PoissonEncoder::new(0)).unwrap();
        let g = 0.9375 * 0.25 * (1.0 - (2.0f64 / 1.5 - 1.0)) / 1.5;
        let expected: Vec<f32> = [2.0, -1.0]
            .iter()
            .flat_map(|b| std::iter::repeat_n((4.0 * 0.5 * b * g) as f32, 4))
            .collect();
        let got: Vec<f32> = delta.into_data().iter::<f32>().collect();
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-5, "{got:?} vs {expected:?}");
        }
    }
}
