//! Threshold balancing (Algorithm 1).

use burn::config::Config;
use burn::tensor::Tensor;
use privatesnn_models::{LayerInputs, Snn};
use serde::Serialize;

/// Settings of [`balance_thresholds`].
#[derive(Config, Debug, PartialEq)]
pub struct BalanceConfig {
    /// Timesteps simulated per sample (100 in the authors' code).
    #[config(default = 100)]
    pub timesteps: usize,
    /// Factor applied to every threshold after balancing (paper: 0.7, after
    /// RMP-SNN; the authors' code: 1.0).
    #[config(default = 0.7)]
    pub scale: f64,
    /// Percentile of the input currents taken as threshold: 100 = the maximum
    /// (Algorithm 1); 99.9 is the robust choice of Rueckauer et al.
    #[config(default = 100.0)]
    pub percentile: f64,
    /// Seed of the Poisson input; sample batch `b` uses `seed + b`, the same
    /// spikes for every layer's pass.
    #[config(default = 0)]
    pub seed: u64,
    /// Longest window, as a multiple of `timesteps`: a layer that receives no
    /// positive current within the window is balanced again over a doubled
    /// window (2x, 4x, ... up to this factor), which the deeper layers then keep.
    /// Deep layers of a max-balanced SNN start firing late; the Sengupta
    /// baseline balances over long windows (the paper: 2,000 steps on
    /// CIFAR-100). 1 = never extend.
    #[config(default = 8)]
    pub max_extension: usize,
    /// Memory (MiB) for keeping the spike trains that enter the layer being
    /// balanced, so that each layer is simulated once instead of once per
    /// later layer (same thresholds; about 8x fewer layer passes on VGG16).
    /// A layer whose inputs over all samples and the window do not fit is
    /// balanced by re-simulating the layers before it. 0 = never keep.
    #[config(default = 2048)]
    pub cache_mib: usize,
}

/// What went wrong in a conversion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// A setting is out of range.
    #[error("invalid conversion setting `{field}`: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No data to balance on.
    #[error("threshold balancing needs at least one batch of images")]
    NoData,
    /// A layer never received a positive current, so no threshold makes it fire.
    #[error(
        "spiking layer {layer} never receives a positive input current within {window} timesteps \
         (statistic {value}); the network is dead from there on — is the ANN trained, and the \
         data normalised to [-1, 1]? (a longer window: raise `timesteps` or `max_extension`)"
    )]
    DeadLayer {
        /// The layer (0-based).
        layer: usize,
        /// The longest window tried.
        window: usize,
        /// The statistic found.
        value: f64,
    },
    /// The statistic is not a number (NaN weights or inputs).
    #[error(
        "spiking layer {layer}: input current statistic is {value}; NaN in the weights or the data?"
    )]
    NotFinite {
        /// The layer.
        layer: usize,
        /// The value.
        value: f64,
    },
}

impl BalanceConfig {
    /// Check the ranges.
    pub fn validate(&self) -> Result<(), ConversionError> {
        if self.timesteps == 0 {
            return Err(ConversionError::Config {
                field: "timesteps",
                reason: "must be > 0".into(),
            });
        }
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(ConversionError::Config {
                field: "scale",
                reason: format!("must be > 0, got {}", self.scale),
            });
        }
        if self.max_extension == 0 {
            return Err(ConversionError::Config {
                field: "max_extension",
                reason: "must be >= 1 (1 = never extend the window)".into(),
            });
        }
        if !(self.percentile > 0.0 && self.percentile <= 100.0) {
            return Err(ConversionError::Config {
                field: "percentile",
                reason: format!("must be in (0, 100], got {}", self.percentile),
            });
        }
        Ok(())
    }
}

/// Per-layer statistics of a balancing run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BalanceReport {
    /// The max (or percentile) current of each spiking layer, before scaling.
    pub raw: Vec<f64>,
    /// The thresholds set: `raw * scale`.
    pub thresholds: Vec<f64>,
    /// Samples used.
    pub samples: usize,
    /// Timesteps per sample (the longest window used).
    pub timesteps: usize,
    /// The window each layer was balanced over (longer than `timesteps` of
    /// the config where a layer was silent; see `max_extension`).
    pub windows: Vec<usize>,
}

