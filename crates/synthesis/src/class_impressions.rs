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
/// Class impressions: images that maximise the pre-softmax logit of each of
/// `classes` (one image per entry), by SGD on the normalised image with weight
/// decay, the image clipped to `[0, 1]` and quantised to 8 bits after every
/// step, and blurred every `blur_every` steps.
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
        if config.blur_every > 0 && it % config.blur_every == 0 {
            z = gaussian_blur(z, config.blur_sigma);
        }
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
