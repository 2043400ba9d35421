//! Feature extractors behind one trait, and the statistics of an image set.

use burn::tensor::{Device, Tensor, TensorData};

use crate::{FeatureStats, FidError};

/// A network that maps images to feature vectors for the Fréchet distance.
///
/// Images are given as pixels in `[0, 1]`, `[N, C, H, W]`; each extractor
/// does its own preprocessing (normalisation, resizing, channel expansion).
pub trait FeatureExtractor {
    /// A name for reports (which network, which layer).
    fn name(&self) -> String;
    /// Feature length.
    fn dim(&self) -> usize;
    /// Features `[N, dim]` of images `[N, C, H, W]` in `[0, 1]`.
    fn features(&self, pixels: Tensor<4>) -> Tensor<2>;
}

/// The feature statistics of `pixels` (`[0, 1]`, `n` images of `shape`,
/// row-major) under `extractor`, in batches of `batch_size` on `device`.
pub fn image_stats(
    extractor: &dyn FeatureExtractor,
    pixels: &[f32],
    shape: [usize; 3],
    batch_size: usize,
    device: &Device,
) -> Result<FeatureStats, FidError> {
    let [c, h, w] = shape;
    let len = c * h * w;
    if len == 0 || !pixels.len().is_multiple_of(len) {
        return Err(FidError::Shape(format!(
            "{} pixel values are not whole {c}x{h}x{w} images",
            pixels.len()
        )));
    }
    let n = pixels.len() / len;
    let mut features = Vec::with_capacity(n * extractor.dim());
    for start in (0..n).step_by(batch_size.max(1)) {
        let end = (start + batch_size.max(1)).min(n);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                pixels[start * len..end * len].to_vec(),
                [end - start, c, h, w],
            ),
            device,
        );
        let f = extractor.features(x);
        let [rows, d] = f.dims();
        if rows != end - start || d != extractor.dim() {
            return Err(FidError::Shape(format!(
                "{} returned [{rows}, {d}] features for {} images (expected dim {})",
                extractor.name(),
                end - start,
                extractor.dim()
            )));
        }
        features.extend(f.into_data().iter::<f32>());
    }
    FeatureStats::from_features(&features, extractor.dim())
}

/// The FID of two image sets (pixels in `[0, 1]`) under `extractor`.
pub fn fid(
    extractor: &dyn FeatureExtractor,
    a: (&[f32], [usize; 3]),
    b: (&[f32], [usize; 3]),
    batch_size: usize,
    device: &Device,
) -> Result<f64, FidError> {
    let sa = image_stats(extractor, a.0, a.1, batch_size, device)?;
    let sb = image_stats(extractor, b.0, b.1, batch_size, device)?;
    crate::frechet_distance(&sa, &sb)
}
