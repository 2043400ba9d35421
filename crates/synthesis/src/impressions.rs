//! Synthetic images optimised against a frozen classifier.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

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
        if !(self.lr > 0.0 && self.temperature > 0.0) {
            return bad("lr/temperature", "must be > 0");
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

fn uniform(
    n: usize,
    shape: [usize; 3],
    rng: &mut Xoshiro256PlusPlus,
    device: &Device,
) -> Tensor<4> {
    let [c, h, w] = shape;
    let values: Vec<f32> = (0..n * c * h * w).map(|_| rng.random::<f32>()).collect();
    Tensor::from_data(TensorData::new(values, [n, c, h, w]), device)
}

fn normalise(x: Tensor<4>) -> Tensor<4> {
    x.mul_scalar(2.0).sub_scalar(1.0)
}

/// A normalised image back in `[0, 1]`, clipped and quantised to 8 bits.
fn to_8bit_image(z: Tensor<4>) -> Tensor<4> {
    z.add_scalar(1.0)
        .div_scalar(2.0)
        .clamp(0.0, 1.0)
        .mul_scalar(255.0)
        .round()
        .div_scalar(255.0)
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
        let mut optim = AdamConfig::new().init();
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

/// A normalised 2-D Gaussian kernel of standard deviation `sigma`, radius `ceil(2 sigma)`.
pub fn gaussian_kernel(sigma: f64) -> (Vec<f32>, usize) {
    let r = (2.0 * sigma).ceil().max(1.0) as i64;
    let k = (2 * r + 1) as usize;
    let g: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = g.iter().sum();
    let mut out = Vec::with_capacity(k * k);
    for a in &g {
        for b in &g {
            out.push((a * b / (s * s)) as f32);
        }
    }
    (out, k)
}

/// Blur each channel of `x` with a Gaussian (zero padding, same size).
pub fn gaussian_blur(x: Tensor<4>, sigma: f64) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let (kernel, k) = gaussian_kernel(sigma);
    let weights: Vec<f32> = (0..c).flat_map(|_| kernel.iter().copied()).collect();
    let w = Tensor::<4>::from_data(TensorData::new(weights, [c, 1, k, k]), &x.device());
    conv2d(
        x,
        w,
        None,
        ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], c),
    )
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
    use burn::module::Module;
    use privatesnn_models::{Vgg, VggConfig};

    fn model(device: &Device) -> Vgg {
        let plain = Device::flex();
        plain.seed(3);
        VggConfig::new()
            .with_in_channels(1)
            .with_image_size(8)
            .with_num_classes(3)
            .with_arch("4,A,8,A".into())
            .with_hidden(16)
            .init(&plain)
            .valid()
            .fork(device)
    }

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

    #[test]
    fn gaussian_kernel_and_blur() {
        let (k, size) = gaussian_kernel(1.0);
        assert_eq!(size, 5);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(k[12] > k[11] && (k[11] - k[13]).abs() < 1e-9);
        // A constant image stays constant away from the border.
        let x = Tensor::<4>::ones([1, 2, 9, 9], &Device::flex());
        let y: Vec<f32> = gaussian_blur(x, 1.0).into_data().iter::<f32>().collect();
        assert!((y[4 * 9 + 4] - 1.0).abs() < 1e-5 && y[0] < 0.9);
    }
}
