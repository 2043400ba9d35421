//! The experiment configuration file (TOML).
//!
//! Each section is deserialized into the `Config` struct of the crate that
//! owns it (`[model]` → `VggConfig`, `[snn]` → `SnnConfig`); fields left
//! out keep that struct's defaults, unknown fields are an error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use privatesnn_conversion::BalanceConfig;
use privatesnn_models::{SnnConfig, VggConfig};
use privatesnn_synthesis::DirichletConfig;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The real data sets the pipeline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// Fashion-MNIST (IDX files; the Debian package or a download).
    FashionMnist,
    /// MNIST (IDX files in `dir`).
    Mnist,
    /// CIFAR-10 binary version (`dir`).
    Cifar10,
    /// CIFAR-100 binary version (`dir`).
    Cifar100,
    /// Tiny-ImageNet folder layout (`dir`).
    TinyImagenet,
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Mnist => "mnist",
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::TinyImagenet => "tiny-imagenet",
        })
    }
}

/// `[data]`: where the real data set comes from and how it is prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSection {
    /// `fashion-mnist`, `mnist`, `cifar10`, `cifar100` or `tiny-imagenet`.
    pub dataset: Dataset,
    /// Directory of the files; absent = the default place (the Debian package
    /// or the download cache for Fashion-MNIST; the others need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Download Fashion-MNIST into the cache when it is not found.
    pub download: bool,
    /// Cache directory for downloads; absent = `$PRIVATESNN_CACHE` or `~/.cache/privatesnn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
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
            dataset: Dataset::FashionMnist,
            dir: None,
            download: false,
            cache_dir: None,
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
        for (name, path) in [("dir", &self.dir), ("cache_dir", &self.cache_dir)] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                bail!("`{name}` is empty; leave it out to use the default place");
            }
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
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!(
                "weight_decay must be a finite number >= 0, got {}",
                self.weight_decay
            );
        }
        if !(self.lr_gamma.is_finite() && self.lr_gamma > 0.0) {
            bail!(
                "lr_gamma must be a finite number > 0 (0.1 divides the rate by 10), got {}",
                self.lr_gamma
            );
        }
        if self.lr_milestones.iter().any(|m| !(0.0..=1.0).contains(m)) {
            bail!("lr_milestones are fractions of the epochs, in [0, 1]");
        }
        Ok(())
    }
}

/// The experiment name becomes a folder under `runs/`: plain names only.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!(
            "`name` {name:?} must be a plain folder name (letters, digits, `-`, `_`, `.`; \
             not starting with `.`): it names the output folder runs/<name>"
        );
    }
    Ok(())
}

