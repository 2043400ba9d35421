//! This crate measures **how much an image set looks like another** with the
//! Fréchet distance between their feature statistics (FID, Heusel et al.
//! 2017), as PrivateSNN's Table 3 scores class-leakage attacks against the
//! real test set: a lower distance means the attack images carry more of the
//! data's features.
//!
//! - [`FeatureStats`] (mean, covariance in `f64`) and [`frechet_distance`]
//!   (matrix square root by symmetric eigendecomposition with `nalgebra`).
//! - [`FeatureExtractor`]: the network whose features are compared;
//!   [`image_stats`] and [`fid`] run it over pixel sets in batches.
//! - [`Judge`]: the offline default extractor, a small ResNet trained on the
//!   real training data ([`train_judge`]), saved with [`save_judge`]; its
//!   predictions also say whether an attack image shows its class.
//! - [`InceptionV3`]: the standard pool3 (2,048-d) features of pytorch-fid,
//!   with weights read from a safetensors file the user supplies
//!   ([`InceptionV3::load`]); see its docs for how to make that file.
//!
//! # Example
//!
//! ```
//! use burn::tensor::Device;
//! use privatesnn_fid::{FeatureStats, JudgeConfig, fid, frechet_distance};
//!
//! // Statistics given directly: N(0, I) against N(1, I) in 2-d is |μ|² = 2.
//! let a = FeatureStats::new(vec![0.0, 0.0], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
//! let b = FeatureStats::new(vec![1.0, 1.0], vec![1.0, 0.0, 0.0, 1.0]).unwrap();
//! assert!((frechet_distance(&a, &b).unwrap() - 2.0).abs() < 1e-9);
//!
//! // Two image sets (pixels in [0, 1]) through an (untrained) judge.
//! let device = Device::flex();
//! let judge = JudgeConfig::new(1, 10).with_width(4).init(&device);
//! let noise: Vec<f32> = (0..20 * 64).map(|i| (i * 37 % 101) as f32 / 100.0).collect();
//! let same = fid(&judge, (&noise, [1, 8, 8]), (&noise, [1, 8, 8]), 8, &device).unwrap();
//! assert!(same < 1e-6);
//! ```
#![warn(missing_docs)]

mod extractor;
mod inception;
mod judge;
mod stats;
mod train;

pub use extractor::{FeatureExtractor, fid, image_stats};
pub use inception::{InceptionV3, InceptionV3Config};
pub use judge::{Block, Judge, JudgeConfig};
pub use stats::{FeatureStats, frechet_distance};
pub use train::{JudgeTrainConfig, JudgeTrainReport, judge_accuracy, train_judge};

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};

/// What can go wrong measuring FID or training the judge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FidError {
    /// A setting is out of range.
    #[error("invalid FID setting: {0}")]
    Config(String),
    /// Shapes do not fit.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// NaN or infinite values.
    #[error("non-finite values: {0}")]
    NonFinite(String),
    /// A weights file cannot be read or does not fit the network.
    #[error("{path}: {reason}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl FidError {
    fn weights(path: &Path, reason: impl std::fmt::Display) -> Self {
        FidError::Weights {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// The sidecar holding a saved judge's config (`<path>.json`).
pub fn judge_config_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// Save `judge` (Burn record bytes) and its config (JSON sidecar), each atomically.
pub fn save_judge(judge: &Judge, config: &JudgeConfig, path: &Path) -> Result<(), FidError> {
    let bytes = judge
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| FidError::weights(path, e))?;
    let json = burn::config::config_to_json(config);
    privatesnn_data::atomic_write(path, &bytes).map_err(|e| FidError::weights(path, e))?;
    let side = judge_config_path(path);
    privatesnn_data::atomic_write(&side, json.as_bytes()).map_err(|e| FidError::weights(&side, e))
}

/// Load a judge saved by [`save_judge`] onto `device`, in evaluation mode.
pub fn load_judge(path: &Path, device: &Device) -> Result<(Judge, JudgeConfig), FidError> {
    use burn::config::Config;
    let side = judge_config_path(path);
    let text = std::fs::read_to_string(&side).map_err(|e| FidError::weights(&side, e))?;
    let config: JudgeConfig =
        JudgeConfig::load_binary(text.as_bytes()).map_err(|e| FidError::weights(&side, e))?;
    config.validate()?;
    let bytes = std::fs::read(path).map_err(|e| FidError::weights(path, e))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| FidError::weights(path, e))?;
    let judge = config
        .init(device)
        .try_load_record(record)
        .map_err(|e| FidError::weights(path, format!("{e:?}")))?;
    Ok((judge.valid(), config))
}
