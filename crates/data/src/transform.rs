//! Pixel transforms: normalisation, padding, random crop and flip, batching.

use rand::rngs::Xoshiro256PlusPlus as StdRng;
use rand::{RngExt, SeedableRng};

use crate::ImageSet;

/// The normalisation of the PrivateSNN code: mean 0.5, std 0.5 per channel,
/// so byte pixels map to `[-1, 1]`: `x = (p / 255 - 0.5) / 0.5`.
pub fn normalize(p: u8) -> f32 {
    (p as f32 / 255.0 - 0.5) / 0.5
}

/// Zero-pad every image of a set by `pad` pixels on each side (28 → 32 for
/// the MNIST family with `pad = 2`). Padding is with byte 0 (black), i.e.
/// -1 after normalisation, the background of MNIST-family images.
pub fn pad_images(set: &ImageSet, pad: usize) -> ImageSet {
    if pad == 0 {
        return set.clone();
    }
    let (c, h, w) = (set.channels, set.height, set.width);
    let (ph, pw) = (h + 2 * pad, w + 2 * pad);
    let mut pixels = vec![0u8; set.len() * c * ph * pw];
    for i in 0..set.len() {
        let src = set.image(i);
        for ch in 0..c {
            for y in 0..h {
                let s = ch * h * w + y * w;
                let d = i * c * ph * pw + ch * ph * pw + (y + pad) * pw + pad;
                pixels[d..d + w].copy_from_slice(&src[s..s + w]);
            }
        }
    }
    ImageSet {
        pixels,
        height: ph,
        width: pw,
        ..set.clone()
    }
}

/// Training augmentation of the PrivateSNN code: random crop of the original
/// size from the image zero-padded by `pad`, then a horizontal flip with
/// probability 1/2. Deterministic for a given seed.
#[derive(Clone, Debug)]
pub struct Augment {
    /// Padding of the random crop (4 in the paper's code).
    pub pad: usize,
    /// Whether to flip horizontally at random.
    pub flip: bool,
    rng: StdRng,
}

impl Augment {
    /// A new augmentation stream.
    pub fn new(pad: usize, flip: bool, seed: u64) -> Self {
        Self {
            pad,
            flip,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Augment one `[C, H, W]` byte image into `out` (same size).
    pub fn apply(&mut self, img: &[u8], c: usize, h: usize, w: usize, out: &mut [u8]) {
        let dy = self.rng.random_range(0..=2 * self.pad) as isize - self.pad as isize;
        let dx = self.rng.random_range(0..=2 * self.pad) as isize - self.pad as isize;
        let flip = self.flip && self.rng.random::<bool>();
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let sx = if flip { w - 1 - x } else { x } as isize + dx;
                    let sy = y as isize + dy;
                    let v = if sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w {
                        img[ch * h * w + sy as usize * w + sx as usize]
                    } else {
                        0
                    };
                    out[ch * h * w + y * w + x] = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: usize, h: usize, w: usize, n: usize) -> ImageSet {
        ImageSet {
            pixels: (0..n * c * h * w).map(|i| (i % 250 + 1) as u8).collect(),
            labels: (0..n).map(|i| i % 3).collect(),
            channels: c,
            height: h,
            width: w,
            num_classes: 3,
        }
    }

    #[test]
    fn normalize_maps_bytes_to_minus_one_one() {
        assert_eq!(normalize(0), -1.0);
        assert_eq!(normalize(255), 1.0);
        assert!((normalize(128) - 0.003_921_6).abs() < 1e-6);
    }

    #[test]
    fn padding_centres_the_image() {
        let s = set(1, 2, 3, 2);
        let p = pad_images(&s, 2);
        assert_eq!((p.height, p.width), (6, 7));
        let img = p.image(1);
        assert_eq!(img[0], 0);
        assert_eq!(img[2 * 7 + 2], s.image(1)[0]);
        assert_eq!(img[3 * 7 + 4], s.image(1)[5]);
        assert_eq!(img.iter().filter(|&&v| v != 0).count(), 6);
    }

    #[test]
    fn augmentation_without_shift_or_flip_is_identity_and_flip_mirrors() {
        let s = set(2, 3, 4, 1);
        let mut out = vec![0; 24];
        Augment::new(0, false, 1).apply(s.image(0), 2, 3, 4, &mut out);
        assert_eq!(out, s.image(0));
        // with flip on, over many draws both orientations appear and the flipped one mirrors rows
        let mut a = Augment::new(0, true, 1);
        let (mut same, mut mirrored) = (0, 0);
        for _ in 0..50 {
            a.apply(s.image(0), 2, 3, 4, &mut out);
            if out == s.image(0) {
                same += 1;
            } else {
                assert_eq!(out[0], s.image(0)[3]);
                assert_eq!(out[23], s.image(0)[20]);
                mirrored += 1;
            }
        }
        assert!(same > 10 && mirrored > 10);
    }

    #[test]
    fn crop_shifts_stay_within_pad_and_are_seeded() {
        let s = set(1, 8, 8, 1);
        let mut a = Augment::new(2, false, 9);
        let mut b = Augment::new(2, false, 9);
        let (mut x, mut y) = (vec![0; 64], vec![0; 64]);
        for _ in 0..20 {
            a.apply(s.image(0), 1, 8, 8, &mut x);
            b.apply(s.image(0), 1, 8, 8, &mut y);
            assert_eq!(x, y);
            // at most 2 rows and 2 columns of zero fill
            assert!(x.iter().filter(|&&v| v == 0).count() <= 64 - 36);
        }
    }
}
