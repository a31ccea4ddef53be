//! The crate's error type: every variant names what failed (entry path,
//! archive name and byte offset, or the sizes involved).

use std::io;

/// Errors returned by [`crate::Writer`] and [`crate::tar`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing or seeking the target failed.
    #[error("writing the image ({what}): {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An entry is invalid (bad path, bad hard link, ...).
    #[error("{path:?}: {msg}")]
    Entry {
        /// Entry path as given.
        path: String,
        /// Why it was rejected.
        msg: String,
    },
    /// Reading an entry's data failed or returned the wrong length.
    #[error("{path:?}: reading file data: {msg}")]
    Data {
        /// Entry path.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// The filesystem does not fit in the requested size.
    #[error("filesystem does not fit{context}: needs at least {needed} bytes, {available} bytes available")]
    NoSpace {
        /// Bytes the content needs (at least).
        needed: u64,
        /// Bytes available (the fixed size).
        available: u64,
        /// Where it happened, e.g. ` while adding "usr/bin/env"` (may be empty).
        context: String,
    },
    /// A filesystem limit was exceeded (too many inodes, too large, ...).
    #[error("filesystem limit exceeded: {0}")]
    Limit(String),
    /// A tar archive is malformed, truncated or contains an invalid member.
    #[error("{archive}: entry {entry:?} at byte offset {offset}: {msg}")]
    Tar {
        /// Archive name as given by the caller.
        archive: String,
        /// Member name ("" when the header itself could not be read).
        entry: String,
        /// Byte offset of the member's header in the (decompressed) stream.
        offset: u64,
        /// What went wrong.
        msg: String,
    },
    /// An archive file could not be opened or its compression not decoded.
    #[error("{path}: {msg}")]
    Archive {
        /// Archive path.
        path: String,
        /// What went wrong.
        msg: String,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
    pub(crate) fn entry(path: &str, msg: impl Into<String>) -> Self {
        Error::Entry {
            path: path.to_string(),
            msg: msg.into(),
        }
    }
}
