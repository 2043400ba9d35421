//! This crate converts a trained ANN into a spiking network by **threshold
//! balancing** (Sengupta et al. 2019; PrivateSNN Algorithm 1), and measures the
//! SNN's accuracy against the number of timesteps.
//!
//! The data source is free: the synthetic images of `privatesnn-synthesis`
//! (data-free conversion, the point of PrivateSNN) or real training images (the
//! Sengupta baseline of the paper's Table 1) — any batches of normalised
//! `[N, C, H, W]` tensors.
//!
//! - [`balance_thresholds`]: layer by layer, Poisson input, a layer's threshold
//!   is the maximum (or a percentile, [`BalanceConfig::percentile`]) of its
//!   input current `W * s` over timesteps and samples, with every earlier layer
//!   already balanced; then all thresholds are multiplied by
//!   [`BalanceConfig::scale`] (0.7 in the paper).
//! - [`accuracy_vs_timesteps`]: one simulation per batch gives the accuracy at
//!   every T of a list (the paper's Figure 4).
//!
//! # Example
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use privatesnn_conversion::{BalanceConfig, balance_thresholds};
//! use privatesnn_models::{Snn, SnnConfig, VggConfig};
//!
//! let device = Device::flex();
//! device.seed(1);
//! // A small VGG (one conv + pool, fc1, fc2); a trained one would be loaded here.
//! let ann = VggConfig::new().with_in_channels(1).with_image_size(8).with_num_classes(3)
//!     .with_arch("8,A".into()).with_hidden(16).init(&device);
//! let data = vec![Tensor::<4>::random([4, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &device)];
//! let snn = Snn::from_ann(ann, &SnnConfig::new());
//! let config = BalanceConfig::new().with_timesteps(8); // scale 0.7, max current
//! let (snn, report) = balance_thresholds(snn, &data, &config, |_, _| {}).unwrap();
//! assert_eq!(report.raw.len(), 2); // conv and fc1
//! assert!((snn.thresholds()[0] - 0.7 * report.raw[0]).abs() < 1e-6);
//! ```
#![warn(missing_docs)]

mod balance;
mod evaluate;

pub use balance::{BalanceConfig, BalanceReport, ConversionError, balance_thresholds};
pub use evaluate::{AccuracyAtT, accuracy_vs_timesteps};
