//! The pipeline's own config sections: `[data]`, `[train]`, `[evaluate]`
//! (the others are the `Config` structs of the crates that own them).

use std::path::PathBuf;

use anyhow::{Result, bail};
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

/// `[encryption]`: encryption training (the `EncryptionConfig` of
/// privatesnn-encryption, flattened) and the sample counts of its sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncryptionSection {
    /// The training settings.
    #[serde(flatten)]
    pub train: privatesnn_encryption::EncryptionConfig,
    /// Training-sample counts of `encrypt --sweep` (paper Fig. 5: 100, 500,
    /// 1000, 5000); counts above the synthetic set's size are left out.
    pub sweep_samples: Vec<usize>,
}

impl Default for EncryptionSection {
    fn default() -> Self {
        Self {
            train: privatesnn_encryption::EncryptionConfig::new(),
            sweep_samples: vec![100, 500, 1000, 5000],
        }
    }
}

impl EncryptionSection {
    pub(super) fn validate(&self) -> Result<()> {
        self.train.validate()?;
        if self.sweep_samples.is_empty() || self.sweep_samples.contains(&0) {
            bail!("sweep_samples must be a non-empty list of positive counts");
        }
        Ok(())
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
    pub(super) fn validate(&self) -> Result<()> {
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
    pub(super) fn validate(&self) -> Result<()> {
        for (name, path) in [("dir", &self.dir), ("cache_dir", &self.cache_dir)] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                bail!("`{name}` is empty; leave it out to use the default place");
            }
        }
        Ok(())
    }
}

impl TrainSection {
    pub(super) fn validate(&self) -> Result<()> {
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
