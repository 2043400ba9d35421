//! The encryption loss (PrivateSNN Eq. 6): cross-entropy against the
//! (soft) labels plus Hinton distillation from the ANN.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};

/// Cross-entropy of `logits` against target distributions, averaged over the
/// batch: `-(1/N) Σ_n Σ_k y_nk log softmax(logits_n)_k`. One-hot targets give
/// the usual hard-label cross-entropy.
///
/// # Shapes
/// - logits, targets: `[N, classes]`
/// - output: `[1]`
pub fn soft_cross_entropy(logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
    let [n, _] = logits.dims();
    (targets * log_softmax(logits, 1))
        .sum()
        .neg()
        .div_scalar(n as f64)
}

/// Hinton knowledge distillation at temperature `tau`, times `tau²`, averaged
/// over the batch: `τ² (1/N) Σ_n KL(softmax(t_n/τ) ‖ softmax(s_n/τ))` — what
/// PyTorch's `KLDivLoss(reduction="batchmean")(log_softmax(s/τ), softmax(t/τ)) · τ²`
/// computes. It is 0 when the student's logits equal the teacher's, and the
/// `τ²` keeps its gradient on the scale of the cross-entropy's (Hinton et al.).
/// The teacher gets no gradient.
///
/// # Shapes
/// - student, teacher: `[N, classes]`
/// - output: `[1]`
pub fn distillation_loss(student: Tensor<2>, teacher: Tensor<2>, tau: f64) -> Tensor<1> {
    let [n, _] = student.dims();
    let teacher = teacher.detach().div_scalar(tau);
    let p = softmax(teacher.clone(), 1);
    let log_p = log_softmax(teacher, 1);
    let log_q = log_softmax(student.div_scalar(tau), 1);
    (p * (log_p - log_q)).sum().mul_scalar(tau * tau / n as f64)
}

/// The parts of one evaluation of the encryption loss.
#[derive(Clone, Debug)]
pub struct LossParts {
    /// `(1 - m) · CE + m · KD`, differentiable.
    pub total: Tensor<1>,
    /// The cross-entropy term (detached).
    pub cross_entropy: Tensor<1>,
    /// The distillation term (detached; 0 when `m = 0`).
    pub distillation: Tensor<1>,
}

/// PrivateSNN Eq. 6: `(1 - m) · CE(output, targets) + m · KD(teacher, output)`
/// at temperature `tau` (`m = distill_weight`). With `m = 0` the teacher is
/// not used (training without distillation, Fig. 5's other curve).
///
/// # Shapes
/// - output, targets, teacher: `[N, classes]`
pub fn encryption_loss(
    output: Tensor<2>,
    targets: Tensor<2>,
    teacher: Tensor<2>,
    distill_weight: f64,
    tau: f64,
) -> LossParts {
    let ce = soft_cross_entropy(output.clone(), targets);
    if distill_weight == 0.0 {
        let zero = ce.zeros_like().detach();
        return LossParts {
            total: ce.clone(),
            cross_entropy: ce.detach(),
            distillation: zero,
        };
    }
    let kd = distillation_loss(output, teacher, tau);
    let total = ce.clone().mul_scalar(1.0 - distill_weight) + kd.clone().mul_scalar(distill_weight);
    LossParts {
        total,
        cross_entropy: ce.detach(),
        distillation: kd.detach(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn host(t: Tensor<1>) -> f64 {
        t.into_data().iter::<f64>().next().expect("one value")
    }

    fn t(rows: &[[f32; 3]]) -> Tensor<2> {
        let device = Device::flex();
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::<2>::from_data(
            burn::tensor::TensorData::new(flat, [rows.len(), 3]),
            &device,
        )
    }

    fn log_softmax_host(x: &[f64]) -> Vec<f64> {
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = x.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m;
        x.iter().map(|v| v - z).collect()
    }

    #[test]
    fn distillation_equals_its_formula_and_vanishes_for_equal_logits() {
        let s = [[1.0f32, -2.0, 0.5], [3.0, 0.0, -1.0]];
        let te = [[0.2f32, 0.1, 2.0], [-1.0, 4.0, 0.0]];
        for tau in [1.0, 4.0, 20.0] {
            let got = host(distillation_loss(t(&s), t(&te), tau));
            let mut want = 0.0;
            for (sr, tr) in s.iter().zip(&te) {
                let ls = log_softmax_host(&sr.map(|v| v as f64 / tau));
                let lt = log_softmax_host(&tr.map(|v| v as f64 / tau));
                want += lt
                    .iter()
                    .zip(&ls)
                    .map(|(a, b)| a.exp() * (a - b))
                    .sum::<f64>();
            }
            want *= tau * tau / 2.0;
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "tau {tau}: {got} vs {want}"
            );
            assert!(got > 0.0);
            let same = host(distillation_loss(t(&s), t(&s), tau));
            assert!(same.abs() < 1e-5, "KD(x, x) = {same}");
        }
    }

    #[test]
    fn cross_entropy_equals_its_formula_for_soft_and_hard_targets() {
        let logits = [[1.0f32, -2.0, 0.5], [3.0, 0.0, -1.0]];
        let soft = [[0.7f32, 0.2, 0.1], [0.0, 1.0, 0.0]];
        let got = host(soft_cross_entropy(t(&logits), t(&soft)));
        let mut want = 0.0;
        for (l, y) in logits.iter().zip(&soft) {
            let ls = log_softmax_host(&l.map(f64::from));
            want -= ls
                .iter()
                .zip(y)
                .map(|(a, b)| a * f64::from(*b))
                .sum::<f64>();
        }
        want /= 2.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn the_total_mixes_the_terms_by_m() {
        let (o, y, te) = (
            t(&[[1.0, -2.0, 0.5]]),
            t(&[[0.7, 0.2, 0.1]]),
            t(&[[0.2, 0.1, 2.0]]),
        );
        let parts = encryption_loss(o.clone(), y.clone(), te.clone(), 0.7, 20.0);
        let (total, ce, kd) = (
            host(parts.total),
            host(parts.cross_entropy),
            host(parts.distillation),
        );
        assert!((total - (0.3 * ce + 0.7 * kd)).abs() < 1e-5);
        assert!((ce - host(soft_cross_entropy(o.clone(), y.clone()))).abs() < 1e-6);
        assert!((kd - host(distillation_loss(o.clone(), te.clone(), 20.0))).abs() < 1e-6);
        let no_kd = encryption_loss(o, y, te, 0.0, 20.0);
        assert_eq!(host(no_kd.distillation), 0.0);
        assert!((host(no_kd.total) - ce).abs() < 1e-6);
    }
}
