//! A folder of PNG images with a `labels.csv` file: the format in which the
//! synthesis stage writes its data sets and later stages read them back.
//!
//! Layout:
//!
//! ```text
//! <dir>/labels.csv      header `file,label`, then one `NNNNNN.png,<class>` row per image
//! <dir>/NNNNNN.png      8-bit grayscale (1 channel) or RGB (3 channels), all the same size
//! ```

use std::fmt::Write as _;
use std::path::Path;

use crate::{DataError, ImageSet};

/// The labels file's name inside a PNG folder.
pub const LABELS_FILE: &str = "labels.csv";

/// Write `set` into `dir` as PNGs plus [`LABELS_FILE`], replacing any
/// folder already there.
///
/// The folder is written as a temporary sibling (`<dir>.tmp-<pid>`) and
/// renamed into place only when complete: a failure part-way leaves the
/// previous folder untouched and no half-written one behind.
pub fn write_png_folder(dir: &Path, set: &ImageSet) -> Result<(), DataError> {
    if set.channels != 1 && set.channels != 3 {
        return Err(DataError::format(
            dir,
            format!("PNG folders hold 1 or 3 channels, not {}", set.channels),
        ));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| DataError::format(dir, "a PNG folder needs a name"))?
        .to_string_lossy()
        .into_owned();
    let sibling = |tag: &str| dir.with_file_name(format!("{name}.{tag}-{}", std::process::id()));
    let tmp = sibling("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| {
        std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let mut csv = String::from("file,label\n");
        for i in 0..set.len() {
            let file = format!("{i:06}.png");
            let path = tmp.join(&file);
            let bytes = encode_png(&path, set.image(i), set.channels, set.height, set.width)?;
            std::fs::write(&path, bytes).map_err(|e| DataError::io(&path, e))?;
            let _ = writeln!(csv, "{file},{}", set.labels[i]);
        }
        write_atomic(&tmp.join(LABELS_FILE), csv.as_bytes())?;
        // Swap: the old folder (if any) moves aside, the new one into place.
        let old = sibling("old");
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(dir, &old).map_err(|e| DataError::io(dir, e))?;
        }
        if let Err(e) = std::fs::rename(&tmp, dir) {
            if had_old {
                let _ = std::fs::rename(&old, dir);
            }
            return Err(DataError::io(dir, e));
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Write `bytes` to `path` through a temporary sibling, fsync and rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    crate::fs::atomic_write(path, bytes)
}

/// Encode one `[C, H, W]` byte image (C = 1 or 3) as PNG bytes.
fn encode_png(
    path: &Path,
    chw: &[u8],
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Vec<u8>, DataError> {
    let hw = height * width;
    let (w, h) = (width as u32, height as u32);
    let mut out = std::io::Cursor::new(Vec::new());
    let result = if channels == 1 {
        image::GrayImage::from_raw(w, h, chw[..hw].to_vec())
            .ok_or_else(|| DataError::format(path, "image buffer too small"))?
            .write_to(&mut out, image::ImageFormat::Png)
    } else {
        let mut hwc = vec![0u8; 3 * hw];
        for p in 0..hw {
            for c in 0..3 {
                hwc[3 * p + c] = chw[c * hw + p];
            }
        }
        image::RgbImage::from_raw(w, h, hwc)
            .ok_or_else(|| DataError::format(path, "image buffer too small"))?
            .write_to(&mut out, image::ImageFormat::Png)
    };
    result.map_err(|e| DataError::format(path, format!("cannot encode PNG: {e}")))?;
    Ok(out.into_inner())
}

/// Save one `[C, H, W]` byte image as PNG (C = 1 or 3), atomically.
pub fn save_png(
    path: &Path,
    chw: &[u8],
    channels: usize,
    height: usize,
    width: usize,
) -> Result<(), DataError> {
    let bytes = encode_png(path, chw, channels, height, width)?;
    write_atomic(path, &bytes)
}

/// Decode an image file (PNG or JPEG) into `[C, H, W]` bytes with `channels`
/// = 1 (grayscale) or 3 (RGB), checking its size when `expect` is given.
pub(crate) fn load_chw(
    path: &Path,
    channels: usize,
    expect: Option<(usize, usize)>,
) -> Result<(Vec<u8>, usize, usize), DataError> {
    let img = image::open(path)
        .map_err(|e| DataError::format(path, format!("cannot decode image: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if let Some((eh, ew)) = expect
        && (eh, ew) != (h, w)
    {
        return Err(DataError::format(
            path,
            format!("image is {h}x{w}, expected {eh}x{ew} like the others"),
        ));
    }
    let hw = h * w;
    let chw = if channels == 1 {
        img.to_luma8().into_raw()
    } else {
        let hwc = img.to_rgb8().into_raw();
        let mut chw = vec![0u8; 3 * hw];
        for p in 0..hw {
            for c in 0..3 {
                chw[c * hw + p] = hwc[3 * p + c];
            }
        }
        chw
    };
    Ok((chw, h, w))
}

/// Read a PNG folder written by [`write_png_folder`] (or by hand).
///
/// The channel count is taken from the first image (grayscale → 1, anything
/// else → 3); every image must have the first one's size, every label must be
/// below `num_classes`, and every listed file must exist.
pub fn read_png_folder(dir: &Path, num_classes: usize) -> Result<ImageSet, DataError> {
    let labels_path = dir.join(LABELS_FILE);
    if !labels_path.is_file() {
        return Err(DataError::NotFound {
            what: format!("PNG folder {}", dir.display()),
            hint: format!(
                "no {LABELS_FILE}; write the folder with `pipeline synthesize` or \
                 privatesnn_data::write_png_folder"
            ),
        });
    }
    let text = std::fs::read_to_string(&labels_path).map_err(|e| DataError::io(&labels_path, e))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && line == "file,label") {
            continue;
        }
        let bad = || {
            DataError::format(
                &labels_path,
                format!("line {}: expected `file,label`, got `{line}`", n + 1),
            )
        };
        let (file, label) = line.rsplit_once(',').ok_or_else(bad)?;
        let label: usize = label.trim().parse().map_err(|_| bad())?;
        if label >= num_classes {
            return Err(DataError::format(
                &labels_path,
                format!(
                    "line {}: label {label} out of range 0..{num_classes}",
                    n + 1
                ),
            ));
        }
        rows.push((file.trim().to_string(), label));
    }
    if rows.is_empty() {
        return Err(DataError::format(&labels_path, "no images listed"));
    }
    let first = dir.join(&rows[0].0);
    let channels = match image::ImageReader::open(&first)
        .map_err(|e| DataError::io(&first, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(&first, e))?
        .decode()
    {
        Ok(img) if img.color().channel_count() <= 2 => 1,
        Ok(_) => 3,
        Err(e) => {
            return Err(DataError::format(
                &first,
                format!("cannot decode image: {e}"),
            ));
        }
    };
    let mut pixels = Vec::new();
    let mut size = None;
    for (file, _) in &rows {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(DataError::format(
                &labels_path,
                format!("lists {file}, which does not exist"),
            ));
        }
        let (chw, h, w) = load_chw(&path, channels, size)?;
        size = Some((h, w));
        pixels.extend_from_slice(&chw);
    }
    let (height, width) = size.unwrap_or((0, 0));
    Ok(ImageSet {
        pixels,
        labels: rows.into_iter().map(|(_, l)| l).collect(),
        channels,
        height,
        width,
        num_classes,
    })
}

/// Write the images `indices` of `set` as one PNG grid of `cols` columns with
/// a 2-pixel gap, each image scaled up by the integer `scale`.
pub fn write_grid(
    path: &Path,
    set: &ImageSet,
    indices: &[usize],
    cols: usize,
    scale: usize,
) -> Result<(), DataError> {
    let (c, h, w) = (set.channels, set.height, set.width);
    let cols = cols.max(1).min(indices.len().max(1));
    let rows = indices.len().div_ceil(cols).max(1);
    let gap = 2;
    let (cell_h, cell_w) = (h * scale + gap, w * scale + gap);
    let (gh, gw) = (rows * cell_h + gap, cols * cell_w + gap);
    let mut grid = vec![255u8; c * gh * gw];
    for (k, &i) in indices.iter().enumerate() {
        let img = set.image(i);
        let (oy, ox) = (gap + (k / cols) * cell_h, gap + (k % cols) * cell_w);
        for ch in 0..c {
            for y in 0..h * scale {
                for x in 0..w * scale {
                    grid[ch * gh * gw + (oy + y) * gw + ox + x] =
                        img[ch * h * w + (y / scale) * w + x / scale];
                }
            }
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    save_png(path, &grid, c, gh, gw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: usize) -> ImageSet {
        ImageSet {
            pixels: (0..5 * c * 6 * 4).map(|i| (i * 7 % 256) as u8).collect(),
            labels: vec![0, 4, 2, 2, 1],
            channels: c,
            height: 6,
            width: 4,
            num_classes: 5,
        }
    }

    #[test]
    fn round_trip_gray_and_rgb() {
        for c in [1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let s = set(c);
            write_png_folder(dir.path(), &s).unwrap();
            assert!(!dir.path().join("labels.csv.part").exists());
            let back = read_png_folder(dir.path(), 5).unwrap();
            assert_eq!(back, s);
        }
    }

    /// Issue 9: a synthesis that failed part-way left new PNGs among the old
    /// ones under the old labels file. A failed write must leave the old
    /// folder exactly as it was, and no temporary folder behind.
    #[test]
    fn issue9_a_failed_rewrite_leaves_the_old_folder_whole() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("synthetic");
        let old = set(1);
        write_png_folder(&dir, &old).unwrap();
        // Block the temporary folder with a file: the rewrite fails.
        let tmp = root
            .path()
            .join(format!("synthetic.tmp-{}", std::process::id()));
        std::fs::write(&tmp, b"in the way").unwrap();
        let mut new = set(1);
        new.labels = vec![1, 1, 1, 1, 1];
        assert!(write_png_folder(&dir, &new).is_err());
        assert_eq!(read_png_folder(&dir, 5).unwrap(), old);
        std::fs::remove_file(&tmp).unwrap();
        // A successful rewrite replaces the folder and leaves nothing else.
        write_png_folder(&dir, &new).unwrap();
        assert_eq!(read_png_folder(&dir, 5).unwrap(), new);
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("synthetic")]);
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_png_folder(dir.path(), 5).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }), "{e}");

        write_png_folder(dir.path(), &set(1)).unwrap();
        // Label out of range for a 3-class read.
        let e = read_png_folder(dir.path(), 3).unwrap_err().to_string();
        assert!(e.contains("label 4 out of range 0..3"), "{e}");
        // Missing image.
        std::fs::remove_file(dir.path().join("000003.png")).unwrap();
        let e = read_png_folder(dir.path(), 5).unwrap_err().to_string();
        assert!(e.contains("000003.png, which does not exist"), "{e}");
        // Corrupt image.
        std::fs::write(dir.path().join("000003.png"), b"not a png").unwrap();
        let e = read_png_folder(dir.path(), 5).unwrap_err().to_string();
        assert!(
            e.contains("000003.png") && e.contains("cannot decode"),
            "{e}"
        );
        // Wrong size.
        save_png(&dir.path().join("000003.png"), &[0; 9], 1, 3, 3).unwrap();
        let e = read_png_folder(dir.path(), 5).unwrap_err().to_string();
        assert!(e.contains("3x3, expected 6x4"), "{e}");
        // Malformed row.
        std::fs::write(dir.path().join("labels.csv"), "file,label\n000000.png;2\n").unwrap();
        let e = read_png_folder(dir.path(), 5).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn grid_has_expected_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let s = set(1);
        let p = dir.path().join("g/grid.png");
        write_grid(&p, &s, &[0, 1, 2], 2, 3).unwrap();
        let img = image::open(&p).unwrap().to_luma8();
        // 2 columns of 4*3 + gap, 2 rows of 6*3 + gap, plus the outer gap.
        assert_eq!((img.width(), img.height()), (2 * 14 + 2, 2 * 20 + 2));
        // Top-left pixel of image 1 (column 1): starts at x = 2 + 14.
        assert_eq!(img.get_pixel(16, 2).0[0], s.image(1)[0]);
        // Gap stays white.
        assert_eq!(img.get_pixel(0, 0).0[0], 255);
    }
}
