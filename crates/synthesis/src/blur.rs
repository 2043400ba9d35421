//! The Gaussian blur of Algorithm 2 (class impressions).

use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Tensor, TensorData};

/// A normalised 2-D Gaussian kernel of standard deviation `sigma`, radius `ceil(2 sigma)`.
pub fn gaussian_kernel(sigma: f64) -> (Vec<f32>, usize) {
    let r = (2.0 * sigma).ceil().max(1.0) as i64;
    let k = (2 * r + 1) as usize;
    let g: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = g.iter().sum();
    let mut out = Vec::with_capacity(k * k);
    for a in &g {
        for b in &g {
            out.push((a * b / (s * s)) as f32);
        }
    }
    (out, k)
}

/// Blur each channel of `x` with a Gaussian, same size. The border is
/// extended by repeating the edge pixels (as PIL's `GaussianBlur`, which the
/// upstream class-impression code calls), so a uniform image stays uniform
/// up to its edges instead of fading into a zero border.
pub fn gaussian_blur(x: Tensor<4>, sigma: f64) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let (kernel, k) = gaussian_kernel(sigma);
    let weights: Vec<f32> = (0..c).flat_map(|_| kernel.iter().copied()).collect();
    let w = Tensor::<4>::from_data(TensorData::new(weights, [c, 1, k, k]), &x.device());
    let r = k / 2;
    let padded = x.pad([(r, r), (r, r)], PadMode::Edge);
    conv2d(padded, w, None, ConvOptions::new([1, 1], [0, 0], [1, 1], c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn gaussian_kernel_and_blur() {
        let (k, size) = gaussian_kernel(1.0);
        assert_eq!(size, 5);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(k[12] > k[11] && (k[11] - k[13]).abs() < 1e-9);
        // A constant image stays constant, border included (edge padding).
        let x = Tensor::<4>::ones([1, 2, 9, 9], &Device::flex()).mul_scalar(0.7);
        let y: Vec<f32> = gaussian_blur(x, 1.0).into_data().iter::<f32>().collect();
        assert!(y.iter().all(|v| (v - 0.7).abs() < 1e-5), "{y:?}");
        // An impulse spreads into the kernel (away from the border).
        let mut one = vec![0.0f32; 81];
        one[4 * 9 + 4] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(one, [1, 1, 9, 9]), &Device::flex());
        let y: Vec<f32> = gaussian_blur(x, 1.0).into_data().iter::<f32>().collect();
        for (dy, dx) in [(0usize, 0usize), (1, 0), (2, 2), (0, 1)] {
            let got = y[(4 + dy) * 9 + 4 + dx];
            assert!((got - k[(2 + dy) * 5 + 2 + dx]).abs() < 1e-6, "{dy},{dx}");
        }
    }
}
