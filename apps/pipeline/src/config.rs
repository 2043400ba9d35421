//! The experiment configuration file (TOML).
//!
//! Each section is deserialized into the `Config` struct of the crate that
//! owns it (`[model]` → `VggConfig`, `[snn]` → `SnnConfig`); fields left
//! out keep that struct's defaults, unknown fields are an error.

use std::path::Path;

use anyhow::{Context, Result, bail};
use privatesnn_conversion::BalanceConfig;
use privatesnn_models::{SnnConfig, VggConfig};
use privatesnn_synthesis::DirichletConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `[data]`: where the real data set comes from and how it is prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSection {
    /// `fashion-mnist`, `mnist`, `cifar10`, `cifar100` or `tiny-imagenet`.
    pub dataset: String,
    /// Directory of the files; empty = the default place (the Debian package
    /// for Fashion-MNIST, `<cache>/<dataset>` otherwise).
    pub dir: String,
    /// Download Fashion-MNIST into the cache when it is not found.
    pub download: bool,
    /// Cache directory for downloads; empty = `$PRIVATESNN_CACHE` or `~/.cache/privatesnn`.
    pub cache_dir: String,
    /// Base URLs tried in order by the download (default: the official mirrors).
    pub mirrors: Vec<String>,
    /// Use only the first N training images (0 = all).
    pub train_limit: usize,
    /// Use only the first N test images (0 = all).
    pub test_limit: usize,
    /// Random-crop padding of the training augmentation (0 = no crop).
    pub crop_pad: usize,
    /// Random horizontal flips in training.
    pub flip: bool,
    /// Background threads of the data loader (0 = load in the training thread).
    pub num_workers: usize,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            dataset: "fashion-mnist".into(),
            dir: String::new(),
            download: false,
            cache_dir: String::new(),
            mirrors: privatesnn_data::download::FASHION_MNIST_MIRRORS
                .iter()
                .map(|m| m.to_string())
                .collect(),
            train_limit: 0,
            test_limit: 0,
            crop_pad: 4,
            flip: true,
            num_workers: 1,
        }
    }
}

/// `[train]`: ANN training (PAPER-NOTES: SGD momentum 0.9, weight decay 5e-4,
/// batch 256, lr 1e-2 divided by 10 at 40/60/80% of 90 epochs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSection {
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Fractions of the epochs after which the learning rate is multiplied by `lr_gamma`.
    pub lr_milestones: Vec<f64>,
    /// Learning-rate factor at each milestone.
    pub lr_gamma: f64,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 90,
            batch_size: 256,
            lr: 1e-2,
            momentum: 0.9,
            weight_decay: 5e-4,
            lr_milestones: vec![0.4, 0.6, 0.8],
            lr_gamma: 0.1,
        }
    }
}

/// `[evaluate]`: SNN accuracy against timesteps, and the real-data conversion baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSection {
    /// Timesteps at which SNN accuracy is read out (ascending; one simulation).
    pub timesteps: Vec<usize>,
    /// Use only the first N test images for SNN accuracy (0 = all).
    pub test_images: usize,
    /// Real training images for the real-data conversion (Sengupta baseline).
    pub real_images: usize,
    /// Batch size of SNN simulation and of conversion.
    pub batch_size: usize,
    /// Seed of the Poisson input during evaluation.
    pub seed: u64,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            timesteps: vec![25, 50, 100, 200, 500],
            test_images: 0,
            real_images: 1000,
            batch_size: 100,
            seed: 0,
        }
    }
}

impl EvalSection {
    fn validate(&self) -> Result<()> {
        if self.timesteps.is_empty()
            || self.timesteps[0] == 0
            || self.timesteps.windows(2).any(|w| w[0] >= w[1])
        {
            bail!("timesteps must be a non-empty, strictly increasing list of positive numbers");
        }
        if self.batch_size == 0 || self.real_images == 0 {
            bail!("batch_size and real_images must be > 0");
        }
        Ok(())
    }
}

impl DataSection {
    fn validate(&self) -> Result<()> {
        const KNOWN: [&str; 5] = [
            "fashion-mnist",
            "mnist",
            "cifar10",
            "cifar100",
            "tiny-imagenet",
        ];
        if !KNOWN.contains(&self.dataset.as_str()) {
            bail!("dataset `{}` is not one of {KNOWN:?}", self.dataset);
        }
        Ok(())
    }
}

impl TrainSection {
    fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            bail!("epochs and batch_size must be positive");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("lr must be a positive number, got {}", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) || self.weight_decay < 0.0 {
            bail!("momentum must be in [0, 1) and weight_decay >= 0");
        }
        if self.lr_milestones.iter().any(|m| !(0.0..=1.0).contains(m)) {
            bail!("lr_milestones are fractions of the epochs, in [0, 1]");
        }
        Ok(())
    }
}

/// A validated experiment configuration.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentConfig {
    /// Name of the experiment (default: the file stem).
    pub name: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// The network.
    pub model: VggConfig,
    /// SNN simulation settings.
    pub snn: SnnConfig,
    /// The real data set.
    pub data: DataSection,
    /// ANN training.
    pub train: TrainSection,
    /// Data-free synthesis (`DirichletConfig` of privatesnn-synthesis).
    pub synthesis: DirichletConfig,
    /// Threshold balancing on the synthetic images (`BalanceConfig` of privatesnn-conversion).
    pub conversion: BalanceConfig,
    /// Threshold balancing of the real-data baseline (Sengupta et al.); same
    /// fields and defaults as `[conversion]`.
    pub baseline: BalanceConfig,
    /// SNN evaluation.
    pub evaluate: EvalSection,
}

