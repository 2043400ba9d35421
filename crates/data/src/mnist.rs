//! MNIST-family sets (MNIST, Fashion-MNIST) from their IDX files.

use std::path::{Path, PathBuf};

use crate::idx::read_idx;
use crate::{DataError, ImageSet};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Train or test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training split (60,000 images).
    Train,
    /// The test split (10,000 images).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Find `<prefix>-<kind>-idx?-ubyte[.gz]` in `dir`.
fn find(dir: &Path, split: Split, kind: &str) -> Option<PathBuf> {
    let rank = if kind == "images" { 3 } else { 1 };
    let base = format!("{}-{kind}-idx{rank}-ubyte", split.prefix());
    [
        format!("{base}.gz"),
        base.clone(),
        base.replace("-idx", ".idx"),
    ]
    .into_iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

/// Read one split of an MNIST-family set from `dir`.
///
/// Checks that the images are `[N, rows, cols]`, the labels `[N]` with the same
/// `N`, and every label below `num_classes`.
pub fn read_mnist_split(
    dir: &Path,
    split: Split,
    num_classes: usize,
) -> Result<ImageSet, DataError> {
    let missing = |kind: &str| DataError::NotFound {
        what: format!("{} {kind} in {}", split.prefix(), dir.display()),
        hint: format!(
            "expected {}-{kind}-idx{}-ubyte[.gz]",
            split.prefix(),
            if kind == "images" { 3 } else { 1 }
        ),
    };
    let img_path = find(dir, split, "images").ok_or_else(|| missing("images"))?;
    let lbl_path = find(dir, split, "labels").ok_or_else(|| missing("labels"))?;
    let images = read_idx(&img_path)?;
    let labels = read_idx(&lbl_path)?;
    if images.dims.len() != 3 {
        return Err(DataError::format(
            &img_path,
            format!(
                "image file has dimensions {:?}, expected [N, rows, cols]",
                images.dims
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(DataError::format(
            &lbl_path,
            format!("label file has dimensions {:?}, expected [N]", labels.dims),
        ));
    }
    if labels.dims[0] != images.dims[0] {
        return Err(DataError::format(
            &lbl_path,
            format!(
                "{} labels for {} images in {}",
                labels.dims[0],
                images.dims[0],
                img_path.display()
            ),
        ));
    }
    if let Some((i, &l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= num_classes)
    {
        return Err(DataError::format(
            &lbl_path,
            format!("label {l} of image {i} out of range 0..{num_classes}"),
        ));
    }
    Ok(ImageSet {
        pixels: images.data,
        labels: labels.data.iter().map(|&l| l as usize).collect(),
        channels: 1,
        height: images.dims[1],
        width: images.dims[2],
        num_classes,
    })
}

/// Locate Fashion-MNIST: the configured directory if given, else the Debian
/// package's. The error says how to get the files.
pub fn fashion_mnist_dir(configured: Option<&Path>) -> Result<PathBuf, DataError> {
    let candidates: Vec<PathBuf> = match configured {
        Some(p) => vec![p.to_path_buf()],
        None => vec![PathBuf::from(FASHION_MNIST_DEBIAN_DIR)],
    };
    for dir in &candidates {
        if find(dir, Split::Train, "images").is_some() && find(dir, Split::Test, "labels").is_some()
        {
            return Ok(dir.clone());
        }
    }
    Err(DataError::NotFound {
        what: format!("Fashion-MNIST (looked in {})", candidates[0].display()),
        hint: "install it with `sudo apt-get install -y dataset-fashion-mnist` (files land in \
               /usr/share/datasets/fashion-mnist), or download train/t10k-images-idx3-ubyte.gz and \
               train/t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist \
               and set `[data] dir` in the config"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    fn write_set(dir: &Path, split: Split, n: usize, labels: &[u8]) {
        let p = split.prefix();
        let px: Vec<u8> = (0..n * 4 * 3).map(|i| i as u8).collect();
        std::fs::write(
            dir.join(format!("{p}-images-idx3-ubyte")),
            encode_idx(&[n, 4, 3], &px),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{p}-labels-idx1-ubyte")),
            encode_idx(&[labels.len()], labels),
        )
        .unwrap();
    }

    #[test]
    fn reads_a_small_split() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), Split::Test, 2, &[7, 1]);
        let s = read_mnist_split(dir.path(), Split::Test, 10).unwrap();
        assert_eq!((s.len(), s.channels, s.height, s.width), (2, 1, 4, 3));
        assert_eq!(s.labels, vec![7, 1]);
        assert_eq!(s.image(1)[0], 12);
    }

    #[test]
    fn mismatched_counts_and_bad_labels_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), Split::Train, 3, &[1, 2]);
        let e = read_mnist_split(dir.path(), Split::Train, 10).unwrap_err();
        assert!(e.to_string().contains("2 labels for 3 images"), "{e}");
        write_set(dir.path(), Split::Train, 2, &[1, 12]);
        let e = read_mnist_split(dir.path(), Split::Train, 10).unwrap_err();
        assert!(
            e.to_string().contains("label 12 of image 1 out of range"),
            "{e}"
        );
        let e = read_mnist_split(dir.path(), Split::Test, 10).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }), "{e}");
    }

    #[test]
    fn missing_data_set_says_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = fashion_mnist_dir(Some(dir.path())).unwrap_err();
        assert!(
            e.to_string()
                .contains("apt-get install -y dataset-fashion-mnist"),
            "{e}"
        );
    }
}
