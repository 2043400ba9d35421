//! This crate provides the networks of
//! [privatesnn](https://github.com/privatesnn/privatesnn): a VGG ANN
//! ([`Vgg`], VGG16 by default, as in the PrivateSNN paper and its code) and
//! the spiking network ([`Snn`]) that shares its weights.
//!
//! - [`VggConfig`]: input channels/size, classes, feature stack
//!   ([`VGG16_ARCH`]), a width multiplier and the hidden FC width.
//!   `init(&device)` gives a Kaiming-initialised [`Vgg`].
//! - [`Snn::from_ann`] wraps an ANN with one LIF threshold per spiking layer;
//!   [`Snn::to_ann`] re-converts (LIF → ReLU: the attacker's view).
//!   [`Snn::forward`] simulates `T` timesteps layer-major (each layer's conv on
//!   a whole chunk of timesteps at once) and returns logits and per-layer
//!   spike totals ([`SnnOutput`]).
//! - [`io`]: save/load with thresholds, as burnpack or safetensors plus a JSON
//!   sidecar (format documented there), with atomic writes.
//! - [`import`]: a VGG trained in PyTorch (the PrivateSNN code's or
//!   torchvision's layout, `.pt`/`.pth`/`.safetensors`), batch norm and
//!   torchvision's adaptive pool folded, every shape checked.
//! - On the CPU backends, the training hot spots as one pass each:
//!   [`host_conv`] (the convolutions as whole-batch GEMMs, with their own
//!   backward), [`dropout`] (masks from a parallel counter-based
//!   generator) and [`sgd::FusedSgd`] (Burn's SGD to the bit).
//!
//! # Example
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use privatesnn_models::{Snn, SnnConfig, VggConfig};
//! use privatesnn_neurons::PoissonEncoder;
//!
//! let device = Device::flex();
//! // A narrow VGG16 for 1x32x32 inputs and 10 classes.
//! let config = VggConfig::vgg16(1, 32, 10).with_width(0.0625).with_hidden(32);
//! let ann = config.init(&device);
//! let x = Tensor::<4>::random([2, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
//! assert_eq!(ann.forward(x.clone()).dims(), [2, 10]);
//!
//! let snn = Snn::from_ann(ann, &SnnConfig::new().with_timesteps(8));
//! let out = snn.forward(x, &mut PoissonEncoder::new(0));
//! assert_eq!(out.logits.dims(), [2, 10]);
//! assert_eq!(out.spike_totals().len(), 1 + 14); // input + 13 convs + fc1
//! ```
#![warn(missing_docs)]

mod ann;
mod config;
pub mod dropout;
mod error;
pub mod host_conv;
pub mod import;
pub mod io;
pub mod sgd;
mod snn;
pub mod spike_conv;

pub use ann::Vgg;
pub use config::{VGG11_ARCH, VGG16_ARCH, VggConfig, VggLayer};
pub use error::ModelError;
pub use snn::{ChunkedBackward, LayerInputs, Snn, SnnConfig, SnnOutput};