/// Running max, or the exact top-k values for a percentile.
struct Statistic {
    percentile: f64,
    max: f64,
    keep: usize,
    top: Vec<f32>,
}

impl Statistic {
    fn new(percentile: f64, total: usize) -> Self {
        let keep = ((1.0 - percentile / 100.0) * total as f64).floor() as usize + 1;
        Self {
            percentile,
            max: f64::NEG_INFINITY,
            keep,
            top: Vec::new(),
        }
    }

    fn push(&mut self, currents: Tensor<2>) {
        if self.percentile >= 100.0 {
            let m = currents.max().into_scalar::<f32>() as f64;
            if m > self.max || m.is_nan() {
                self.max = m;
            }
            return;
        }
        let values = currents.into_data();
        self.top.extend(values.iter::<f32>());
        self.trim(2 * self.keep);
    }

    /// Keep the `n` largest values seen.
    fn trim(&mut self, n: usize) {
        if self.top.len() > n {
            let k = self.top.len() - self.keep;
            self.top.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
            self.top.drain(..k);
        }
    }

    /// The value with `keep - 1` values above it: the percentile.
    fn value(mut self) -> f64 {
        if self.percentile >= 100.0 {
            return self.max;
        }
        self.trim(self.keep);
        self.top
            .iter()
            .copied()
            .min_by(|a, b| a.total_cmp(b))
            .map_or(f64::NEG_INFINITY, f64::from)
    }
}

/// Balance the thresholds of `snn` on `batches` (normalised `[N, C, H, W]`
/// images, e.g. synthetic ones) as in Algorithm 1, then scale them.
///
/// `progress(layer, layers)` is called before each layer. Returns the
/// converted SNN and the per-layer statistics.
pub fn balance_thresholds(
    snn: Snn,
    batches: &[Tensor<4>],
    config: &BalanceConfig,
    mut progress: impl FnMut(usize, usize),
) -> Result<(Snn, BalanceReport), ConversionError> {
    config.validate()?;
    if batches.is_empty() {
        return Err(ConversionError::NoData);
    }
    let layers = snn.neurons.len();
    let samples: usize = batches.iter().map(|b| b.dims()[0]).sum();
    // Algorithm 1 balances integrate-and-fire neurons (the authors force
    // leak 1.0 here whatever the SNN's leak); the SNN keeps its own leak.
    let leaks: Vec<f64> = snn.neurons.iter().map(|n| n.leak).collect();
    let mut snn = snn.with_thresholds(&vec![1.0; layers]);
    for n in &mut snn.neurons {
        n.leak = 1.0;
    }
    let mut raw = Vec::with_capacity(layers);
    let mut windows = Vec::with_capacity(layers);
    let longest = config.timesteps * config.max_extension;
    let mut window = config.timesteps;
    let mut cache: Option<Vec<LayerInputs>> = None;
    for layer in 0..layers {
        progress(layer, layers);
        let value = loop {
            cache = cached_inputs(&snn, batches, cache, layer, window, config);
            let value = match &cache {
                Some(inputs) => cached_statistic(&snn, inputs, samples, config.percentile),
                None => layer_statistic(&snn, batches, samples, layer, window, config),
            };
            if value.is_nan() || value.is_infinite() && value > 0.0 {
                return Err(ConversionError::NotFinite { layer, value });
            }
            if value > 0.0 {
                break value;
            }
            if window * 2 > longest {
                return Err(ConversionError::DeadLayer {
                    layer,
                    window,
                    value,
                });
            }
            window *= 2;
        };
        raw.push(value);
        windows.push(window);
        let mut current = snn.thresholds();
        current[layer] = value;
        snn = snn.with_thresholds(&current);
        // Advance the kept spike trains through the balanced layer.
        cache = match cache {
            Some(inputs)
                if layer + 1 < layers && fits(&snn, batches, layer + 1, window, config) =>
            {
                Some(inputs.into_iter().map(|x| snn.next_inputs(x)).collect())
            }
            _ => None,
        };
    }
    let thresholds: Vec<f64> = raw.iter().map(|t| t * config.scale).collect();
    for (n, leak) in snn.neurons.iter_mut().zip(leaks) {
        n.leak = leak;
    }
    Ok((
        snn.with_thresholds(&thresholds),
        BalanceReport {
            raw,
            thresholds,
            samples,
            timesteps: window,
            windows,
        },
    ))
}

