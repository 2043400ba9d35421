//! `[energy]`: spike rates and the energy estimate (paper Sec. 5.5, Table 4, Fig. 7).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// `[energy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySection {
    /// Real test images the accuracies and spike rates are measured on (0 = all).
    pub test_images: usize,
    /// T of the data-free converted SNN (0 = `[snn] timesteps`).
    pub timesteps: usize,
    /// T of the encrypted SNN (0 = `[encryption] timesteps`, what it was trained at).
    pub encrypted_timesteps: usize,
    /// T of the real-data conversion (Sengupta et al.; the paper's Table 4 uses 500).
    pub real_timesteps: usize,
    /// Energy of a multiply-accumulate, pJ (32-bit float, 45 nm: 4.6).
    pub e_mac_pj: f64,
    /// Energy of an accumulate, pJ (32-bit float, 45 nm: 0.9).
    pub e_ac_pj: f64,
    /// Seed of the Poisson input.
    pub seed: u64,
}

impl Default for EnergySection {
    fn default() -> Self {
        Self {
            test_images: 1000,
            timesteps: 0,
            encrypted_timesteps: 0,
            real_timesteps: 500,
            e_mac_pj: 4.6,
            e_ac_pj: 0.9,
            seed: 0,
        }
    }
}

impl EnergySection {
    pub(super) fn validate(&self) -> Result<()> {
        if self.real_timesteps == 0 {
            bail!("real_timesteps must be > 0");
        }
        for (name, v) in [("e_mac_pj", self.e_mac_pj), ("e_ac_pj", self.e_ac_pj)] {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be a finite number > 0, got {v}");
            }
        }
        Ok(())
    }

    /// The energies per operation.
    pub fn costs(&self) -> privatesnn_energy::EnergyConfig {
        privatesnn_energy::EnergyConfig {
            e_mac_pj: self.e_mac_pj,
            e_ac_pj: self.e_ac_pj,
        }
    }
}
