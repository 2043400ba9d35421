//! The layer-major simulation of an [`Snn`] and its step-by-step reference.

use burn::tensor::Tensor;
use privatesnn_neurons::{LifState, PoissonEncoder};

use super::{Snn, SnnOutput};

/// What drives the network for a chunk of timesteps, time-major.
pub(super) enum Stimulus {
    /// Input spikes `[T_c, N, C, H, W]`.
    Spikes(Tensor<5>),
    /// The first conv's output currents `[T_c, N, C1, H, W]` (conv1 skipped).
    Conv1Current(Tensor<5>),
}

impl From<Tensor<5>> for Stimulus {
    fn from(spikes: Tensor<5>) -> Self {
        Stimulus::Spikes(spikes)
    }
}

/// The dropout masks of one forward pass, one per site (`None` = no dropout).
pub(super) struct Masks {
    pub conv: Vec<Option<Tensor<5>>>,
    pub fc: Option<Tensor<3>>,
}

/// The membranes every spiking layer carries from one chunk to the next.
#[derive(Clone)]
pub(super) struct States {
    pub conv: Vec<Option<LifState<5>>>,
    pub fc: Option<LifState<3>>,
}

impl States {
    pub fn new(convs: usize) -> Self {
        Self {
            conv: vec![None; convs],
            fc: None,
        }
    }
}

impl Snn {
    /// Dropout is on only when training on an autodiff device (Burn's rule).
    fn dropout_active(&self, x: &Tensor<4>) -> bool {
        x.device().is_autodiff() && self.ann.conv_dropout.training.is_enabled()
    }

    /// One mask per dropout site (convs not followed by a pool, then fc1),
    /// drawn up front from the encoder's stream so that the input spikes do
    /// not depend on the chunking.
    fn dropout_masks(
        &self,
        input: &Tensor<4>,
        encoder: &mut PoissonEncoder,
    ) -> (Vec<Option<Tensor<5>>>, Option<Tensor<3>>) {
        let device = input.device();
        let [n, _, h, w] = input.dims();
        let sizes = self.ann.conv_output_sizes([h, w]);
        let mut conv = Vec::with_capacity(self.ann.convs.len());
        for ((layer, &pool), [h, w]) in self.ann.convs.iter().zip(&self.ann.pool_after).zip(sizes) {
            // Dropout sites are the convs without a pool: their output size
            // is the size leaving them.
            let [c, ..] = layer.weight.dims();
            let p = self.ann.conv_dropout.prob;
            conv.push(
                (!pool && p > 0.0).then(|| encoder.dropout_mask([1, n, c, h, w], p, &device)),
            );
        }
        let [_, hidden] = self.ann.fc1.weight.dims();
        let p = self.ann.fc_dropout.prob;
        let fc = (p > 0.0).then(|| encoder.dropout_mask([1, n, hidden], p, &device));
        (conv, fc)
    }

    /// Forward over the configured number of timesteps.
    ///
    /// See [`forward_timesteps`](Self::forward_timesteps).
    pub fn forward(&self, input: Tensor<4>, encoder: &mut PoissonEncoder) -> SnnOutput {
        self.forward_timesteps(input, self.timesteps, encoder)
    }

    /// Forward over `timesteps` steps, simulated layer-major.
    ///
    /// Each chunk of `time_chunk` timesteps is Poisson-encoded at once and
    /// pushed through the network one layer at a time: the layer's conv or
    /// linear runs once on all `chunk x N` inputs (`[T_c * N, C, H, W]`), then
    /// the LIF recurrence is scanned over the chunk. The spikes are exactly
    /// those of the step-by-step reference [`forward_stepwise`](Self::forward_stepwise).
    /// Dropout masks (training on an autodiff device only) are drawn once per
    /// call from `encoder`'s stream, before any input spikes, and kept across
    /// timesteps. The
    /// output layer is linear, so it is applied once to the summed `fc1`
    /// spikes (= the sum over time of its membrane increments; a bias counts
    /// once per timestep, [`Snn::output_membrane`]).
    ///
    /// Works with and without autodiff (STBP training backpropagates through it).
    ///
    /// # Shapes
    /// - input: `[N, C, H, W]`, normalised to `[-1, 1]`
    /// - output logits: `[N, classes]`
    pub fn forward_timesteps(
        &self,
        input: Tensor<4>,
        timesteps: usize,
        encoder: &mut PoissonEncoder,
    ) -> SnnOutput {
        let mut outs = self.forward_checkpoints(input, &[timesteps], encoder);
        outs.pop().expect("one checkpoint")
    }

