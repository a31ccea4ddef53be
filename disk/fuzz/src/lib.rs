//! Shared pieces of the disk fuzz targets: what `kubebake inspect` does with an image
//! (table, then per partition the probe, the FAT command line and the ext4 manifest), the
//! invariants inspect relies on, and a sparse image format so small inputs can describe
//! large disks (a GPT whose backup sits at the end of a 1 GiB disk, a FAT32 volume).
//!
//! Errors are fine; panics, hangs and runaway allocations are bugs.

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use kubebake_disk::probe::{self, FsInfo};
use kubebake_disk::table::{self, Found};
use kubebake_disk::{ext4read, fat, Window};

/// The limits inspect reads files with.
pub const MAX_FILE: u64 = 1 << 20;

/// Check what inspect assumes of a table it was given: every partition inside the usable
/// range, its byte extent representable, one slot number per partition.
pub fn check_table(found: &Found) {
    match found {
        Found::Gpt(t) => {
            assert_eq!(t.partitions.len(), t.numbers.len());
            assert!(t.sector_size == 512 || t.sector_size == 4096);
            for p in &t.partitions {
                assert!(p.first_lba <= p.last_lba, "{p:?}");
                assert!(p.first_lba >= t.first_usable_lba && p.last_lba <= t.last_usable_lba);
                assert!(
                    (p.last_lba + 1).checked_mul(t.sector_size).is_some(),
                    "{p:?}"
                );
            }
        }
        Found::Mbr(t) => {
            assert_eq!(t.partitions.len(), t.numbers.len());
            for p in &t.partitions {
                assert!(p.first_lba <= p.last_lba, "{p:?}");
            }
        }
    }
    for w in found.warnings() {
        let _ = w.to_string();
    }
}

/// (offset, length) in bytes of each partition, clipped to an image of `size` bytes, as
/// inspect computes them.
pub fn extents(found: &Found, size: u64) -> Vec<(u64, u64)> {
    let raw: Vec<(u64, u64, u64)> = match found {
        Found::Gpt(t) => t
            .partitions
            .iter()
            .map(|p| (p.first_lba, p.last_lba, t.sector_size))
            .collect(),
        Found::Mbr(t) => t
            .partitions
            .iter()
            .map(|p| (p.first_lba, p.last_lba, t.sector_size))
            .collect(),
    };
    raw.into_iter()
        .map(|(first, last, ss)| {
            let off = first.saturating_mul(ss);
            let len = (last - first + 1).saturating_mul(ss);
            (off, len.min(size.saturating_sub(off)))
        })
        .collect()
}

/// What inspect does with one FAT volume: list it, read a loader entry or cmdline.txt.
pub fn fat_like<R: Read + Seek, F: Fn() -> R>(open: F) {
    let Ok(files) = fat::list(open()) else {
        return;
    };
    for (path, _) in files.iter().take(4) {
        let _ = fat::read_file(open(), path, MAX_FILE);
    }
}

/// What the first-boot agent does with a FAT boot partition or CIDATA volume: the root
/// directory, the NoCloud files by name (capped as the agent caps them), `nodes/*.yaml`.
pub fn agent_like<R: Read + Seek>(r: R) {
    use kubebake_fatread::{Dir, Volume};
    let Ok(mut vol) = Volume::open(r) else {
        return;
    };
    let Ok(root) = vol.read_dir(Dir::FixedRoot, "/") else {
        return;
    };
    for name in ["user-data", "meta-data", "network-config"] {
        if let Some(e) = root.iter().find(|e| !e.is_dir && e.matches(name)) {
            let _ = vol.read_file(e, name, MAX_FILE);
        }
    }
    if let Some(nodes) = root.iter().find(|e| e.is_dir && e.matches("nodes")) {
        if let Ok(entries) = vol.read_dir(Dir::Chain(nodes.first_cluster), "nodes") {
            for e in entries.iter().filter(|e| !e.is_dir).take(4) {
                let _ = vol.read_file(e, &e.name, MAX_FILE);
            }
        }
    }
}

