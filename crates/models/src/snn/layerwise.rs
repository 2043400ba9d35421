//! Layer-at-a-time simulation: the spike trains entering one spiking layer,
//! kept chunk by chunk, advanced through one layer at a time.
//!
//! Threshold balancing (Algorithm 1) needs the input currents of layer `l`
//! with layers `0..l` already balanced. Re-simulating layers `0..l` for every
//! `l` costs a quadratic number of layer passes (about 8 full simulations for
//! VGG16); keeping the spike trains that enter layer `l` and advancing them
//! through that one layer once its threshold is set costs one. The currents
//! are exactly those of [`Snn::layer_currents`] (tested).

use burn::tensor::Tensor;
use privatesnn_neurons::{LifState, PoissonEncoder};

use super::Snn;

/// The inputs of one spiking layer over a window: the Poisson input spikes
/// for layer 0, else the previous layer's spikes (pooled where the VGG
/// pools), one tensor `[T_c * N, C, H, W]` per time chunk.
#[derive(Clone, Debug)]
pub struct LayerInputs {
    layer: usize,
    batch: usize,
    chunks: Vec<(usize, Tensor<4>)>,
}

impl LayerInputs {
    /// The spiking layer these are the inputs of (0-based: the convs, then `fc1`).
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Samples per timestep (the batch).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Timesteps held.
    pub fn timesteps(&self) -> usize {
        self.chunks.iter().map(|(tc, _)| tc).sum()
    }

    /// Bytes held (32-bit values).
    pub fn bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|(_, x)| 4 * x.dims().iter().product::<usize>())
            .sum()
    }
}

impl Snn {
    /// The input spikes of spiking layer 0: `input` (`[N, C, H, W]`,
    /// normalised) Poisson-coded over `timesteps` steps in chunks of
    /// `time_chunk`, drawing from `encoder` as [`layer_currents`](Self::layer_currents) does.
    pub fn encoded_inputs(
        &self,
        input: Tensor<4>,
        timesteps: usize,
        encoder: &mut PoissonEncoder,
    ) -> LayerInputs {
        assert!(timesteps > 0, "timesteps must be > 0");
        let [n, c, h, w] = input.dims();
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < timesteps {
            let tc = self.time_chunk.min(timesteps - start);
            start += tc;
            let spikes: Tensor<5> = encoder.encode(input.clone(), tc);
            chunks.push((tc, spikes.reshape([tc * n, c, h, w])));
        }
        LayerInputs {
            layer: 0,
            batch: n,
            chunks,
        }
    }

    /// The input current `W * s` of the layer `inputs` feed, chunk by chunk as
    /// `[T_c, N * features]` (what [`layer_currents`](Self::layer_currents)'s
    /// sink receives).
    pub fn inputs_currents(&self, inputs: &LayerInputs, sink: &mut dyn FnMut(Tensor<2>)) {
        for (tc, x) in &inputs.chunks {
            let cur = self.layer_current(inputs.layer, *tc, inputs.batch, x.clone());
            let [t, rest @ ..] = cur.dims();
            sink(cur.reshape([t, rest.iter().product::<usize>()]));
        }
    }

    /// The inputs of the next layer: `inputs`' layer run at its current
    /// threshold over the whole window (membrane carried across chunks), its
    /// spikes pooled where the VGG pools.
    ///
    /// # Panics
    /// If `inputs` feed `fc1`, the last spiking layer.
    pub fn next_inputs(&self, inputs: LayerInputs) -> LayerInputs {
        let layer = inputs.layer;
        assert!(
            layer < self.ann.convs.len(),
            "fc1 is the last spiking layer; nothing follows it"
        );
        let n = inputs.batch;
        let mut state: Option<LifState<5>> = None;
        let mut chunks = Vec::with_capacity(inputs.chunks.len());
        for (tc, x) in inputs.chunks {
            let cur = self.conv_current(layer, x);
            let [_, c, h, w] = cur.dims();
            let (s, st) = self.neurons[layer].forward_seq(cur.reshape([tc, n, c, h, w]), state);
            state = Some(st);
            let s = s.reshape([tc * n, c, h, w]);
            let s = if self.ann.pool_after[layer] {
                self.pool_spikes(s)
            } else {
                s
            };
            chunks.push((tc, s));
        }
        LayerInputs {
            layer: layer + 1,
            batch: n,
            chunks,
        }
    }

    /// Layer `layer`'s current for one chunk `[T_c * N, ...]` of its inputs,
    /// time-major: `[T_c, N * C * H * W]`-reshapable `[T_c, N, ...]`.
    fn layer_current(&self, layer: usize, tc: usize, n: usize, x: Tensor<4>) -> Tensor<3> {
        if layer < self.ann.convs.len() {
            let cur = self.conv_current(layer, x);
            let [_, c, h, w] = cur.dims();
            cur.reshape([tc, n, c * h * w])
        } else {
            let flat: Tensor<3> = x.reshape([tc as i64, n as i64, -1]);
            self.fc1_current(flat)
        }
    }
}
