//! `ext4w`: write an ext4 filesystem image from a stream of entries, without
//! root, mounts or an extracted copy on disk.
//!
//! # Model
//!
//! A [`Writer`] takes filesystem entries one at a time ([`Writer::add`]) and
//! writes an ext4 image into any `Write + Seek` target (a file, or a window of
//! a disk image). Regular file data is copied from the entry's reader straight
//! into the image as it arrives, allocated sequentially from the start of the
//! filesystem; all-zero 4 KiB blocks become holes. Only compact per-inode
//! metadata (mode, owner, times, xattrs, extents, directory children) stays in
//! memory. [`Writer::finish`] then sizes the filesystem, lays out directories
//! (htree-indexed when large), extent index blocks, xattr blocks, bitmaps and
//! inode tables after the data (`flex_bg` lets them live anywhere), and writes
//! the superblock and group descriptors with their backups.
//!
//! The image has 4 KiB blocks, no journal (it is meant as a read-only root),
//! and the features `ext_attr dir_index filetype extent flex_bg sparse_super
//! large_file huge_file dir_nlink extra_isize metadata_csum`. The output is a
//! pure function of the entries and [`Options`]: no clock, no randomness.
//!
//! Later entries with the same path replace earlier ones, like tar
//! extraction; [`Writer::remove`] and [`Writer::clear_dir`] delete. Layers
//! ([`Writer::begin_layer`]) and [`tar::Whiteout`] implement OCI whiteouts,
//! which hide only what lower layers added. The [`tar`] module streams
//! (compressed) tar archives in.
//!
//! # Example
//!
//! ```
//! use ext4w::{Entry, EntryKind, Metadata, Options, Writer};
//! use std::io::Cursor;
//!
//! let opts = Options::new([7; 16], 1_700_000_000);
//! let mut w = Writer::new(Cursor::new(Vec::new()), opts)?;
//! let data = b"hello, world\n";
//! w.add(
//!     Entry {
//!         path: "etc/motd".into(),
//!         kind: EntryKind::Regular { size: data.len() as u64 },
//!         meta: Metadata::new(0o644),
//!     },
//!     &mut &data[..],
//! )?;
//! w.add(
//!     Entry {
//!         path: "bin".into(),
//!         kind: EntryKind::Symlink { target: b"usr/bin".to_vec() },
//!         meta: Metadata::new(0o777),
//!     },
//!     &mut std::io::empty(),
//! )?;
//! let summary = w.finish()?;
//! assert_eq!(summary.block_size, 4096);
//! assert_eq!(summary.size_bytes, summary.blocks * 4096);
//! # Ok::<(), ext4w::Error>(())
//! ```

mod acl;
mod alloc;
mod bitmap;
mod csum;
mod dir;
mod error;
mod extent;
mod group;
mod htree;
mod inode;
mod layout;
mod node;
mod out;
mod sizing;
mod source;
mod superblock;
pub mod tar;
mod writer;
mod xattr;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use source::{Hole, Source};
pub use writer::Writer;

/// A point in time: seconds since the Unix epoch plus nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01 UTC (may be negative).
    pub sec: i64,
    /// Nanoseconds, 0..1_000_000_000.
    pub nsec: u32,
}

impl Timestamp {
    /// A whole-second timestamp.
    pub fn from_secs(sec: i64) -> Self {
        Timestamp { sec, nsec: 0 }
    }
}

/// One extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Xattr {
    /// Full name, e.g. `security.capability` or `user.foo`.
    pub name: String,
    /// Raw value. POSIX ACLs (`system.posix_acl_access`/`_default`) use the
    /// Linux xattr v2 format; they are converted to ext4's on-disk format.
    pub value: Vec<u8>,
}

/// Ownership, permissions, times and xattrs of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Permission bits including setuid/setgid/sticky (`0o7777`), no type bits.
    pub mode: u16,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Access time.
    pub atime: Timestamp,
    /// Modification time.
    pub mtime: Timestamp,
    /// Inode change time.
    pub ctime: Timestamp,
    /// Extended attributes.
    pub xattrs: Vec<Xattr>,
}

impl Metadata {
    /// root:root, the given mode, all times zero, no xattrs.
    pub fn new(mode: u16) -> Self {
        Metadata {
            mode,
            uid: 0,
            gid: 0,
            atime: Timestamp::default(),
            mtime: Timestamp::default(),
            ctime: Timestamp::default(),
            xattrs: Vec::new(),
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A regular file of `size` bytes, read from the reader passed to `add`.
    Regular {
        /// Exact length of the data.
        size: u64,
    },
    /// A symbolic link.
    Symlink {
        /// Link target bytes.
        target: Vec<u8>,
    },
    /// Another name for an earlier entry (same normalisation as `path`).
    HardLink {
        /// Path of the earlier entry.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
}

/// One filesystem entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path like `usr/bin/env`: no leading `/` or `./`; `""` is the root.
    pub path: String,
    /// Type and type-specific data.
    pub kind: EntryKind,
    /// Ownership, permissions, times and xattrs (ignored for hard links).
    pub meta: Metadata,
}

/// How big the filesystem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// This many bytes, rounded down to whole 4 KiB blocks; a last block
    /// group too small to hold anything is left out ([`Summary::size_bytes`]
    /// is the size actually used).
    Fixed {
        /// Filesystem size in bytes.
        bytes: u64,
    },
    /// Content plus headroom.
    Fit {
        /// Free bytes to add.
        headroom_bytes: u64,
        /// Free space to add as a percentage of the content.
        headroom_percent: u32,
        /// Free inodes to add.
        extra_inodes: u32,
    },
}

/// Filesystem-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Directory hash seed (htree).
    pub hash_seed: [u8; 16],
    /// Volume label (at most 16 bytes are stored).
    pub label: String,
    /// Superblock times, and the clamp for entry times (SOURCE_DATE_EPOCH).
    pub timestamp: i64,
    /// Clamp every entry time to at most `timestamp`.
    pub clamp_times: bool,
    /// Filesystem size policy.
    pub sizing: Sizing,
}

impl Options {
    /// Defaults: hash seed derived from the UUID, no label, times clamped,
    /// `Sizing::Fit` with 16 MiB + 5 % headroom and 1024 spare inodes.
    pub fn new(uuid: [u8; 16], timestamp: i64) -> Self {
        let mut hash_seed = [0u8; 16];
        let a = crc32c::crc32c_append(0x6578_7434, &uuid);
        for (i, chunk) in hash_seed.chunks_mut(4).enumerate() {
            let v = crc32c::crc32c_append(a ^ i as u32, &uuid);
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        Options {
            uuid,
            hash_seed,
            label: String::new(),
            timestamp,
            clamp_times: true,
            sizing: Sizing::Fit {
                headroom_bytes: 16 << 20,
                headroom_percent: 5,
                extra_inodes: 1024,
            },
        }
    }
}

/// What [`Writer::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Image size in bytes (`blocks * block_size`).
    pub size_bytes: u64,
    /// Block size (4096).
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Total inodes.
    pub inodes: u32,
    /// Free inodes.
    pub free_inodes: u32,
    /// Inodes in use by entries (excluding reserved inodes 1-10).
    pub files: u64,
    /// Bytes of regular file and symlink data written.
    pub data_bytes: u64,
}
