//! Virtual disk formats for kubebake.
//!
//! Every writer takes the finished raw disk as a [`RawDisk`]: a file that
//! knows its data ranges (`SEEK_DATA`/`SEEK_HOLE`), so a hole is never read,
//! compressed or stored. Writers are sequential where the format allows,
//! bounded in memory whatever the disk size, and byte-reproducible: ids come
//! from [`WriteOptions::identity`], times from [`WriteOptions::epoch`].
//!
//! Readers ([`open`]) give back the virtual disk of any format written here,
//! for `kubebake inspect`.
//!
//! One module per format; no CLI code (the `clap` feature only derives
//! `ValueEnum` on [`Format`]).

pub mod bmap;
pub mod compress;
mod error;
mod format;
pub mod ova;
pub mod qcow2;
mod raw;
mod read;
mod source;
pub mod vhd;
pub mod vmdk;

pub use error::{Error, Result};
pub use format::Format;
pub use read::{detect, open, Reader, VirtualDisk};
pub use source::{is_zero, DataRange, RawDisk};

use std::fs::File;
use std::path::Path;

/// What a writer needs besides the disk.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// 32 bytes every derived id (VMDK CID, VHD UUID, OVF ids) comes from;
    /// the builder passes the image's input hash, `convert` a hash of the
    /// source's size and data map.
    pub identity: [u8; 32],
    /// Seconds since 1970 for every timestamp a format stores
    /// (SOURCE_DATE_EPOCH, or 0).
    pub epoch: i64,
    /// Compression threads (xz, zstd, deflate); at least 1.
    pub threads: usize,
    /// The virtual machine an OVA describes.
    pub vm: VmSpec,
}

/// The virtual hardware and identity an OVA's OVF envelope declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    /// VM and file name stem (the profile name).
    pub name: String,
    /// One-line description (ProductSection/AnnotationSection).
    pub description: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
}

impl Default for VmSpec {
    fn default() -> Self {
        VmSpec {
            name: "kubebake".into(),
            description: "kubebake Kubernetes node".into(),
            cpus: 2,
            memory_mib: 4096,
        }
    }
}

/// The [`WriteOptions::identity`] of a disk: sha256 of its size and first
/// 64 KiB (the GPT, with its disk and partition GUIDs). `kubebake build` and
/// `kubebake convert` both use it, so converting a kubebake raw disk gives
/// the same bytes as building that format directly.
pub fn identity(src: &RawDisk) -> Result<[u8; 32]> {
    use sha2::Digest as _;
    let mut head = vec![0u8; 64 << 10];
    src.read_at(0, &mut head)?;
    let mut h = sha2::Sha256::new();
    h.update(b"kubebake-vdisk-identity-v1\0");
    h.update(src.size().to_le_bytes());
    h.update(&head);
    Ok(h.finalize().into())
}

/// Progress reports: bytes of the virtual disk done so far.
pub trait Progress {
    /// `done` bytes of the virtual disk have been written.
    fn advance(&self, done: u64);
}

/// No progress reporting.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _done: u64) {}
}

/// Write `src` as `format` into `out` (a new, empty file at `out_path`,
/// which names it in errors and, for an OVA, gives the member names). A raw
/// output is the caller's own file; asking for one here copies the data
/// ranges (holes stay holes).
pub fn write(
    format: Format,
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    match format {
        Format::Raw => raw::copy(src, out, out_path, progress),
        Format::Qcow2 => qcow2::write(src, out, out_path, opts, progress),
        Format::Vmdk => vmdk::write(src, out, out_path, opts, progress),
        Format::Ova => ova::write(src, out, out_path, opts, progress),
        Format::Vhd => vhd::write(src, out, out_path, opts, progress),
        Format::RawXz => compress::write(compress::Codec::Xz, src, out, out_path, opts, progress),
        Format::RawZst => {
            compress::write(compress::Codec::Zstd, src, out, out_path, opts, progress)
        }
    }
}