    /// One simulation up to the largest of `checkpoints`, reporting the output
    /// at each of them: element `k` is what
    /// [`forward_timesteps`](Self::forward_timesteps) would return after
    /// `checkpoints[k]` steps of the same input spikes (logits = accumulated
    /// output membrane / `checkpoints[k]`, `membrane` the accumulated one). This is how accuracy-versus-T
    /// curves cost one simulation instead of one per T.
    ///
    /// # Panics
    /// If `checkpoints` is empty, not strictly increasing, or starts at 0.
    pub fn forward_checkpoints(
        &self,
        input: Tensor<4>,
        checkpoints: &[usize],
        encoder: &mut PoissonEncoder,
    ) -> Vec<SnnOutput> {
        let mut outs = Vec::with_capacity(checkpoints.len());
        self.simulate(input, checkpoints, encoder, None, &mut |o| outs.push(o));
        outs
    }

    /// The input current `W * s` of spiking layer `layer` (0-based: the convs,
    /// then `fc1`) over `timesteps` steps, with the earlier layers spiking at
    /// their current thresholds; later layers are not simulated.
    ///
    /// `sink` receives the currents chunk by chunk as `[T_c, N * features]`
    /// (timestep-major). Threshold balancing (Algorithm 1) takes their max.
    pub fn layer_currents(
        &self,
        input: Tensor<4>,
        timesteps: usize,
        layer: usize,
        encoder: &mut PoissonEncoder,
        sink: &mut dyn FnMut(Tensor<2>),
    ) {
        assert!(layer < self.neurons.len(), "layer {layer} out of range");
        self.simulate(
            input,
            &[timesteps],
            encoder,
            Some((layer, sink)),
            &mut |_| {},
        );
    }

    /// The layer-major simulation behind the public forwards.
    fn simulate(
        &self,
        input: Tensor<4>,
        checkpoints: &[usize],
        encoder: &mut PoissonEncoder,
        mut probe: Option<(usize, &mut dyn FnMut(Tensor<2>))>,
        emit: &mut dyn FnMut(SnnOutput),
    ) {
        assert!(
            !checkpoints.is_empty() && checkpoints[0] > 0,
            "timesteps must be > 0"
        );
        assert!(
            checkpoints.windows(2).all(|w| w[0] < w[1]),
            "checkpoints must increase"
        );
        let timesteps = *checkpoints.last().expect("non-empty");
        let masks = self.masks(&input, encoder);
        let mut states = States::new(self.ann.convs.len());
        let mut totals: Vec<Tensor<1>> = Vec::new();
        let mut fc_sum: Option<Tensor<2>> = None;
        let mut next = 0;
        let mut start = 0;
        while start < timesteps {
            let tc = self.time_chunk.min(checkpoints[next] - start);
            start += tc;
            let spikes_in: Tensor<5> = encoder.encode(input.clone(), tc);
            let Some((summed, counts)) = self.chunk(spikes_in, &mut states, &masks, &mut probe)
            else {
                continue;
            };
            let acc = match fc_sum.take() {
                Some(acc) => acc + summed,
                None => summed,
            };
            totals = if totals.is_empty() {
                counts
            } else {
                totals.into_iter().zip(counts).map(|(a, b)| a + b).collect()
            };
            if start == checkpoints[next] {
                let membrane = self.output_membrane(acc.clone(), start);
                emit(SnnOutput {
                    logits: membrane.clone().div_scalar(start as f64),
                    membrane,
                    spikes: totals.clone(),
                    timesteps: start,
                });
                next += 1;
            }
            fc_sum = Some(acc);
        }
    }

    /// The dropout masks of one forward pass (none unless training).
    pub(super) fn masks(&self, input: &Tensor<4>, encoder: &mut PoissonEncoder) -> Masks {
        let (conv, fc) = if self.dropout_active(input) {
            self.dropout_masks(input, encoder)
        } else {
            (vec![None; self.ann.convs.len()], None)
        };
        Masks { conv, fc }
    }

