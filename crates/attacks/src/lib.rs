//! This crate implements the **class-leakage attacks** of PrivateSNN (Kim,
//! Venkatesha, Panda, AAAI 2022, Sec. 4): what an attacker who holds a
//! spiking network's weights can recover of its classes, without any data.
//!
//! - **Attack 1** ([`reconversion_attack`], Algorithm 2): re-convert the SNN
//!   to its ReLU ANN ([`Snn::to_ann`](privatesnn_models::Snn::to_ann):
//!   threshold-balanced conversion keeps the weights) and generate one class
//!   impression per class by gradient ascent on the pre-softmax logit, with a
//!   Gaussian blur before every `blur_every`-th step and 8-bit re-quantisation
//!   ([`ClassImpressionConfig`], from `privatesnn-synthesis`).
//! - **Attack 2** ([`snn_gradient_attack`], Algorithm 4): gradients straight
//!   through the SNN with its surrogate: the gradient of the target output
//!   membrane with respect to conv1's output currents, averaged over the `T`
//!   timesteps, deconvolved into image space with conv1's weights
//!   ([`deconvolve`], the adjoint of the convolution), and an ascent step of
//!   size ζ ([`SnnAttackConfig`]).
//!
//! Both work on any [`Snn`](privatesnn_models::Snn) — converted only, or
//! encrypted — and make all classes' images in one batch.
//!
//! # Example
//!
//! ```
//! use burn::tensor::Device;
//! use privatesnn_attacks::{ClassImpressionConfig, SnnAttackConfig, reconversion_attack, snn_gradient_attack};
//! use privatesnn_models::{Snn, SnnConfig, VggConfig};
//!
//! let device = Device::flex();
//! // A converted or encrypted SNN would be loaded here (`privatesnn_models::io::load_snn`).
//! let ann = VggConfig::vgg16(1, 32, 3).with_width(0.0625).with_hidden(8).init(&device);
//! let snn = Snn::from_ann(ann, &SnnConfig::new().with_timesteps(4));
//! let classes = [0, 1, 2];
//!
//! let shape = [1, 32, 32];
//! let a1 = reconversion_attack(&snn, &classes, shape, &ClassImpressionConfig::new().with_iterations(3), &device).unwrap();
//! let a2 = snn_gradient_attack(&snn, &classes, shape, &SnnAttackConfig::new().with_iterations(2), &device).unwrap();
//! for images in [&a1, &a2] {
//!     assert_eq!(images.classes, classes);
//!     assert_eq!(images.pixels.len(), 3 * 32 * 32);
//!     assert!(images.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
//! }
//! ```
#![warn(missing_docs)]

mod direct;
mod reconvert;

pub use direct::{SnnAttackConfig, deconvolve, snn_gradient_attack};
pub use privatesnn_synthesis::ClassImpressionConfig;
pub use reconvert::reconversion_attack;

use serde::{Deserialize, Serialize};

/// What can go wrong in an attack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttackError {
    /// A setting or argument is out of range.
    #[error("invalid attack setting `{field}`: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The class-impression optimisation failed.
    #[error("attack 1 (class impressions): {0}")]
    Synthesis(#[from] privatesnn_synthesis::SynthesisError),
    /// The optimisation produced NaN or infinite values.
    #[error("the attack diverged: {0}")]
    NonFinite(String),
}

/// The images an attack made: one per targeted class, pixels in `[0, 1]`
/// quantised to 8 bits, `[N, C, H, W]` row-major.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassImages {
    /// Pixels in `[0, 1]`.
    pub pixels: Vec<f32>,
    /// The class each image was made for.
    pub classes: Vec<usize>,
    /// `[C, H, W]` of one image.
    pub shape: [usize; 3],
    /// The attacked objective of each image on its class at the start
    /// (uniform noise) and at the end: the pre-softmax logit of the
    /// re-converted ANN (attack 1), or the SNN's output membrane averaged over
    /// time, `u_T / T` (attack 2).
    pub objective_start: Vec<f32>,
    /// See [`objective_start`](Self::objective_start).
    pub objective_end: Vec<f32>,
    /// Mean absolute pixel change from the starting noise (in `[0, 1]`
    /// units): how far the attack moved the images at all.
    pub mean_abs_change: f32,
}

/// Mean `|a - b|` of two equally long pixel vectors.
fn mean_abs_change(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum();
    (sum / a.len().max(1) as f64) as f32
}

/// The number of classes of an SNN (its output layer's width).
fn num_classes(snn: &privatesnn_models::Snn) -> usize {
    snn.ann.fc2.weight.dims()[1]
}

/// Checks the targeted classes against the model's class count.
fn check_classes(classes: &[usize], num_classes: usize) -> Result<(), AttackError> {
    if classes.is_empty() {
        return Err(AttackError::Config {
            field: "classes",
            reason: "no class to attack".into(),
        });
    }
    if let Some(&c) = classes.iter().find(|&&c| c >= num_classes) {
        return Err(AttackError::Config {
            field: "classes",
            reason: format!("class {c} out of range 0..{num_classes}"),
        });
    }
    Ok(())
}

/// A `[N, classes]` one-hot selection of each image's target class.
fn one_hot(
    classes: &[usize],
    num_classes: usize,
    device: &burn::tensor::Device,
) -> burn::tensor::Tensor<2> {
    let values: Vec<f32> = classes
        .iter()
        .flat_map(|&c| (0..num_classes).map(move |k| if k == c { 1.0 } else { 0.0 }))
        .collect();
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(values, [classes.len(), num_classes]),
        device,
    )
}

#[cfg(test)]
pub(crate) mod test_model;
