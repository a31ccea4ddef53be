//! The one error type of this crate: every variant names the path inside the volume.

use std::io;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a FAT volume, or a file on it, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading failed, or the volume's structures are damaged, while doing `what` on
    /// `path`.
    #[error("FAT volume: {what} {path:?}: {source}")]
    Fat {
        /// What was being done ("mounting", "listing", "reading", ...).
        what: &'static str,
        /// Path inside the volume ("/" for the volume itself).
        path: String,
        /// The underlying error (`InvalidData` for damage).
        #[source]
        source: io::Error,
    },
    /// A component of `path` is not in its directory.
    #[error("FAT volume: opening {path:?}: no {part:?} in its directory")]
    NotFound {
        /// The path asked for.
        path: String,
        /// The component that is missing.
        part: String,
    },
    /// A file is larger than the caller allows.
    #[error("{path:?} is {size} bytes, more than the {limit} this reads")]
    TooLarge {
        /// Path inside the volume.
        path: String,
        /// Its recorded size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A path with an empty, `.` or `..` component.
    #[error("bad path {path:?} for a FAT volume (empty, '.' or '..' component)")]
    BadPath {
        /// The path given.
        path: String,
    },
}

/// An `InvalidData` error: the volume's structures are damaged.
pub(crate) fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Wraps an I/O error as [`Error::Fat`] for `what` on `path`.
pub(crate) fn fat_err(what: &'static str, path: &str) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_string();
    move |source| Error::Fat { what, path, source }
}
