//! The one error type of this crate: every variant names what was being done and where.

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use crate::damage::{GptFaults, MbrFault};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a path is, when it is not a disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A FIFO (named pipe).
    Fifo,
    /// A character device (`/dev/null`, a tty).
    CharDevice,
    /// A Unix socket.
    Socket,
    /// Anything else the platform reports.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "directory",
            FileKind::Fifo => "FIFO (named pipe)",
            FileKind::CharDevice => "character device",
            FileKind::Socket => "socket",
            FileKind::Other => "special file",
        })
    }
}

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
    /// An image path that is not a regular file or a block device.
    #[error("{}: is a {kind}, not a disk image; give a regular file or a block device", path.display())]
    NotADisk {
        /// The path given.
        path: PathBuf,
        /// What it is instead.
        kind: FileKind,
    },
    /// An image path that cannot be examined or opened (the cause is the error's source).
    #[error("{}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Neither copy of the GPT header can be used.
    #[error(
        "{faults}{}",
        if *protective {
            "; LBA 0 holds a protective MBR (type 0xee), so this is a GPT disk whose \
             partition table is lost (gdisk's recovery menu may rebuild it)"
        } else {
            ""
        }
    )]
    GptUnreadable {
        /// Why each copy was not used.
        faults: Box<GptFaults>,
        /// LBA 0 holds a protective MBR.
        protective: bool,
    },
    /// No GPT and no MBR.
    #[error(
        "no partition table: no GPT ({gpt}) and no MBR ({mbr}); give a whole-disk image, \
         not a partition or filesystem image"
    )]
    NoTable {
        /// Why each GPT copy was not used.
        gpt: Box<GptFaults>,
        /// Why LBA 0 is not an MBR.
        mbr: MbrFault,
    },
    /// LBA 0 is not an MBR.
    #[error("MBR at LBA 0: {0}")]
    NoMbr(MbrFault),
    /// A file inside a filesystem is larger than the caller allows.
    #[error("{path:?} is {size} bytes, more than the {limit} this reads")]
    TooLarge {
        /// Path inside the filesystem.
        path: String,
        /// Its recorded size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An ext4 superblock whose sizes cannot be right (checked before ext4-view reads it).
    #[error("ext4 superblock: {0}")]
    Ext4Superblock(String),
    /// A bad argument (label too long, duplicate path, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// True for an ext4 path that does not exist (as opposed to a filesystem that cannot
    /// be read).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Ext4 {
                source: ext4_view::Ext4Error::NotFound,
                ..
            }
        )
    }

    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(what: impl Into<String>, offset: u64, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            offset,
            source,
        }
    }
}
