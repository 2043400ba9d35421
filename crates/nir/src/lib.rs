//! This crate exports a converted [privatesnn](https://github.com/privatesnn/privatesnn)
//! spiking network ([`Snn`]) as a **NIR** graph — the neuromorphic
//! intermediate representation read by snnTorch, Norse, sinabs, Lava,
//! Rockpool and SpiNNaker2 — and writes it as a NIR HDF5 file with the
//! [`nir-rs`](https://docs.rs/nir-rs) crate.
//!
//! # The graph
//!
//! `input [C, H, W]` → per conv: `Conv2d` (weight `[out, in, kh, kw]`,
//! bias as the SNN applies it — over the product of the thresholds before
//! the layer, `Snn::bias_scales` — stride 1, padding 1 for the 3x3 convs, none for `F` layers) → `IF`
//! (or `LIF`) with the layer's threshold → `AvgPool2d` 2x2 where the VGG
//! pools → `Flatten` → `Affine` (`fc1`, weight `[out, in]`) → `IF` →
//! `Affine` (`fc2`) → `I` (an integrator, `r = 1`: the accumulated output
//! membrane `u_T`) → `output`. One timestep of the SNN is one step of
//! `dt = 1` of the graph.
//!
//! # What a consumer must know
//!
//! - **Input**: the SNN is driven by signed Poisson spikes of the image
//!   normalised with mean 0.5 and std 0.5: at each step pixel `x ∈ [-1, 1]`
//!   emits `sign(x)` with probability `|x|` (`privatesnn_neurons::PoissonEncoder`).
//! - **Neurons**: `v[t] = λ v[t-1] + I[t]`; a spike when `v > θ`. With
//!   `λ = 1` this is NIR's `IF` with `r = 1`, `v_threshold = θ` (forward-Euler
//!   at `dt = 1`); with `λ < 1` NIR's `LIF` with `τ = 1 / (1 − λ)`,
//!   `r = τ`, `v_leak = 0`.
//! - **Reset**: the SNN resets **by subtraction** (`v ← v − θ` after a
//!   spike), which conversion needs: a hard reset throws away the residue
//!   above threshold and loses accuracy. NIR's `IF`/`LIF` nodes reset *to*
//!   `v_reset`; NIR has no subtractive reset. The export writes `v_reset = 0`
//!   and marks every spiking node and the graph with metadata
//!   `reset = "subtract"`: a consumer must set its reset mechanism to
//!   subtraction (e.g. snnTorch's `reset_mechanism="subtract"`) to reproduce
//!   this SNN's outputs; with reset-to-zero it runs a different network.
//! - **Output**: logits are the integrator's state after `T` steps divided
//!   by `T`; the class is its argmax (`metadata.timesteps` holds this SNN's `T`).
//!
//! # Example
//!
//! ```
//! use burn::tensor::Device;
//! use privatesnn_models::{Snn, SnnConfig, VggConfig};
//! use privatesnn_nir::{export_graph, read, write};
//!
//! let device = Device::flex();
//! let config = VggConfig::vgg16(1, 32, 10).with_width(0.0625).with_hidden(16);
//! let snn = Snn::from_ann(config.init(&device), &SnnConfig::new().with_timesteps(50));
//! let graph = export_graph(&snn, &config).unwrap();
//! assert_eq!(graph.nodes.len(), 1 + 13 * 2 + 5 + 1 + 2 + 2 + 1);
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("snn.nir");
//! write(&graph, &path).unwrap();
//! let back = read(&path).unwrap();
//! assert_eq!(back.nodes, graph.nodes);
//! assert_eq!(back.edges, graph.edges);
//! ```
#![warn(missing_docs)]

mod graph;

pub use graph::{ExportError, export_graph, node_names, read, write};
pub use nir_rs;
