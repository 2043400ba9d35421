//! Feature statistics (mean, covariance) and the Fréchet distance between
//! two Gaussians fitted to them.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::FidError;

/// Mean and covariance of a set of feature vectors, in `f64`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    /// Mean feature, length `d`.
    pub mean: Vec<f64>,
    /// Covariance, `d x d` row-major (unbiased, `n - 1`).
    pub cov: Vec<f64>,
    /// Feature dimension `d`.
    pub dim: usize,
    /// Number of vectors the statistics come from (0 if given directly).
    pub count: usize,
}

impl FeatureStats {
    /// Statistics given directly (e.g. of a known Gaussian).
    pub fn new(mean: Vec<f64>, cov: Vec<f64>) -> Result<Self, FidError> {
        let dim = mean.len();
        if cov.len() != dim * dim {
            return Err(FidError::Shape(format!(
                "a covariance of {} values for a mean of {dim}",
                cov.len()
            )));
        }
        let s = Self {
            mean,
            cov,
            dim,
            count: 0,
        };
        s.check_finite()?;
        Ok(s)
    }

    /// The statistics of `n` feature vectors of length `dim`, row-major.
    /// Needs `n >= 2`; sums in `f64`.
    pub fn from_features(features: &[f32], dim: usize) -> Result<Self, FidError> {
        if dim == 0 || !features.len().is_multiple_of(dim) {
            return Err(FidError::Shape(format!(
                "{} values are not a whole number of {dim}-d vectors",
                features.len()
            )));
        }
        let n = features.len() / dim;
        if n < 2 {
            return Err(FidError::Shape(format!(
                "a covariance needs at least 2 feature vectors, got {n}"
            )));
        }
        let x = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| v as f64));
        let mean = x.row_mean();
        let centred = DMatrix::from_fn(n, dim, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n as f64 - 1.0);
        let s = Self {
            mean: mean.iter().copied().collect(),
            cov: cov.transpose().iter().copied().collect(),
            dim,
            count: n,
        };
        s.check_finite()?;
        Ok(s)
    }

    fn check_finite(&self) -> Result<(), FidError> {
        if self.mean.iter().chain(&self.cov).any(|v| !v.is_finite()) {
            return Err(FidError::NonFinite(
                "feature statistics hold NaN or infinite values".into(),
            ));
        }
        Ok(())
    }

    fn matrix(&self) -> DMatrix<f64> {
        DMatrix::from_row_slice(self.dim, self.dim, &self.cov)
    }
}

