//! [`ImageSet`] as a Burn [`Dataset`] and an [`ImageBatcher`] for Burn's
//! data loaders (`burn::data::dataloader::DataLoaderBuilder`).

use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::{Dataset, DatasetError};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::ImageSet;
use crate::transform::{Augment, normalize};

/// One image of an [`ImageSet`]: `[C, H, W]` bytes and its class.
#[derive(Clone, Debug)]
pub struct ImageItem {
    /// Pixel bytes, `[C, H, W]`.
    pub pixels: Vec<u8>,
    /// Class index.
    pub label: usize,
}

impl ImageSet {
    /// The set in order as normalised batches of at most `batch_size` images
    /// (no augmentation; the last batch may be smaller): evaluation and
    /// conversion read their data this way, training through Burn's loader.
    pub fn batches<'a>(
        &'a self,
        batch_size: usize,
        device: &'a Device,
    ) -> impl Iterator<Item = ImageBatch> + 'a {
        let size = batch_size.max(1);
        let batcher = ImageBatcher::for_set(self);
        (0..ImageSet::len(self)).step_by(size).map(move |start| {
            let end = (start + size).min(ImageSet::len(self));
            let items = (start..end)
                .map(|i| ImageItem {
                    pixels: self.image(i).to_vec(),
                    label: self.labels[i],
                })
                .collect();
            batcher.batch(items, device)
        })
    }
}

impl Dataset<ImageItem> for ImageSet {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        if index >= ImageSet::len(self) {
            return Err(DatasetError::new(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("image {index} of a set of {}", ImageSet::len(self)),
            )));
        }
        Ok(ImageItem {
            pixels: self.image(index).to_vec(),
            label: self.labels[index],
        })
    }

    fn len(&self) -> usize {
        ImageSet::len(self)
    }
}

/// A batch of normalised images `[B, C, H, W]` and their classes `[B]`.
#[derive(Clone, Debug)]
pub struct ImageBatch {
    /// Images, normalised to mean 0.5 / std 0.5.
    pub images: Tensor<4>,
    /// Classes.
    pub targets: Tensor<1, Int>,
}

/// Turns [`ImageItem`]s into an [`ImageBatch`], optionally augmenting them
/// (random crop with padding + horizontal flip).
///
/// Each batch draws its augmentation from a stream seeded by `seed` and the
/// batch's sequence number, so a single-threaded loader is reproducible.
#[derive(Debug)]
pub struct ImageBatcher {
    channels: usize,
    height: usize,
    width: usize,
    augment: Option<(usize, bool)>,
    seed: u64,
    counter: AtomicU64,
}

impl ImageBatcher {
    /// A batcher for `[channels, height, width]` images, without augmentation.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
            augment: None,
            seed: 0,
            counter: AtomicU64::new(0),
        }
    }

    /// The same batcher for the images of `set`.
    pub fn for_set(set: &ImageSet) -> Self {
        Self::new(set.channels, set.height, set.width)
    }

    /// Augment with a random crop of padding `pad` and, if `flip`, random
    /// horizontal flips, from a stream seeded by `seed`.
    pub fn with_augment(mut self, pad: usize, flip: bool, seed: u64) -> Self {
        self.augment = Some((pad, flip));
        self.seed = seed;
        self
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let (c, h, w) = (self.channels, self.height, self.width);
        let mut aug = self.augment.map(|(pad, flip)| {
            let k = self.counter.fetch_add(1, Ordering::Relaxed);
            Augment::new(pad, flip, self.seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        });
        let mut buf = vec![0u8; c * h * w];
        let mut values = Vec::with_capacity(items.len() * c * h * w);
        for item in &items {
            assert_eq!(
                item.pixels.len(),
                c * h * w,
                "item size differs from the batcher's"
            );
            let src = match aug.as_mut() {
                Some(a) => {
                    a.apply(&item.pixels, c, h, w, &mut buf);
                    &buf[..]
                }
                None => &item.pixels[..],
            };
            values.extend(src.iter().map(|&p| normalize(p)));
        }
        let labels: Vec<i64> = items.iter().map(|i| i.label as i64).collect();
        ImageBatch {
            images: Tensor::from_data(TensorData::new(values, [items.len(), c, h, w]), device),
            targets: Tensor::from_data(TensorData::new(labels, [items.len()]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataloader::DataLoaderBuilder;

    fn set(n: usize) -> ImageSet {
        ImageSet {
            pixels: (0..n * 4).map(|i| (i * 10 % 256) as u8).collect(),
            labels: (0..n).map(|i| i % 2).collect(),
            channels: 1,
            height: 2,
            width: 2,
            num_classes: 2,
        }
    }

    #[test]
    fn batches_cover_the_set_in_order_normalised() {
        let s = set(5);
        let device = Device::flex();
        let got: Vec<ImageBatch> = s.batches(2, &device).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].images.dims(), [1, 1, 2, 2]);
        let xs = got[1]
            .images
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(xs[0], normalize(s.image(2)[0]));
        let ys: Vec<i64> = got[1].targets.clone().into_data().iter::<i64>().collect();
        assert_eq!(ys, vec![0, 1]);
    }

    #[test]
    fn loader_yields_every_item_once_normalised() {
        let s = set(10);
        let batcher = ImageBatcher::for_set(&s);
        let loader = DataLoaderBuilder::new(batcher)
            .batch_size(4)
            .shuffle(7)
            .set_device(Device::flex())
            .build(s.clone());
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        for b in loader.iter() {
            let b = b.unwrap();
            sizes.push(b.images.dims()[0]);
            let px: Vec<f32> = b.images.into_data().iter::<f32>().collect();
            let lb: Vec<i64> = b.targets.into_data().iter::<i64>().collect();
            for (k, l) in lb.iter().enumerate() {
                // Recover the image index from its first pixel.
                let first = ((px[4 * k] * 0.5 + 0.5) * 255.0).round() as usize;
                let idx = (0..10).find(|i| (i * 40) % 256 == first).unwrap();
                assert_eq!(*l as usize, s.labels[idx]);
                seen.push(idx);
            }
        }
        assert_eq!(sizes, vec![4, 4, 2]);
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn augmentation_is_seeded_and_changes_batches() {
        let s = set(3);
        let items: Vec<ImageItem> = (0..3).map(|i| s.get(i).unwrap()).collect();
        let run = |seed| {
            let b = ImageBatcher::for_set(&s).with_augment(1, true, seed);
            (0..4)
                .map(|_| b.batch(items.clone(), &Device::flex()).images.into_data())
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(1), run(1));
        assert_eq!(a, b);
        assert!(
            a.windows(2).any(|w| w[0] != w[1]),
            "every batch augmented alike"
        );
        assert!(s.get(3).is_err());
    }
}
