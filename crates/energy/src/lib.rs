//! This crate estimates the **computational energy of an ANN and of an SNN**
//! with the same layers, the way PrivateSNN (Sec. 5.5, Table 4, Fig. 7) and
//! most SNN papers do: an ANN layer performs its multiply-accumulates (MACs)
//! for every input; an SNN layer performs one accumulate (AC) per synaptic
//! connection *per input spike*, so its cost scales with the spike rate.
//!
//! - [`Layer`]: a layer described by its shapes ([`Layer::conv2d`],
//!   [`Layer::linear`]): MACs (`FLOPs` in the paper's wording) and output
//!   neurons. Nothing here knows a VGG: any feed-forward stack works.
//! - [`energy`]: with the spikes *into* each layer per input neuron over the
//!   whole window (`R_l`, spike rate × T),
//!   `E_ANN = Σ_l MACs_l · E_MAC` and `E_SNN = Σ_l MACs_l · R_l · E_AC`,
//!   per layer and in total, and their ratio ([`EnergyReport`]).
//! - [`spikes_per_neuron`]: `R_l` from spike totals and neuron counts.
//!
//! Defaults: `E_MAC` = 4.6 pJ and `E_AC` = 0.9 pJ (32-bit float, 45 nm,
//! Horowitz 2014), as in the paper ([`EnergyConfig`]).
//!
//! **What the estimate leaves out:** memory access (reading weights and
//! membranes, often the larger cost on real hardware), the neuron updates
//! themselves (leak, threshold compare, reset: one per neuron per timestep),
//! pooling and the output layer's readout, and control overheads. The first
//! layer is charged like the others, with `R_0` = the Poisson input spikes
//! per input pixel (signed spikes count once each); a network fed analog
//! pixels would pay MACs there instead.
//!
//! # Example
//!
//! ```
//! use privatesnn_energy::{EnergyConfig, Layer, energy, spikes_per_neuron};
//!
//! // A 1x8x8 input, a 3x3 conv to 4 channels (padding 1), a linear layer to 10.
//! let layers = [
//!     Layer::conv2d("conv1", 1, 4, [3, 3], 1, 1, [8, 8]).unwrap(),
//!     Layer::linear("fc", 4 * 8 * 8, 10),
//! ];
//! assert_eq!(layers[0].macs, 8 * 8 * 4 * 9);
//! // Spike totals over a batch of 2 images: the input spikes, then conv1's output spikes.
//! let r = spikes_per_neuron(&[640.0, 1024.0], &[64, layers[0].neurons], 2).unwrap();
//! assert_eq!(r, vec![5.0, 2.0]);
//! let e = energy(&layers, &r, &EnergyConfig::default()).unwrap();
//! assert!((e.ann_pj - (2304.0 + 2560.0) * 4.6).abs() < 1e-6);
//! assert!((e.snn_pj - (2304.0 * 5.0 + 2560.0 * 2.0) * 0.9).abs() < 1e-6);
//! assert!(e.ratio > 1.0);
//! ```
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// What can go wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum EnergyError {
    /// A shape or count does not fit.
    #[error("energy: {0}")]
    Shape(String),
    /// A negative or non-finite value.
    #[error("energy: {0}")]
    Value(String),
}

/// One layer: its operation count and output size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// A name for tables.
    pub name: String,
    /// Multiply-accumulates of one dense (ANN) forward pass of one input.
    pub macs: u64,
    /// Output neurons (activations) of one input.
    pub neurons: u64,
}

impl Layer {
    /// A 2-D convolution of `in_channels` → `out_channels` with a `kernel`,
    /// `stride` and zero `padding`, on `[H, W]` inputs: `H_out · W_out ·
    /// C_out · C_in · k_h · k_w` MACs (no bias, no groups).
    pub fn conv2d(
        name: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        stride: usize,
        padding: usize,
        input: [usize; 2],
    ) -> Result<Self, EnergyError> {
        if stride == 0 || kernel.contains(&0) {
            return Err(EnergyError::Shape(format!("{name}: zero stride or kernel")));
        }
        let out = |i: usize, k: usize| -> Result<usize, EnergyError> {
            let padded = i + 2 * padding;
            if padded < k {
                return Err(EnergyError::Shape(format!(
                    "{name}: a {k}-wide kernel on a {padded}-wide padded input"
                )));
            }
            Ok((padded - k) / stride + 1)
        };
        let (h, w) = (out(input[0], kernel[0])?, out(input[1], kernel[1])?);
        let per_output = (in_channels * kernel[0] * kernel[1]) as u64;
        let neurons = (h * w * out_channels) as u64;
        Ok(Self {
            name: name.to_string(),
            macs: neurons * per_output,
            neurons,
        })
    }

