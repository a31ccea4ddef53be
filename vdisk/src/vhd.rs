//! Fixed VHD (Microsoft's VHD format specification; qemu `block/vpc.c`):
//! the raw disk, padded with a hole to a whole MiB (Azure requires it), then
//! the 512-byte big-endian footer.
//!
//! The size that counts is the footer's current size (Hyper-V, Azure). qemu
//! reads the CHS geometry instead unless the creator is one it knows or the
//! geometry is the maximum 65535×16×255; so the geometry is the spec's when
//! it gives exactly the disk's size and the maximum otherwise, as
//! `qemu-img convert -O vpc -o subformat=fixed,force_size` (the command
//! Azure documents) writes it. Then every reader sees the same size.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::{Error, Format, Progress, RawDisk, Result, VirtualDisk, WriteOptions};

/// Footer (and sector) size.
pub const FOOTER: u64 = 512;
/// Azure's granularity of a VHD's virtual size.
pub const MIB: u64 = 1 << 20;
/// qemu's (and Hyper-V's) largest VHD: 2040 GiB.
pub const MAX_SIZE: u64 = 0xff00_0000 * FOOTER;
/// The largest geometry the footer can hold (cylinders, heads, sectors).
pub const MAX_GEOMETRY: Geometry = Geometry {
    cylinders: 65535,
    heads: 16,
    sectors: 255,
};
/// Seconds from 1970-01-01 to 2000-01-01, the VHD timestamp's origin.
const EPOCH_2000: i64 = 946_684_800;
/// Disk type: fixed.
const TYPE_FIXED: u32 = 2;

/// A CHS geometry (the footer's "disk geometry" field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Cylinders.
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors: u8,
}

impl Geometry {
    /// The sectors the geometry addresses.
    pub fn total_sectors(self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors)
    }

    /// The geometry of the spec's algorithm for `total_sectors` (it may
    /// address fewer sectors than asked).
    pub fn of_sectors(total_sectors: u64) -> Geometry {
        let total = total_sectors.min(MAX_GEOMETRY.total_sectors());
        let (sectors, heads, cyl_heads) = if total >= 65535 * 16 * 63 {
            (255, 16, total / 255)
        } else {
            let mut sectors = 17;
            let mut cyl_heads = total / sectors;
            let mut heads = cyl_heads.div_ceil(1024).max(4);
            if cyl_heads >= heads * 1024 || heads > 16 {
                sectors = 31;
                heads = 16;
                cyl_heads = total / sectors;
            }
            if cyl_heads >= heads * 1024 {
                sectors = 63;
                heads = 16;
                cyl_heads = total / sectors;
            }
            (sectors, heads, cyl_heads)
        };
        Geometry {
            // In range by construction: total ≤ 65535·16·255.
            cylinders: u16::try_from(cyl_heads / heads).unwrap_or(u16::MAX),
            heads: u8::try_from(heads).unwrap_or(u8::MAX),
            sectors: u8::try_from(sectors).unwrap_or(u8::MAX),
        }
    }

    /// The geometry written for a disk of `size` bytes: the spec's when it
    /// addresses exactly `size`, else [`MAX_GEOMETRY`] (readers then use the
    /// current size).
    pub fn for_size(size: u64) -> Geometry {
        let g = Geometry::of_sectors(size / FOOTER);
        if g.total_sectors() * FOOTER == size {
            g
        } else {
            MAX_GEOMETRY
        }
    }
}

/// `size` rounded up to a whole MiB.
pub fn rounded_size(size: u64) -> u64 {
    size.div_ceil(MIB) * MIB
}

/// Write `src` as a fixed VHD into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let size = rounded_size(src.size());
    if size > MAX_SIZE {
        return Err(Error::Unsuitable {
            path: out_path.to_path_buf(),
            format: Format::Vhd,
            why: format!(
                "the disk is {} bytes and a VHD holds at most 2040 GiB ({MAX_SIZE} bytes); use qcow2 or raw",
                src.size()
            ),
        });
    }
    crate::raw::copy(src, out, out_path, progress)?;
    out.set_len(size + FOOTER)
        .map_err(|e| Error::io(out_path, None, e))?;
    out.write_all_at(&footer(size, opts), size)
        .map_err(|e| Error::io(out_path, Some(size), e))
}

