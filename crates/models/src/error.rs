//! Errors of the models crate.

use std::path::PathBuf;

/// What can go wrong building, saving or loading a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A configuration field has an invalid value.
    #[error("invalid model config: `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model holds a NaN or infinite weight (refused on save and on load).
    #[error("{}: weight `{what}` holds NaN or infinite values (a diverged training?); refusing to use it", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The offending tensor.
        what: String,
    },
    /// A model file exists but is not a valid model of the expected kind.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl ModelError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}
