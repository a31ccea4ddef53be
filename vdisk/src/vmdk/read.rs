//! Reading a hosted sparse VMDK extent back (streamOptimized, and the
//! uncompressed monolithicSparse qemu-img writes by default), for
//! `kubebake inspect`.
//!
//! The grain directory is read at open; grain tables and grains on demand,
//! through small caches. Every offset and size in the file is checked
//! before use: a hostile file gives [`Error::Invalid`] naming the offset,
//! never a panic or an unbounded allocation.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::{Decompress, FlushDecompress, Status};

use super::{
    Header, Marker, CHECK_BYTES, COMPRESS_DEFLATE, FLAG_COMPRESSED, FLAG_MARKERS, FLAG_NL_DETECT,
    FLAG_ZERO_GRAIN, GD_AT_END, MAX_CAPACITY_SECTORS, SECTOR,
};
use crate::{Error, Format, Result, VirtualDisk};

/// Largest grain accepted (1 MiB; VMware and qemu write 64 KiB).
const MAX_GRAIN_SECTORS: u64 = 2048;
/// Largest grain table accepted (entries).
const MAX_GTES_PER_GT: u32 = 512;
/// Largest grain directory accepted (entries): 256 TiB of 64 KiB grains.
const MAX_GD_ENTRIES: u64 = 1 << 23;
/// Grain tables kept in memory.
const GT_CACHE: usize = 16;
/// Inflated grains kept in memory.
const GRAIN_CACHE: usize = 4;

/// An open sparse VMDK.
#[derive(Debug)]
pub struct VmdkDisk {
    file: File,
    path: PathBuf,
    /// Where the VMDK starts in `file` (non-zero inside an OVA) and its length.
    base: u64,
    len: u64,
    format: Format,
    header: Header,
    /// Sector of each grain table, 0 when absent.
    directory: Vec<u32>,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    tables: Vec<(u64, Vec<u32>)>,
    grains: Vec<(u64, Vec<u8>)>,
}

/// Open the VMDK file at `path`.
pub fn open(path: &Path) -> Result<VmdkDisk> {
    let file = File::open(path).map_err(|e| Error::io(path, None, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, None, e))?.len();
    open_at(file, path, 0, len, Format::Vmdk)
}

/// Open the VMDK stored at `base..base + len` of `file` (`path` names it
/// in errors; `format` is what [`VirtualDisk::format`] answers).
pub fn open_at(file: File, path: &Path, base: u64, len: u64, format: Format) -> Result<VmdkDisk> {
    let mut disk = VmdkDisk {
        file,
        path: path.to_path_buf(),
        base,
        len,
        format,
        header: Header::stream_optimized(0, 0),
        directory: Vec::new(),
        cache: Mutex::new(Cache::default()),
    };
    let first = disk.header_at(0)?;
    disk.check_header(first, 0)?;
    disk.header = if first.gd_offset == GD_AT_END {
        disk.footer()?
    } else {
        first
    };
    let footer_at = if first.gd_offset == GD_AT_END {
        len.saturating_sub(2 * SECTOR)
    } else {
        0
    };
    disk.check_header(disk.header, footer_at)?;
    disk.directory = disk.read_directory()?;
    Ok(disk)
}

impl VmdkDisk {
    fn invalid(&self, offset: u64, what: impl Into<String>) -> Error {
        Error::invalid(&self.path, Some(self.base + offset), what)
    }

