//! Threshold balancing (Algorithm 1).

use burn::config::Config;
use burn::tensor::Tensor;
use privatesnn_models::Snn;
use privatesnn_neurons::PoissonEncoder;
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
        "spiking layer {layer} never receives a positive input current (statistic {value}); \
         the network is dead from there on — is the ANN trained, and the data normalised to [-1, 1]?"
    )]
    DeadLayer {
        /// The layer (0-based).
        layer: usize,
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
    /// Timesteps per sample.
    pub timesteps: usize,
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
    for layer in 0..layers {
        progress(layer, layers);
        let mut stat: Option<Statistic> = None;
        for (b, batch) in batches.iter().enumerate() {
            let mut encoder = PoissonEncoder::new(config.seed.wrapping_add(b as u64));
            let n = batch.dims()[0];
            snn.layer_currents(
                batch.clone(),
                config.timesteps,
                layer,
                &mut encoder,
                &mut |c| {
                    let stat = stat.get_or_insert_with(|| {
                        let per_sample = c.dims()[1] / n;
                        Statistic::new(config.percentile, samples * config.timesteps * per_sample)
                    });
                    stat.push(c);
                },
            );
        }
        let value = stat.map_or(f64::NEG_INFINITY, Statistic::value);
        if value.is_nan() || value.is_infinite() && value > 0.0 {
            return Err(ConversionError::NotFinite { layer, value });
        }
        if value <= 0.0 {
            return Err(ConversionError::DeadLayer { layer, value });
        }
        raw.push(value);
        let mut current = snn.thresholds();
        current[layer] = value;
        snn = snn.with_thresholds(&current);
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
            timesteps: config.timesteps,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};
    use privatesnn_models::{SnnConfig, VggConfig};
    use privatesnn_neurons::{LifConfig, Reset};

    /// conv(2→3) + pool, then fc1 (spiking) and fc2: two spiking layers.
    fn tiny(device: &Device) -> privatesnn_models::Vgg {
        device.seed(11);
        VggConfig::new()
            .with_in_channels(2)
            .with_image_size(4)
            .with_num_classes(3)
            .with_arch("3,A".into())
            .with_hidden(5)
            .init(device)
    }

    /// Reference: step-by-step, by hand, with the neurons crate's LIF.
    fn reference_max(
        ann: &privatesnn_models::Vgg,
        x: Tensor<4>,
        t: usize,
        seed: u64,
        th0: f64,
    ) -> (f64, f64) {
        let mut enc = PoissonEncoder::new(seed);
        let lif = LifConfig::new()
            .with_threshold(th0)
            .with_reset(Reset::Subtract)
            .init(&x.device());
        let mut state = None;
        let (mut m0, mut m1) = (f64::MIN, f64::MIN);
        for _ in 0..t {
            let s_in = enc.encode_step(x.clone());
            let cur0 = ann.convs[0].forward(s_in);
            m0 = m0.max(cur0.clone().max().into_scalar::<f32>() as f64);
            let (s0, st) = lif.forward(cur0, state.take());
            state = Some(st);
            let pooled = ann.pool.forward(s0);
            let [n, ..] = pooled.dims();
            let cur1 = ann.fc1.forward(pooled.reshape([n as i64, -1]));
            m1 = m1.max(cur1.max().into_scalar::<f32>() as f64);
        }
        (m0, m1)
    }

    #[test]
    fn thresholds_equal_the_max_current_of_a_hand_sized_network() {
        let device = Device::flex();
        let ann = tiny(&device);
        let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let snn = Snn::from_ann(ann.clone(), &SnnConfig::new().with_time_chunk(4));
        let config = BalanceConfig::new()
            .with_timesteps(10)
            .with_scale(1.0)
            .with_seed(4);
        let (snn, report) =
            balance_thresholds(snn, std::slice::from_ref(&x), &config, |_, _| {}).unwrap();
        let (m0, _) = reference_max(&ann, x.clone(), 10, 4, 1.0);
        assert!(
            (report.raw[0] - m0).abs() < 1e-5,
            "{} vs {m0}",
            report.raw[0]
        );
        // Layer 1 is balanced with layer 0 already at its balanced threshold.
        let (_, m1) = reference_max(&ann, x, 10, 4, report.raw[0]);
        assert!(
            (report.raw[1] - m1).abs() < 1e-5,
            "{} vs {m1}",
            report.raw[1]
        );
        assert_eq!(snn.thresholds().len(), 2);
        for (a, b) in snn.thresholds().iter().zip(&report.raw) {
            assert!((a - b).abs() < 1e-6);
        }
        // Conversion touches only thresholds: re-conversion gives the ANN's logits exactly.
        let x2 = Tensor::<4>::random([2, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        snn.to_ann()
            .forward(x2.clone())
            .into_data()
            .assert_eq(&ann.forward(x2).into_data(), true);
    }

    /// Issue 10: balancing uses leak 1.0 whatever `[snn] leak` says (as the
    /// authors' code), and the converted SNN keeps its configured leak.
    #[test]
    fn balancing_ignores_the_leak_and_keeps_it() {
        let device = Device::flex();
        let ann = tiny(&device);
        let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let config = BalanceConfig::new().with_timesteps(12).with_seed(2);
        let run = |leak: f64| {
            let snn = Snn::from_ann(ann.clone(), &SnnConfig::new().with_leak(leak));
            balance_thresholds(snn, std::slice::from_ref(&x), &config, |_, _| {}).unwrap()
        };
        let (if_snn, if_report) = run(1.0);
        let (leaky, leaky_report) = run(0.5);
        assert_eq!(leaky_report.raw, if_report.raw);
        assert_eq!(leaky.thresholds(), if_snn.thresholds());
        assert!(leaky.neurons.iter().all(|n| n.leak == 0.5));
        // Not a vacuous check: with the leak left at 0.5, layer 1's maximum
        // current (layer 0 at the same threshold, same spikes) is another one.
        let probe = Snn::from_ann(ann.clone(), &SnnConfig::new().with_leak(0.5))
            .with_thresholds(&[if_report.raw[0], 1.0]);
        let mut m1_leaky = f64::MIN;
        probe.layer_currents(x, 12, 1, &mut PoissonEncoder::new(2), &mut |c| {
            m1_leaky = m1_leaky.max(c.max().into_scalar::<f32>() as f64)
        });
        assert!(
            (m1_leaky - if_report.raw[1]).abs() > 1e-4,
            "{m1_leaky} vs {}",
            if_report.raw[1]
        );
    }

    #[test]
    fn scale_multiplies_and_percentile_is_at_most_the_max() {
        let device = Device::flex();
        let ann = tiny(&device);
        let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let base = BalanceConfig::new().with_timesteps(6).with_scale(1.0);
        let run = |c: &BalanceConfig| {
            balance_thresholds(
                Snn::from_ann(ann.clone(), &SnnConfig::new()),
                std::slice::from_ref(&x),
                c,
                |_, _| {},
            )
            .unwrap()
            .1
        };
        let max = run(&base);
        let scaled = run(&base.clone().with_scale(0.7));
        for (m, s) in max.thresholds.iter().zip(&scaled.thresholds) {
            assert!((s - 0.7 * m).abs() < 1e-9);
        }
        let p = run(&base.clone().with_percentile(90.0));
        assert!(p.raw[0] <= max.raw[0] && p.raw[0] > 0.0);
    }

    #[test]
    fn percentile_picks_the_right_order_statistic() {
        // 1000 values 1..=1000 in two chunks: the 99th percentile keeps 11 values
        // above or at it, so it is 990.
        let device = Device::flex();
        let mut s = Statistic::new(99.0, 1000);
        for chunk in [(1..=500), (501..=1000)] {
            let v: Vec<f32> = chunk.map(|i| i as f32).collect();
            s.push(Tensor::from_data(TensorData::new(v, [1, 500]), &device));
        }
        assert_eq!(s.value(), 990.0);
        let mut m = Statistic::new(100.0, 4);
        m.push(Tensor::from_data(
            TensorData::new(vec![1.0f32, 7.0, -2.0, 3.0], [2, 2]),
            &device,
        ));
        assert_eq!(m.value(), 7.0);
    }

    #[test]
    fn bad_settings_and_dead_layers_are_errors() {
        let device = Device::flex();
        let e = BalanceConfig::new().with_scale(0.0).validate().unwrap_err();
        assert!(e.to_string().contains("scale"), "{e}");
        let snn = Snn::from_ann(tiny(&device), &SnnConfig::new());
        let e = balance_thresholds(snn.clone(), &[], &BalanceConfig::new(), |_, _| {}).unwrap_err();
        assert!(matches!(e, ConversionError::NoData));
        // All-zero input: no spikes, no current.
        let zeros = Tensor::<4>::zeros([2, 2, 4, 4], &device);
        let e = balance_thresholds(
            snn,
            &[zeros],
            &BalanceConfig::new().with_timesteps(3),
            |_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(e, ConversionError::DeadLayer { layer: 0, .. }),
            "{e}"
        );
        // NaN weights: the statistic is NaN, reported as such.
        let mut ann = tiny(&device);
        ann.convs[0].weight = ann.convs[0].weight.clone().map(|w| w.mul_scalar(f64::NAN));
        let x = Tensor::<4>::random([2, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let snn = Snn::from_ann(ann, &SnnConfig::new());
        let e = balance_thresholds(
            snn,
            &[x],
            &BalanceConfig::new().with_timesteps(3),
            |_, _| {},
        )
        .unwrap_err();
        assert!(
            matches!(e, ConversionError::NotFinite { layer: 0, .. }),
            "{e}"
        );
    }
}
