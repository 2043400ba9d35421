//! Errors of the data crate.

use std::path::PathBuf;

/// What can go wrong reading a data set. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's contents are not what its format requires.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (bad magic, truncated, wrong count, label out of range, ...).
        reason: String,
    },
    /// A download failed or its checksum did not match.
    #[error("download of {url} failed: {reason}")]
    Download {
        /// What was being fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// A data set could not be found; the message says how to get it.
    #[error("{what} not found: {hint}")]
    NotFound {
        /// Which data set.
        what: String,
        /// How to get it.
        hint: String,
    },
}

impl DataError {
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
