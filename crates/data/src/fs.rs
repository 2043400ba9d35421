//! Atomic file writes for the data crate's writers.

use std::io::Write;
use std::path::Path;

use crate::DataError;

/// Write `bytes` to `path` through a temporary sibling (`tempfile`), fsync
/// and rename: `path` holds the old or the new bytes, never a mix.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let io = |e| DataError::io(path, e);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
