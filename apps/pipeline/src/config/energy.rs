//! `[energy]`: spike rates and the energy estimate (paper Sec. 5.5, Table 4, Fig. 7).
//!
//! The accuracies and spike counts come from `evaluate --snn`'s simulation
//! (the `[evaluate]` test images and seed), read out at the T chosen here,
//! which must be among `[evaluate] timesteps`: no SNN is simulated twice.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// `[energy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySection {
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
}

impl Default for EnergySection {
    fn default() -> Self {
        Self {
            timesteps: 0,
            encrypted_timesteps: 0,
            real_timesteps: 500,
            e_mac_pj: 4.6,
            e_ac_pj: 0.9,
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

    /// The T at which the real-data, data-free and encrypted SNNs are read
    /// out, given `[snn] timesteps` and `[encryption] timesteps`.
    pub fn readouts(&self, snn_timesteps: usize, encryption_timesteps: usize) -> [usize; 3] {
        let pick = |t: usize, default: usize| if t > 0 { t } else { default };
        [
            self.real_timesteps,
            pick(self.timesteps, snn_timesteps),
            pick(self.encrypted_timesteps, encryption_timesteps),
        ]
    }

    /// Every readout T must be one `evaluate --snn` simulates to.
    pub(super) fn check_readouts(&self, readouts: [usize; 3], evaluated: &[usize]) -> Result<()> {
        let names = ["real_timesteps", "timesteps", "encrypted_timesteps"];
        for (name, t) in names.into_iter().zip(readouts) {
            if !evaluated.contains(&t) {
                bail!(
                    "`{name}` reads an SNN out at T = {t}, which is not among [evaluate] \
                     timesteps {evaluated:?}: add it there (energy reuses evaluate's simulation)"
                );
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
