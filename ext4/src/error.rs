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
    #[error("{}: {msg}", quote(path))]
    Entry {
        /// Entry path as given.
        path: String,
        /// Why it was rejected.
        msg: String,
    },
    /// Reading an entry's data failed or returned the wrong length.
    #[error("{}: reading file data: {msg}", quote(path))]
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
    #[error("{archive}: {}: {msg}", position(entry, *offset))]
    Tar {
        /// Archive name as given by the caller.
        archive: String,
        /// Member name ("" when the header itself could not be read; the
        /// message then says where).
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

/// Most characters of a path an error quotes; longer ones lose their middle.
const SHOWN_CHARS: usize = 200;

/// `path` cut to about [`SHOWN_CHARS`] characters, with an ellipsis where
/// the middle was.
pub(crate) fn cut(path: &str) -> String {
    let n = path.chars().count();
    if n <= SHOWN_CHARS {
        return path.to_string();
    }
    let head: String = path.chars().take(SHOWN_CHARS * 2 / 3).collect();
    let tail: String = path.chars().skip(n - SHOWN_CHARS / 3).collect();
    format!("{head}…{tail}")
}

/// `path` cut and quoted, for messages.
pub(crate) fn quote(path: &str) -> String {
    format!("{:?}", cut(path))
}

/// Where in an archive: the entry (when known) and the byte offset.
fn position(entry: &str, offset: u64) -> String {
    if entry.is_empty() {
        format!("byte offset {offset}")
    } else {
        format!("entry {} at byte offset {offset}", quote(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_in_the_middle() {
        let long = format!("{}/end", "a/".repeat(100_000));
        let shown = quote(&long);
        assert!(shown.len() < 300, "{} bytes", shown.len());
        assert!(shown.starts_with("\"a/a/") && shown.ends_with("a//end\""));
        assert!(shown.contains('…'));
        assert_eq!(quote("usr/bin/env"), "\"usr/bin/env\"");
        let e = Error::Tar {
            archive: "x.tar".into(),
            entry: long,
            offset: 7,
            msg: "bad".into(),
        };
        assert!(e.to_string().len() < 350, "{e}");
    }
}
