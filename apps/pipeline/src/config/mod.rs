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
use serde::Serialize;
use serde::de::DeserializeOwned;

mod attack;
mod energy;
mod sections;
#[cfg(test)]
mod tests;

pub use attack::{AttackSection, Extractor};
pub use energy::EnergySection;
pub use sections::{DataSection, Dataset, EncryptionSection, EvalSection, TrainSection};

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
    /// Encryption training of the data-free SNN.
    pub encryption: EncryptionSection,
    /// SNN evaluation.
    pub evaluate: EvalSection,
    /// Class-leakage attacks and FID.
    pub attack: AttackSection,
    /// Spike rates and energy.
    pub energy: EnergySection,
}

const SECTIONS: [&str; 13] = [
    "name",
    "seed",
    "model",
    "snn",
    "data",
    "train",
    "synthesis",
    "conversion",
    "baseline",
    "encryption",
    "evaluate",
    "attack",
    "energy",
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
        let encryption = section(
            EncryptionSection::default(),
            table.get("encryption"),
            "encryption",
            &[],
        )?;
        encryption.validate().context("[encryption]")?;
        let evaluate = section(
            EvalSection::default(),
            table.get("evaluate"),
            "evaluate",
            &[],
        )?;
        evaluate.validate().context("[evaluate]")?;
        let attack = section(
            AttackSection::default(),
            table.get("attack"),
            "attack",
            &["inception_weights"],
        )?;
        attack.validate().context("[attack]")?;
        let energy = section(EnergySection::default(), table.get("energy"), "energy", &[])?;
        energy.validate().context("[energy]")?;
        let readouts = energy.readouts(snn.timesteps, encryption.train.timesteps);
        energy
            .check_readouts(readouts, &evaluate.timesteps)
            .context("[energy]")?;
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
            encryption,
            evaluate,
            attack,
            energy,
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