/// The square root of a symmetric positive semi-definite matrix (negative
/// eigenvalues from rounding are clamped to 0).
fn sqrt_psd(m: DMatrix<f64>) -> DMatrix<f64> {
    let sym = (&m + m.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

/// The Fréchet distance between the Gaussians `N(μ_a, Σ_a)` and `N(μ_b, Σ_b)`:
///
/// `‖μ_a − μ_b‖² + Tr(Σ_a) + Tr(Σ_b) − 2 Tr((Σ_a Σ_b)^{1/2})`,
///
/// (Heusel et al. 2017; FID when the features are Inception-V3's). The
/// trace of `(Σ_a Σ_b)^{1/2}` is computed as that of the symmetric
/// `(Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}` (same eigenvalues), with two symmetric
/// eigendecompositions in `f64` (nalgebra): no complex parts to discard, as
/// `scipy.linalg.sqrtm` of the non-symmetric product produces.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, FidError> {
    if a.dim != b.dim {
        return Err(FidError::Shape(format!(
            "{}-d features against {}-d features",
            a.dim, b.dim
        )));
    }
    let mu = DVector::from_column_slice(&a.mean) - DVector::from_column_slice(&b.mean);
    let (sa, sb) = (a.matrix(), b.matrix());
    let root_a = sqrt_psd(sa.clone());
    let inner = &root_a * &sb * &root_a;
    let sym = (&inner + inner.transpose()) * 0.5;
    let tr_cross: f64 = SymmetricEigen::new(sym)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    let d = mu.norm_squared() + sa.trace() + sb.trace() - 2.0 * tr_cross;
    if !d.is_finite() {
        return Err(FidError::NonFinite(format!("the distance is {d}")));
    }
    // Rounding can leave a tiny negative value for identical statistics.
    Ok(d.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand_distr::{Distribution, StandardNormal};

    /// A rotation of the plane by `a` (radians) in dimensions 0 and 1 of 3.
    fn rotation(a: f64) -> DMatrix<f64> {
        let (s, c) = a.sin_cos();
        DMatrix::from_row_slice(3, 3, &[c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0])
    }

    fn stats(mean: &[f64], cov: &DMatrix<f64>) -> FeatureStats {
        FeatureStats::new(mean.to_vec(), cov.transpose().iter().copied().collect()).unwrap()
    }

    /// Commuting covariances `R diag(a) Rᵀ`, `R diag(b) Rᵀ`: the distance is
    /// `‖μ_a − μ_b‖² + Σ (√a_i − √b_i)²`.
    #[test]
    fn equals_the_closed_form_for_known_gaussians() {
        let r = rotation(0.7);
        let (da, db) = ([4.0, 1.0, 0.25], [1.0, 9.0, 0.25]);
        let ca = &r * DMatrix::from_diagonal(&DVector::from_row_slice(&da)) * r.transpose();
        let cb = &r * DMatrix::from_diagonal(&DVector::from_row_slice(&db)) * r.transpose();
        let (ma, mb) = ([1.0, 2.0, 3.0], [0.0, 2.0, 5.0]);
        let expected = 1.0
            + 4.0
            + da.iter()
                .zip(&db)
                .map(|(a, b): (&f64, &f64)| (a.sqrt() - b.sqrt()).powi(2))
                .sum::<f64>();
        let d = frechet_distance(&stats(&ma, &ca), &stats(&mb, &cb)).unwrap();
        assert!((d - expected).abs() < 1e-9, "{d} vs {expected}");
        // Symmetric, and 0 against itself.
        let back = frechet_distance(&stats(&mb, &cb), &stats(&ma, &ca)).unwrap();
        assert!((back - d).abs() < 1e-9);
        assert!(frechet_distance(&stats(&ma, &ca), &stats(&ma, &ca)).unwrap() < 1e-9);
    }

    /// Samples of two Gaussians: the distance of the sample statistics
    /// approaches the closed form (a general, non-commuting pair).
    #[test]
    fn sample_statistics_approach_the_population_distance() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let la = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 0.0, 0.5, 2.0, 0.0, -0.3, 0.2, 0.7]);
        let lb = DMatrix::from_row_slice(3, 3, &[1.5, 0.0, 0.0, -0.4, 0.6, 0.0, 0.8, 0.1, 1.2]);
        let (ma, mb) = ([0.5, -1.0, 2.0], [0.0, 0.0, 1.0]);
        let mut draw = |l: &DMatrix<f64>, m: &[f64; 3], n: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(n * 3);
            for _ in 0..n {
                let z = DVector::from_iterator(3, (0..3).map(|_| StandardNormal.sample(&mut rng)));
                let x = l * z;
                out.extend((0..3).map(|i| (x[i] + m[i]) as f32));
            }
            out
        };
        let n = 40_000;
        let (xa, xb) = (draw(&la, &ma, n), draw(&lb, &mb, n));
        let population = frechet_distance(
            &stats(&ma, &(&la * la.transpose())),
            &stats(&mb, &(&lb * lb.transpose())),
        )
        .unwrap();
        let sample = frechet_distance(
            &FeatureStats::from_features(&xa, 3).unwrap(),
            &FeatureStats::from_features(&xb, 3).unwrap(),
        )
        .unwrap();
        assert!(
            (sample - population).abs() < 0.03 * population,
            "{sample} vs {population}"
        );
        // A general product has a non-trivial cross term: check it against
        // the eigenvalues of Σa Σb directly (real and positive for PSD pairs).
        let prod = (&la * la.transpose()) * (&lb * lb.transpose());
        let tr: f64 = prod
            .complex_eigenvalues()
            .iter()
            .map(|l| l.re.max(0.0).sqrt())
            .sum();
        let d = (DVector::from_row_slice(&ma) - DVector::from_row_slice(&mb)).norm_squared()
            + (&la * la.transpose()).trace()
            + (&lb * lb.transpose()).trace()
            - 2.0 * tr;
        assert!((d - population).abs() < 1e-8, "{d} vs {population}");
    }

    #[test]
    fn grows_with_noise_and_is_zero_on_the_same_set() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let d = 8;
        let base: Vec<f32> = (0..500 * d)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect::<Vec<f64>>()
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let noise: Vec<f32> = (0..500 * d)
            .map(|_| {
                let v: f64 = StandardNormal.sample(&mut rng);
                v as f32
            })
            .collect();
        let s0 = FeatureStats::from_features(&base, d).unwrap();
        assert!(frechet_distance(&s0, &s0).unwrap() < 1e-8);
        let mut last = 0.0;
        for level in [0.25f32, 0.5, 1.0, 2.0] {
            let noisy: Vec<f32> = base
                .iter()
                .zip(&noise)
                .map(|(b, n)| b + level * n)
                .collect();
            let f =
                frechet_distance(&s0, &FeatureStats::from_features(&noisy, d).unwrap()).unwrap();
            assert!(f > last, "noise {level}: {f} <= {last}");
            last = f;
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(FeatureStats::from_features(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(FeatureStats::from_features(&[1.0, 2.0], 2).is_err());
        assert!(FeatureStats::from_features(&[1.0, f32::NAN, 3.0, 4.0], 2).is_err());
        let a = FeatureStats::from_features(&[1.0, 2.0, 3.0, 4.0, 0.0, 1.0], 2).unwrap();
        let b = FeatureStats::from_features(&[1.0, 2.0, 3.0, 4.0, 0.0, 1.0], 3).unwrap();
        assert!(
            frechet_distance(&a, &b)
                .unwrap_err()
                .to_string()
                .contains("2-d")
        );
        assert!(FeatureStats::new(vec![0.0; 2], vec![0.0; 3]).is_err());
    }
}
