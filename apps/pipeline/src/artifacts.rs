//! Every output of a run: where it lives, what it is made of, what it
//! depends on. The one place that knows file names; stages ask it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::ExperimentConfig;

/// Which SNN: converted on synthetic or real data, or the encrypted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SnnSource {
    /// Thresholds balanced on the synthetic images (data-free, PrivateSNN).
    Synthetic,
    /// Thresholds balanced on real training images (the Sengupta et al. baseline).
    Real,
    /// The data-free SNN after encryption training (STBP on synthetic images).
    Encrypted,
}

impl SnnSource {
    /// Every SNN, in report order.
    pub const ALL: [SnnSource; 3] = [SnnSource::Synthetic, SnnSource::Real, SnnSource::Encrypted];

    /// The converted ones (what `convert --source both` makes).
    pub const CONVERTED: [SnnSource; 2] = [SnnSource::Synthetic, SnnSource::Real];

    /// `synthetic`, `real` or `encrypted`.
    pub fn as_str(self) -> &'static str {
        match self {
            SnnSource::Synthetic => "synthetic",
            SnnSource::Real => "real",
            SnnSource::Encrypted => "encrypted",
        }
    }

    /// A legend / table label.
    pub fn label(self) -> &'static str {
        match self {
            SnnSource::Synthetic => "SNN, converted on synthetic data (data-free)",
            SnnSource::Real => "SNN, converted on real data (Sengupta baseline)",
            SnnSource::Encrypted => "SNN, encrypted (STBP on synthetic data)",
        }
    }
}

impl std::fmt::Display for SnnSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An artifact with a provenance record: made by one stage, from config
/// sections and other artifacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Artifact {
    /// The trained ANN (`ann.bpk`).
    Ann,
    /// The synthetic set (`synthetic/`).
    Synthetic,
    /// A converted SNN (`snn-<source>.bpk`).
    Snn(SnnSource),
    /// SNN accuracy against timesteps (`snn-accuracy.json`, plot, report).
    SnnAccuracy,
    /// The judge classifier of the attacks' FID (`judge.bpk`).
    Judge,
    /// The attacks: Table 3, the judge table, the Fig. 6 grid (`attack.json`).
    Attack,
    /// Spike rates and energy: Table 4, Fig. 7 (`energy.json`).
    Energy,
    /// Encryption accuracy against the number of synthetic samples, with and
    /// without distillation: Fig. 5 (`encrypt-sweep.json`).
    EncryptSweep,
}

impl Artifact {
    /// The stage command that makes it (for messages).
    pub fn made_by(self) -> String {
        match self {
            Artifact::Ann => "train-ann".into(),
            Artifact::Synthetic => "synthesize".into(),
            Artifact::Snn(SnnSource::Encrypted) => "encrypt".into(),
            Artifact::Snn(s) => format!("convert --source {s}"),
            Artifact::SnnAccuracy => "evaluate --snn".into(),
            Artifact::Judge | Artifact::Attack => "attack".into(),
            Artifact::Energy => "energy".into(),
            Artifact::EncryptSweep => "encrypt --sweep".into(),
        }
    }

