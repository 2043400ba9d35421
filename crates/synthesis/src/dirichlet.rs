//! Class-similarity Dirichlet impressions (PrivateSNN Algorithm 3 step 1,
//! after ZSKD): the data-free training set.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::pixels::{normalise, uniform};
use crate::similarity::{Similarity, class_similarity, concentration, sample_soft_labels};
use crate::{SynthesisError, SyntheticSet};

/// A classifier seen as a function from normalised `[N, C, H, W]` images
/// (in `[-1, 1]`) to logits `[N, classes]`. It must run on an autodiff
/// device in evaluation mode with frozen weights, so that only the images
/// get gradients and dropout is off: `model.valid().fork(&device.autodiff())`.
pub type Classifier<'a> = &'a dyn Fn(Tensor<4>) -> Tensor<2>;

/// Settings of [`dirichlet_impressions`] (PrivateSNN Algorithm 3 step 1, after ZSKD).
#[derive(Config, Debug, PartialEq)]
pub struct DirichletConfig {
    /// Images per class.
    #[config(default = 10)]
    pub per_class: usize,
    /// Images optimised at once (the authors' code: 1).
    #[config(default = 100)]
    pub batch_size: usize,
    /// Adam iterations per image (the authors' code: 2,499).
    #[config(default = 2499)]
    pub iterations: usize,
    /// Adam learning rate on pixels in `[0, 1]` (the authors' code: 1e-3).
    #[config(default = 1e-3)]
    pub lr: f64,
    /// Adam's epsilon (PyTorch's and the authors' 1e-8; Burn's default is
    /// 1e-5, which damps the tiny gradients of a temperature-20 loss).
    #[config(default = 1e-8)]
    pub adam_epsilon: f64,
    /// Softmax temperature of the soft-label cross-entropy (20).
    #[config(default = 20.0)]
    pub temperature: f64,
    /// Concentration scales; the images of each class are split evenly among
    /// them (ZSKD: 1.0 and 0.1).
    #[config(default = "vec![1.0, 0.1]")]
    pub betas: Vec<f64>,
    /// Added to every concentration so that it is a valid Dirichlet parameter.
    #[config(default = 1e-4)]
    pub epsilon: f64,
    /// How class similarity is computed.
    #[config(default = "Similarity::Paper")]
    pub similarity: Similarity,
    /// Seed of the soft labels and the initial noise.
    #[config(default = 0)]
    pub seed: u64,
}

impl DirichletConfig {
    /// Check the ranges.
    pub fn validate(&self) -> Result<(), SynthesisError> {
        let bad = |field: &'static str, reason: &str| {
            Err(SynthesisError::Config {
                field,
                reason: reason.into(),
            })
        };
        if self.per_class == 0 || self.batch_size == 0 || self.iterations == 0 {
            return bad("per_class/batch_size/iterations", "must be > 0");
        }
        if !(self.lr > 0.0 && self.temperature > 0.0 && self.adam_epsilon > 0.0) {
            return bad("lr/temperature/adam_epsilon", "must be > 0");
        }
        if self.betas.is_empty() || self.betas.iter().any(|b| b.is_nan() || *b <= 0.0) {
            return bad("betas", "need at least one positive value");
        }
        if self.epsilon.is_nan() || self.epsilon <= 0.0 {
            return bad("epsilon", "must be > 0");
        }
        Ok(())
    }
}

/// The images being optimised, as a module so that Burn's Adam can step them.
#[derive(Module, Debug)]
struct Canvas {
    pixels: Param<Tensor<4>>,
}
/// Soft-label cross-entropy per image, `-Σ_k y_k log softmax(logits / temperature)_k`:
/// `[N, classes]` logits and soft labels → `[N]`.
pub fn soft_label_loss(logits: Tensor<2>, soft: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = logits.dims();
    (soft * log_softmax(logits.div_scalar(temperature), 1))
        .sum_dim(1)
        .neg()
        .reshape([n])
}