    /// Read `buf.len()` bytes at `offset` of the VMDK, which must lie inside it.
    fn read_exact(&self, offset: u64, buf: &mut [u8], what: &str) -> Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(self.invalid(
                offset,
                format!(
                    "{what} ({} bytes) runs past the end of the VMDK ({} bytes): the file is truncated or corrupt",
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.file
            .read_exact_at(buf, self.base + offset)
            .map_err(|e| Error::io(&self.path, Some(self.base + offset), e))
    }

    fn sector_at(&self, offset: u64, what: &str) -> Result<[u8; SECTOR as usize]> {
        let mut s = [0u8; SECTOR as usize];
        self.read_exact(offset, &mut s, what)?;
        Ok(s)
    }

    fn header_at(&self, offset: u64) -> Result<Header> {
        let s = self.sector_at(offset, "the VMDK header")?;
        Header::decode(&s).ok_or_else(|| {
            self.invalid(
                offset,
                "no VMDK sparse extent header (magic KDMV); this reader takes streamOptimized \
                 and monolithicSparse VMDKs",
            )
        })
    }

    /// The footer of a stream-optimized file: footer marker, header, end of
    /// stream in the last three sectors.
    fn footer(&self) -> Result<Header> {
        let Some(at) = self.len.checked_sub(3 * SECTOR) else {
            return Err(self.invalid(0, "gdOffset says the footer holds the grain directory, but the file is too short for one"));
        };
        let m = self.sector_at(at, "the footer marker")?;
        if meta_marker(&m) != Some(Marker::Footer) {
            return Err(self.invalid(at, "no footer marker (type 3) three sectors before the end: the stream is truncated or corrupt"));
        }
        let eos = self.sector_at(at + 2 * SECTOR, "the end-of-stream marker")?;
        if eos.iter().any(|b| *b != 0) {
            return Err(self.invalid(
                at + 2 * SECTOR,
                "the last sector is not an end-of-stream marker: the stream is truncated or corrupt",
            ));
        }
        let h = self.header_at(at + SECTOR)?;
        if h.gd_offset == GD_AT_END {
            return Err(self.invalid(
                at + SECTOR,
                "the footer's gdOffset is GD_AT_END too: no grain directory location",
            ));
        }
        Ok(h)
    }

    fn check_header(&self, h: Header, at: u64) -> Result<()> {
        let bad = |what: String| Err(self.invalid(at, what));
        if !(1..=3).contains(&h.version) {
            return bad(format!(
                "VMDK version {} (this reader takes 1 to 3)",
                h.version
            ));
        }
        if h.flags & FLAG_NL_DETECT != 0 && h.check != CHECK_BYTES {
            return bad("the newline check bytes are wrong: the file was transferred in text mode (copy it as binary)".into());
        }
        if h.grain == 0 || h.grain > MAX_GRAIN_SECTORS || !h.grain.is_power_of_two() {
            return bad(format!(
                "grain size {} sectors (want a power of two up to {MAX_GRAIN_SECTORS})",
                h.grain
            ));
        }
        if h.gtes_per_gt == 0 || h.gtes_per_gt > MAX_GTES_PER_GT {
            return bad(format!(
                "numGTEsPerGT {} (want 1 to {MAX_GTES_PER_GT})",
                h.gtes_per_gt
            ));
        }
        if h.capacity > MAX_CAPACITY_SECTORS {
            return bad(format!(
                "capacity {} sectors exceeds the 2 TiB of a sparse extent",
                h.capacity
            ));
        }
        let compressed = h.flags & FLAG_COMPRESSED != 0 || h.compress != 0;
        if compressed && h.compress != COMPRESS_DEFLATE {
            return bad(format!(
                "compressAlgorithm {} (only 1, deflate, exists)",
                h.compress
            ));
        }
        if compressed && h.flags & FLAG_MARKERS == 0 {
            return bad("compressed grains without markers are not supported".into());
        }
        Ok(())
    }

    fn compressed(&self) -> bool {
        self.header.compress == COMPRESS_DEFLATE
    }

    fn read_directory(&self) -> Result<Vec<u32>> {
        let h = self.header;
        let count = h.gt_count();
        let at = h
            .gd_offset
            .checked_mul(SECTOR)
            .ok_or_else(|| self.invalid(0, "gdOffset overflows"))?;
        if count > 0 && at == 0 {
            return Err(self.invalid(0, "gdOffset is 0: no grain directory"));
        }
        // Bounded by the file and by qemu's own limit, so a hostile header
        // cannot make it allocate much.
        let bytes = count * 4;
        if count > MAX_GD_ENTRIES || bytes > self.len {
            return Err(self.invalid(
                at,
                format!("a grain directory of {count} entries cannot fit in the file"),
            ));
        }
        let mut buf = vec![0u8; bytes as usize];
        self.read_exact(at, &mut buf, "the grain directory")?;
        Ok(buf
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Entry `index` of grain table `gt` (0: not allocated).
    fn table_entry(&self, gt: u64, index: usize) -> Result<u32> {
        let Some(&sector) = self.directory.get(gt as usize) else {
            return Ok(0);
        };
        if sector == 0 {
            return Ok(0);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pos) = cache.tables.iter().position(|(g, _)| *g == gt) {
            return Ok(cache.tables[pos].1[index]);
        }
        let at = u64::from(sector) * SECTOR;
        let mut buf = vec![0u8; self.header.gtes_per_gt as usize * 4];
        self.read_exact(at, &mut buf, "a grain table")?;
        let entries: Vec<u32> = buf
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let e = entries[index];
        if cache.tables.len() >= GT_CACHE {
            cache.tables.remove(0);
        }
        cache.tables.push((gt, entries));
        Ok(e)
    }

    /// Bytes in a grain.
    fn grain_bytes(&self) -> u64 {
        self.header.grain * SECTOR
    }

    /// Copy bytes `from..from + out.len()` of grain `g` into `out`.
    fn read_grain(&self, g: u64, from: usize, out: &mut [u8]) -> Result<()> {
        let per_gt = u64::from(self.header.gtes_per_gt);
        let entry = self.table_entry(g / per_gt, (g % per_gt) as usize)?;
        let zero_grain = entry == 1 && self.header.flags & FLAG_ZERO_GRAIN != 0;
        if entry == 0 || zero_grain {
            out.fill(0);
            return Ok(());
        }
        let at = u64::from(entry) * SECTOR;
        if !self.compressed() {
            return self.read_exact(at + from as u64, out, "a grain");
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, data)) = cache.grains.iter().find(|(i, _)| *i == g) {
            out.copy_from_slice(&data[from..from + out.len()]);
            return Ok(());
        }
        let data = self.inflate(g, at, from + out.len())?;
        out.copy_from_slice(&data[from..from + out.len()]);
        if cache.grains.len() >= GRAIN_CACHE {
            cache.grains.remove(0);
        }
        cache.grains.push((g, data));
        Ok(())
    }

    /// The compressed grain `g` whose marker is at byte `at`, inflated to a
    /// whole grain; it must hold at least `need` bytes.
    fn inflate(&self, g: u64, at: u64, need: usize) -> Result<Vec<u8>> {
        let mut m = [0u8; 12];
        self.read_exact(at, &mut m, "a grain marker")?;
        let lba = u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]);
        let size = u32::from_le_bytes([m[8], m[9], m[10], m[11]]) as u64;
        if lba != g * self.header.grain {
            return Err(self.invalid(
                at,
                format!(
                    "the grain marker says sector {lba}, the grain table sector {}",
                    g * self.header.grain
                ),
            ));
        }
        let grain = self.grain_bytes();
        if size == 0 || size > 2 * grain + 1024 {
            return Err(self.invalid(
                at + 8,
                format!("compressed grain size {size} (the grain is {grain} bytes)"),
            ));
        }
        let mut z = vec![0u8; size as usize];
        self.read_exact(at + 12, &mut z, "compressed grain data")?;
        let mut data = Vec::with_capacity(grain as usize);
        let mut d = Decompress::new(true);
        let status = d.decompress_vec(&z, &mut data, FlushDecompress::Finish);
        let whole = matches!(status, Ok(Status::StreamEnd));
        if !whole || data.len() < need {
            return Err(self.invalid(
                at + 12,
                format!(
                    "grain at disk sector {lba} does not inflate to a grain (zlib: {})",
                    match status {
                        Ok(s) => format!("{s:?} after {} bytes", data.len()),
                        Err(e) => e.to_string(),
                    }
                ),
            ));
        }
        data.resize(grain as usize, 0);
        Ok(data)
    }
}

/// The type of a metadata marker sector (`{u64, u32 size = 0, u32 type}`).
fn meta_marker(s: &[u8; SECTOR as usize]) -> Option<Marker> {
    if s[8..12] != [0, 0, 0, 0] {
        return None;
    }
    match u32::from_le_bytes([s[12], s[13], s[14], s[15]]) {
        0 => Some(Marker::EndOfStream),
        1 => Some(Marker::GrainTable),
        2 => Some(Marker::GrainDirectory),
        3 => Some(Marker::Footer),
        _ => None,
    }
}

impl VirtualDisk for VmdkDisk {
    fn format(&self) -> Format {
        self.format
    }

    fn size(&self) -> u64 {
        self.header.capacity * SECTOR
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let grain = self.grain_bytes();
        let size = self.size();
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset.saturating_add(done as u64);
            let rest = &mut buf[done..];
            if pos >= size {
                rest.fill(0);
                break;
            }
            let g = pos / grain;
            let from = (pos % grain) as usize;
            let n = rest
                .len()
                .min(grain as usize - from)
                .min((size - pos) as usize);
            self.read_grain(g, from, &mut rest[..n])?;
            done += n;
        }
        Ok(())
    }
}
