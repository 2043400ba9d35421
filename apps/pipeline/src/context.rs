//! The run context every stage receives: the validated config, the device,
//! the output folder's artifacts, and whether to remake up-to-date outputs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;

use crate::artifacts::{Artifact, Artifacts};
use crate::cli::Cli;
use crate::common::write_text;
use crate::config::ExperimentConfig;
use crate::device::DeviceArg;
use crate::provenance::{self, State};

/// The config used when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "configs/quick.toml";

/// What a stage needs: config, device, outputs.
pub struct Ctx {
    /// The validated experiment.
    pub exp: ExperimentConfig,
    /// The compute device.
    pub device: Device,
    /// The `--device` choice (named in provenance records).
    pub device_arg: DeviceArg,
    /// Every output path.
    pub art: Artifacts,
    /// `--force`: remake outputs even when up to date.
    pub force: bool,
}

impl Ctx {
    /// Resolve the command line: read and validate the config, check and
    /// create the output folder, write the resolved config into it.
    pub fn from_cli(cli: &Cli) -> Result<Self> {
        let path = cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let exp = ExperimentConfig::load(&path)?;
        let out = cli
            .out
            .clone()
            .unwrap_or_else(|| Artifacts::default_out(&exp.name));
        prepare_out(&out)?;
        let art = Artifacts::new(&out);
        let header = format!(
            "# The configuration of the last run in this folder, with every default\n\
             # filled in; `pipeline --config {}` runs it again.\n",
            art.resolved_config().display()
        );
        write_text(&art.resolved_config(), &(header + &exp.to_toml()?))?;
        Ok(Self {
            exp,
            device: cli.device.device(),
            device_arg: cli.device,
            art,
            force: cli.force,
        })
    }

    /// The content hash of `a`, which must be up to date (else an error
    /// that says why and which command remakes it).
    pub fn require(&self, a: Artifact) -> Result<String> {
        provenance::require(&self.art, &self.exp, a)
    }

    /// Whether the stage may skip making `a`: it is up to date and
    /// `--force` was not given. Says so, or says why `a` is remade.
    pub fn up_to_date(&self, a: Artifact) -> Result<bool> {
        let name = self.art.name(a);
        match provenance::state(&self.art, &self.exp, a)? {
            State::Fresh(_) if !self.force => {
                eprintln!(
                    "{}: {name} is up to date (same config and inputs); skipped (--force remakes it)",
                    a.made_by()
                );
                Ok(true)
            }
            State::Stale(why) => {
                eprintln!("{}: remaking {name}: {why}", a.made_by());
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Before making `a`: its inputs must be up to date; its old record goes.
    pub fn begin(&self, a: Artifact) -> Result<()> {
        for input in self.art.inputs(a) {
            self.require(input)
                .with_context(|| format!("`{}` needs {}", a.made_by(), self.art.name(input)))?;
        }
        provenance::invalidate(&self.art, a)
    }

    /// After `a` is completely written: record what it was made from.
    pub fn finish(&self, a: Artifact) -> Result<()> {
        provenance::record(&self.art, &self.exp, a, &format!("{:?}", self.device_arg))
    }
}

fn prepare_out(out: &std::path::Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "--out {} is a file, not a folder; name a folder (it is created if needed)",
            out.display()
        );
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))
}
