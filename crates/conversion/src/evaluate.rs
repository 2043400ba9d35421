//! SNN accuracy against the number of timesteps (the paper's Figure 4).

use burn::tensor::{Int, Tensor};
use privatesnn_models::Snn;
use serde::{Deserialize, Serialize};

/// Accuracy after `timesteps` steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyAtT {
    /// Timesteps simulated.
    pub timesteps: usize,
    /// Top-1 accuracy, percent.
    pub accuracy: f64,
    /// Mean spikes per image per timestep of each spiking layer (index 0 = input).
    pub spikes_per_image_step: Vec<f64>,
}

/// Top-1 accuracy of `snn` at every T of `timesteps` (ascending) on labelled
/// batches: one simulation of `max(timesteps)` steps per batch, read out at
/// each T (batch `b` uses the Poisson seed `seed + b`).
///
/// # Panics
/// If `timesteps` is empty or not strictly increasing.
pub fn accuracy_vs_timesteps(
    snn: &Snn,
    batches: impl IntoIterator<Item = (Tensor<4>, Tensor<1, Int>)>,
    timesteps: &[usize],
    seed: u64,
) -> Vec<AccuracyAtT> {
    let mut correct = vec![0usize; timesteps.len()];
    let mut spikes: Vec<Vec<f64>> = vec![Vec::new(); timesteps.len()];
    let mut total = 0usize;
    for (b, (x, y)) in batches.into_iter().enumerate() {
        let n = x.dims()[0];
        total += n;
        let mut enc = snn.encoder(seed.wrapping_add(b as u64));
        let outs = snn.forward_checkpoints(x, timesteps, &mut enc);
        for (k, out) in outs.into_iter().enumerate() {
            let pred = out.logits.clone().argmax(1).reshape([n]);
            correct[k] += pred.equal(y.clone()).int().sum().into_scalar::<i64>() as usize;
            let totals = out.spike_totals();
            if spikes[k].is_empty() {
                spikes[k] = vec![0.0; totals.len()];
            }
            for (acc, t) in spikes[k].iter_mut().zip(totals) {
                *acc += t;
            }
        }
    }
    timesteps
        .iter()
        .zip(correct)
        .zip(spikes)
        .map(|((&t, c), s)| AccuracyAtT {
            timesteps: t,
            accuracy: 100.0 * c as f64 / total.max(1) as f64,
            spikes_per_image_step: s.iter().map(|v| v / (total.max(1) * t) as f64).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, TensorData};
    use privatesnn_models::{SnnConfig, VggConfig};
    use privatesnn_neurons::PoissonEncoder;

    #[test]
    fn matches_separate_forwards() {
        let device = Device::flex();
        device.seed(2);
        let ann = VggConfig::new()
            .with_in_channels(1)
            .with_image_size(4)
            .with_num_classes(3)
            .with_arch("4,A".into())
            .with_hidden(6)
            .init(&device);
        let snn = Snn::from_ann(ann, &SnnConfig::new()).with_thresholds(&[0.3, 0.3]);
        let x = Tensor::<4>::random([5, 1, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 0, 1], [5]), &device);
        let acc = accuracy_vs_timesteps(&snn, [(x.clone(), y.clone())], &[2, 6], 7);
        for a in &acc {
            let out = snn.forward_timesteps(x.clone(), a.timesteps, &mut PoissonEncoder::new(7));
            let pred: Vec<i64> = out
                .logits
                .argmax(1)
                .reshape([5])
                .into_data()
                .iter::<i64>()
                .collect();
            let hits = pred
                .iter()
                .zip([0, 1, 2, 0, 1])
                .filter(|(p, l)| **p == *l)
                .count();
            assert_eq!(a.accuracy, 100.0 * hits as f64 / 5.0);
            assert_eq!(a.spikes_per_image_step.len(), 3);
        }
    }
}
