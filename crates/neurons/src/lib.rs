//! This crate provides the spiking-neuron building blocks of
//! [privatesnn](https://github.com/privatesnn/privatesnn), on the
//! [Burn](https://burn.dev) deep-learning framework. It does no I/O and knows
//! nothing of any model, so any SNN project can reuse it.
//!
//! - [`Lif`] / [`LifConfig`]: a layer of leaky integrate-and-fire neurons
//!   (leak λ, threshold θ, [`Reset::Subtract`] or [`Reset::Zero`]; λ = 1 gives
//!   integrate-and-fire) with explicit [`LifState`], single-step
//!   ([`Lif::forward`]) and time-major multi-step ([`Lif::forward_seq`]) forms,
//!   for tensors of any rank.
//! - [`Surrogate`]: the spike function, exact Heaviside forward and a surrogate
//!   derivative backward: the PrivateSNN triangle (Eq. 9, with a scale), arctan
//!   and fast-sigmoid.
//! - [`PoissonEncoder`]: the signed Poisson rate code with an explicit seed,
//!   from a host generator or a counter-based one that runs on the device.
//!
//! Everything is backend-generic: tensors live on a run-time Burn
//! [`Device`](burn::tensor::Device) (flex, ndarray, wgpu, ...), with or without
//! autodiff.
//!
//! # Example
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use privatesnn_neurons::{LifConfig, PoissonEncoder, Reset};
//!
//! let device = Device::flex();
//! // A batch of 2 inputs with 3 features, normalised to [-1, 1].
//! let x = Tensor::<2>::from_floats([[0.9, -0.2, 0.5], [0.1, 1.0, -0.7]], &device);
//! // 20 timesteps of signed Poisson spikes: [T, N, F].
//! let spikes: Tensor<3> = PoissonEncoder::new(42).encode(x, 20);
//! // An integrate-and-fire layer with threshold 0.5 and soft reset.
//! let lif = LifConfig::new()
//!     .with_threshold(0.5)
//!     .with_reset(Reset::Subtract)
//!     .init(&device);
//! let (out, state) = lif.forward_seq(spikes, None);
//! assert_eq!(out.dims(), [20, 2, 3]);
//! assert_eq!(state.membrane.dims(), [1, 2, 3]);
//! ```
#![warn(missing_docs)]

mod counter;
pub mod cpu;
mod encoder;
pub mod fused;
mod lif;
mod surrogate;

pub use counter::counter_uniform;
pub use encoder::{InputGenerator, PoissonEncoder};
pub use lif::{Lif, LifConfig, LifState, Reset};
pub use surrogate::Surrogate;
