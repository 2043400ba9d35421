//! Class impressions (Algorithm 2): images that maximise one class's logit;
//! the class-leakage attack reuses them.

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::blur::gaussian_blur;
use crate::pixels::{normalise, to_8bit_image, uniform};
use crate::{Classifier, SynthesisError, SyntheticSet};

/// Settings of [`class_impressions`] (Algorithm 2; the upstream
/// visualisation code the paper's attack uses).
#[derive(Config, Debug, PartialEq)]
pub struct ClassImpressionConfig {
    /// Iterations.
    #[config(default = 150)]
    pub iterations: usize,
    /// SGD learning rate on the normalised image.
    #[config(default = 6.0)]
    pub lr: f64,
    /// SGD weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f64,
    /// Blur every this many iterations (0 = never).
    #[config(default = 4)]
    pub blur_every: usize,
    /// Standard deviation of the Gaussian blur, pixels.
    #[config(default = 1.0)]
    pub blur_sigma: f64,
    /// Seed of the initial noise.
    #[config(default = 0)]
    pub seed: u64,
}
/// Whether iteration `it` (1-based) starts with a blur: iterations
/// `blur_every`, `2 blur_every`, ... (Algorithm 2, lines 3-4, and the
/// upstream loop: the blur comes *before* that iteration's gradient step).
pub fn blurs_before(it: usize, blur_every: usize) -> bool {
    blur_every > 0 && it.is_multiple_of(blur_every)
}

