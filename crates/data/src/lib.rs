//! This crate provides the data sets of
//! [privatesnn](https://github.com/privatesnn/privatesnn): readers of the
//! real formats, with typed errors that name the file and the problem, and the
//! transforms of the PrivateSNN code.
//!
//! - [`idx`]: IDX files (MNIST, Fashion-MNIST), raw or gzip;
//!   [`read_mnist_split`] and [`fashion_mnist_dir`] (Debian path or a configured one).
//! - [`read_cifar`]: CIFAR-10 / CIFAR-100 binary batches.
//! - [`read_tiny_imagenet`]: the Tiny-ImageNet folder layout (JPEG).
//! - [`read_png_folder`] / [`write_png_folder`]: PNGs + `labels.csv` (the
//!   synthetic sets); [`write_grid`] for a picture of a set.
//! - [`download`]: checksummed downloads into a cache, never a half-written file.
//! - [`ImageSet`]: bytes `[N, C, H, W]` + labels.
//! - [`normalize`] (mean 0.5, std 0.5), [`pad_images`] (28 → 32),
//!   [`Augment`] (random crop with padding + horizontal flip);
//!   [`ImageBatcher`] (a Burn `Batcher`) and [`ImageSet::batches`] (in-order
//!   normalised batches) into Burn tensors.
//!
//! # Example
//!
//! ```
//! use privatesnn_data::{ImageSet, pad_images};
//! use burn::tensor::Device;
//!
//! let set = ImageSet { pixels: vec![255; 2 * 28 * 28], labels: vec![3, 1],
//!                      channels: 1, height: 28, width: 28, num_classes: 10 };
//! let padded = pad_images(&set, 2);
//! let device = Device::flex();
//! let batch = padded.batches(64, &device).next().unwrap();
//! assert_eq!(batch.images.dims(), [2, 1, 32, 32]);
//! assert_eq!(batch.targets.dims(), [2]);
//! ```
#![warn(missing_docs)]

mod cifar;
mod dataset;
pub mod download;
mod error;
mod fs;
pub mod idx;
mod loader;
mod mnist;
mod png_folder;
mod tiny_imagenet;
mod transform;

pub use cifar::{Cifar, read_cifar};
pub use dataset::ImageSet;
pub use error::DataError;
pub use fs::atomic_write;
pub use loader::{ImageBatch, ImageBatcher, ImageItem};
pub use mnist::{FASHION_MNIST_DEBIAN_DIR, Split, fashion_mnist_dir, read_mnist_split};
pub use png_folder::{LABELS_FILE, read_png_folder, save_png, write_grid, write_png_folder};
pub use tiny_imagenet::read_tiny_imagenet;
pub use transform::{Augment, normalize, pad_images};
