//! The crate's one error type: every variant names the file and, where it
//! matters, the offset.

use std::path::PathBuf;

use crate::Format;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the format writers and readers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on `path` (at `offset` when known).
    #[error("{}{}: {source}", path.display(), offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Io {
        /// The file.
        path: PathBuf,
        /// Byte offset, when known.
        offset: Option<u64>,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a valid image of the format it claims.
    #[error("{}{}: {what}", path.display(), offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Byte offset, when known.
        offset: Option<u64>,
        /// What is wrong, and the fix when there is one.
        what: String,
    },
    /// The format cannot hold this disk (too large, wrong size).
    #[error("{}: cannot write it as {format}: {why}", path.display())]
    Unsuitable {
        /// The output file.
        path: PathBuf,
        /// The format.
        format: Format,
        /// Why, and the fix.
        why: String,
    },
    /// The format has no writer in this version.
    #[error("{}: writing {format} is not implemented yet", path.display())]
    NotImplemented {
        /// The format.
        format: Format,
        /// The output file.
        path: PathBuf,
    },
}

impl Error {
    /// An I/O error on `path` at `offset`.
    pub fn io(path: impl Into<PathBuf>, offset: Option<u64>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            offset,
            source,
        }
    }

    /// `path` is not a valid image: `what`.
    pub fn invalid(
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        what: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            path: path.into(),
            offset,
            what: what.into(),
        }
    }
}
