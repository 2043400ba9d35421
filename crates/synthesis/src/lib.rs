//! This crate makes **synthetic images from a trained classifier, without its
//! data**: the class-similarity Dirichlet impressions of PrivateSNN
//! (Algorithm 3, step 1; after Nayak et al.'s Zero-Shot Knowledge
//! Distillation), used for data-free conversion and encryption training, and
//! class impressions (Algorithm 2), which the class-leakage attack reuses.
//!
//! Any classifier works: it is passed as a function from normalised images
//! (`[-1, 1]`) to logits, plus the weight of its last FC layer for the class
//! similarity.
//!
//! - [`class_similarity`]: Eq. 4 ([`Similarity::Paper`]) or cosine with row
//!   min-max normalisation ([`Similarity::CosineMinMax`], the authors' code);
//!   [`concentration`] makes a row a valid Dirichlet parameter;
//!   [`sample_soft_labels`] draws soft labels with `rand_distr`.
//! - [`dirichlet_impressions`]: many images optimised at once with Adam to
//!   the soft labels at a temperature ([`DirichletConfig`]).
//! - [`class_impressions`]: maximise one logit per image, blur every few steps.
//! - [`SyntheticSet::save`] writes the set as PNGs + `labels.csv` (readable
//!   by `privatesnn_data::read_png_folder`) and a PNG grid to look at;
//!   [`SyntheticSet::to_image_set`] quantises to 8 bits.
//!
//! # Example
//!
//! ```
//! use burn::module::Module;
//! use burn::tensor::Device;
//! use privatesnn_models::VggConfig;
//! use privatesnn_synthesis::{DirichletConfig, dirichlet_impressions};
//!
//! let device = Device::flex().autodiff();
//! // A trained model would be loaded here; evaluation mode, frozen, on an autodiff device.
//! let ann = VggConfig::vgg16(1, 32, 3).with_width(0.0625).with_hidden(8)
//!     .init(&Device::flex()).valid().fork(&device);
//! let model = |x| ann.forward(x);
//! let config = DirichletConfig::new().with_per_class(2).with_iterations(3).with_batch_size(4);
//! let set = dirichlet_impressions(&model, ann.fc2.weight.val(), [1, 32, 32], &config, &device, |_, _| {})
//!     .unwrap();
//! assert_eq!(set.labels, vec![0, 0, 1, 1, 2, 2]);
//! assert_eq!(set.to_image_set().pixels.len(), 6 * 32 * 32);
//!
//! let dir = tempfile::tempdir().unwrap();
//! set.save(&dir.path().join("synthetic"), Some(&dir.path().join("grid.png")), 2).unwrap();
//! let back = privatesnn_data::read_png_folder(&dir.path().join("synthetic"), 3).unwrap();
//! assert_eq!(back.labels, set.labels);
//! ```
#![warn(missing_docs)]

mod blur;
mod class_impressions;
mod dirichlet;
mod pixels;
mod similarity;
#[cfg(test)]
mod test_model;

pub use blur::{gaussian_blur, gaussian_kernel};
pub use class_impressions::{ClassImpressionConfig, blurs_before, class_impressions};
pub use dirichlet::{Classifier, DirichletConfig, dirichlet_impressions, soft_label_loss};
pub use similarity::{Similarity, class_similarity, concentration, sample_soft_labels};

use privatesnn_data::ImageSet;

/// What can go wrong making synthetic images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthesisError {
    /// A setting is out of range.
    #[error("invalid synthesis setting `{field}`: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A Dirichlet concentration is invalid.
    #[error("invalid Dirichlet concentration {alpha:?}: {reason}")]
    Concentration {
        /// The concentration.
        alpha: Vec<f64>,
        /// Why.
        reason: String,
    },
    /// Gradients with respect to the image need an autodiff device.
    #[error("synthesis needs an autodiff device (use `device.autodiff()`) and a model on it")]
    NeedsAutodiff,
}

/// Synthetic images in `[0, 1]`, `[N, C, H, W]`, with their classes.
#[derive(Clone, Debug)]
pub struct SyntheticSet {
    /// Pixels in `[0, 1]`.
    pub images: Vec<f32>,
    /// The class each image was made for.
    pub labels: Vec<usize>,
    /// The soft label each image was optimised to (Dirichlet impressions only).
    pub soft_labels: Vec<Vec<f32>>,
    /// The final loss of each image (soft-label cross-entropy, or minus the logit).
    pub final_loss: Vec<f32>,
    /// Channels.
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Classes of the model.
    pub num_classes: usize,
}

impl SyntheticSet {
    /// Write the set as a PNG folder (`labels.csv` + PNGs, readable with
    /// `privatesnn_data::read_png_folder`) and, if `grid` is given, a picture
    /// with one row of up to `per_row` images for each of the first 20 classes.
    pub fn save(
        &self,
        dir: &std::path::Path,
        grid: Option<&std::path::Path>,
        per_row: usize,
    ) -> Result<(), privatesnn_data::DataError> {
        let images = self.to_image_set();
        privatesnn_data::write_png_folder(dir, &images)?;
        if let Some(path) = grid {
            let mut picks = Vec::new();
            for class in 0..self.num_classes.min(20) {
                picks.extend(
                    (0..self.labels.len())
                        .filter(|&i| self.labels[i] == class)
                        .take(per_row.max(1)),
                );
            }
            privatesnn_data::write_grid(path, &images, &picks, per_row.max(1), 2)?;
        }
        Ok(())
    }

    /// Quantise to 8-bit images (what is written to PNG).
    pub fn to_image_set(&self) -> ImageSet {
        ImageSet {
            pixels: self
                .images
                .iter()
                .map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect(),
            labels: self.labels.clone(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
        }
    }
}
