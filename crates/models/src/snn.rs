//! The spiking VGG, sharing its weights with a [`Vgg`] ANN.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use privatesnn_neurons::{Lif, LifConfig, LifState, PoissonEncoder, Reset, Surrogate};

use crate::Vgg;

/// How the SNN is simulated. Thresholds are not here: they are parameters
/// of the [`Snn`] (one per spiking layer), saved with it.
#[derive(Config, Debug, PartialEq)]
pub struct SnnConfig {
    /// Timesteps `T` of one inference.
    #[config(default = 100)]
    pub timesteps: usize,
    /// Membrane leak λ of every spiking layer (1.0 = IF, as for conversion).
    #[config(default = 1.0)]
    pub leak: f64,
    /// Reset after a spike.
    #[config(default = "Reset::Subtract")]
    pub reset: Reset,
    /// Surrogate gradient for STBP training.
    #[config(default = "Surrogate::Triangle { scale: 1.0 }")]
    pub surrogate: Surrogate,
    /// Timesteps simulated together, layer by layer (memory vs speed; any value
    /// gives the same spikes).
    #[config(default = 10)]
    pub time_chunk: usize,
}

impl SnnConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        use crate::ModelError;
        if self.timesteps == 0 {
            return Err(ModelError::config("timesteps", "must be > 0"));
        }
        if self.time_chunk == 0 {
            return Err(ModelError::config("time_chunk", "must be > 0"));
        }
        self.lif(1.0)
            .validate()
            .map_err(|e| ModelError::config("leak/surrogate", e))
    }

    fn lif(&self, threshold: f64) -> LifConfig {
        LifConfig::new()
            .with_leak(self.leak)
            .with_threshold(threshold)
            .with_reset(self.reset)
            .with_surrogate(self.surrogate)
    }
}

/// A spiking VGG (PrivateSNN Sec. 2.1): every conv and the hidden FC layer
/// drive a layer of LIF neurons; the output layer does not spike but
/// accumulates its membrane, whose mean over time is the logit.
///
/// The weights are those of the wrapped [`Vgg`] (`ann`): [`Snn::from_ann`]
/// wraps a trained ANN, [`Snn::to_ann`] hands back the ReLU network with the
/// same (possibly further-trained) weights — the view an attacker gets by
/// re-conversion.
#[derive(Module, Debug)]
pub struct Snn {
    /// The shared weights.
    pub ann: Vgg,
    /// One LIF layer (threshold) per spiking layer: the convs, then `fc1`.
    pub neurons: Vec<Lif>,
    /// Default number of timesteps.
    pub timesteps: usize,
    /// Timesteps simulated together.
    pub time_chunk: usize,
}

/// Result of an SNN forward pass.
#[derive(Clone, Debug)]
pub struct SnnOutput {
    /// Output membrane averaged over time, `[N, classes]`.
    pub logits: Tensor<2>,
    /// Total spikes (summed over batch and time, detached), shape `[1]` each:
    /// index 0 is the Poisson input (|spike| counted), index `l + 1` the output of
    /// spiking layer `l`. Read them with [`SnnOutput::spike_totals`].
    pub spikes: Vec<Tensor<1>>,
    /// Timesteps simulated.
    pub timesteps: usize,
}

impl SnnOutput {
    /// The spike totals as host numbers (one device read).
    pub fn spike_totals(&self) -> Vec<f64> {
        if self.spikes.is_empty() {
            return Vec::new();
        }
        let all = Tensor::cat(self.spikes.clone(), 0).into_data();
        all.iter::<f64>().collect()
    }
}

impl Snn {
    /// Wrap an ANN; every threshold starts at 1.0 (set them by conversion).
    pub fn from_ann(ann: Vgg, config: &SnnConfig) -> Self {
        if let Err(e) = config.validate() {
            panic!("{e}");
        }
        let device = ann.fc2.weight.val().device();
        let neurons = (0..ann.num_spiking_layers())
            .map(|_| config.lif(1.0).init(&device))
            .collect();
        Self {
            ann,
            neurons,
            timesteps: config.timesteps,
            time_chunk: config.time_chunk,
        }
    }

