//! This crate provides one import for the whole of
//! [privatesnn](https://github.com/privatesnn/privatesnn), an implementation of
//! *PrivateSNN: Privacy-Preserving Spiking Neural Networks* (Kim, Venkatesha,
//! Panda; AAAI 2022) on [Burn](https://burn.dev). Each part is also a crate
//! of its own:
//!
//! - [`neurons`] (`privatesnn-neurons`): LIF neurons, surrogate gradients,
//!   Poisson coding.
//! - [`models`] (`privatesnn-models`): the VGG ANN and the SNN sharing its
//!   weights, save/load.
//! - [`data`] (`privatesnn-data`): data set readers, transforms, loaders.
//! - [`synthesis`] (`privatesnn-synthesis`): data-free synthetic images.
//! - [`conversion`] (`privatesnn-conversion`): threshold balancing, accuracy vs T.
//! - [`encryption`] (`privatesnn-encryption`): STBP "encryption" training with
//!   cross-entropy + distillation.
//! - [`attacks`] (`privatesnn-attacks`): the class-leakage attacks 1 and 2.
//! - [`fid`] (`privatesnn-fid`): Fréchet distance, the judge ResNet, Inception-V3.
//! - [`energy`] (`privatesnn-energy`): operation counts, spike rates, ANN vs SNN energy.
//! - [`nir`] (`privatesnn-nir`): export an SNN as a NIR graph (HDF5) for other simulators
//!   and neuromorphic hardware.
//!
//! # Example
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use privatesnn::models::{Snn, SnnConfig, VggConfig};
//! use privatesnn::neurons::PoissonEncoder;
//!
//! let device = Device::flex();
//! let ann = VggConfig::vgg16(3, 32, 10).with_width(0.0625).with_hidden(16).init(&device);
//! let snn = Snn::from_ann(ann, &SnnConfig::new().with_timesteps(4));
//! let x = Tensor::<4>::random([1, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
//! let out = snn.forward(x, &mut PoissonEncoder::new(1));
//! assert_eq!(out.logits.dims(), [1, 10]);
//! ```
#![warn(missing_docs)]

pub use privatesnn_attacks as attacks;
pub use privatesnn_conversion as conversion;
pub use privatesnn_data as data;
pub use privatesnn_encryption as encryption;
pub use privatesnn_energy as energy;
pub use privatesnn_fid as fid;
pub use privatesnn_models as models;
pub use privatesnn_neurons as neurons;
pub use privatesnn_nir as nir;
pub use privatesnn_synthesis as synthesis;
