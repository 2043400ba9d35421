//! The host kernels against the textbook convolution, in f64.

use super::*;

const fn shape(input: [usize; 4], weight: [usize; 4], padding: [usize; 2]) -> ConvShape {
    ConvShape {
        input,
        weight,
        padding,
    }
}

/// The textbook convolution, in f64.
fn naive(x: &[f32], weight: &[f32], s: ConvShape) -> Vec<f64> {
    let [b, c, h, w] = s.input;
    let [o, _, kh, kw] = s.weight;
    let [ph, pw] = s.padding;
    let [_, _, oh, ow] = s.out();
    let mut out = vec![0.0f64; b * o * oh * ow];
    for bi in 0..b {
        for oc in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0f64;
                    for ci in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (y, xx) = (oy + ky, ox + kx);
                                if y < ph || xx < pw || y - ph >= h || xx - pw >= w {
                                    continue;
                                }
                                let xi = ((bi * c + ci) * h + y - ph) * w + xx - pw;
                                let wi = ((oc * c + ci) * kh + ky) * kw + kx;
                                acc += x[xi] as f64 * weight[wi] as f64;
                            }
                        }
                    }
                    out[((bi * o + oc) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    out
}

fn pseudo(n: usize, seed: u64, density: f64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            if u < density {
                // spikes, pooled spikes and signed input spikes
                [1.0, 0.25, 0.75, -1.0][(state >> 3) as usize % 4]
            } else {
                0.0
            }
        })
        .collect()
}

fn weights(n: usize, seed: u64) -> Vec<f32> {
    pseudo(n, seed, 1.1)
        .iter()
        .enumerate()
        .map(|(i, v)| v * ((i * 7919 % 97) as f32 / 97.0 - 0.5))
        .collect()
}

/// Small shapes (the plain loop), then output channels that exercise the
/// vector kernel: 2 vectors and a 3-lane tail, a full 64-block plus one
/// vector, and two blocks plus one vector.
const SHAPES: [ConvShape; 8] = [
    shape([1, 2, 4, 4], [19, 2, 3, 3], [1, 1]),
    shape([2, 3, 5, 4], [72, 3, 3, 3], [1, 1]),
    shape([1, 3, 4, 3], [136, 3, 2, 2], [0, 1]),
    shape([3, 4, 6, 5], [7, 4, 3, 3], [1, 1]),
    shape([2, 3, 5, 5], [5, 3, 3, 3], [0, 0]),
    shape([2, 2, 4, 6], [3, 2, 1, 1], [0, 0]),
    shape([2, 3, 4, 4], [9, 3, 4, 4], [0, 0]),
    shape([1, 2, 5, 4], [4, 2, 3, 2], [2, 1]),
];

#[test]
fn forward_equals_the_textbook_convolution() {
    for (k, s) in SHAPES.into_iter().enumerate() {
        for density in [0.0, 0.1, 0.5, 1.0] {
            let x = pseudo(s.input.iter().product(), k as u64, density);
            let w = weights(s.weight.iter().product(), 100 + k as u64);
            let got = conv_forward(&x, &w, s);
            let want = naive(&x, &w, s);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-5, "{s:?} {density}: {g} vs {w}");
            }
        }
    }
}

/// `dL/dW` for `L = Σ grad ⊙ y` equals `∂/∂W` taken entry by entry: the
/// convolution is linear in `W`, so `y(W + e_k) - y(W)` is exact.
#[test]
fn weight_grad_equals_the_derivative_of_the_forward() {
    for (k, s) in SHAPES.into_iter().enumerate() {
        let x = pseudo(s.input.iter().product(), 7 + k as u64, 0.4);
        let n_w = s.weight.iter().product();
        let out_len: usize = s.out().iter().product();
        let grad = weights(out_len, 50 + k as u64);
        let got = conv_weight_grad(&x, &grad, s);
        assert_derivative(&got, n_w, &grad, |e| naive(&x, e, s), "weight");
    }
}

/// `got[i]` = `Σ grad ⊙ forward(e_i)` for every unit vector `e_i` of length `n`.
fn assert_derivative(
    got: &[f32],
    n: usize,
    grad: &[f32],
    forward: impl Fn(&[f32]) -> Vec<f64>,
    what: &str,
) {
    assert_eq!(got.len(), n);
    for (i, g) in got.iter().enumerate() {
        let mut e = vec![0.0f32; n];
        e[i] = 1.0;
        let want: f64 = forward(&e)
            .iter()
            .zip(grad)
            .map(|(y, g)| y * *g as f64)
            .sum();
        assert!((*g as f64 - want).abs() < 1e-5, "{what} {i}: {g} vs {want}");
    }
}

#[test]
fn shapes_that_do_not_fit_are_rejected() {
    let s = shape([1, 2, 2, 2], [1, 2, 3, 3], [0, 0]);
    assert_eq!(s.output(), None);
    let s = shape([1, 2, 2, 2], [1, 3, 1, 1], [0, 0]);
    assert_eq!(s.output(), None);
    let s = shape([1, 2, 2, 2], [1, 2, 3, 3], [1, 1]);
    assert_eq!(s.output(), Some([1, 1, 2, 2]));
}

/// `dL/dx` for `L = Σ grad ⊙ y` equals `∂/∂x` entry by entry (the
/// convolution is linear in `x`), wherever the padding allows the
/// transposed form.
#[test]
fn input_grad_equals_the_derivative_of_the_forward() {
    let mut checked = 0;
    for (k, s) in SHAPES.into_iter().enumerate() {
        let w = weights(s.weight.iter().product(), 30 + k as u64);
        let out_len: usize = s.out().iter().product();
        let grad = pseudo(out_len, 60 + k as u64, 0.3);
        let Some(got) = conv_input_grad(&grad, &w, s) else {
            assert!(s.padding[0] >= s.weight[2] || s.padding[1] >= s.weight[3]);
            continue;
        };
        checked += 1;
        let n_x: usize = s.input.iter().product();
        assert_derivative(&got, n_x, &grad, |e| naive(e, &w, s), "input");
    }
    assert!(checked >= 6, "most shapes have a transposed form");
}
