//! Tiny-ImageNet (200 classes, 64×64 RGB) from its unpacked folder layout:
//!
//! ```text
//! <root>/wnids.txt                       class ids, one per line (defines the label order)
//! <root>/train/<wnid>/images/*.JPEG      500 training images per class
//! <root>/val/val_annotations.txt         `<file>\t<wnid>\t...` per validation image
//! <root>/val/images/*.JPEG               10,000 validation images
//! ```
//!
//! The official test split has no labels, so [`Split::Test`] reads `val/`, as
//! the paper's code does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::png_folder::load_chw;
use crate::{DataError, ImageSet, Split};

fn read_text(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))
}

/// Read one split of Tiny-ImageNet from `root`, keeping at most `per_class`
/// images of each class when given (the first ones in file-name order).
pub fn read_tiny_imagenet(
    root: &Path,
    split: Split,
    per_class: Option<usize>,
) -> Result<ImageSet, DataError> {
    let wnids_path = root.join("wnids.txt");
    if !wnids_path.is_file() {
        return Err(DataError::NotFound {
            what: format!("Tiny-ImageNet in {}", root.display()),
            hint: "expected wnids.txt, train/ and val/ from tiny-imagenet-200.zip \
                   (http://cs231n.stanford.edu/tiny-imagenet-200.zip); set `[data] dir`"
                .into(),
        });
    }
    let wnids: Vec<String> = read_text(&wnids_path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if wnids.is_empty() {
        return Err(DataError::format(&wnids_path, "no class ids"));
    }
    let class_of: HashMap<&str, usize> = wnids
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i))
        .collect();
    let mut files: Vec<(PathBuf, usize)> = Vec::new();
    match split {
        Split::Train => {
            for (label, wnid) in wnids.iter().enumerate() {
                let dir = root.join("train").join(wnid).join("images");
                let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map_err(|e| DataError::io(&dir, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                if names.is_empty() {
                    return Err(DataError::format(
                        &dir,
                        format!("no images for class {wnid}"),
                    ));
                }
                names.sort();
                names.truncate(per_class.unwrap_or(usize::MAX));
                files.extend(names.into_iter().map(|p| (p, label)));
            }
        }
        Split::Test => {
            let ann = root.join("val").join("val_annotations.txt");
            let mut count = vec![0usize; wnids.len()];
            for (n, line) in read_text(&ann)?.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let mut cols = line.split('\t');
                let (Some(file), Some(wnid)) = (cols.next(), cols.next()) else {
                    return Err(DataError::format(
                        &ann,
                        format!("line {}: expected `<file>\\t<wnid>`", n + 1),
                    ));
                };
                let &label = class_of.get(wnid.trim()).ok_or_else(|| {
                    DataError::format(
                        &ann,
                        format!("line {}: class {wnid} is not in wnids.txt", n + 1),
                    )
                })?;
                if count[label] < per_class.unwrap_or(usize::MAX) {
                    count[label] += 1;
                    files.push((root.join("val").join("images").join(file.trim()), label));
                }
            }
        }
    }
    let mut pixels = Vec::with_capacity(files.len() * 3 * 64 * 64);
    let mut size = None;
    for (path, _) in &files {
        if !path.is_file() {
            return Err(DataError::NotFound {
                what: path.display().to_string(),
                hint: "the Tiny-ImageNet folder is incomplete; unpack the archive again".into(),
            });
        }
        let (chw, h, w) = load_chw(path, 3, size)?;
        size = Some((h, w));
        pixels.extend_from_slice(&chw);
    }
    let (height, width) = size.unwrap_or((64, 64));
    Ok(ImageSet {
        pixels,
        labels: files.into_iter().map(|(_, l)| l).collect(),
        channels: 3,
        height,
        width,
        num_classes: wnids.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(path: &Path, v: u8) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(8, 8, image::Rgb([v, v, v]))
            .save(path)
            .unwrap();
    }

    fn layout(root: &Path) {
        std::fs::write(root.join("wnids.txt"), "n01\nn02\n").unwrap();
        for (k, w) in ["n01", "n02"].iter().enumerate() {
            for i in 0..3 {
                jpeg(
                    &root.join(format!("train/{w}/images/{w}_{i}.JPEG")),
                    40 * k as u8 + 10,
                );
            }
        }
        jpeg(&root.join("val/images/val_0.JPEG"), 200);
        jpeg(&root.join("val/images/val_1.JPEG"), 100);
        std::fs::write(
            root.join("val/val_annotations.txt"),
            "val_0.JPEG\tn02\t0\t0\t8\t8\nval_1.JPEG\tn01\t0\t0\t8\t8\n",
        )
        .unwrap();
    }

    #[test]
    fn reads_train_and_val() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path());
        let train = read_tiny_imagenet(dir.path(), Split::Train, None).unwrap();
        assert_eq!(train.len(), 6);
        assert_eq!(train.labels, vec![0, 0, 0, 1, 1, 1]);
        assert_eq!((train.channels, train.height, train.width), (3, 8, 8));
        assert_eq!(train.num_classes, 2);
        // JPEG is lossy, but a flat image decodes to (nearly) its value.
        assert!(train.image(4).iter().all(|&p| (p as i32 - 50).abs() <= 2));
        let limited = read_tiny_imagenet(dir.path(), Split::Train, Some(2)).unwrap();
        assert_eq!(limited.labels, vec![0, 0, 1, 1]);
        let val = read_tiny_imagenet(dir.path(), Split::Test, None).unwrap();
        assert_eq!(val.labels, vec![1, 0]);
        assert!(val.image(0).iter().all(|&p| (p as i32 - 200).abs() <= 2));
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_tiny_imagenet(dir.path(), Split::Train, None).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }), "{e}");
        layout(dir.path());
        std::fs::write(
            dir.path().join("val/val_annotations.txt"),
            "val_0.JPEG\tn99\t0\n",
        )
        .unwrap();
        let e = read_tiny_imagenet(dir.path(), Split::Test, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("class n99 is not in wnids.txt"), "{e}");
        std::fs::write(dir.path().join("train/n02/images/n02_1.JPEG"), b"garbage").unwrap();
        let e = read_tiny_imagenet(dir.path(), Split::Train, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("n02_1.JPEG") && e.contains("cannot decode"),
            "{e}"
        );
    }
}