    /// A fully connected layer: `inputs · outputs` MACs.
    pub fn linear(name: &str, inputs: usize, outputs: usize) -> Self {
        Self {
            name: name.to_string(),
            macs: (inputs * outputs) as u64,
            neurons: outputs as u64,
        }
    }
}

/// The energy per operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergyConfig {
    /// Energy of one multiply-accumulate, pJ (4.6: 32-bit float, 45 nm).
    pub e_mac_pj: f64,
    /// Energy of one accumulate, pJ (0.9: 32-bit float, 45 nm).
    pub e_ac_pj: f64,
}

impl Default for EnergyConfig {
    fn default() -> Self {
        Self {
            e_mac_pj: 4.6,
            e_ac_pj: 0.9,
        }
    }
}

/// One row of the per-layer table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerEnergy {
    /// The layer's name.
    pub name: String,
    /// Its MACs.
    pub macs: u64,
    /// `R_l`: spikes into the layer per input neuron over the window.
    pub input_spikes_per_neuron: f64,
    /// `MACs · E_MAC`, pJ.
    pub ann_pj: f64,
    /// `MACs · R_l · E_AC`, pJ.
    pub snn_pj: f64,
}

/// The estimate for one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergyReport {
    /// Per layer.
    pub layers: Vec<LayerEnergy>,
    /// Total MACs.
    pub macs: u64,
    /// `E_ANN`, pJ per input.
    pub ann_pj: f64,
    /// `E_SNN`, pJ per input.
    pub snn_pj: f64,
    /// `E_ANN / E_SNN` (how many times less the SNN spends).
    pub ratio: f64,
}

/// `R_l` for each layer from spike totals: `totals[l]` spikes (summed over
/// `images` inputs and all timesteps) came out of a population of
/// `neurons[l]` neurons per input, and feed layer `l`. Entry 0 is the input
/// encoding (pixels), entry `l` the output of layer `l - 1`.
pub fn spikes_per_neuron(
    totals: &[f64],
    neurons: &[u64],
    images: usize,
) -> Result<Vec<f64>, EnergyError> {
    if totals.len() != neurons.len() {
        return Err(EnergyError::Shape(format!(
            "{} spike totals for {} populations",
            totals.len(),
            neurons.len()
        )));
    }
    if images == 0 || neurons.contains(&0) {
        return Err(EnergyError::Shape(
            "zero images or an empty population".into(),
        ));
    }
    totals
        .iter()
        .zip(neurons)
        .map(|(&t, &n)| {
            if !(t.is_finite() && t >= 0.0) {
                return Err(EnergyError::Value(format!("spike total {t}")));
            }
            Ok(t / (n as f64 * images as f64))
        })
        .collect()
}

/// `E_ANN` and `E_SNN` of `layers`, with `rates[l]` = `R_l` (spikes into
/// layer `l` per input neuron over the whole window; see the crate docs).
pub fn energy(
    layers: &[Layer],
    rates: &[f64],
    config: &EnergyConfig,
) -> Result<EnergyReport, EnergyError> {
    if layers.len() != rates.len() {
        return Err(EnergyError::Shape(format!(
            "{} layers but {} input spike rates",
            layers.len(),
            rates.len()
        )));
    }
    for (name, v) in [("e_mac_pj", config.e_mac_pj), ("e_ac_pj", config.e_ac_pj)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(EnergyError::Value(format!("{name} = {v} (must be > 0)")));
        }
    }
    let mut rows = Vec::with_capacity(layers.len());
    for (layer, &r) in layers.iter().zip(rates) {
        if !(r.is_finite() && r >= 0.0) {
            return Err(EnergyError::Value(format!(
                "{}: input rate {r}",
                layer.name
            )));
        }
        let macs = layer.macs as f64;
        rows.push(LayerEnergy {
            name: layer.name.clone(),
            macs: layer.macs,
            input_spikes_per_neuron: r,
            ann_pj: macs * config.e_mac_pj,
            snn_pj: macs * r * config.e_ac_pj,
        });
    }
    let ann_pj: f64 = rows.iter().map(|r| r.ann_pj).sum();
    let snn_pj: f64 = rows.iter().map(|r| r.snn_pj).sum();
    Ok(EnergyReport {
        macs: layers.iter().map(|l| l.macs).sum(),
        ratio: if snn_pj > 0.0 {
            ann_pj / snn_pj
        } else {
            f64::INFINITY
        },
        layers: rows,
        ann_pj,
        snn_pj,
    })
}

#[cfg(test)]
mod tests;
