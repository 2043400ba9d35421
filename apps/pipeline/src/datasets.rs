//! The real data set named by `[data]`, prepared for the model of `[model]`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use privatesnn_data::download::{FASHION_MNIST_FILES, default_cache_dir, fetch_files};
use privatesnn_data::{
    Cifar, ImageSet, Split, fashion_mnist_dir, pad_images, read_cifar, read_mnist_split,
    read_tiny_imagenet,
};

use crate::config::{Dataset, ExperimentConfig};

/// Where Fashion-MNIST is: the configured or Debian directory, else (with
/// `download = true`) the cache, downloading it there if needed.
fn fashion_mnist(exp: &ExperimentConfig) -> Result<PathBuf> {
    let data = &exp.data;
    let found = fashion_mnist_dir(data.dir.as_deref());
    match found {
        Ok(dir) => Ok(dir),
        Err(e) => {
            let cache = data
                .cache_dir
                .clone()
                .unwrap_or_else(default_cache_dir)
                .join("fashion-mnist");
            if let Ok(dir) = fashion_mnist_dir(Some(&cache)) {
                return Ok(dir);
            }
            if !data.download {
                bail!(
                    "{e}\n  or set `download = true` in [data] to fetch it (SHA-256 checked) into {}",
                    cache.display()
                );
            }
            fetch_files(&cache, &FASHION_MNIST_FILES, &data.mirrors, |m| {
                eprintln!("{m}")
            })
            .with_context(|| {
                format!(
                    "Fashion-MNIST is not installed and could not be downloaded into {}; \
                     install it with `sudo apt-get install -y dataset-fashion-mnist`, or put \
                     train/t10k-images-idx3-ubyte.gz and train/t10k-labels-idx1-ubyte.gz from \
                     https://github.com/zalandoresearch/fashion-mnist into that directory",
                    cache.display()
                )
            })
        }
    }
}

fn need_dir(exp: &ExperimentConfig) -> Result<PathBuf> {
    exp.data.dir.clone().with_context(|| {
        format!(
            "data set `{}` needs `dir` in [data] (no registry here ships it)",
            exp.data.dataset
        )
    })
}

/// Read `split` of the configured data set, check it against `[model]`,
/// pad it to the model's input size and apply the configured limit.
pub fn load(exp: &ExperimentConfig, split: Split) -> Result<ImageSet> {
    let set = match exp.data.dataset {
        Dataset::FashionMnist => read_mnist_split(&fashion_mnist(exp)?, split, 10)?,
        Dataset::Mnist => read_mnist_split(&need_dir(exp)?, split, 10)?,
        Dataset::Cifar10 | Dataset::Cifar100 => {
            let kind = if exp.data.dataset == Dataset::Cifar10 {
                Cifar::Ten
            } else {
                Cifar::Hundred
            };
            let dir = need_dir(exp)?;
            let names = match split {
                Split::Train => kind.train_files(),
                Split::Test => vec![kind.test_file()],
            };
            let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
            let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            read_cifar(kind, &refs)?
        }
        Dataset::TinyImagenet => read_tiny_imagenet(&need_dir(exp)?, split, None)?,
    };
    prepare(set, exp, split)
}

fn prepare(set: ImageSet, exp: &ExperimentConfig, split: Split) -> Result<ImageSet> {
    let m = &exp.model;
    if set.channels != m.in_channels {
        bail!(
            "{} has {} channel(s) but [model] in_channels = {}",
            exp.data.dataset,
            set.channels,
            m.in_channels
        );
    }
    if set.num_classes != m.num_classes {
        bail!(
            "{} has {} classes but [model] num_classes = {}",
            exp.data.dataset,
            set.num_classes,
            m.num_classes
        );
    }
    let set = if set.height == m.image_size && set.width == m.image_size {
        set
    } else if set.height == set.width
        && set.height < m.image_size
        && (m.image_size - set.height).is_multiple_of(2)
    {
        pad_images(&set, (m.image_size - set.height) / 2)
    } else {
        bail!(
            "{} images are {}x{}, which cannot be padded to [model] image_size = {}",
            exp.data.dataset,
            set.height,
            set.width,
            m.image_size
        );
    };
    let limit = match split {
        Split::Train => exp.data.train_limit,
        Split::Test => exp.data.test_limit,
    };
    Ok(if limit > 0 { set.take(limit) } else { set })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: usize, hw: usize, classes: usize) -> ImageSet {
        ImageSet {
            pixels: vec![7; 3 * c * hw * hw],
            labels: vec![0, 1, 2],
            channels: c,
            height: hw,
            width: hw,
            num_classes: classes,
        }
    }

    fn exp(extra: &str) -> ExperimentConfig {
        ExperimentConfig::parse(&format!("[model]\nin_channels = 1\n{extra}"), "t").unwrap()
    }

    #[test]
    fn prepare_pads_limits_and_refuses_mismatches() {
        let e = exp("[data]\ntrain_limit = 2\n");
        let p = prepare(set(1, 28, 10), &e, Split::Train).unwrap();
        assert_eq!((p.len(), p.height, p.width), (2, 32, 32));
        assert_eq!(prepare(set(1, 28, 10), &e, Split::Test).unwrap().len(), 3);
        let err = prepare(set(3, 32, 10), &e, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 channel(s) but [model] in_channels = 1"),
            "{err}"
        );
        let err = prepare(set(1, 32, 100), &e, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("100 classes"), "{err}");
        let err = prepare(set(1, 27, 10), &e, Split::Test)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be padded"), "{err}");
    }

    #[test]
    fn data_sets_without_a_registry_need_a_dir() {
        let e = exp("[data]\ndataset = \"cifar10\"\n");
        let err = load(&e, Split::Test).unwrap_err().to_string();
        assert!(err.contains("needs `dir` in [data]"), "{err}");
    }
}