/// Values entering spiking `layer` per sample and timestep: the image for
/// layer 0, else the previous layer's (pooled) output, for `fc1` flattened.
fn input_values(snn: &Snn, image: [usize; 3], layer: usize) -> usize {
    let [c, h, w] = image;
    if layer == 0 {
        return c * h * w;
    }
    let [h, w] = snn.ann.conv_output_sizes([h, w])[layer - 1];
    snn.ann.convs[layer - 1].weight.dims()[0] * h * w
}

/// Whether the inputs of `layer` over all batches and `window` steps fit
/// in `cache_mib`.
fn fits(
    snn: &Snn,
    batches: &[Tensor<4>],
    layer: usize,
    window: usize,
    config: &BalanceConfig,
) -> bool {
    let Some(first) = batches.first() else {
        return false;
    };
    let [_, c, h, w] = first.dims();
    let samples: usize = batches.iter().map(|b| b.dims()[0]).sum();
    let bytes = 4u128 * (samples * window) as u128 * input_values(snn, [c, h, w], layer) as u128;
    bytes <= (config.cache_mib as u128) << 20
}

/// The kept inputs of `layer` over `window`: `cache` when it holds them,
/// else made by one pass through the earlier layers when they fit (`None`
/// when they do not: the caller re-simulates instead).
fn cached_inputs(
    snn: &Snn,
    batches: &[Tensor<4>],
    cache: Option<Vec<LayerInputs>>,
    layer: usize,
    window: usize,
    config: &BalanceConfig,
) -> Option<Vec<LayerInputs>> {
    if let Some(inputs) = cache
        && inputs
            .first()
            .is_some_and(|x| x.layer() == layer && x.timesteps() == window)
    {
        return Some(inputs);
    }
    if !fits(snn, batches, layer, window, config) {
        return None;
    }
    let inputs = batches
        .iter()
        .enumerate()
        .map(|(b, batch)| {
            let mut encoder = snn.encoder(config.seed.wrapping_add(b as u64));
            let mut x = snn.encoded_inputs(batch.clone(), window, &mut encoder);
            while x.layer() < layer {
                x = snn.next_inputs(x);
            }
            x
        })
        .collect();
    Some(inputs)
}

/// [`layer_statistic`] from kept inputs.
fn cached_statistic(snn: &Snn, inputs: &[LayerInputs], samples: usize, percentile: f64) -> f64 {
    let window = inputs.first().map_or(0, LayerInputs::timesteps);
    let mut stat: Option<Statistic> = None;
    for x in inputs {
        let n = x.batch();
        snn.inputs_currents(x, &mut |c| {
            let stat = stat.get_or_insert_with(|| {
                let per_sample = c.dims()[1] / n;
                Statistic::new(percentile, samples * window * per_sample)
            });
            stat.push(c);
        });
    }
    stat.map_or(f64::NEG_INFINITY, Statistic::value)
}

/// The max (or percentile) input current of spiking `layer` over `window`
/// steps of every batch, the earlier layers at their current thresholds.
fn layer_statistic(
    snn: &Snn,
    batches: &[Tensor<4>],
    samples: usize,
    layer: usize,
    window: usize,
    config: &BalanceConfig,
) -> f64 {
    let mut stat: Option<Statistic> = None;
    for (b, batch) in batches.iter().enumerate() {
        let mut encoder = snn.encoder(config.seed.wrapping_add(b as u64));
        let n = batch.dims()[0];
        snn.layer_currents(batch.clone(), window, layer, &mut encoder, &mut |c| {
            let stat = stat.get_or_insert_with(|| {
                let per_sample = c.dims()[1] / n;
                Statistic::new(config.percentile, samples * window * per_sample)
            });
            stat.push(c);
        });
    }
    stat.map_or(f64::NEG_INFINITY, Statistic::value)
}

#[cfg(test)]
mod tests;