const SECTIONS: [&str; 10] = [
    "name",
    "seed",
    "model",
    "snn",
    "data",
    "train",
    "synthesis",
    "conversion",
    "baseline",
    "evaluate",
];

/// Overlay the user's `table` on `default`, rejecting keys `default` lacks.
fn section<T: Serialize + DeserializeOwned>(
    default: T,
    user: Option<&toml::Value>,
    name: &str,
) -> Result<T> {
    let Some(user) = user else { return Ok(default) };
    let toml::Value::Table(user) = user else {
        bail!("[{name}] must be a table");
    };
    let mut merged = toml::Value::try_from(&default).context("serializing defaults")?;
    let toml::Value::Table(base) = &mut merged else {
        bail!("[{name}] defaults are not a table");
    };
    for (k, v) in user {
        if !base.contains_key(k) {
            let known: Vec<&String> = base.keys().collect();
            bail!("[{name}] has no field `{k}` (known: {known:?})");
        }
        base.insert(k.clone(), v.clone());
    }
    merged
        .try_into()
        .with_context(|| format!("invalid value in [{name}]"))
}

impl ExperimentConfig {
    /// Parse a config from TOML text; `stem` names it when `name` is absent.
    pub fn parse(text: &str, stem: &str) -> Result<Self> {
        let value: toml::Value = toml::from_str(text).context("not valid TOML")?;
        let toml::Value::Table(table) = &value else {
            bail!("config must be a TOML table");
        };
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                bail!("unknown top-level key `{key}` (known: {SECTIONS:?})");
            }
        }
        let name = match table.get("name") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(_) => bail!("`name` must be a string"),
            None => stem.to_string(),
        };
        let seed = match table.get("seed") {
            Some(toml::Value::Integer(i)) if *i >= 0 => *i as u64,
            Some(_) => bail!("`seed` must be a non-negative integer"),
            None => 0,
        };
        let model = section(VggConfig::new(), table.get("model"), "model")?;
        model.validate().context("[model]")?;
        let snn = section(SnnConfig::new(), table.get("snn"), "snn")?;
        snn.validate().context("[snn]")?;
        let data = section(DataSection::default(), table.get("data"), "data")?;
        data.validate().context("[data]")?;
        let train = section(TrainSection::default(), table.get("train"), "train")?;
        train.validate().context("[train]")?;
        let synthesis = section(DirichletConfig::new(), table.get("synthesis"), "synthesis")?;
        synthesis.validate().context("[synthesis]")?;
        let conversion = section(BalanceConfig::new(), table.get("conversion"), "conversion")?;
        conversion.validate().context("[conversion]")?;
        let baseline = section(BalanceConfig::new(), table.get("baseline"), "baseline")?;
        baseline.validate().context("[baseline]")?;
        let evaluate = section(EvalSection::default(), table.get("evaluate"), "evaluate")?;
        evaluate.validate().context("[evaluate]")?;
        Ok(Self {
            name,
            seed,
            model,
            snn,
            data,
            train,
            synthesis,
            conversion,
            baseline,
            evaluate,
        })
    }

    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
        Self::parse(&text, stem).with_context(|| format!("config {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_fields() {
        let c = ExperimentConfig::parse("[model]\nwidth = 0.25\nin_channels = 1\n", "x").unwrap();
        assert_eq!(c.name, "x");
        assert_eq!(c.model.width, 0.25);
        assert_eq!(c.model.in_channels, 1);
        assert_eq!(c.model.hidden, VggConfig::new().hidden);
        assert_eq!(c.snn, SnnConfig::new());
    }

    #[test]
    fn surrogate_and_reset_parse() {
        let c = ExperimentConfig::parse(
            "[snn]\nreset = \"zero\"\nsurrogate = { kind = \"atan\", alpha = 2.0 }\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.snn.reset, privatesnn_neurons::Reset::Zero);
        assert_eq!(
            c.snn.surrogate,
            privatesnn_neurons::Surrogate::Atan { alpha: 2.0 }
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let e = ExperimentConfig::parse("[model]\nwidht = 2.0\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("no field `widht`"), "{e:#}");
        let e = ExperimentConfig::parse("[modle]\n", "x").unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown top-level key `modle`"),
            "{e:#}"
        );
        let e = ExperimentConfig::parse("[model]\nimage_size = 28\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("image_size"), "{e:#}");
        let e = ExperimentConfig::parse("[data]\ndataset = \"imagenet\"\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("imagenet"), "{e:#}");
        let e = ExperimentConfig::parse("[train]\nlr = -1.0\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("lr must be"), "{e:#}");
        let e = ExperimentConfig::parse("[synthesis]\nsimilarity = \"euclid\"\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("[synthesis]"), "{e:#}");
        let e = ExperimentConfig::parse("[evaluate]\ntimesteps = [50, 25]\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("increasing"), "{e:#}");
        let e = ExperimentConfig::parse("[conversion]\npercentile = 0.0\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("percentile"), "{e:#}");
        let e = ExperimentConfig::parse("[baseline]\nscale = -1.0\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("[baseline]"), "{e:#}");
        let c =
            ExperimentConfig::parse("[synthesis]\nsimilarity = \"cosine-min-max\"\n", "x").unwrap();
        assert_eq!(
            c.synthesis.similarity,
            privatesnn_synthesis::Similarity::CosineMinMax
        );
        let e = ExperimentConfig::parse("[snn]\ntimesteps = \"many\"\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("[snn]"), "{e:#}");
    }

    #[test]
    fn shipped_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                ExperimentConfig::load(&path).unwrap();
                n += 1;
            }
        }
        assert!(n >= 2);
    }
}