/// A validated experiment configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// Overlay the user's `table` on `default`, rejecting keys that are neither
/// in `default` nor in `optional` (fields that are absent by default).
fn section<T: Serialize + DeserializeOwned>(
    default: T,
    user: Option<&toml::Value>,
    name: &str,
    optional: &[&str],
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
        if !base.contains_key(k) && !optional.contains(&k.as_str()) {
            let mut known: Vec<&str> = base.keys().map(String::as_str).collect();
            known.extend(optional);
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
        check_name(&name)?;
        let seed = match table.get("seed") {
            Some(toml::Value::Integer(i)) if *i >= 0 => *i as u64,
            Some(_) => bail!("`seed` must be a non-negative integer"),
            None => 0,
        };
        let model = section(VggConfig::new(), table.get("model"), "model", &[])?;
        model.validate().context("[model]")?;
        let snn = section(SnnConfig::new(), table.get("snn"), "snn", &[])?;
        snn.validate().context("[snn]")?;
        let data = section(
            DataSection::default(),
            table.get("data"),
            "data",
            &["dir", "cache_dir"],
        )?;
        data.validate().context("[data]")?;
        let train = section(TrainSection::default(), table.get("train"), "train", &[])?;
        train.validate().context("[train]")?;
        let synthesis = section(
            DirichletConfig::new(),
            table.get("synthesis"),
            "synthesis",
            &[],
        )?;
        synthesis.validate().context("[synthesis]")?;
        let conversion = section(
            BalanceConfig::new(),
            table.get("conversion"),
            "conversion",
            &[],
        )?;
        conversion.validate().context("[conversion]")?;
        let baseline = section(BalanceConfig::new(), table.get("baseline"), "baseline", &[])?;
        baseline.validate().context("[baseline]")?;
        let evaluate = section(
            EvalSection::default(),
            table.get("evaluate"),
            "evaluate",
            &[],
        )?;
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

    /// The configuration as TOML that [`parse`](Self::parse) reads back to
    /// the same value (written as `resolved-config.toml` next to the outputs).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).context("serializing the resolved config")
    }

    /// The named sections as JSON values, for fingerprints (`"data"`,
    /// `"model"`, ..., `"seed"`).
    pub fn section_value(&self, name: &str) -> Result<serde_json::Value> {
        let all = serde_json::to_value(self).context("serializing the config")?;
        all.get(name)
            .cloned()
            .with_context(|| format!("no config section `{name}`"))
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
        let e = ExperimentConfig::parse("[data]\ndir = \"\"\n", "x").unwrap_err();
        assert!(format!("{e:#}").contains("`dir` is empty"), "{e:#}");
        let c =
            ExperimentConfig::parse("[data]\ndir = \"/d\"\ndataset = \"cifar10\"\n", "x").unwrap();
        assert_eq!(c.data.dir, Some(PathBuf::from("/d")));
        assert_eq!(c.data.dataset, Dataset::Cifar10);
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

    /// Issue 9: NaN or negative rates trained to a NaN model and exited 0.
    #[test]
    fn issue9_non_finite_and_negative_rates_are_refused() {
        for (field, value, says) in [
            (
                "weight_decay",
                "nan",
                "weight_decay must be a finite number",
            ),
            (
                "weight_decay",
                "inf",
                "weight_decay must be a finite number",
            ),
            ("lr_gamma", "nan", "lr_gamma must be a finite number > 0"),
            ("lr_gamma", "-0.1", "lr_gamma must be a finite number > 0"),
            ("momentum", "nan", "momentum must be in [0, 1)"),
            ("lr", "nan", "lr must be a positive number"),
        ] {
            let e =
                ExperimentConfig::parse(&format!("[train]\n{field} = {value}\n"), "x").unwrap_err();
            assert!(format!("{e:#}").contains(says), "{field} = {value}: {e:#}");
        }
    }

    /// Issue 9: a `name` of `../../x` or an absolute path wrote outside `runs/`.
    #[test]
    fn issue9_names_that_leave_runs_are_refused() {
        for name in ["../../x", "/tmp/x", "a/b", "..", ".hidden", "", "a\\b"] {
            let e = ExperimentConfig::parse(&format!("name = {name:?}\n"), "x").unwrap_err();
            assert!(
                format!("{e:#}").contains("plain folder name"),
                "{name}: {e:#}"
            );
        }
        ExperimentConfig::parse("name = \"run-1_b.2\"\n", "x").unwrap();
    }

    #[test]
    fn resolved_toml_reads_back_to_the_same_config() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        for file in ["quick.toml", "fmnist.toml", "cifar10.toml"] {
            let c = ExperimentConfig::load(&dir.join(file)).unwrap();
            let text = c.to_toml().unwrap();
            let back = ExperimentConfig::parse(&text, "other").unwrap();
            assert_eq!(back, c, "{file}:\n{text}");
        }
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

    mod fuzz {
        //! Issue 9: mutated config files parse to a valid config or an
        //! error, never a panic (cases: `PROPTEST_CASES`).
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// A mutation of the config text: cut it, drop a span, duplicate a
        /// line, or splice in one of the characters TOML cares about / a
        /// number out of range.
        fn mutate(base: &str, cut: usize, span: (usize, usize), ins: &str) -> String {
            let b = base.as_bytes();
            let at = cut % (b.len() + 1);
            let (x, y) = (span.0 % (b.len() + 1), span.1 % (b.len() + 1));
            let (x, y) = (x.min(y), x.max(y).min(x + 40));
            let mut out = b[..x].to_vec();
            out.extend_from_slice(&b[y..]);
            let at = at.min(out.len());
            out.splice(at..at, ins.bytes());
            String::from_utf8_lossy(&out).into_owned()
        }

        fn insertion() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("=".to_string()),
                Just("[".to_string()),
                Just("]\n".to_string()),
                Just("\"".to_string()),
                Just("nan".to_string()),
                Just("-1".to_string()),
                Just("1e400".to_string()),
                Just("99999999999999999999".to_string()),
                Just("\n[model]\n".to_string()),
                Just("\narch = \"A\"\n".to_string()),
                Just("\ntimesteps = 0\n".to_string()),
                Just("\nwidth = 1e-9\n".to_string()),
                Just("\nimage_size = 0\n".to_string()),
                "[ -~]{0,12}",
            ]
        }

        proptest! {
            #[test]
            fn mutated_configs_never_panic(
                which in 0usize..3,
                edits in vec((any::<usize>(), (any::<usize>(), any::<usize>()), insertion()), 1..4),
            ) {
                let file = ["quick.toml", "fmnist.toml", "cifar10.toml"][which];
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs").join(file);
                let mut text = std::fs::read_to_string(path).unwrap();
                for (cut, span, ins) in &edits {
                    text = mutate(&text, *cut, *span, ins);
                }
                if let Ok(c) = ExperimentConfig::parse(&text, "fuzz") {
                    // A config that parses is valid: its resolved TOML reads back to it.
                    let back = ExperimentConfig::parse(&c.to_toml().unwrap(), "other").unwrap();
                    prop_assert_eq!(back, c);
                }
            }
        }
    }
}