/// What inspect does with one ext4 filesystem: read the manifest; plus a root listing.
pub fn ext4_like<R: Read + Seek + 'static, F: Fn() -> R>(open: F) {
    let _ = ext4read::read_file(open(), "usr/lib/kubebake/manifest.json", MAX_FILE);
    let _ = ext4read::list_dir(open(), "/");
}

/// Probe one filesystem and read it as inspect would.
pub fn filesystem_like<R: Read + Seek + 'static, F: Fn() -> R>(open: F) {
    match probe::identify(&mut open()) {
        Ok(FsInfo::Fat(_)) => fat_like(&open),
        Ok(FsInfo::Ext4(_)) => ext4_like(&open),
        _ => {}
    }
}

/// The whole of inspect over an image.
pub fn inspect_like<R: Read + Seek + Clone + 'static>(img: R) {
    let mut f = img.clone();
    let Ok(size) = f.seek(SeekFrom::End(0)) else {
        return;
    };
    let Ok(found) = table::read(&mut f) else {
        return;
    };
    check_table(&found);
    for (off, len) in extents(&found, size).into_iter().take(8) {
        filesystem_like(|| Window::new(img.clone(), off, Some(len)));
    }
}

/// A byte stream that can be cloned cheaply (for the `'static` readers).
pub fn shared(data: &[u8]) -> Cursor<Arc<[u8]>> {
    Cursor::new(Arc::from(data))
}

/// A sparse disk image: `size` bytes of zeros with chunks laid over them (later ones win).
///
/// Encoding: `u32` LE size in 512-byte sectors (capped at 2^31), then chunks of `u32` LE
/// sector, `u16` LE length, and that many bytes; a truncated chunk is dropped.
#[derive(Clone)]
pub struct Sparse {
    size: u64,
    chunks: Arc<Vec<(u64, Vec<u8>)>>,
    pos: u64,
}

impl Sparse {
    /// Decode a fuzz input.
    pub fn decode(data: &[u8]) -> Option<Sparse> {
        let sectors = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) & 0x7fff_ffff;
        let mut rest = &data[4..];
        let mut chunks = Vec::new();
        while rest.len() >= 6 {
            let sector = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let len = usize::from(u16::from_le_bytes([rest[4], rest[5]]));
            let Some(bytes) = rest.get(6..6 + len) else {
                break;
            };
            chunks.push((u64::from(sector) * 512, bytes.to_vec()));
            rest = &rest[6 + len..];
        }
        Some(Sparse {
            size: u64::from(sectors) * 512,
            chunks: Arc::new(chunks),
            pos: 0,
        })
    }

    /// Encode an image as chunks of its nonzero sectors (for seeds).
    pub fn encode(image: &[u8]) -> Vec<u8> {
        let sectors = u32::try_from(image.len().div_ceil(512)).unwrap_or(u32::MAX);
        let mut out = sectors.to_le_bytes().to_vec();
        let mut s = 0;
        let n = image.len().div_ceil(512);
        while s < n {
            let nonzero = |i: usize| {
                image[i * 512..(i * 512 + 512).min(image.len())]
                    .iter()
                    .any(|&b| b != 0)
            };
            if !nonzero(s) {
                s += 1;
                continue;
            }
            let start = s;
            while s < n && s - start < 127 && nonzero(s) {
                s += 1;
            }
            let bytes = &image[start * 512..(s * 512).min(image.len())];
            out.extend_from_slice(&u32::try_from(start).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(&u16::try_from(bytes.len()).unwrap_or(0).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size {
            return Ok(0);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.size - self.pos).unwrap_or(usize::MAX));
        let (start, end) = (self.pos, self.pos + n as u64);
        buf[..n].fill(0);
        for (off, bytes) in self.chunks.iter() {
            let (c_start, c_end) = (*off, off + bytes.len() as u64);
            let (a, b) = (start.max(c_start), end.min(c_end));
            if a < b {
                buf[(a - start) as usize..(b - start) as usize]
                    .copy_from_slice(&bytes[(a - c_start) as usize..(b - c_start) as usize]);
            }
        }
        self.pos = end;
        Ok(n)
    }
}

impl Seek for Sparse {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad seek"))?;
        Ok(self.pos)
    }
}
