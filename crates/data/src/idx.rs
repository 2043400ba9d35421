//! The IDX format of MNIST and Fashion-MNIST (raw or gzip).
//!
//! Header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
//! dimensions, then one big-endian u32 per dimension; then the data, row-major.

use std::io::Read;
use std::path::Path;

use crate::DataError;

/// Largest decompressed size accepted from a gzip file (the biggest IDX
/// file of the MNIST family is 47 MB): a corrupt or hostile header cannot make
/// the reader allocate without bound.
pub const MAX_DECOMPRESSED: u64 = 1 << 32;

/// Read a whole file, transparently gunzipping it when it starts with the
/// gzip magic bytes.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    gunzip_if_gzip(raw, path)
}

/// `bytes` decompressed if they start with the gzip magic, else unchanged;
/// `path` names the source in errors. At most [`MAX_DECOMPRESSED`] bytes.
pub fn gunzip_if_gzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| DataError::format(path, format!("corrupt gzip stream: {e}")))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(DataError::format(
            path,
            format!("decompresses to more than {MAX_DECOMPRESSED} bytes"),
        ));
    }
    Ok(out)
}

/// An IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Parse an IDX file of unsigned bytes (type 0x08).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let bad = |r: String| DataError::format(path, r);
    if bytes.len() < 4 {
        return Err(bad(format!(
            "{} bytes is too short for an IDX header",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "bad IDX magic {:02x}{:02x}{:02x}{:02x} (expected 0000 08 nn)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!(
            "IDX element type 0x{:02x} is not unsigned byte (0x08)",
            bytes[2]
        )));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if rank == 0 || bytes.len() < header {
        return Err(bad(format!("truncated IDX header (rank {rank})")));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let body = bytes.len() - header;
    if body != expected {
        return Err(bad(format!(
            "IDX header {dims:?} announces {expected} bytes of data, file has {body}{}",
            if body < expected {
                " (truncated)"
            } else {
                " (trailing bytes)"
            }
        )));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Serialize an IDX array (used by tests and tools that write small files).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let bytes = encode_idx(&[2, 3, 4], &data);
        let raw = dir.path().join("a-idx3-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        let gz = dir.path().join("a-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for p in [raw, gz] {
            let a = read_idx(&p).unwrap();
            assert_eq!(a.dims, vec![2, 3, 4]);
            assert_eq!(a.data, data);
        }
    }

    #[test]
    fn corrupt_files_are_typed_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("magic", vec![1, 2, 8, 1, 0, 0, 0, 1, 5], "bad IDX magic"),
            (
                "type",
                vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 5],
                "not unsigned byte",
            ),
            ("short", vec![0, 0], "too short"),
            ("truncated", encode_idx(&[3, 2], &[1, 2, 3]), "truncated"),
            ("trailing", encode_idx(&[1], &[1, 2]), "trailing bytes"),
            ("gzip", vec![0x1f, 0x8b, 0, 1, 2], "corrupt gzip"),
        ];
        for (name, bytes, want) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = read_idx(&p).unwrap_err();
            assert!(matches!(e, DataError::Format { .. }), "{name}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(want) && msg.contains(name), "{name}: {msg}");
        }
        let e = read_idx(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }) && e.to_string().contains("absent"));
    }
}