    /// One chunk of input spikes `[T_c, N, C, H, W]` (or of the first conv's
    /// output currents) through every layer,
    /// carrying the membranes in `states`: the chunk's `fc1` spikes summed
    /// over time `[N, hidden]` and the spike counts (input, then each
    /// spiking layer). `None` when `probe` took a layer's currents instead.
    pub(super) fn chunk(
        &self,
        stimulus: impl Into<Stimulus>,
        states: &mut States,
        masks: &Masks,
        probe: &mut Option<(usize, &mut dyn FnMut(Tensor<2>))>,
    ) -> Option<(Tensor<2>, Vec<Tensor<1>>)> {
        let (tc, n, mut counts, mut first) = match stimulus.into() {
            Stimulus::Spikes(s) => {
                let [tc, n, c, h, w] = s.dims();
                let count = s.clone().abs().sum().detach();
                let cur = self.conv_current(0, s.reshape([tc * n, c, h, w]));
                (tc, n, vec![count], Some(cur))
            }
            Stimulus::Conv1Current(cur) => {
                let [tc, n, c, h, w] = cur.dims();
                let zero = Tensor::<1>::zeros([1], &cur.device());
                (tc, n, vec![zero], Some(cur.reshape([tc * n, c, h, w])))
            }
        };
        let mut x: Option<Tensor<4>> = None;
        for i in 0..self.ann.convs.len() {
            let cur = match first.take() {
                Some(cur) => cur,
                None => self.conv_current(i, x.take().expect("set by the layer before")),
            };
            let [_, c, h, w] = cur.dims();
            if let Some((layer, sink)) = probe.as_mut()
                && *layer == i
            {
                sink(cur.reshape([tc, n * c * h * w]));
                return None;
            }
            let cur: Tensor<5> = cur.reshape([tc, n, c, h, w]);
            let (s, st) = self.neurons[i].forward_seq(cur, states.conv[i].take());
            states.conv[i] = Some(st);
            counts.push(s.clone().sum().detach());
            x = Some(if self.ann.pool_after[i] {
                self.pool_spikes(s.reshape([tc * n, c, h, w]))
            } else {
                match &masks.conv[i] {
                    Some(m) => (s * m.clone()).reshape([tc * n, c, h, w]),
                    None => s.reshape([tc * n, c, h, w]),
                }
            });
        }
        let x = x.expect("a VGG has convs");
        let flat: Tensor<3> = x.reshape([tc as i64, n as i64, -1]);
        let cur = self.fc1_current(flat);
        if let Some((_, sink)) = probe.as_mut() {
            // The probe is fc1 (conv probes returned above).
            let [_, _, f] = cur.dims();
            sink(cur.reshape([tc, n * f]));
            return None;
        }
        let convs = self.ann.convs.len();
        let (s, st) = self.neurons[convs].forward_seq(cur, states.fc.take());
        states.fc = Some(st);
        counts.push(s.clone().sum().detach());
        let s = match &masks.fc {
            Some(m) => s * m.clone(),
            None => s,
        };
        Some((s.sum_dim(0).squeeze_dim(0), counts))
    }

    /// Reference simulation: one timestep at a time through all layers, the
    /// output layer accumulating its membrane every step (as the authors'
    /// code). Slow; kept to check [`forward_timesteps`](Self::forward_timesteps).
    /// Dropout is not applied (inference only).
    ///
    /// # Shapes
    /// - input: `[N, C, H, W]`
    /// - output logits: `[N, classes]`
    pub fn forward_stepwise(
        &self,
        input: Tensor<4>,
        timesteps: usize,
        encoder: &mut PoissonEncoder,
    ) -> SnnOutput {
        let convs = self.ann.convs.len();
        let mut conv_states: Vec<Option<LifState<4>>> = vec![None; convs];
        let mut fc_state: Option<LifState<2>> = None;
        let mut out_mem: Option<Tensor<2>> = None;
        let mut totals: Vec<Tensor<1>> = Vec::new();
        for t in 0..timesteps {
            let s_in = encoder.encode_step(input.clone());
            let mut counts = vec![s_in.clone().abs().sum()];
            let mut x = s_in;
            for (i, state) in conv_states.iter_mut().enumerate() {
                let (s, st) = self.neurons[i].forward(self.conv_current(i, x), state.take());
                *state = Some(st);
                counts.push(s.clone().sum());
                x = if self.ann.pool_after[i] {
                    self.pool_spikes(s)
                } else {
                    s
                };
            }
            let (s, st) = self.neurons[convs]
                .forward(self.fc1_current(x.flatten::<2>(1, 3)), fc_state.take());
            fc_state = Some(st);
            counts.push(s.clone().sum());
            let inc = self.output_membrane(s, 1);
            out_mem = Some(match out_mem {
                Some(m) => m + inc,
                None => inc,
            });
            totals = if t == 0 {
                counts
            } else {
                totals.into_iter().zip(counts).map(|(a, b)| a + b).collect()
            };
        }
        let membrane = out_mem.expect("timesteps > 0");
        SnnOutput {
            logits: membrane.clone().div_scalar(timesteps as f64),
            membrane,
            spikes: totals,
            timesteps,
        }
    }
}
