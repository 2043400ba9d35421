//! The experiment configuration file (TOML).
//!
//! Each section is deserialized into the `Config` struct of the crate that
//! owns it (`[model]` → `VggConfig`, `[snn]` → `SnnConfig`); fields left
//! out keep that struct's defaults, unknown fields are an error.

use std::path::Path;

use anyhow::{Context, Result, bail};
use privatesnn_models::{SnnConfig, VggConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

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
}

const SECTIONS: [&str; 4] = ["name", "seed", "model", "snn"];

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
        Ok(Self {
            name,
            seed,
            model,
            snn,
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