    /// The config entries it is made from: section names, or
    /// `section.field` for single fields.
    pub fn config_keys(self) -> &'static [&'static str] {
        match self {
            Artifact::Ann => &["seed", "model", "train", "data"],
            Artifact::Synthetic => &["synthesis"],
            Artifact::Snn(SnnSource::Synthetic) => &["snn", "conversion", "evaluate.batch_size"],
            Artifact::Snn(SnnSource::Real) => &[
                "snn",
                "baseline",
                "data",
                "evaluate.batch_size",
                "evaluate.real_images",
            ],
            Artifact::Snn(SnnSource::Encrypted) => &["snn", "encryption"],
            Artifact::SnnAccuracy => &["evaluate", "data"],
            Artifact::Judge => &[
                "seed",
                "data",
                "attack.judge_width",
                "attack.judge_blocks",
                "attack.judge_epochs",
                "attack.judge_batch_size",
                "attack.judge_lr",
            ],
            Artifact::Attack => &["attack", "data"],
            Artifact::Energy => &["energy", "snn.timesteps", "encryption.timesteps"],
            Artifact::EncryptSweep => &[
                "encryption",
                "data",
                "evaluate.test_images",
                "evaluate.batch_size",
                "evaluate.seed",
            ],
        }
    }

    /// The values of [`config_keys`](Self::config_keys) in `exp`. `[data]`
    /// leaves out what does not change the images read (download settings,
    /// the download cache, loader threads); `dir` stays: another folder may
    /// hold other data.
    pub fn config_values(self, exp: &ExperimentConfig) -> anyhow::Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        for key in self.config_keys() {
            let (section, field) = match key.split_once('.') {
                Some((s, f)) => (s, Some(f)),
                None => (*key, None),
            };
            let mut value = exp.section_value(section)?;
            if section == "data"
                && let Value::Object(map) = &mut value
            {
                for k in ["download", "cache_dir", "mirrors", "num_workers"] {
                    map.remove(k);
                }
            }
            // The sweep's sample counts do not shape the encrypted SNN.
            if section == "encryption"
                && self != Artifact::EncryptSweep
                && let Value::Object(map) = &mut value
            {
                map.remove("sweep_samples");
            }
            if let Some(f) = field {
                value = value.get(f).cloned().unwrap_or(Value::Null);
            }
            out.push((key.to_string(), value));
        }
        Ok(out)
    }
}

/// Where runs go unless `--out` says otherwise.
const RUNS: &str = "runs";

/// The output folder of a run and every path in it.
#[derive(Clone, Debug)]
pub struct Artifacts {
    out: PathBuf,
}

impl Artifacts {
    /// The artifacts of the run writing to `out`.
    pub fn new(out: &Path) -> Self {
        Self {
            out: out.to_path_buf(),
        }
    }

    /// The default output folder of the experiment `name`: `runs/<name>`.
    pub fn default_out(name: &str) -> PathBuf {
        Path::new(RUNS).join(name)
    }

    /// The default output folder of `bench`: `runs/bench`.
    pub fn default_bench_out() -> PathBuf {
        Path::new(RUNS).join("bench")
    }

    /// The output folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The configuration as run (TOML, `--config` reads it back).
    pub fn resolved_config(&self) -> PathBuf {
        self.out.join("resolved-config.toml")
    }

    /// The trained ANN (+ its `ann.json` sidecar).
    pub fn ann(&self) -> PathBuf {
        self.out.join("ann.bpk")
    }

    /// `train-ann`'s working folder.
    pub fn train_dir(&self) -> PathBuf {
        self.out.join("train-ann")
    }

