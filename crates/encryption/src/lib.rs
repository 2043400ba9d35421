//! This crate **"encrypts" a converted spiking network** (PrivateSNN Sec. 3.2,
//! Algorithm 3 step 2): it retrains the SNN's weights on synthetic images
//! only, by backpropagation through time (STBP) with the surrogate gradient of
//! `privatesnn-neurons`, so that the weights drift away from the ANN's — which
//! is what an attacker would re-convert and invert — while the SNN keeps (or
//! regains) its accuracy.
//!
//! - [`encryption_loss`]: Eq. 6, `(1 - m) · CE(u_T, y) + m · KD(ANN(x), u_T)`
//!   with Hinton distillation at temperature τ times τ² ([`distillation_loss`])
//!   and cross-entropy against soft or one-hot targets ([`soft_cross_entropy`]).
//! - [`encrypt`]: Adam (epsilon 1e-8 as PyTorch's), the learning rate divided
//!   by 10 at 50% and 70% of the epochs, checkpoint and resume per epoch,
//!   an optional memory bound of one time chunk ([`EncryptionConfig::memory_bound`]).
//! - [`EncryptionSet`]: the synthetic images, their targets and the teacher's
//!   logits ([`teacher_logits`]).
//!
//! Works for any [`Snn`](privatesnn_models::Snn) (converted, or loaded from a file).
//!
//! # Choices (documented in the README too)
//! - The loss sees the accumulated output membrane `u_T`, as Eq. 5/8 and the
//!   authors' code ([`OutputScale::Membrane`]); `u_T / T` is an option.
//! - The reset is detached as in the authors' code (`SnnConfig::detach_reset`).
//! - Thresholds stay as converted; only the weights are trained.
//!
//! # Example
//!
//! ```
//! use burn::module::Module;
//! use burn::tensor::Device;
//! use privatesnn_encryption::{EncryptionConfig, EncryptionSet, encrypt, teacher_logits};
//! use privatesnn_models::{Snn, SnnConfig, VggConfig};
//!
//! let device = Device::flex();
//! device.seed(0);
//! // A tiny VGG and its SNN; a trained, converted one would be loaded here.
//! let ann = VggConfig::new().with_in_channels(1).with_image_size(4).with_num_classes(2)
//!     .with_arch("4,A".into()).with_hidden(8).with_fc_dropout(0.0).init(&device);
//! let snn = Snn::from_ann(ann.clone(), &SnnConfig::new()).with_thresholds(&[0.5, 0.5]);
//! let images: Vec<f32> = (0..4 * 16).map(|i| ((i * 7 % 11) as f32 / 5.0) - 1.0).collect();
//! let teacher = teacher_logits(&|x| ann.forward(x), &images, [1, 4, 4], 4, &device);
//! let data = EncryptionSet {
//!     images, shape: [1, 4, 4],
//!     targets: vec![0.9, 0.1, 0.9, 0.1, 0.1, 0.9, 0.1, 0.9],
//!     teacher, labels: vec![0, 0, 1, 1], num_classes: 2,
//! };
//! let config = EncryptionConfig::new().with_epochs(2).with_batch_size(2).with_timesteps(4);
//! let (encrypted, report) = encrypt(snn, &data, &config, &device, None, |_| {}).unwrap();
//! assert_eq!(report.epochs.len(), 2);
//! assert_eq!(encrypted.thresholds(), vec![0.5, 0.5]); // kept
//! ```
#![warn(missing_docs)]

mod checkpoint;
mod config;
mod data;
mod loss;
mod train;

use std::path::PathBuf;

pub use config::{EncryptionConfig, OutputScale, Targets};
pub use data::{EncryptionSet, teacher_logits};
pub use loss::{LossParts, distillation_loss, encryption_loss, soft_cross_entropy};
pub use train::{EncryptionReport, EpochReport, Progress, encrypt, trainable};

/// What can go wrong in encryption training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptionError {
    /// A setting is out of range.
    #[error("invalid encryption setting `{field}`: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The training set is inconsistent.
    #[error("invalid encryption training set: {0}")]
    Data(String),
    /// The loss became NaN or infinite.
    #[error(
        "the encryption loss is {value} at epoch {epoch}, batch {batch}: training diverged \
         (lower `lr`, or check the converted SNN's thresholds)"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 0-based batch.
        batch: usize,
        /// The loss.
        value: f64,
    },
    /// A checkpoint cannot be written or read.
    #[error("encryption checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The checkpoint folder belongs to a run with other settings or data.
    #[error(
        "the checkpoints in {dir} were made with other encryption settings or training data; \
         delete the folder (or use --force) to start again"
    )]
    OtherSettings {
        /// The folder.
        dir: PathBuf,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
