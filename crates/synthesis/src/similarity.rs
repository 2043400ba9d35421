//! Class similarity from the last FC layer and Dirichlet soft labels.

use burn::tensor::Tensor;
use rand::Rng;
use rand_distr::multi::{Dirichlet, MultiDistribution};
use serde::{Deserialize, Serialize};

use crate::SynthesisError;

/// How class similarity is computed from the class weight vectors `w_c`
/// (the columns of the last FC layer's `[hidden, classes]` weight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Similarity {
    /// The paper's Eq. 4 as printed: `s_ij = w_i·w_j / (‖w_i‖² ‖w_j‖²)`.
    #[default]
    Paper,
    /// The authors' code (and ZSKD): cosine similarity, then each row min-max
    /// normalised to `[0, 1]`.
    CosineMinMax,
}

/// The `[classes][classes]` similarity matrix of the class weight vectors.
///
/// `fc_weight` is Burn's `Linear` weight of the output layer, `[hidden, classes]`
/// (input-major): column `c` is `w_c`.
pub fn class_similarity(fc_weight: Tensor<2>, kind: Similarity) -> Vec<Vec<f64>> {
    let [hidden, classes] = fc_weight.dims();
    let w: Vec<f64> = fc_weight.into_data().iter::<f64>().collect();
    let dot = |i: usize, j: usize| {
        (0..hidden)
            .map(|h| w[h * classes + i] * w[h * classes + j])
            .sum::<f64>()
    };
    let norm2: Vec<f64> = (0..classes).map(|c| dot(c, c)).collect();
    let mut s = vec![vec![0.0; classes]; classes];
    for i in 0..classes {
        for j in 0..classes {
            s[i][j] = match kind {
                Similarity::Paper => dot(i, j) / (norm2[i] * norm2[j]),
                Similarity::CosineMinMax => dot(i, j) / (norm2[i] * norm2[j]).sqrt(),
            };
        }
    }
    if kind == Similarity::CosineMinMax {
        for row in &mut s {
            let (lo, hi) = row
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            let span = hi - lo;
            for v in row.iter_mut() {
                *v = if span > 0.0 { (*v - lo) / span } else { 1.0 };
            }
        }
    }
    s
}

/// A valid Dirichlet concentration from a similarity row: negative entries
/// (dissimilar classes under Eq. 4) are clamped to 0, then `epsilon` is added
/// so that every entry is positive (ZSKD uses 1e-4), then scaled by `beta`.
pub fn concentration(row: &[f64], beta: f64, epsilon: f64) -> Vec<f64> {
    row.iter().map(|&s| beta * (s.max(0.0) + epsilon)).collect()
}

/// `n` soft labels drawn from `Dir(alpha)`.
pub fn sample_soft_labels(
    alpha: &[f64],
    n: usize,
    rng: &mut impl Rng,
) -> Result<Vec<Vec<f32>>, SynthesisError> {
    let dist = Dirichlet::new(alpha).map_err(|e| SynthesisError::Concentration {
        alpha: alpha.to_vec(),
        reason: e.to_string(),
    })?;
    let mut buf = vec![0.0f64; alpha.len()];
    Ok((0..n)
        .map(|_| {
            dist.sample_to_slice(rng, &mut buf);
            buf.iter().map(|&p| p as f32).collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use rand::SeedableRng;

    /// w_0 = (1, 0), w_1 = (0, 2), w_2 = (1, 1) as columns of a [2, 3] weight.
    fn weight() -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0, 2.0, 1.0], [2, 3]),
            &Device::flex(),
        )
    }

    #[test]
    fn eq4_known_values() {
        let s = class_similarity(weight(), Similarity::Paper);
        // ‖w‖² = 1, 4, 2; dots: w0·w1 = 0, w0·w2 = 1, w1·w2 = 2.
        let want = [[1.0, 0.0, 0.5], [0.0, 0.25, 0.25], [0.5, 0.25, 0.5]];
        for i in 0..3 {
            for j in 0..3 {
                assert!((s[i][j] - want[i][j]).abs() < 1e-9, "{i}{j}: {}", s[i][j]);
            }
        }
    }

    #[test]
    fn cosine_minmax_known_values() {
        let s = class_similarity(weight(), Similarity::CosineMinMax);
        // cos: (0,1) = 0, (0,2) = 1/√2, (1,2) = 1/√2; rows min-max normalised.
        let r = 1.0 / 2f64.sqrt();
        let want = [
            [1.0, 0.0, r],
            [0.0, 1.0, r],
            [(r - r) / (1.0 - r), 0.0, 1.0],
        ];
        // Row 2: values (r, r, 1) → min r, so (0, 0, 1).
        for i in 0..3 {
            for j in 0..3 {
                assert!((s[i][j] - want[i][j]).abs() < 1e-9, "{i}{j}: {}", s[i][j]);
            }
        }
    }

    #[test]
    fn concentration_is_valid() {
        let a = concentration(&[-0.3, 0.0, 0.5], 0.1, 1e-4);
        assert_eq!(a.len(), 3);
        assert!((a[0] - 1e-5).abs() < 1e-15 && (a[2] - 0.1 * 0.5001).abs() < 1e-12);
        assert!(a.iter().all(|&v| v > 0.0));
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
        let e = sample_soft_labels(&[0.0, 1.0], 1, &mut rng).unwrap_err();
        assert!(e.to_string().contains("concentration"), "{e}");
    }

    #[test]
    fn dirichlet_samples_have_the_right_mean_and_sum() {
        // E[y_i] = alpha_i / sum(alpha); Var = a_i (a0 - a_i) / (a0² (a0 + 1)).
        let alpha = [2.0, 1.0, 1.0];
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(42);
        let n = 20_000;
        let ys = sample_soft_labels(&alpha, n, &mut rng).unwrap();
        let mut mean = [0.0f64; 3];
        for y in &ys {
            let s: f32 = y.iter().sum();
            assert!((s - 1.0).abs() < 1e-5 && y.iter().all(|&p| p >= 0.0));
            for k in 0..3 {
                mean[k] += y[k] as f64 / n as f64;
            }
        }
        for (k, want) in [0.5, 0.25, 0.25].iter().enumerate() {
            let var = alpha[k] * (4.0 - alpha[k]) / (16.0 * 5.0);
            let se = (var / n as f64).sqrt();
            assert!((mean[k] - want).abs() < 5.0 * se, "mean[{k}] = {}", mean[k]);
        }
        // Small concentrations give peaked samples (ZSKD's beta = 0.1).
        let peaked = sample_soft_labels(&[0.02, 0.01, 0.01], 2000, &mut rng).unwrap();
        let avg_max: f64 = peaked
            .iter()
            .map(|y| y.iter().cloned().fold(0.0f32, f32::max) as f64)
            .sum::<f64>()
            / 2000.0;
        assert!(avg_max > 0.9, "{avg_max}");
    }
}
