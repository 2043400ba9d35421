//! `[attack]`: the class-leakage attacks, the judge, and FID.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Which network's features FID compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Extractor {
    /// The judge ResNet trained on the real training set (offline default).
    Judge,
    /// Inception-V3 pool3 with pytorch-fid's weights (`inception_weights`).
    Inception,
}

/// `[attack]`: attacks 1 and 2 (PrivateSNN Sec. 4), the judge classifier
/// and the FID of the attack images against the real test set (Table 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSection {
    /// Attack seeds (initial noise, Poisson spikes); FID and judge top-1 are
    /// reported as mean and spread over them.
    pub seeds: Vec<u64>,
    /// Images per class per attack and seed.
    pub per_class: usize,
    /// Attack 1: iterations of Algorithm 2 (paper 150).
    pub iterations: usize,
    /// Attack 1: SGD learning rate η on the normalised image (paper 6).
    pub lr: f64,
    /// Attack 1: weight decay (upstream code 1e-4).
    pub weight_decay: f64,
    /// Attack 1: blur before every this many iterations (paper f_blur = 4).
    pub blur_every: usize,
    /// Attack 1: standard deviation of the Gaussian blur, pixels (PIL radius 1).
    pub blur_sigma: f64,
    /// Attack 2: iterations of Algorithm 4 (the paper does not say).
    pub snn_iterations: usize,
    /// Attack 2: step size ζ (paper 0.01).
    pub zeta: f64,
    /// Attack 2: timesteps per forward pass (0 = each SNN's own `T`).
    pub snn_timesteps: usize,
    /// Also attack the real-data (Sengupta baseline) SNN, as a third column.
    pub baseline: bool,
    /// Real test images whose features are the FID reference (0 = all).
    pub fid_images: usize,
    /// FID feature extractor.
    pub extractor: Extractor,
    /// Inception-V3 weights (safetensors, pytorch-fid names) for `extractor = "inception"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inception_weights: Option<PathBuf>,
    /// Batch size of feature extraction and judging.
    pub batch_size: usize,
    /// Judge: channels of its first stage.
    pub judge_width: usize,
    /// Judge: residual blocks per stage (1 = ResNet-8).
    pub judge_blocks: usize,
    /// Judge: training epochs on the real training set.
    pub judge_epochs: usize,
    /// Judge: mini-batch size.
    pub judge_batch_size: usize,
    /// Judge: Adam learning rate.
    pub judge_lr: f64,
}

impl Default for AttackSection {
    fn default() -> Self {
        Self {
            seeds: vec![0, 1, 2],
            per_class: 1,
            iterations: 150,
            lr: 6.0,
            weight_decay: 1e-4,
            blur_every: 4,
            blur_sigma: 1.0,
            snn_iterations: 150,
            zeta: 0.01,
            snn_timesteps: 0,
            baseline: true,
            fid_images: 0,
            extractor: Extractor::Judge,
            inception_weights: None,
            batch_size: 100,
            judge_width: 16,
            judge_blocks: 1,
            judge_epochs: 2,
            judge_batch_size: 128,
            judge_lr: 2e-3,
        }
    }
}

impl AttackSection {
    pub(super) fn validate(&self) -> Result<()> {
        if self.seeds.is_empty() {
            bail!("seeds must list at least one seed");
        }
        let mut seen = self.seeds.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != self.seeds.len() {
            bail!("seeds must be distinct, got {:?}", self.seeds);
        }
        if self.per_class == 0 || self.batch_size == 0 {
            bail!("per_class and batch_size must be > 0");
        }
        for (name, v) in [
            ("lr", self.lr),
            ("zeta", self.zeta),
            ("blur_sigma", self.blur_sigma),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be a finite number > 0, got {v}");
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!(
                "weight_decay must be a finite number >= 0, got {}",
                self.weight_decay
            );
        }
        if self.extractor == Extractor::Inception && self.inception_weights.is_none() {
            bail!(
                "extractor = \"inception\" needs inception_weights = \"<file>.safetensors\" \
                 (pytorch-fid's weights converted as the README shows)"
            );
        }
        self.judge().validate()?;
        self.judge_training().validate()?;
        Ok(())
    }

    /// The judge's architecture for `in_channels` and `num_classes`.
    pub fn judge_for(&self, in_channels: usize, num_classes: usize) -> privatesnn_fid::JudgeConfig {
        privatesnn_fid::JudgeConfig::new(in_channels, num_classes)
            .with_width(self.judge_width)
            .with_blocks(self.judge_blocks)
    }

    fn judge(&self) -> privatesnn_fid::JudgeConfig {
        self.judge_for(1, 2)
    }

    /// How the judge is trained (`seed` = the experiment's).
    pub fn judge_training(&self) -> privatesnn_fid::JudgeTrainConfig {
        privatesnn_fid::JudgeTrainConfig::new()
            .with_epochs(self.judge_epochs)
            .with_batch_size(self.judge_batch_size)
            .with_lr(self.judge_lr)
    }

    /// Attack 1's settings for `seed`.
    pub fn attack1(&self, seed: u64) -> privatesnn_attacks::ClassImpressionConfig {
        privatesnn_attacks::ClassImpressionConfig::new()
            .with_iterations(self.iterations)
            .with_lr(self.lr)
            .with_weight_decay(self.weight_decay)
            .with_blur_every(self.blur_every)
            .with_blur_sigma(self.blur_sigma)
            .with_seed(seed)
    }

    /// Attack 2's settings for `seed`.
    pub fn attack2(&self, seed: u64) -> privatesnn_attacks::SnnAttackConfig {
        privatesnn_attacks::SnnAttackConfig::new()
            .with_iterations(self.snn_iterations)
            .with_zeta(self.zeta)
            .with_timesteps(self.snn_timesteps)
            .with_seed(seed)
    }
}
