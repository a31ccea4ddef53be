//! A volume opened for reading: cluster chains followed with every cluster number checked
//! against the data area, and reads bounded by what the caller asks for.

use std::io::{self, Read, Seek, SeekFrom};

use crate::bpb::Bpb;
use crate::dir::{parse_dir, Dir, Entry};
use crate::error::{corrupt, fat_err, Error, Result};
use crate::MAX_ENTRIES;

/// A FAT volume opened for reading.
pub struct Volume<R> {
    r: R,
    /// The checked geometry.
    pub bpb: Bpb,
}

impl<R: Read + Seek> Volume<R> {
    /// Read and check the boot sector.
    pub fn open(mut r: R) -> Result<Self> {
        let mut bs = [0u8; 512];
        r.seek(SeekFrom::Start(0))
            .and_then(|_| r.read_exact(&mut bs))
            .map_err(fat_err("mounting", "/"))?;
        let bpb = Bpb::parse(&bs)
            .ok_or_else(|| fat_err("mounting", "/")(corrupt("no valid FAT boot sector".into())))?;
        Ok(Volume { r, bpb })
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.r.seek(SeekFrom::Start(offset))?;
        self.r.read_exact(buf)
    }

    fn check_cluster(&self, n: u32) -> io::Result<u32> {
        if n < 2 || u64::from(n) > self.bpb.last_cluster() {
            return Err(corrupt(format!(
                "cluster {n} is outside the data area (2..={})",
                self.bpb.last_cluster()
            )));
        }
        Ok(n)
    }

    /// The FAT entry of cluster `n`: Some(next) or None at the end of the chain.
    fn next(&mut self, n: u32) -> io::Result<Option<u32>> {
        let fat = self.bpb.sector_bytes(self.bpb.reserved);
        let n64 = u64::from(n);
        let (value, end) = match self.bpb.bits {
            12 => {
                let mut b = [0u8; 2];
                self.read_at(fat + n64 + n64 / 2, &mut b)?;
                let v = u16::from_le_bytes(b);
                let v = if n % 2 == 0 { v & 0x0fff } else { v >> 4 };
                (u32::from(v), 0x0ff8)
            }
            16 => {
                let mut b = [0u8; 2];
                self.read_at(fat + 2 * n64, &mut b)?;
                (u32::from(u16::from_le_bytes(b)), 0xfff8)
            }
            _ => {
                let mut b = [0u8; 4];
                self.read_at(fat + 4 * n64, &mut b)?;
                (u32::from_le_bytes(b) & 0x0fff_ffff, 0x0fff_fff8)
            }
        };
        if value >= end {
            return Ok(None);
        }
        self.check_cluster(value)
            .map(Some)
            .map_err(|e| corrupt(format!("FAT entry of cluster {n}: {e}")))
    }

    /// Up to `max_bytes` of the chain starting at `first` (which must be a data cluster).
    fn read_chain(&mut self, first: u32, max_bytes: u64) -> io::Result<Vec<u8>> {
        let cluster = self.bpb.cluster_bytes();
        let mut out = Vec::new();
        let mut at = Some(self.check_cluster(first)?);
        while let Some(n) = at {
            if out.len() as u64 >= max_bytes {
                break;
            }
            let take = cluster.min(max_bytes - out.len() as u64);
            let off = self.bpb.data_offset() + (u64::from(n) - 2) * cluster;
            let start = out.len();
            // take <= cluster size (at most 128 KiB * 4): bounded.
            out.resize(start + take as usize, 0);
            self.read_at(off, &mut out[start..])?;
            at = self.next(n)?;
        }
        Ok(out)
    }

    /// The entries of a directory (without `.`, `..` and the volume label).
    pub fn read_dir(&mut self, dir: Dir, path: &str) -> Result<Vec<Entry>> {
        let max = MAX_ENTRIES as u64 * 32;
        let raw = match dir {
            Dir::FixedRoot if self.bpb.bits != 32 => {
                let mut b = vec![0u8; (self.bpb.root_entries * 32) as usize];
                let off = self.bpb.root_dir_offset();
                self.read_at(off, &mut b).map(|_| b)
            }
            Dir::FixedRoot => self.read_chain(self.bpb.root_cluster, max),
            Dir::Chain(first) => self.read_chain(first, max),
        }
        .map_err(fat_err("listing", path))?;
        Ok(parse_dir(&raw, self.bpb.bits == 32))
    }

    /// The content of a file entry, at most `limit` bytes (else [`Error::TooLarge`]).
    pub fn read_file(&mut self, e: &Entry, path: &str, limit: u64) -> Result<Vec<u8>> {
        let size = u64::from(e.size);
        if size > limit {
            return Err(Error::TooLarge {
                path: path.to_string(),
                size,
                limit,
            });
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let data = self
            .read_chain(e.first_cluster, size)
            .map_err(fat_err("reading", path))?;
        if (data.len() as u64) < size {
            return Err(fat_err("reading", path)(corrupt(format!(
                "the cluster chain holds {} of its {size} bytes",
                data.len()
            ))));
        }
        Ok(data)
    }
}
