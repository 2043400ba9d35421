//! Pixel helpers shared by the image optimisations: uniform noise, the
//! `[0, 1]` ↔ `[-1, 1]` normalisation and 8-bit re-quantisation.

use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

/// `n` images of uniform noise in `[0, 1)`, `[n, C, H, W]`, from `rng`.
pub(crate) fn uniform(
    n: usize,
    shape: [usize; 3],
    rng: &mut Xoshiro256PlusPlus,
    device: &Device,
) -> Tensor<4> {
    let [c, h, w] = shape;
    let values: Vec<f32> = (0..n * c * h * w).map(|_| rng.random::<f32>()).collect();
    Tensor::from_data(TensorData::new(values, [n, c, h, w]), device)
}

/// `[0, 1]` pixels → the `[-1, 1]` normalisation of the models (mean 0.5, std 0.5).
pub(crate) fn normalise(x: Tensor<4>) -> Tensor<4> {
    x.mul_scalar(2.0).sub_scalar(1.0)
}

/// A normalised image back in `[0, 1]`, clipped and quantised to 8 bits.
pub(crate) fn to_8bit_image(z: Tensor<4>) -> Tensor<4> {
    z.add_scalar(1.0)
        .div_scalar(2.0)
        .clamp(0.0, 1.0)
        .mul_scalar(255.0)
        .round()
        .div_scalar(255.0)
}