/// The footer of a fixed disk of `size` bytes.
pub fn footer(size: u64, opts: &WriteOptions) -> [u8; FOOTER as usize] {
    let mut f = [0u8; FOOTER as usize];
    let g = Geometry::for_size(size);
    let timestamp = u32::try_from(opts.epoch.saturating_sub(EPOCH_2000).max(0)).unwrap_or(u32::MAX);
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // no next structure
    f[24..28].copy_from_slice(&timestamp.to_be_bytes());
    f[28..32].copy_from_slice(b"kbke");
    f[32..36].copy_from_slice(&creator_version().to_be_bytes());
    f[36..40].copy_from_slice(b"Wi2k");
    f[40..48].copy_from_slice(&size.to_be_bytes());
    f[48..56].copy_from_slice(&size.to_be_bytes());
    f[56..58].copy_from_slice(&g.cylinders.to_be_bytes());
    f[58] = g.heads;
    f[59] = g.sectors;
    f[60..64].copy_from_slice(&TYPE_FIXED.to_be_bytes());
    f[68..84].copy_from_slice(&uuid(&opts.identity));
    let sum = checksum(&f);
    f[64..68].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The one's complement of the byte sum of `footer`, its checksum field
/// (bytes 64..68) counted as zero.
pub fn checksum(footer: &[u8; FOOTER as usize]) -> u32 {
    let sum = footer
        .iter()
        .enumerate()
        .filter(|(i, _)| !(64..68).contains(i))
        .fold(0u32, |a, (_, b)| a.wrapping_add(u32::from(*b)));
    !sum
}

/// kubebake's version as the footer's major.minor creator version.
fn creator_version() -> u32 {
    let part = |s: &str| s.parse::<u16>().unwrap_or(0);
    u32::from(part(env!("CARGO_PKG_VERSION_MAJOR"))) << 16
        | u32::from(part(env!("CARGO_PKG_VERSION_MINOR")))
}

/// The disk's unique id, derived from the image identity (an RFC 9562
/// version 8 UUID: name-based, our own hash).
fn uuid(identity: &[u8; 32]) -> [u8; 16] {
    let h = Sha256::new()
        .chain_update(b"kubebake vhd uuid\0")
        .chain_update(identity)
        .finalize();
    let mut u = [0u8; 16];
    u.copy_from_slice(&h[..16]);
    u[6] = (u[6] & 0x0f) | 0x80;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

/// A fixed VHD opened for reading: the raw data before the footer.
#[derive(Debug)]
pub struct VhdDisk {
    file: File,
    path: PathBuf,
    size: u64,
}

/// Open the fixed VHD at `path`, checking its footer.
pub fn open(path: &Path) -> Result<VhdDisk> {
    let file = File::open(path).map_err(|e| Error::io(path, None, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, None, e))?.len();
    let bad = |offset: u64, what: String| Err(Error::invalid(path, Some(offset), what));
    if len < FOOTER {
        return bad(0, format!("{len} bytes is too short for a VHD footer"));
    }
    let at = len - FOOTER;
    let mut f = [0u8; FOOTER as usize];
    file.read_exact_at(&mut f, at)
        .map_err(|e| Error::io(path, Some(at), e))?;
    let field = |r: std::ops::Range<usize>| f[r].iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
    if &f[0..8] != b"conectix" {
        return bad(at, "no VHD footer (cookie `conectix`)".into());
    }
    let (stored, computed) = (field(64..68), u64::from(checksum(&f)));
    if stored != computed {
        return bad(
            at + 64,
            format!("VHD footer checksum is {stored:#010x}, its bytes sum to {computed:#010x}; the file is damaged"),
        );
    }
    let kind = field(60..64);
    if kind != u64::from(TYPE_FIXED) {
        return bad(
            at + 60,
            format!("VHD disk type {kind} is not fixed (2); convert it with `qemu-img convert -O raw` first"),
        );
    }
    let size = field(48..56);
    if size != at {
        return bad(
            at + 48,
            format!("VHD footer says the disk is {size} bytes but {at} bytes precede the footer; the file is truncated or damaged"),
        );
    }
    Ok(VhdDisk {
        file,
        path: path.to_path_buf(),
        size,
    })
}

impl VirtualDisk for VhdDisk {
    fn format(&self) -> Format {
        Format::Vhd
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        crate::source::read_clamped(&self.file, &self.path, self.size, offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_geometry() {
        // Worked values of the spec's algorithm (qemu `calculate_geometry`).
        let g = Geometry::of_sectors(2 * 1024 * 1024 * 2);
        assert_eq!((g.cylinders, g.heads, g.sectors), (4161, 16, 63));
        let g = Geometry::of_sectors(20480);
        assert_eq!((g.cylinders, g.heads, g.sectors), (301, 4, 17));
        assert_eq!(Geometry::of_sectors(u64::MAX), MAX_GEOMETRY);
        // 4161·16·63 sectors is not 2 GiB: the maximum geometry is written.
        assert_eq!(Geometry::for_size(2 << 30), MAX_GEOMETRY);
        // 2048 cylinders of 16·63 sectors are exactly 1008 MiB.
        let g = Geometry::for_size(1008 * MIB);
        assert_eq!((g.cylinders, g.heads, g.sectors), (2048, 16, 63));
    }

    #[test]
    fn sizes_round_up_to_a_mib() {
        assert_eq!(rounded_size(0), 0);
        assert_eq!(rounded_size(1), MIB);
        assert_eq!(rounded_size(MIB), MIB);
        assert_eq!(rounded_size(MIB + 512), 2 * MIB);
    }
}
