//! Per-epoch checkpoints of encryption training: the SNN's weights, Adam's
//! state and the epochs' metrics, each written atomically, and the settings
//! they belong to, so that an interrupted run resumes where it stopped and a
//! changed run never resumes from another's checkpoints.

use std::path::{Path, PathBuf};

use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use privatesnn_models::io::atomic_write;

use crate::{EncryptionError, EpochReport};

/// The checkpoint folder of one encryption run.
pub(crate) struct Checkpoints {
    dir: PathBuf,
}

/// What a checkpoint restores.
pub(crate) struct Restored {
    pub epoch: usize,
    pub model: ModuleRecord,
    pub optim: OptimizerRecord,
    pub epochs: Vec<EpochReport>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EncryptionError + '_ {
    move |source| EncryptionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn record(path: &Path) -> impl FnOnce(burn::store::RecordError) -> EncryptionError + '_ {
    move |e| EncryptionError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Checkpoints {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str, epoch: usize) -> PathBuf {
        self.dir.join(format!("{name}-{epoch}.bpk"))
    }

    fn metrics(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("metrics-{epoch}.json"))
    }

    fn settings(&self) -> PathBuf {
        self.dir.join("settings.json")
    }

    /// Check the folder's settings against `settings` (writing them when the
    /// folder holds none): checkpoints of other settings are an error.
    pub fn claim(&self, settings: &serde_json::Value) -> Result<(), EncryptionError> {
        let path = self.settings();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let old: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| EncryptionError::Checkpoint {
                        path: path.clone(),
                        reason: format!("corrupt settings ({e})"),
                    })?;
                if &old != settings {
                    return Err(EncryptionError::OtherSettings {
                        dir: self.dir.clone(),
                    });
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = serde_json::to_vec_pretty(settings).expect("JSON value");
                atomic_write(&path, &text).map_err(|e| EncryptionError::Checkpoint {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Save the state after `epoch` epochs (model and optimizer first, the
    /// metrics last: a checkpoint counts once its metrics file exists), and
    /// drop the one before.
    pub fn save(
        &self,
        epoch: usize,
        model: ModuleRecord,
        optim: OptimizerRecord,
        epochs: &[EpochReport],
    ) -> Result<(), EncryptionError> {
        for (path, bytes) in [
            (self.path("model", epoch), model.into_bytes()),
            (self.path("optim", epoch), optim.into_bytes()),
        ] {
            let bytes = bytes.map_err(record(&path))?;
            write(&path, &bytes)?;
        }
        let metrics = self.metrics(epoch);
        write(
            &metrics,
            &serde_json::to_vec_pretty(epochs).expect("metrics serialize"),
        )?;
        if epoch > 1 {
            for path in [
                self.metrics(epoch - 1),
                self.path("model", epoch - 1),
                self.path("optim", epoch - 1),
            ] {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Option<Restored> {
        let mut epochs: Vec<usize> = std::fs::read_dir(&self.dir)
            .ok()?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("metrics-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .collect();
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        epochs.into_iter().find_map(|epoch| {
            let read = |p: PathBuf| std::fs::read(p).ok();
            let model =
                ModuleRecord::from_bytes(Bytes::from_bytes_vec(read(self.path("model", epoch))?))
                    .ok()?;
            let optim = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(read(
                self.path("optim", epoch),
            )?))
            .ok()?;
            let epochs: Vec<EpochReport> =
                serde_json::from_slice(&read(self.metrics(epoch))?).ok()?;
            (epochs.len() == epoch).then_some(Restored {
                epoch,
                model,
                optim,
                epochs,
            })
        })
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), EncryptionError> {
    atomic_write(path, bytes).map_err(|e| EncryptionError::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
