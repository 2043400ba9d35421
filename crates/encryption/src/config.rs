//! Settings of encryption training.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::EncryptionError;

/// Which output of the SNN the loss sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputScale {
    /// The accumulated output membrane `u_T` (PrivateSNN Eq. 5/8 and the
    /// authors' code; the default).
    #[default]
    Membrane,
    /// `u_T / T`, the rate-coded logits on the ANN's scale (offered for
    /// comparison: at τ = 20 the loss is nearly flat, see the README).
    Mean,
}

/// Which targets the cross-entropy term uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    /// The soft (Dirichlet) label each synthetic image was optimised to (the default).
    #[default]
    Soft,
    /// One-hot of the class each image was made for.
    Hard,
}

/// Settings of [`encrypt`](crate::encrypt) (PrivateSNN Sec. 3.2 and 5.1).
#[derive(Config, Debug, PartialEq)]
pub struct EncryptionConfig {
    /// Passes over the training samples (paper: 20).
    #[config(default = 20)]
    pub epochs: usize,
    /// Samples per Adam step (upstream hybrid code: 64).
    #[config(default = 64)]
    pub batch_size: usize,
    /// Adam learning rate (paper: 1e-4).
    #[config(default = 1e-4)]
    pub lr: f64,
    /// Fractions of the epochs after which the learning rate is multiplied by
    /// `lr_gamma` (paper: /10 at 50% and 70%).
    #[config(default = "vec![0.5, 0.7]")]
    pub lr_milestones: Vec<f64>,
    /// Learning-rate factor at each milestone.
    #[config(default = 0.1)]
    pub lr_gamma: f64,
    /// Adam's epsilon (PyTorch's and the authors' 1e-8; Burn's default is 1e-5).
    #[config(default = 1e-8)]
    pub adam_epsilon: f64,
    /// Distillation weight `m` of Eq. 6 (0 = cross-entropy only).
    #[config(default = 0.7)]
    pub distill_weight: f64,
    /// Distillation temperature τ.
    #[config(default = 20.0)]
    pub temperature: f64,
    /// Timesteps of each training forward pass (paper: 100 on CIFAR-10, 150
    /// on CIFAR-100 and Tiny-ImageNet).
    #[config(default = 100)]
    pub timesteps: usize,
    /// Use only this many training samples, spread evenly over the classes
    /// ([`EncryptionSet::subset`](crate::EncryptionSet::subset); 0 = all).
    #[config(default = 0)]
    pub samples: usize,
    /// The output the loss sees.
    #[config(default = "OutputScale::Membrane")]
    pub output: OutputScale,
    /// The cross-entropy targets.
    #[config(default = "Targets::Soft")]
    pub targets: Targets,
    /// Bound the memory of backpropagation through time by one time chunk
    /// ([`Snn::backward_chunked`](privatesnn_models::Snn::backward_chunked):
    /// the chunks are re-run last to first, passing the membranes' gradients
    /// back; the gradients are the same, for about one more forward pass).
    /// Burn's own gradient checkpointing was measured to *raise* the peak
    /// memory of this workload (docs/results.md), so it is not used.
    #[config(default = false)]
    pub memory_bound: bool,
    /// Seed of the shuffling, the Poisson spikes and the dropout masks.
    #[config(default = 0)]
    pub seed: u64,
}

impl EncryptionConfig {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), EncryptionError> {
        let bad =
            |field: &'static str, reason: String| Err(EncryptionError::Config { field, reason });
        if self.epochs == 0 || self.batch_size == 0 || self.timesteps == 0 {
            return bad("epochs/batch_size/timesteps", "must be > 0".into());
        }
        for (field, v) in [
            ("lr", self.lr),
            ("adam_epsilon", self.adam_epsilon),
            ("temperature", self.temperature),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, format!("must be finite and > 0, got {v}"));
            }
        }
        if !(self.lr_gamma.is_finite() && self.lr_gamma > 0.0) {
            return bad(
                "lr_gamma",
                format!("must be finite and > 0, got {}", self.lr_gamma),
            );
        }
        if !(0.0..=1.0).contains(&self.distill_weight) {
            return bad(
                "distill_weight",
                format!("must be in [0, 1], got {}", self.distill_weight),
            );
        }
        if self
            .lr_milestones
            .iter()
            .any(|m| !(m.is_finite() && *m > 0.0 && *m < 1.0))
        {
            return bad(
                "lr_milestones",
                format!("must be fractions in (0, 1), got {:?}", self.lr_milestones),
            );
        }
        Ok(())
    }

    /// The learning rate of epoch `epoch` (0-based): `lr · gamma^k`, `k` the
    /// number of milestones with `epoch >= round(milestone · epochs)`.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let passed = self
            .lr_milestones
            .iter()
            .filter(|&&m| epoch >= (m * self.epochs as f64).round() as usize)
            .count();
        self.lr * self.lr_gamma.powi(passed as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paper_schedule_divides_by_ten_at_half_and_seventy_percent() {
        let c = EncryptionConfig::new();
        let lrs: Vec<f64> = (0..20).map(|e| c.lr_at(e)).collect();
        for (e, lr) in lrs.iter().enumerate() {
            let want = if e < 10 {
                1e-4
            } else if e < 14 {
                1e-5
            } else {
                1e-6
            };
            assert!((lr - want).abs() < 1e-15, "epoch {e}: {lr}");
        }
    }

    #[test]
    fn bad_settings_name_the_field() {
        for (c, field) in [
            (EncryptionConfig::new().with_epochs(0), "epochs"),
            (EncryptionConfig::new().with_lr(f64::NAN), "lr"),
            (
                EncryptionConfig::new().with_distill_weight(1.5),
                "distill_weight",
            ),
            (
                EncryptionConfig::new().with_lr_milestones(vec![1.2]),
                "lr_milestones",
            ),
            (
                EncryptionConfig::new().with_adam_epsilon(0.0),
                "adam_epsilon",
            ),
        ] {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        assert!(EncryptionConfig::new().validate().is_ok());
    }
}