/// Class-similarity Dirichlet impressions: for each class `c`, soft labels
/// `y ~ Dir(beta * (s_c + eps))` from the class similarity of the last FC
/// layer's weights (`fc_weight`, `[hidden, classes]`), and images optimised
/// from uniform noise so that `softmax(model(x) / temperature)` matches `y`.
///
/// Pixels are kept in `[0, 1]` after every step (projected Adam; the authors'
/// code clips only when saving, which can undo the optimisation).
/// Images are optimised `batch_size` at a time; the loss is *summed* over the
/// batch and Adam works per element, so every image follows exactly the
/// trajectory it would follow alone (batching changes speed, not results).
/// `progress(images_done, images_total)` is called after each batch.
pub fn dirichlet_impressions(
    model: Classifier<'_>,
    fc_weight: Tensor<2>,
    shape: [usize; 3],
    config: &DirichletConfig,
    device: &Device,
    mut progress: impl FnMut(usize, usize),
) -> Result<SyntheticSet, SynthesisError> {
    config.validate()?;
    if !device.is_autodiff() {
        return Err(SynthesisError::NeedsAutodiff);
    }
    let [_, classes] = fc_weight.dims();
    let sim = class_similarity(fc_weight, config.similarity);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
    let mut targets: Vec<(usize, Vec<f32>)> = Vec::with_capacity(classes * config.per_class);
    for (c, row) in sim.iter().enumerate() {
        let groups = config.betas.len();
        for (g, &beta) in config.betas.iter().enumerate() {
            let n = config.per_class * (g + 1) / groups - config.per_class * g / groups;
            let alpha = concentration(row, beta, config.epsilon);
            for y in sample_soft_labels(&alpha, n, &mut rng)? {
                targets.push((c, y));
            }
        }
    }
    let total = targets.len();
    let [ch, h, w] = shape;
    let mut images = Vec::with_capacity(total * ch * h * w);
    let mut final_loss = Vec::with_capacity(total);
    for chunk in targets.chunks(config.batch_size) {
        let n = chunk.len();
        let soft: Vec<f32> = chunk.iter().flat_map(|(_, y)| y.iter().copied()).collect();
        let y = Tensor::<2>::from_data(TensorData::new(soft, [n, classes]), device);
        let mut canvas = Canvas {
            pixels: Param::from_tensor(uniform(n, shape, &mut rng, device).require_grad()),
        };
        let mut optim = AdamConfig::new()
            .with_epsilon(config.adam_epsilon as f32)
            .init();
        let mut last = Tensor::<1>::zeros([n], device);
        for _ in 0..config.iterations {
            let logits = model(normalise(canvas.pixels.val()));
            let per_image = soft_label_loss(logits, y.clone(), config.temperature);
            let loss = per_image.clone().sum();
            last = per_image.detach();
            let grads = GradientsParams::from_grads(loss.backward(), &canvas);
            canvas = optim.step(config.lr, canvas, grads);
            // Projected Adam: stay a valid image, so the saved image is the optimised one.
            canvas.pixels = canvas
                .pixels
                .map(|p| Tensor::from_inner(p.inner().clamp(0.0, 1.0)).require_grad());
        }
        let x = canvas.pixels.val().detach().clamp(0.0, 1.0);
        images.extend(x.into_data().iter::<f32>());
        final_loss.extend(last.into_data().iter::<f32>());
        progress(images.len() / (ch * h * w), total);
    }
    Ok(SyntheticSet {
        images,
        labels: targets.iter().map(|(c, _)| *c).collect(),
        soft_labels: targets.into_iter().map(|(_, y)| y).collect(),
        final_loss,
        channels: ch,
        height: h,
        width: w,
        num_classes: classes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_model::model;
    use privatesnn_models::Vgg;
    use rand::RngExt;

    fn run(ann: &Vgg, iterations: usize, batch: usize, device: &Device) -> SyntheticSet {
        let f = |x| ann.forward(x);
        let config = DirichletConfig::new()
            .with_per_class(2)
            .with_iterations(iterations)
            .with_batch_size(batch)
            .with_lr(0.1)
            .with_temperature(1.0)
            .with_similarity(Similarity::CosineMinMax);
        dirichlet_impressions(
            &f,
            ann.fc2.weight.val(),
            [1, 8, 8],
            &config,
            device,
            |_, _| {},
        )
        .unwrap()
    }

    #[test]
    fn optimisation_drives_the_softmax_to_the_soft_label() {
        let device = Device::flex().autodiff();
        let ann = model(&device);
        let start = run(&ann, 1, 6, &device);
        let end = run(&ann, 400, 6, &device);
        assert_eq!(start.soft_labels, end.soft_labels, "same seed, same labels");
        // Cross-entropy minus the label's entropy is the KL divergence.
        let kl = |set: &SyntheticSet| -> Vec<f32> {
            set.soft_labels
                .iter()
                .zip(&set.final_loss)
                .map(|(y, ce)| {
                    ce - y
                        .iter()
                        .filter(|p| **p > 0.0)
                        .map(|p| -p * p.ln())
                        .sum::<f32>()
                })
                .collect()
        };
        let (k0, k1) = (kl(&start), kl(&end));
        for (a, b) in k0.iter().zip(&k1) {
            assert!(b < a, "KL rose: {a} -> {b}");
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(
            mean(&k1) < 0.6 * mean(&k0),
            "mean KL {} -> {}",
            mean(&k0),
            mean(&k1)
        );
        // The probability of each image's dominant soft class went up.
        let probs = |set: &SyntheticSet| -> Vec<f32> {
            let x =
                Tensor::<4>::from_data(TensorData::new(set.images.clone(), [6, 1, 8, 8]), &device);
            burn::tensor::activation::softmax(ann.forward(normalise(x)), 1)
                .into_data()
                .iter::<f32>()
                .collect()
        };
        let (p0, p1) = (probs(&start), probs(&end));
        for (i, y) in end.soft_labels.iter().enumerate() {
            let c = y
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap();
            assert!(
                p1[3 * i + c] > p0[3 * i + c],
                "image {i}: p = {} -> {}",
                p0[3 * i + c],
                p1[3 * i + c]
            );
        }
        assert!(end.images.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn input_gradient_of_the_loss_matches_finite_differences() {
        let device = Device::flex().autodiff();
        let ann = model(&device);
        let y = Tensor::<2>::from_data(TensorData::new(vec![0.2f32, 0.5, 0.3], [1, 3]), &device);
        let loss = |x: Tensor<4>| soft_label_loss(ann.forward(normalise(x)), y.clone(), 2.0).sum();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        let x0: Vec<f32> = (0..64).map(|_| 0.2 + 0.6 * rng.random::<f32>()).collect();
        let at =
            |v: &[f32]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 1, 8, 8]), &device);
        let x = at(&x0).require_grad();
        let grads = loss(x.clone()).backward();
        let g: Vec<f32> = x.grad(&grads).unwrap().into_data().iter::<f32>().collect();
        let eps = 1e-2f32;
        let mut checked = 0;
        for p in [0usize, 9, 18, 27, 36, 45, 54, 63] {
            let (mut plus, mut minus) = (x0.clone(), x0.clone());
            plus[p] += eps;
            minus[p] -= eps;
            let f = |v: &[f32]| loss(at(v)).into_scalar::<f32>() as f64;
            let fd = (f(&plus) - f(&minus)) / (2.0 * eps as f64);
            assert!(
                (g[p] as f64 - fd).abs() <= 2e-3 + 2e-2 * fd.abs(),
                "pixel {p}: autodiff {} vs finite difference {fd}",
                g[p]
            );
            checked += (fd.abs() > 1e-6) as usize;
        }
        assert!(checked >= 4, "most probed pixels should matter");
    }

    #[test]
    fn batching_does_not_change_the_images() {
        let device = Device::flex().autodiff();
        let ann = model(&device);
        let one = run(&ann, 20, 1, &device);
        let all = run(&ann, 20, 6, &device);
        let diff = one
            .images
            .iter()
            .zip(&all.images)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff < 1e-4, "max pixel difference {diff}");
    }
}
