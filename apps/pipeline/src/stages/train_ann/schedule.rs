//! The learning-rate schedule of `train-ann`: PyTorch's `MultiStepLR`
//! (`lr · gamma^k` after the `k`-th milestone), stepped once per batch,
//! built from burn-optim's sequential scheduler of constant rates.

use anyhow::{Result, anyhow};
use burn::optim::lr_scheduler::LrSchedulerConfig;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::optim::lr_scheduler::sequential::SequentialLrSchedulerConfig;

/// `lr`, multiplied by `gamma` at each milestone; milestones are fractions of
/// the run's `total_iters` batches, rounded to the nearest iteration (a
/// milestone at iteration 0 lowers the starting rate; two that round to the
/// same iteration both apply there).
pub fn multi_step(
    lr: f64,
    gamma: f64,
    fractions: &[f64],
    total_iters: usize,
) -> Result<ModuleLrScheduler> {
    let mut iters: Vec<usize> = fractions
        .iter()
        .map(|f| (f * total_iters as f64).round() as usize)
        .collect();
    iters.sort_unstable();
    let mut rate = lr * gamma.powi(iters.iter().filter(|&&m| m == 0).count() as i32);
    let mut schedulers = vec![LrSchedulerConfig::Constant(rate)];
    let mut milestones = Vec::new();
    for &m in iters.iter().filter(|&&m| m > 0) {
        rate *= gamma;
        if milestones.last() == Some(&m) {
            *schedulers.last_mut().expect("one per milestone") = LrSchedulerConfig::Constant(rate);
        } else {
            milestones.push(m);
            schedulers.push(LrSchedulerConfig::Constant(rate));
        }
    }
    SequentialLrSchedulerConfig::new(schedulers, milestones)
        .init()
        .map_err(|e| anyhow!("learning-rate schedule: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(mut s: ModuleLrScheduler, n: usize) -> Vec<f64> {
        (0..n).map(|_| s.step().base()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn follows_the_milestones_and_survives_a_record_round_trip() {
        let lrs = rates(multi_step(0.1, 0.1, &[0.5, 0.75], 40).unwrap(), 40);
        assert!(close(lrs[0], 0.1) && close(lrs[19], 0.1));
        assert!(close(lrs[20], 0.01) && close(lrs[29], 0.01));
        assert!(close(lrs[30], 0.001) && close(lrs[39], 0.001));
        // Resume: a scheduler loaded from another's record continues it.
        let mut s = multi_step(0.1, 0.1, &[0.5, 0.75], 40).unwrap();
        for _ in 0..25 {
            s.step();
        }
        let t = multi_step(0.1, 0.1, &[0.5, 0.75], 40)
            .unwrap()
            .load_record(s.to_record());
        let next = rates(t, 6);
        assert!(close(next[0], 0.01) && close(next[5], 0.001), "{next:?}");
    }

    #[test]
    fn milestones_at_zero_or_on_the_same_iteration_all_apply() {
        let lrs = rates(multi_step(1.0, 0.5, &[0.0, 0.5, 0.5], 10).unwrap(), 10);
        assert!(close(lrs[0], 0.5) && close(lrs[4], 0.5));
        assert!(close(lrs[5], 0.125) && close(lrs[9], 0.125), "{lrs:?}");
        let lrs = rates(multi_step(1.0, 0.5, &[], 3).unwrap(), 3);
        assert!(lrs.iter().all(|&r| close(r, 1.0)));
    }
}
