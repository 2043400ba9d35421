//! Checkpoints written atomically, and finding the newest complete one.
//!
//! burn-train's own file checkpointer writes in place; an interrupted write
//! would leave a truncated checkpoint that resume then fails on. This one
//! writes `<name>-<epoch>.bpk.part`, fsyncs it and renames it.

use std::path::{Path, PathBuf};

use burn::optim::OptimizerRecord;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};

/// A file checkpointer that writes `<name>-<epoch>.bpk` through a `.part`
/// file and a rename, so a checkpoint on disk is always complete.
#[derive(Clone, Debug)]
pub struct AtomicCheckpointer {
    dir: PathBuf,
    name: &'static str,
}

impl AtomicCheckpointer {
    /// Checkpoints named `<name>-<epoch>.bpk` in `dir`.
    pub fn new(dir: &Path, name: &'static str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            name,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("{}-{epoch}.bpk", self.name))
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        std::fs::create_dir_all(&self.dir).map_err(CheckpointerError::IOError)?;
        let dst = self.path(epoch);
        let part = self.dir.join(format!("{}-{epoch}.bpk.part", self.name));
        record.save(part.clone())?;
        // fsync before the rename: a crash never leaves a renamed, empty file.
        std::fs::File::open(&part)
            .and_then(|f| f.sync_all())
            .map_err(CheckpointerError::IOError)?;
        std::fs::rename(&part, &dst).map_err(CheckpointerError::IOError)
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(self.path(epoch))
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match std::fs::remove_file(self.path(epoch)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(e))
            }
            _ => Ok(()),
        }
    }
}

/// The newest epoch whose three checkpoint files all load.
pub fn latest_checkpoint(dir: &Path) -> Option<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    epochs.into_iter().find(|&e| {
        let p = |n: &str| dir.join(format!("{n}-{e}.bpk"));
        ModuleRecord::load(p("model")).is_ok()
            && OptimizerRecord::load(p("optim")).is_ok()
            && LrSchedulerRecord::load(p("scheduler")).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::optim::SgdConfig;
    use burn::tensor::Device;
    use privatesnn_models::VggConfig;

    use super::super::classifier::Classifier;
    use super::super::schedule::multi_step;

    #[test]
    fn latest_checkpoint_skips_incomplete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let model = Classifier {
            net: VggConfig::vgg16(1, 32, 10)
                .with_width(0.0625)
                .with_hidden(8)
                .init(&device),
        };
        let c = AtomicCheckpointer::new(dir.path(), "model");
        Checkpointer::<ModuleRecord>::save(&c, 1, model.clone().into_record()).unwrap();
        let o = AtomicCheckpointer::new(dir.path(), "optim");
        let mopt = SgdConfig::new().init();
        Checkpointer::<OptimizerRecord>::save(&o, 1, mopt.to_record()).unwrap();
        let s = AtomicCheckpointer::new(dir.path(), "scheduler");
        let sched = multi_step(0.1, 0.1, &[0.5], 4).unwrap();
        Checkpointer::<LrSchedulerRecord>::save(&s, 1, sched.to_record()).unwrap();
        assert_eq!(latest_checkpoint(dir.path()), Some(1));
        // Epoch 2: the model file is truncated (a crash mid-write without rename).
        std::fs::write(dir.path().join("model-2.bpk"), b"trunc").unwrap();
        std::fs::copy(
            dir.path().join("optim-1.bpk"),
            dir.path().join("optim-2.bpk"),
        )
        .unwrap();
        std::fs::copy(
            dir.path().join("scheduler-1.bpk"),
            dir.path().join("scheduler-2.bpk"),
        )
        .unwrap();
        assert_eq!(latest_checkpoint(dir.path()), Some(1));
        assert!(!dir.path().join("model-1.bpk.part").exists());
    }
}
