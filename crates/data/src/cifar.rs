//! CIFAR-10 and CIFAR-100 binary versions.
//!
//! CIFAR-10 (`data_batch_{1..5}.bin`, `test_batch.bin`): records of 1 label
//! byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major 32x32).
//! CIFAR-100 (`train.bin`, `test.bin`): 1 coarse + 1 fine label byte + 3072.

use std::path::Path;

use crate::{DataError, ImageSet};

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR variant a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cifar {
    /// 10 classes, one label byte per record.
    Ten,
    /// 100 fine classes; records carry a coarse then a fine label byte.
    Hundred,
}

impl Cifar {
    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    /// Number of classes (CIFAR-100: fine labels).
    pub fn num_classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    /// The training files in a data directory (`cifar-10-batches-bin/`,
    /// `cifar-100-binary/`).
    pub fn train_files(self) -> Vec<&'static str> {
        match self {
            Cifar::Ten => vec![
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
            ],
            Cifar::Hundred => vec!["train.bin"],
        }
    }

    /// The test file.
    pub fn test_file(self) -> &'static str {
        match self {
            Cifar::Ten => "test_batch.bin",
            Cifar::Hundred => "test.bin",
        }
    }
}

/// Read CIFAR binary files into one set.
pub fn read_cifar(kind: Cifar, files: &[&Path]) -> Result<ImageSet, DataError> {
    let record = kind.label_bytes() + PIXELS;
    let mut set = ImageSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        channels: 3,
        height: 32,
        width: 32,
        num_classes: kind.num_classes(),
    };
    for &path in files {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        if bytes.is_empty() || bytes.len() % record != 0 {
            return Err(DataError::format(
                path,
                format!(
                    "{} bytes is not a whole number of {record}-byte CIFAR-{} records (truncated or wrong variant)",
                    bytes.len(),
                    kind.num_classes()
                ),
            ));
        }
        for (i, rec) in bytes.chunks_exact(record).enumerate() {
            let label = rec[kind.label_bytes() - 1] as usize;
            if label >= kind.num_classes() {
                return Err(DataError::format(
                    path,
                    format!(
                        "record {i}: label {label} out of range 0..{}",
                        kind.num_classes()
                    ),
                ));
            }
            set.labels.push(label);
            set.pixels.extend_from_slice(&rec[kind.label_bytes()..]);
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(labels: &[u8], fill: u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        r.extend((0..PIXELS).map(|i| fill.wrapping_add(i as u8)));
        r
    }

    #[test]
    fn reads_both_variants() {
        let dir = tempfile::tempdir().unwrap();
        let p10 = dir.path().join("data_batch_1.bin");
        std::fs::write(&p10, [record(&[3], 0), record(&[9], 7)].concat()).unwrap();
        let s = read_cifar(Cifar::Ten, &[&p10]).unwrap();
        assert_eq!(s.labels, vec![3, 9]);
        assert_eq!(s.image(1)[0], 7);
        assert_eq!(s.image(1)[1024], 7u8.wrapping_add(0)); // G plane starts at 1024 (1024 % 256 = 0)
        let p100 = dir.path().join("train.bin");
        std::fs::write(&p100, [record(&[1, 42], 0), record(&[19, 99], 1)].concat()).unwrap();
        let s = read_cifar(Cifar::Hundred, &[&p100]).unwrap();
        assert_eq!(s.labels, vec![42, 99]);
        assert_eq!(s.num_classes, 100);
    }

    #[test]
    fn truncated_and_bad_labels_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("test_batch.bin");
        let mut bytes = record(&[1], 0);
        bytes.pop();
        std::fs::write(&p, &bytes).unwrap();
        let e = read_cifar(Cifar::Ten, &[&p]).unwrap_err();
        assert!(
            e.to_string().contains("test_batch.bin") && e.to_string().contains("truncated"),
            "{e}"
        );
        std::fs::write(&p, record(&[10], 0)).unwrap();
        let e = read_cifar(Cifar::Ten, &[&p]).unwrap_err();
        assert!(e.to_string().contains("label 10 out of range"), "{e}");
        // a CIFAR-100 file read as CIFAR-10 does not divide into records
        std::fs::write(&p, record(&[1, 2], 0)).unwrap();
        assert!(read_cifar(Cifar::Ten, &[&p]).is_err());
    }
}