    /// The ANN with this SNN's weights (LIF → ReLU re-conversion).
    pub fn to_ann(&self) -> Vgg {
        self.ann.clone()
    }

    /// The per-layer thresholds.
    pub fn thresholds(&self) -> Vec<f64> {
        self.neurons.iter().map(Lif::threshold_value).collect()
    }

    /// This SNN with the given per-layer thresholds.
    ///
    /// # Panics
    /// If the count differs from the number of spiking layers.
    pub fn with_thresholds(mut self, thresholds: &[f64]) -> Self {
        assert_eq!(
            thresholds.len(),
            self.neurons.len(),
            "one threshold per spiking layer"
        );
        self.neurons = self
            .neurons
            .iter()
            .zip(thresholds)
            .map(|(n, &t)| n.with_threshold(t))
            .collect();
        self
    }

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
        let [n, _, mut h, mut w] = input.dims();
        let mut conv = Vec::with_capacity(self.ann.convs.len());
        for (layer, &pool) in self.ann.convs.iter().zip(&self.ann.pool_after) {
            let [c, ..] = layer.weight.dims();
            let p = self.ann.conv_dropout.prob;
            conv.push(
                (!pool && p > 0.0).then(|| encoder.dropout_mask([1, n, c, h, w], p, &device)),
            );
            if pool {
                h /= 2;
                w /= 2;
            }
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
    /// output layer is linear and bias-free, so it is applied once to the
    /// summed `fc1` spikes (= the sum over time of its membrane increments).
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
    /// output membrane / `checkpoints[k]`). This is how accuracy-versus-T
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
        let [n, ..] = input.dims();
        let convs = self.ann.convs.len();
        let (conv_masks, fc_mask) = if self.dropout_active(&input) {
            self.dropout_masks(&input, encoder)
        } else {
            (vec![None; convs], None)
        };
        let mut conv_states: Vec<Option<LifState<5>>> = vec![None; convs];
        let mut fc_state: Option<LifState<3>> = None;
        let mut totals: Vec<Tensor<1>> = Vec::new();
        let mut fc_sum: Option<Tensor<2>> = None;
        let mut next = 0;

        let mut start = 0;
        'chunks: while start < timesteps {
            let tc = self.time_chunk.min(checkpoints[next] - start);
            start += tc;
            let spikes_in: Tensor<5> = encoder.encode(input.clone(), tc);
            let mut counts = vec![spikes_in.clone().abs().sum().detach()];
            let [_, _, c, h, w] = spikes_in.dims();
            let mut x: Tensor<4> = spikes_in.reshape([tc * n, c, h, w]);
            for i in 0..convs {
                let cur = self.ann.convs[i].forward(x);
                let [_, c, h, w] = cur.dims();
                if let Some((layer, sink)) = probe.as_mut()
                    && *layer == i
                {
                    sink(cur.reshape([tc, n * c * h * w]));
                    continue 'chunks;
                }
                let cur: Tensor<5> = cur.reshape([tc, n, c, h, w]);
                let (s, st) = self.neurons[i].forward_seq(cur, conv_states[i].take());
                conv_states[i] = Some(st);
                counts.push(s.clone().sum().detach());
                let s = if self.ann.pool_after[i] {
                    self.ann.pool.forward(s.reshape([tc * n, c, h, w]))
                } else {
                    match &conv_masks[i] {
                        Some(m) => (s * m.clone()).reshape([tc * n, c, h, w]),
                        None => s.reshape([tc * n, c, h, w]),
                    }
                };
                x = s;
            }
            let flat: Tensor<3> = x.reshape([tc as i64, n as i64, -1]);
            let cur = self.ann.fc1.forward(flat);
            if let Some((_, sink)) = probe.as_mut() {
                // The probe is fc1 (conv probes continued above).
                let [_, _, f] = cur.dims();
                sink(cur.reshape([tc, n * f]));
                continue;
            }
            let (s, st) = self.neurons[convs].forward_seq(cur, fc_state.take());
            fc_state = Some(st);
            counts.push(s.clone().sum().detach());
            let s = match &fc_mask {
                Some(m) => s * m.clone(),
                None => s,
            };
            let summed: Tensor<2> = s.sum_dim(0).squeeze_dim(0);
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
                emit(SnnOutput {
                    logits: self.ann.fc2.forward(acc.clone()).div_scalar(start as f64),
                    spikes: totals.clone(),
                    timesteps: start,
                });
                next += 1;
            }
            fc_sum = Some(acc);
        }
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
                let (s, st) = self.neurons[i].forward(self.ann.convs[i].forward(x), state.take());
                *state = Some(st);
                counts.push(s.clone().sum());
                x = if self.ann.pool_after[i] {
                    self.ann.pool.forward(s)
                } else {
                    s
                };
            }
            let (s, st) = self.neurons[convs]
                .forward(self.ann.fc1.forward(x.flatten::<2>(1, 3)), fc_state.take());
            fc_state = Some(st);
            counts.push(s.clone().sum());
            let inc = self.ann.fc2.forward(s);
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
        SnnOutput {
            logits: out_mem.expect("timesteps > 0").div_scalar(timesteps as f64),
            spikes: totals,
            timesteps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VggConfig;
    use burn::tensor::Device;

    fn tiny(device: &Device) -> (Vgg, VggConfig) {
        let cfg = VggConfig::new()
            .with_in_channels(2)
            .with_image_size(8)
            .with_num_classes(4)
            .with_arch("6,A,8,8,A".into())
            .with_hidden(12);
        (cfg.init(device), cfg)
    }

    fn input(device: &Device) -> Tensor<4> {
        device.seed(5);
        use burn::tensor::Distribution;
        Tensor::<4>::random([3, 2, 8, 8], Distribution::Uniform(-1.0, 1.0), device)
    }

    /// Thresholds low enough that every layer fires.
    fn spiking(snn: Snn) -> Snn {
        let n = snn.neurons.len();
        snn.with_thresholds(&vec![0.3; n])
    }

    #[test]
    fn checkpoints_equal_separate_runs_of_the_same_spikes() {
        let device = Device::flex();
        let (ann, _) = tiny(&device);
        let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(4)));
        let x = input(&device);
        let outs = snn.forward_checkpoints(x.clone(), &[3, 7, 10], &mut PoissonEncoder::new(9));
        assert_eq!(outs.len(), 3);
        for (out, t) in outs.iter().zip([3, 7, 10]) {
            let single = snn.forward_timesteps(x.clone(), t, &mut PoissonEncoder::new(9));
            assert_eq!(out.timesteps, t);
            assert_eq!(out.spike_totals(), single.spike_totals());
            out.logits.clone().into_data().assert_approx_eq::<f32>(
                &single.logits.into_data(),
                burn::tensor::Tolerance::absolute(1e-5),
            );
        }
    }

    #[test]
    fn layer_currents_are_the_weighted_input_spikes() {
        let device = Device::flex();
        let (ann, _) = tiny(&device);
        let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(2)));
        let x = input(&device);
        // Layer 0: conv0 of the Poisson spikes, all 5 steps.
        let mut got = Vec::new();
        snn.layer_currents(x.clone(), 5, 0, &mut PoissonEncoder::new(3), &mut |c| {
            got.push(c)
        });
        assert_eq!(got.len(), 3); // chunks 2 + 2 + 1
        let got: Tensor<2> = Tensor::cat(got, 0);
        let spikes: Tensor<5> = PoissonEncoder::new(3).encode(x.clone(), 5);
        let want = snn.ann.convs[0].forward(spikes.reshape([5 * 3, 2, 8, 8]));
        let [_, c, h, w] = want.dims();
        want.reshape([5, 3 * c * h * w])
            .into_data()
            .assert_approx_eq::<f32>(&got.into_data(), burn::tensor::Tolerance::absolute(1e-6));
        // The fc1 current: [T, N * hidden].
        let mut shapes = Vec::new();
        snn.layer_currents(x, 5, 3, &mut PoissonEncoder::new(3), &mut |c| {
            shapes.push(c.dims())
        });
        assert_eq!(shapes, vec![[2, 3 * 12], [2, 3 * 12], [1, 3 * 12]]);
    }

    #[test]
    fn layer_major_equals_stepwise_for_any_chunk() {
        let device = Device::flex();
        let (ann, _) = tiny(&device);
        let x = input(&device);
        for chunk in [1, 3, 7, 20] {
            let cfg = SnnConfig::new().with_time_chunk(chunk).with_leak(0.95);
            let snn = spiking(Snn::from_ann(ann.clone(), &cfg));
            let fast = snn.forward_timesteps(x.clone(), 20, &mut PoissonEncoder::new(9));
            let slow = snn.forward_stepwise(x.clone(), 20, &mut PoissonEncoder::new(9));
            let (f, s) = (fast.spike_totals(), slow.spike_totals());
            assert_eq!(f, s, "chunk {chunk}: spike totals differ");
            assert!(f.iter().all(|&c| c > 0.0), "every layer should fire: {f:?}");
            fast.logits.into_data().assert_approx_eq::<f32>(
                &slow.logits.into_data(),
                burn::tensor::Tolerance::absolute(1e-5),
            );
        }
    }

    #[test]
    fn reconversion_gives_back_the_ann_logits_exactly() {
        let device = Device::flex();
        let (ann, _) = tiny(&device);
        let x = input(&device);
        let before = ann.forward(x.clone());
        let snn = spiking(Snn::from_ann(ann, &SnnConfig::new()));
        let after = snn.to_ann().forward(x);
        before.into_data().assert_eq(&after.into_data(), true);
    }

    #[test]
    fn thresholds_round_trip() {
        let device = Device::flex();
        let (ann, _) = tiny(&device);
        let snn = Snn::from_ann(ann, &SnnConfig::new());
        assert_eq!(snn.thresholds(), vec![1.0; 4]);
        let snn = snn.with_thresholds(&[0.5, 1.5, 2.25, 3.0]);
        assert_eq!(snn.thresholds(), vec![0.5, 1.5, 2.25, 3.0]);
    }

    #[test]
    fn stbp_gradients_reach_the_first_conv() {
        let device = Device::flex().autodiff();
        let (ann, _) = tiny(&device);
        let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(4)));
        let out = snn.forward_timesteps(input(&device), 8, &mut PoissonEncoder::new(1));
        let grads = out.logits.sum().backward();
        let g = snn.ann.convs[0]
            .weight
            .grad(&grads)
            .expect("conv1 gradient");
        let norm = g.abs().sum().into_scalar::<f32>();
        assert!(norm.is_finite() && norm > 0.0, "gradient norm {norm}");
    }

    #[test]
    fn dropout_masks_are_drawn_once_per_forward() {
        // Masks drawn per chunk would consume the device RNG differently for
        // chunk 1 and chunk T, and give different outputs.
        let device = Device::flex().autodiff();
        let (ann, _) = tiny(&device);
        let x = input(&device).detach();
        let run = |chunk: usize| {
            let snn = spiking(Snn::from_ann(
                ann.clone(),
                &SnnConfig::new().with_time_chunk(chunk),
            ));
            assert!(snn.ann.conv_dropout.training.is_enabled());
            snn.forward_timesteps(x.clone(), 6, &mut PoissonEncoder::new(2))
        };
        // the masks come from the encoder's seeded stream, not the device RNG
        device.seed(12345);
        let (a, b) = (run(1), run(6));
        assert_eq!(a.spike_totals(), b.spike_totals());
        a.logits.clone().into_data().assert_approx_eq::<f32>(
            &b.logits.into_data(),
            burn::tensor::Tolerance::absolute(1e-5),
        );
        // and dropout is really on: the same run in eval mode differs
        let snn = spiking(Snn::from_ann(ann.clone(), &SnnConfig::new())).valid();
        let c = snn.forward_timesteps(x.clone().without_autodiff(), 6, &mut PoissonEncoder::new(2));
        assert_ne!(
            a.logits.into_data().try_to_vec::<f32>().unwrap(),
            c.logits.into_data().try_to_vec::<f32>().unwrap()
        );
    }
}