/// Class impressions: images that maximise the pre-softmax logit of each of
/// `classes` (one image per entry), by SGD on the normalised image with weight
/// decay, the image clipped to `[0, 1]` and quantised to 8 bits after every
/// step. Iterations `blur_every`, `2 blur_every`, ... first blur the image
/// ([`blurs_before`]): on its 8-bit pixels with edge padding, re-quantised
/// (the upstream code blurs its PIL image, so no grey border appears).
pub fn class_impressions(
    model: Classifier<'_>,
    classes: &[usize],
    num_classes: usize,
    shape: [usize; 3],
    config: &ClassImpressionConfig,
    device: &Device,
) -> Result<SyntheticSet, SynthesisError> {
    if !device.is_autodiff() {
        return Err(SynthesisError::NeedsAutodiff);
    }
    if let Some(&c) = classes.iter().find(|&&c| c >= num_classes) {
        return Err(SynthesisError::Config {
            field: "classes",
            reason: format!("class {c} out of range 0..{num_classes}"),
        });
    }
    let n = classes.len();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let onehot: Vec<f32> = classes
        .iter()
        .flat_map(|&c| (0..num_classes).map(move |k| if k == c { 1.0 } else { 0.0 }))
        .collect();
    let select = Tensor::<2>::from_data(TensorData::new(onehot, [n, num_classes]), device);
    let mut z = normalise(uniform(n, shape, &mut rng, device));
    let mut logit = Tensor::<1>::zeros([n], device);
    for it in 1..=config.iterations {
        if blurs_before(it, config.blur_every) {
            // Blur the 8-bit image (as the upstream code blurs its PIL image).
            let pixels = z.add_scalar(1.0).div_scalar(2.0);
            z = normalise(to_8bit_image(normalise(gaussian_blur(
                pixels,
                config.blur_sigma,
            ))));
        }
        let x = z.clone().detach().require_grad();
        let logits = model(x.clone());
        let picked = (logits * select.clone()).sum_dim(1).reshape([n]);
        logit = picked.clone().detach();
        let grads = picked.sum().neg().backward();
        let g = x.grad(&grads).ok_or(SynthesisError::NeedsAutodiff)?;
        let g = Tensor::<4>::from_inner(g);
        let step = z.clone().detach()
            - (g + z.clone().detach().mul_scalar(config.weight_decay)).mul_scalar(config.lr);
        // Back to an 8-bit image in [0, 1], then normalised again.
        z = normalise(to_8bit_image(step));
    }
    let x = to_8bit_image(z);
    let [c, h, w] = shape;
    Ok(SyntheticSet {
        images: x.into_data().iter::<f32>().collect(),
        labels: classes.to_vec(),
        soft_labels: Vec::new(),
        final_loss: logit.neg().into_data().iter::<f32>().collect(),
        channels: c,
        height: h,
        width: w,
        num_classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_model::model;

    /// The blur comes before iterations `f`, `2f`, ...: with a linear model
    /// (constant gradient `w_c`), iteration 4 is `q(blur(x_3)) + lr w_c`, the
    /// others `x_{k-1} + lr w_c`, each re-quantised to 8 bits.
    #[test]
    fn blur_precedes_every_fourth_step() {
        assert_eq!(
            (1..=12).filter(|&i| blurs_before(i, 4)).collect::<Vec<_>>(),
            vec![4, 8, 12]
        );
        assert!(!(1..=12).any(|i| blurs_before(i, 0)));
        let device = Device::flex().autodiff();
        let plain = Device::flex();
        let d = 36;
        let w: Vec<f32> = (0..2 * d)
            .map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.5)
            .collect();
        let wt = Tensor::<2>::from_data(TensorData::new(w.clone(), [2, d]), &device);
        let f = move |x: Tensor<4>| {
            let n = x.dims()[0];
            x.reshape([n, d]).matmul(wt.clone().transpose())
        };
        let lr = 0.05;
        let run = |it| {
            let c = ClassImpressionConfig::new()
                .with_iterations(it)
                .with_lr(lr)
                .with_weight_decay(0.0)
                .with_blur_every(4);
            let set = class_impressions(&f, &[1], 2, [1, 6, 6], &c, &device).unwrap();
            Tensor::<4>::from_data(TensorData::new(set.images, [1, 1, 6, 6]), &plain)
        };
        let step = |pixels: Tensor<4>| {
            let g = Tensor::<4>::from_data(TensorData::new(w[d..].to_vec(), [1, 1, 6, 6]), &plain);
            to_8bit_image(normalise(pixels) + g.mul_scalar(lr))
        };
        let quantised_blur =
            |pixels: Tensor<4>| to_8bit_image(normalise(gaussian_blur(pixels, 1.0)));
        let tol = burn::tensor::Tolerance::absolute(1e-6);
        // From iteration 2 on (iteration 1 steps from the unquantised noise).
        for it in 2..=5 {
            let before = run(it - 1);
            let expected = if it == 4 {
                step(quantised_blur(before))
            } else {
                step(before)
            };
            run(it)
                .into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), tol);
        }
    }

    #[test]
    fn class_impressions_raise_their_logit() {
        let device = Device::flex().autodiff();
        let ann = model(&device);
        let f = |x| ann.forward(x);
        let run = |it, blur| {
            let c = ClassImpressionConfig::new()
                .with_iterations(it)
                .with_lr(0.2)
                .with_blur_every(blur);
            class_impressions(&f, &[0, 1, 2], 3, [1, 8, 8], &c, &device).unwrap()
        };
        let (a, b) = (run(1, 0), run(40, 0));
        assert_eq!(b.labels, vec![0, 1, 2]);
        for (x, y) in a.final_loss.iter().zip(&b.final_loss) {
            assert!(y < x, "-logit {x} -> {y}");
        }
        // 8-bit images, with or without blurring.
        let b = run(8, 4);
        assert!(
            b.images
                .iter()
                .all(|p| ((p * 255.0).round() - p * 255.0).abs() < 1e-3)
        );
        let e = class_impressions(
            &f,
            &[3],
            3,
            [1, 8, 8],
            &ClassImpressionConfig::new(),
            &device,
        )
        .unwrap_err();
        assert!(e.to_string().contains("class 3 out of range"), "{e}");
        let e = class_impressions(
            &f,
            &[0],
            3,
            [1, 8, 8],
            &ClassImpressionConfig::new(),
            &Device::flex(),
        )
        .unwrap_err();
        assert!(matches!(e, SynthesisError::NeedsAutodiff));
    }
}
