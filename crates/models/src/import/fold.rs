//! Folding what the SNN has no layer for into the weights: batch norm into
//! the conv before it, an adaptive average pool into the linear layer after
//! it. Plain `f32` arithmetic on row-major buffers (f64 accumulation).

/// A batch norm in inference mode: `y = γ (x − μ) / √(σ² + ε) + β` per channel.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    /// `γ` (`weight`).
    pub gamma: Vec<f32>,
    /// `β` (`bias`).
    pub beta: Vec<f32>,
    /// `μ` (`running_mean`).
    pub mean: Vec<f32>,
    /// `σ²` (`running_var`).
    pub var: Vec<f32>,
    /// `ε` (PyTorch's default is 1e-5).
    pub eps: f64,
}

/// Fold `bn` into the conv with `weight` (`[out, in, kh, kw]`, row-major)
/// and `bias` (`[out]`, zeros when the conv has none), in place:
/// `W' = s W`, `b' = s (b − μ) + β` with `s = γ / √(σ² + ε)` per output
/// channel. The folded conv equals conv followed by the batch norm.
pub fn fold_batch_norm(weight: &mut [f32], bias: &mut [f32], bn: &BatchNorm) {
    let out = bias.len();
    let per = weight.len() / out.max(1);
    for o in 0..out {
        let s = bn.gamma[o] as f64 / (bn.var[o] as f64 + bn.eps).sqrt();
        for w in &mut weight[o * per..(o + 1) * per] {
            *w = (*w as f64 * s) as f32;
        }
        bias[o] = (s * (bias[o] as f64 - bn.mean[o] as f64) + bn.beta[o] as f64) as f32;
    }
}

/// The rows of PyTorch's `AdaptiveAvgPool` bin `i` of `bins` over `size`
/// inputs: `[⌊i·size/bins⌋, ⌈(i+1)·size/bins⌉)`.
fn bin(i: usize, bins: usize, size: usize) -> std::ops::Range<usize> {
    (i * size / bins)..((i + 1) * size).div_ceil(bins)
}

/// A linear layer `weight` (`[out, channels·bins²]`, PyTorch's layout) that
/// reads an `AdaptiveAvgPool2d((bins, bins))` of a `channels x side x side`
/// map, rewritten as a weight `[out, channels·side²]` on the map itself
/// (the pool is linear, so this is exact). torchvision's VGG pools to 7x7
/// before its classifier; a 32x32 input reaches it as 1x1 and is repeated
/// 49 times.
pub fn fold_adaptive_avg_pool(
    weight: &[f32],
    out: usize,
    channels: usize,
    bins: usize,
    side: usize,
) -> Vec<f32> {
    let (fin, fout) = (channels * bins * bins, channels * side * side);
    let mut folded = vec![0f64; out * fout];
    for o in 0..out {
        for c in 0..channels {
            for i in 0..bins {
                let rows = bin(i, bins, side);
                for j in 0..bins {
                    let cols = bin(j, bins, side);
                    let area = (rows.len() * cols.len()) as f64;
                    let w = weight[o * fin + (c * bins + i) * bins + j] as f64 / area;
                    for y in rows.clone() {
                        for x in cols.clone() {
                            folded[o * fout + (c * side + y) * side + x] += w;
                        }
                    }
                }
            }
        }
    }
    folded.into_iter().map(|w| w as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x1 "conv" with two outputs: folding equals applying the batch norm.
    #[test]
    fn folded_batch_norm_equals_the_batch_norm() {
        let bn = BatchNorm {
            gamma: vec![2.0, 0.5],
            beta: vec![0.1, -0.3],
            mean: vec![1.0, -2.0],
            var: vec![3.0, 0.25],
            eps: 1e-5,
        };
        let (mut w, mut b) = (vec![0.5f32, -1.5], vec![0.2f32, 0.0]);
        let x = 0.7f64;
        let before: Vec<f64> = (0..2).map(|o| w[o] as f64 * x + b[o] as f64).collect();
        fold_batch_norm(&mut w, &mut b, &bn);
        for o in 0..2 {
            let s = bn.gamma[o] as f64 / (bn.var[o] as f64 + bn.eps).sqrt();
            let expected = s * (before[o] - bn.mean[o] as f64) + bn.beta[o] as f64;
            let folded = w[o] as f64 * x + b[o] as f64;
            assert!((folded - expected).abs() < 1e-6, "{folded} vs {expected}");
        }
    }

    /// PyTorch's bins: `[⌊i·n/b⌋, ⌈(i+1)·n/b⌉)`, overlapping when `b > n`.
    #[test]
    fn bins_match_pytorch() {
        let b: Vec<_> = (0..7).map(|i| bin(i, 7, 2)).collect();
        assert_eq!(b, vec![0..1, 0..1, 0..1, 0..2, 1..2, 1..2, 1..2]);
        let b: Vec<_> = (0..2).map(|i| bin(i, 2, 5)).collect();
        assert_eq!(b, vec![0..3, 2..5]);
    }

    /// From a 1x1 map every bin is the one value: the folded weight is the
    /// sum of the 49 weights of each channel.
    #[test]
    fn adaptive_pool_of_a_single_pixel_sums_the_bins() {
        let (out, channels) = (2, 3);
        let w: Vec<f32> = (0..out * channels * 49).map(|i| i as f32 * 0.01).collect();
        let folded = fold_adaptive_avg_pool(&w, out, channels, 7, 1);
        assert_eq!(folded.len(), out * channels);
        for o in 0..out {
            for c in 0..channels {
                let start = o * channels * 49 + c * 49;
                let sum: f32 = w[start..start + 49].iter().sum();
                assert!((folded[o * channels + c] - sum).abs() < 1e-3);
            }
        }
    }

    /// On a 3x3 map with 2 bins: the folded weight applied to the map equals
    /// the weight applied to the pooled map.
    #[test]
    fn adaptive_pool_fold_is_exact_on_a_larger_map() {
        let (side, bins) = (3, 2);
        let map: Vec<f64> = (0..9).map(|i| (i as f64 * 0.37).sin()).collect();
        let pooled: Vec<f64> = (0..bins * bins)
            .map(|k| {
                let (rows, cols) = (bin(k / bins, bins, side), bin(k % bins, bins, side));
                let mut sum = 0.0;
                for y in rows.clone() {
                    for x in cols.clone() {
                        sum += map[y * side + x];
                    }
                }
                sum / (rows.len() * cols.len()) as f64
            })
            .collect();
        let w = [0.3f32, -1.0, 2.0, 0.5];
        let folded = fold_adaptive_avg_pool(&w, 1, 1, bins, side);
        let a: f64 = w.iter().zip(&pooled).map(|(w, p)| *w as f64 * p).sum();
        let b: f64 = folded.iter().zip(&map).map(|(w, m)| *w as f64 * m).sum();
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}
