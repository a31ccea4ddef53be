//! The one error type of this crate: every variant names what was being done and where.

use std::io;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from partition tables, FAT volumes and filesystem probing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error while doing `what` at byte `offset` of the image (or window).
    #[error("{what} at byte offset {offset}: {source}")]
    Io {
        /// What was being done ("writing backup GPT", "reading ext4 superblock", ...).
        what: String,
        /// Byte offset of the access, relative to the stream handed in.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// gptman refused or failed.
    #[error("GPT: {what}: {source}")]
    Gpt {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: gptman::Error,
    },
    /// mbrman refused or failed.
    #[error("MBR: {what}: {source}")]
    Mbr {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: mbrman::Error,
    },
    /// A partition layout that cannot be written (overlap, out of range, bad size).
    #[error("invalid partition layout: {0}")]
    Layout(String),
    /// A FAT volume operation failed on `path` inside the volume.
    #[error("FAT volume: {what} {path:?}: {source}")]
    Fat {
        /// What was being done ("creating", "reading", "formatting", ...).
        what: &'static str,
        /// Path inside the volume ("/" for the volume itself).
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A host file given as a FAT source could not be read.
    #[error("reading source file {path}: {source}")]
    Source {
        /// Host path.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An ext4 filesystem could not be read.
    #[error("ext4: {what} {path:?}: {source}")]
    Ext4 {
        /// What was being done.
        what: &'static str,
        /// Path inside the filesystem.
        path: String,
        /// The underlying error.
        #[source]
        source: ext4_view::Ext4Error,
    },
    /// A bad argument (label too long, duplicate path, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(what: impl Into<String>, offset: u64, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            offset,
            source,
        }
    }
}
