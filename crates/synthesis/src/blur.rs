//! The Gaussian blur of Algorithm 2 (class impressions).

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
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

/// Blur each channel of `x` with a Gaussian (zero padding, same size).
pub fn gaussian_blur(x: Tensor<4>, sigma: f64) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let (kernel, k) = gaussian_kernel(sigma);
    let weights: Vec<f32> = (0..c).flat_map(|_| kernel.iter().copied()).collect();
    let w = Tensor::<4>::from_data(TensorData::new(weights, [c, 1, k, k]), &x.device());
    conv2d(
        x,
        w,
        None,
        ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], c),
    )
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
        // A constant image stays constant away from the border.
        let x = Tensor::<4>::ones([1, 2, 9, 9], &Device::flex());
        let y: Vec<f32> = gaussian_blur(x, 1.0).into_data().iter::<f32>().collect();
        assert!((y[4 * 9 + 4] - 1.0).abs() < 1e-5 && y[0] < 0.9);
    }
}
