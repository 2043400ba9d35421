//! The spiking VGG, sharing its weights with a [`Vgg`] ANN: its settings
//! ([`SnnConfig`]), the module ([`Snn`]) and its output ([`SnnOutput`]) here,
//! the layer-major simulation in `simulate`, the tests in `tests`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use privatesnn_neurons::{InputGenerator, Lif, LifConfig, PoissonEncoder, Reset, Surrogate};

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
    /// Detach the reset term from the STBP graph. The PrivateSNN code
    /// computes the reset from `(mem / th - 1 > 0).float()`, which carries no
    /// gradient, so `true` (the default) follows the authors; `false` lets the
    /// gradient flow through the reset as well. The forward pass is the same.
    #[config(default = true)]
    pub detach_reset: bool,
    /// Where the Poisson input's random numbers come from ([`Snn::encoder`]):
    /// a seeded host generator (`"host"`, the default) or the counter-based
    /// generator, which runs on the device off the CPU (`"counter"`). Both
    /// give the same spikes on every backend; they differ from each other.
    #[config(default = "InputGenerator::Host")]
    pub input_generator: InputGenerator,
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
            .with_detach_reset(self.detach_reset)
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
    /// The Poisson input's generator ([`SnnConfig::input_generator`]).
    #[module(skip)]
    pub input_generator: InputGenerator,
}

/// Result of an SNN forward pass.
#[derive(Clone, Debug)]
pub struct SnnOutput {
    /// Output membrane averaged over time, `u_T / T`, `[N, classes]`: the
    /// rate-coded logits, on the ANN's scale (for accuracy and comparisons).
    pub logits: Tensor<2>,
    /// The accumulated output membrane `u_T` itself, `[N, classes]`: what the
    /// authors' code returns and PrivateSNN Eq. 5/8 train on (`T` times
    /// `logits`; a loss at temperature 20 on `logits` is nearly flat).
    pub membrane: Tensor<2>,
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
            input_generator: config.input_generator,
        }
    }

    /// A Poisson encoder with seed `seed` from this SNN's
    /// [`input_generator`](SnnConfig::input_generator): what the stages that
    /// simulate it (evaluation, threshold balancing, STBP, attacks) draw from.
    pub fn encoder(&self, seed: u64) -> PoissonEncoder {
        self.input_generator.encoder(seed)
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
}

mod bias;
mod chunked;
mod given;
mod layerwise;
mod pool;
mod pool_backend;
mod simulate;

pub use chunked::ChunkedBackward;
pub use layerwise::LayerInputs;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bias;