    /// Checkpoints of model, optimizer and scheduler.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.train_dir().join("checkpoint")
    }

    /// The settings the checkpoints were made with.
    pub fn train_settings(&self) -> PathBuf {
        self.train_dir().join("settings.json")
    }

    /// Per-epoch training metrics.
    pub fn train_report(&self) -> PathBuf {
        self.out.join("train-ann.json")
    }

    /// The synthetic set (PNGs + labels.csv).
    pub fn synthetic_dir(&self) -> PathBuf {
        self.out.join("synthetic")
    }

    /// A picture of the synthetic set.
    pub fn synthetic_grid(&self) -> PathBuf {
        self.out.join("synthetic-grid.png")
    }

    /// Synthesis statistics.
    pub fn synthesize_report(&self) -> PathBuf {
        self.out.join("synthesize.json")
    }

    /// A converted SNN (+ sidecar).
    pub fn snn(&self, source: SnnSource) -> PathBuf {
        self.out.join(format!("snn-{source}.bpk"))
    }

    /// How an SNN was made: the balancing statistics of a conversion
    /// (`convert-<source>.json`) or the training report of encryption (`encrypt.json`).
    pub fn snn_report(&self, source: SnnSource) -> PathBuf {
        match source {
            SnnSource::Encrypted => self.out.join("encrypt.json"),
            s => self.out.join(format!("convert-{s}.json")),
        }
    }

    /// The soft label each synthetic image was optimised to (JSON, `[N][classes]`).
    pub fn soft_labels(&self) -> PathBuf {
        self.out.join("synthetic-soft-labels.json")
    }

    /// `encrypt`'s working folder (its checkpoints).
    pub fn encrypt_dir(&self) -> PathBuf {
        self.out.join("encrypt")
    }

    /// The sample-count sweep of encryption (Fig. 5), JSON.
    pub fn encrypt_sweep(&self) -> PathBuf {
        self.out.join("encrypt-sweep.json")
    }

    /// The sample-count sweep plot.
    pub fn encrypt_sweep_plot(&self) -> PathBuf {
        self.out.join("encrypt-sweep.png")
    }

    /// SNN accuracy against T.
    pub fn snn_accuracy(&self) -> PathBuf {
        self.out.join("snn-accuracy.json")
    }

    /// The accuracy plot.
    pub fn snn_accuracy_plot(&self) -> PathBuf {
        self.out.join("snn-accuracy.png")
    }

    /// The judge classifier (+ `judge.bpk.json` config, `judge.json` training report).
    pub fn judge(&self) -> PathBuf {
        self.out.join("judge.bpk")
    }

    /// The judge's training report and test accuracy.
    pub fn judge_report(&self) -> PathBuf {
        self.out.join("judge.json")
    }

    /// The attacks' results: Table 3 and the judge table (JSON).
    pub fn attack(&self) -> PathBuf {
        self.out.join("attack.json")
    }

    /// The attacks' results as Markdown.
    pub fn attack_report(&self) -> PathBuf {
        self.out.join("attack.md")
    }

    /// The Fig. 6 grid.
    pub fn attack_grid(&self) -> PathBuf {
        self.out.join("attack-grid.png")
    }

    /// Spike rates and energy (Table 4), JSON.
    pub fn energy(&self) -> PathBuf {
        self.out.join("energy.json")
    }

    /// Table 4 and the per-layer table, Markdown.
    pub fn energy_report(&self) -> PathBuf {
        self.out.join("energy.md")
    }

    /// Fig. 7: spikes per neuron per layer and model (log scale).
    pub fn energy_plot(&self) -> PathBuf {
        self.out.join("energy-spikes.png")
    }

    /// The accuracy report of `evaluate --snn` (Markdown).
    pub fn snn_accuracy_report(&self) -> PathBuf {
        self.out.join("snn-accuracy.md")
    }

    /// The run's report: Tables 1-4 and Figs. 4-7 beside the paper's.
    pub fn report(&self) -> PathBuf {
        self.out.join("report.md")
    }

    /// Every table of the report as JSON.
    pub fn metrics(&self) -> PathBuf {
        self.out.join("metrics.json")
    }

    /// Benchmark results.
    pub fn bench(&self) -> PathBuf {
        self.out.join("bench.json")
    }

    /// The main path of an artifact (for messages).
    pub fn path(&self, a: Artifact) -> PathBuf {
        match a {
            Artifact::Ann => self.ann(),
            Artifact::Synthetic => self.synthetic_dir(),
            Artifact::Snn(s) => self.snn(s),
            Artifact::SnnAccuracy => self.snn_accuracy(),
            Artifact::Judge => self.judge(),
            Artifact::Attack => self.attack(),
            Artifact::Energy => self.energy(),
            Artifact::EncryptSweep => self.encrypt_sweep(),
        }
    }

    /// The files (or, for the synthetic set, the folder) an artifact
    /// consists of: all of them are hashed into its content fingerprint.
    pub fn files(&self, a: Artifact) -> Vec<PathBuf> {
        let sidecar = privatesnn_models::io::meta_path;
        match a {
            Artifact::Ann => vec![self.ann(), sidecar(&self.ann()), self.train_report()],
            Artifact::Synthetic => vec![
                self.synthetic_dir(),
                self.soft_labels(),
                self.synthetic_grid(),
                self.synthesize_report(),
            ],
            Artifact::Snn(s) => vec![self.snn(s), sidecar(&self.snn(s)), self.snn_report(s)],
            Artifact::SnnAccuracy => {
                vec![
                    self.snn_accuracy(),
                    self.snn_accuracy_plot(),
                    self.snn_accuracy_report(),
                ]
            }
            Artifact::Judge => vec![
                self.judge(),
                privatesnn_fid::judge_config_path(&self.judge()),
                self.judge_report(),
            ],
            Artifact::Attack => vec![self.attack(), self.attack_report(), self.attack_grid()],
            Artifact::Energy => vec![self.energy(), self.energy_report(), self.energy_plot()],
            Artifact::EncryptSweep => vec![self.encrypt_sweep(), self.encrypt_sweep_plot()],
        }
    }

    /// The provenance record of an artifact (`<stem>.provenance.json`).
    pub fn provenance(&self, a: Artifact) -> PathBuf {
        let stem = match a {
            Artifact::Ann => "ann".to_string(),
            Artifact::Synthetic => "synthetic".to_string(),
            Artifact::Snn(s) => format!("snn-{s}"),
            Artifact::SnnAccuracy => "snn-accuracy".to_string(),
            Artifact::Judge => "judge".to_string(),
            Artifact::Attack => "attack".to_string(),
            Artifact::Energy => "energy".to_string(),
            Artifact::EncryptSweep => "encrypt-sweep".to_string(),
        };
        self.out.join(format!("{stem}.provenance.json"))
    }

    /// The artifacts `a` is made from. The accuracy report depends on every
    /// SNN present in the folder.
    pub fn inputs(&self, a: Artifact) -> Vec<Artifact> {
        match a {
            Artifact::Ann => vec![],
            Artifact::Synthetic => vec![Artifact::Ann],
            Artifact::Snn(SnnSource::Synthetic) => vec![Artifact::Ann, Artifact::Synthetic],
            Artifact::Snn(SnnSource::Real) => vec![Artifact::Ann],
            Artifact::Snn(SnnSource::Encrypted) => vec![
                Artifact::Ann,
                Artifact::Synthetic,
                Artifact::Snn(SnnSource::Synthetic),
            ],
            // The accuracy report depends on every SNN present in the folder.
            Artifact::SnnAccuracy => std::iter::once(Artifact::Ann)
                .chain(self.present(&SnnSource::ALL))
                .collect(),
            // Energy reads evaluate's simulation (accuracy and spike counts).
            Artifact::Energy => vec![Artifact::Ann, Artifact::SnnAccuracy],
            // The point with every sample and distillation is the run's encrypted SNN.
            Artifact::EncryptSweep => vec![
                Artifact::Ann,
                Artifact::Synthetic,
                Artifact::Snn(SnnSource::Synthetic),
                Artifact::Snn(SnnSource::Encrypted),
            ],
            Artifact::Judge => vec![],
            Artifact::Attack => std::iter::once(Artifact::Judge)
                .chain([SnnSource::Synthetic, SnnSource::Encrypted].map(Artifact::Snn))
                .chain(self.present(&[SnnSource::Real]))
                .collect(),
        }
    }

    /// Those of `sources` whose SNN exists or has a record (a record without
    /// its file is a missing input, reported as such, not skipped).
    fn present(&self, sources: &[SnnSource]) -> Vec<Artifact> {
        sources
            .iter()
            .map(|&s| Artifact::Snn(s))
            .filter(|&a| self.path(a).exists() || self.provenance(a).exists())
            .collect()
    }

    /// A display name relative to the output folder (`ann.bpk`, `synthetic/`).
    pub fn name(&self, a: Artifact) -> String {
        let path = self.path(a);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if a == Artifact::Synthetic {
            format!("{name}/")
        } else {
            name
        }
    }
}

#[cfg(test)]
mod tests;
