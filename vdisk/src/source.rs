//! The raw disk a writer reads: a file plus its data map.
//!
//! The map comes from `SEEK_DATA`/`SEEK_HOLE`, so the ranges the ext4 writer
//! left unwritten (and any hole `cp --sparse` kept) are known without being
//! read. A filesystem without hole support reports one range covering the
//! whole file, which is still correct, only slower. Writers should also treat
//! an all-zero granule inside a data range as a hole (see [`is_zero`]): then
//! the output depends on the disk's bytes only, not on how sparse the copy
//! they were given is.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A byte range `[start, end)` of the disk that may hold data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl DataRange {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A raw disk image opened for reading, with its data map.
#[derive(Debug)]
pub struct RawDisk {
    file: File,
    path: PathBuf,
    size: u64,
    data: Vec<DataRange>,
}

impl RawDisk {
    /// Open `path` read-only and map its data.
    pub fn open(path: &Path) -> Result<RawDisk> {
        let file = File::open(path).map_err(|e| Error::io(path, None, e))?;
        RawDisk::from_file(file, path)
    }

    /// Map the data of an open file (`path` names it in errors).
    pub fn from_file(file: File, path: &Path) -> Result<RawDisk> {
        let meta = file.metadata().map_err(|e| Error::io(path, None, e))?;
        if !meta.is_file() {
            return Err(Error::invalid(
                path,
                None,
                "not a regular file; give the raw disk image file",
            ));
        }
        let size = meta.len();
        let data = map_data(&file, path, size)?;
        Ok(RawDisk {
            file,
            path: path.to_path_buf(),
            size,
            data,
        })
    }

    /// The virtual disk size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's path (for errors).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ranges that may hold data, sorted and disjoint.
    pub fn data(&self) -> &[DataRange] {
        &self.data
    }

    /// Bytes in the data ranges.
    pub fn data_bytes(&self) -> u64 {
        self.data.iter().map(DataRange::len).sum()
    }

    /// Indices of the `granule`-sized blocks that overlap a data range, as
    /// merged `[first, end)` index ranges (a format's clusters or grains).
    pub fn granules(&self, granule: u64) -> Vec<std::ops::Range<u64>> {
        let mut out: Vec<std::ops::Range<u64>> = Vec::new();
        for r in &self.data {
            let first = r.start / granule;
            let end = r.end.div_ceil(granule);
            match out.last_mut() {
                Some(last) if last.end >= first => last.end = last.end.max(end),
                _ => out.push(first..end),
            }
        }
        out
    }

    /// Read exactly `buf.len()` bytes at `offset`; bytes past the end of the
    /// disk read as zero.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        read_clamped(&self.file, &self.path, self.size, offset, buf)
    }
}

/// Read exactly `buf.len()` bytes of `file` (at `path`) at `offset`, bytes
/// at or past `size` as zero.
pub(crate) fn read_clamped(
    file: &File,
    path: &Path,
    size: u64,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    let avail = size.saturating_sub(offset);
    let n = usize::try_from(avail).unwrap_or(usize::MAX).min(buf.len());
    let (head, tail) = buf.split_at_mut(n);
    file.read_exact_at(head, offset)
        .map_err(|e| Error::io(path, Some(offset), e))?;
    tail.fill(0);
    Ok(())
}

/// Whether `buf` is all zero bytes (64-byte blocks folded with OR, which
/// the compiler vectorises).
pub fn is_zero(buf: &[u8]) -> bool {
    let mut blocks = buf.chunks_exact(64);
    blocks.all(|c| c.iter().fold(0u8, |a, b| a | b) == 0)
        && blocks.remainder().iter().all(|b| *b == 0)
}

/// The data ranges of `file`, by `SEEK_DATA`/`SEEK_HOLE`.
fn map_data(file: &File, path: &Path, size: u64) -> Result<Vec<DataRange>> {
    use rustix::fs::{seek, SeekFrom};
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let start = match seek(file, SeekFrom::Data(pos)) {
            Ok(s) => s,
            Err(rustix::io::Errno::NXIO) => break,
            Err(rustix::io::Errno::INVAL) if pos == 0 => {
                // No SEEK_DATA support: all of it may be data.
                out.push(DataRange {
                    start: 0,
                    end: size,
                });
                return Ok(out);
            }
            Err(e) => return Err(Error::io(path, Some(pos), e.into())),
        };
        if start >= size {
            break;
        }
        let end = match seek(file, SeekFrom::Hole(start)) {
            Ok(h) => h.min(size),
            Err(e) => return Err(Error::io(path, Some(start), e.into())),
        };
        if end <= start {
            break;
        }
        out.push(DataRange { start, end });
        pos = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn holes_are_not_data() {
        let mut f = tempfile::NamedTempFile::new().expect("tmp");
        let mib = 1u64 << 20;
        f.as_file().set_len(64 * mib).expect("len");
        f.seek(SeekFrom::Start(8 * mib)).expect("seek");
        f.write_all(&[1u8; 4096]).expect("w");
        f.seek(SeekFrom::Start(40 * mib)).expect("seek");
        f.write_all(&[2u8; 8192]).expect("w");
        f.flush().expect("flush");
        let d = RawDisk::open(f.path()).expect("open");
        assert_eq!(d.size(), 64 * mib);
        // tmpfs and ext4 report holes at page granularity.
        assert_eq!(d.data().len(), 2, "{:?}", d.data());
        assert!(d.data_bytes() < mib, "{}", d.data_bytes());
        assert_eq!(d.granules(mib), vec![8..9, 40..41]);
        let mut b = [9u8; 16];
        d.read_at(64 * mib - 8, &mut b).expect("read");
        assert_eq!(b, [0u8; 16]);
        d.read_at(40 * mib, &mut b).expect("read");
        assert_eq!(b, [2u8; 16]);
    }

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0u8; 4099]));
        let mut v = vec![0u8; 4099];
        v[4098] = 1;
        assert!(!is_zero(&v));
        v[4098] = 0;
        v[17] = 1;
        assert!(!is_zero(&v));
    }
}
