//! A read-only FAT12/16/32 reader for volumes made by anyone (`kubebake inspect` reads the
//! ESP of any image): every cluster number is checked against the data area before it is
//! turned into an offset, chains are bounded by what the entry can hold, directories by
//! entry count and depth. `fatfs` (which writes our volumes) computes offsets from cluster
//! numbers unchecked, so hostile volumes never reach it.

use std::io::{self, Read, Seek, SeekFrom};

use crate::error::{Error, Result};

/// Bounds on listing: a directory chain that loops, or a subdirectory that points back at
/// its parent, must not walk forever.
pub(crate) const MAX_DEPTH: usize = 32;
pub(crate) const MAX_ENTRIES: usize = 100_000;

/// The geometry of a FAT volume, from its boot sector (BPB), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bpb {
    pub bytes_per_sector: u32,
    pub sectors_per_cluster: u32,
    pub reserved: u64,
    pub fats: u64,
    pub fat_sectors: u64,
    pub root_entries: u64,
    pub total_sectors: u64,
    pub clusters: u64,
    pub bits: u8,
    /// FAT32: the root directory's first cluster.
    pub root_cluster: u32,
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl Bpb {
    /// Parse and check a boot sector (512 bytes); None when it is not a FAT volume.
    pub fn parse(bs: &[u8]) -> Option<Bpb> {
        if bs.len() < 512 || bs[510] != 0x55 || bs[511] != 0xAA {
            return None;
        }
        let bps = u32::from(le16(bs, 11));
        let spc = u32::from(bs[13]);
        let reserved = u64::from(le16(bs, 14));
        let fats = u64::from(bs[16]);
        if !matches!(bps, 512 | 1024 | 2048 | 4096)
            || spc == 0
            || !spc.is_power_of_two()
            || reserved == 0
            || !(1..=2).contains(&fats)
        {
            return None;
        }
        let root_entries = u64::from(le16(bs, 17));
        let fat_sectors = match u64::from(le16(bs, 22)) {
            0 => u64::from(le32(bs, 36)),
            n => n,
        };
        let total_sectors = match u64::from(le16(bs, 19)) {
            0 => u64::from(le32(bs, 32)),
            n => n,
        };
        let root_sectors = (root_entries * 32).div_ceil(u64::from(bps));
        let meta = reserved + fats * fat_sectors + root_sectors;
        if fat_sectors == 0 || total_sectors <= meta {
            return None;
        }
        let clusters = (total_sectors - meta) / u64::from(spc);
        let bits = match clusters {
            c if c < 4085 => 12,
            c if c < 65525 => 16,
            _ => 32,
        };
        Some(Bpb {
            bytes_per_sector: bps,
            sectors_per_cluster: spc,
            reserved,
            fats,
            fat_sectors,
            root_entries,
            total_sectors,
            clusters,
            bits,
            root_cluster: if bits == 32 { le32(bs, 44) } else { 0 },
        })
    }

    pub fn cluster_bytes(&self) -> u64 {
        u64::from(self.bytes_per_sector) * u64::from(self.sectors_per_cluster)
    }

    fn sector_bytes(&self, sectors: u64) -> u64 {
        sectors * u64::from(self.bytes_per_sector)
    }

    fn root_dir_offset(&self) -> u64 {
        self.sector_bytes(self.reserved + self.fats * self.fat_sectors)
    }

    fn data_offset(&self) -> u64 {
        self.root_dir_offset() + self.root_entries * 32
    }

    /// The largest valid data cluster number (clusters are numbered from 2).
    fn last_cluster(&self) -> u64 {
        self.clusters + 1
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The long name when there is one, else the 8.3 name.
    pub name: String,
    /// The 8.3 name.
    pub short: String,
    pub is_dir: bool,
    pub first_cluster: u32,
    pub size: u32,
}

impl Entry {
    /// FAT's case-insensitive match, on the long or the short name.
    pub fn matches(&self, name: &str) -> bool {
        let n = name.to_lowercase();
        self.name.to_lowercase() == n || self.short.to_lowercase() == n
    }
}

/// Where a directory's entries are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dir {
    /// The FAT12/16 root directory region.
    FixedRoot,
    /// A cluster chain.
    Chain(u32),
}

/// A FAT volume opened for reading.
pub(crate) struct Volume<R> {
    r: R,
    pub bpb: Bpb,
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn fat_err(what: &'static str, path: &str) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_string();
    move |source| Error::Fat { what, path, source }
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

/// The 8.3 name of a short entry, with the lowercase bits Windows NT sets honoured.
fn short_name(e: &[u8]) -> String {
    let mut base: Vec<u8> = e[0..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xe5;
    }
    let lower = |b: &[u8], yes: bool| -> String {
        let s: String = b.iter().map(|&c| char::from(c)).collect();
        let s = s.trim_end_matches(' ').to_string();
        if yes {
            s.to_ascii_lowercase()
        } else {
            s
        }
    };
    let base = lower(&base, e[12] & 0x08 != 0);
    let ext = lower(&e[8..11], e[12] & 0x10 != 0);
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

fn lfn_checksum(short: &[u8]) -> u8 {
    short[..11]
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// Long-name pieces collected before their short entry.
#[derive(Default)]
struct Lfn {
    units: Vec<u16>,
    next_seq: u8,
    checksum: u8,
}

impl Lfn {
    fn add(&mut self, e: &[u8]) {
        let seq = e[0] & 0x1f;
        if e[0] & 0x40 != 0 {
            *self = Lfn {
                units: vec![0xffff; 13 * usize::from(seq)],
                next_seq: seq,
                checksum: e[13],
            };
        }
        if seq == 0 || seq != self.next_seq || e[13] != self.checksum {
            *self = Lfn::default();
            return;
        }
        let chars = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        let base = 13 * usize::from(seq - 1);
        for (i, &o) in chars.iter().enumerate() {
            if let Some(u) = self.units.get_mut(base + i) {
                *u = le16(e, o);
            }
        }
        self.next_seq = seq - 1;
    }

    /// The long name for the short entry `e`, if a complete matching one was collected.
    fn take(&mut self, e: &[u8]) -> Option<String> {
        let lfn = std::mem::take(self);
        if lfn.units.is_empty() || lfn.next_seq != 0 || lfn.checksum != lfn_checksum(e) {
            return None;
        }
        let end = lfn
            .units
            .iter()
            .position(|&u| u == 0 || u == 0xffff)
            .unwrap_or(lfn.units.len());
        Some(String::from_utf16_lossy(&lfn.units[..end])).filter(|s| !s.is_empty())
    }
}

/// The entries of a directory's raw bytes.
fn parse_dir(raw: &[u8], fat32: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut lfn = Lfn::default();
    for e in raw.chunks_exact(32) {
        match e[0] {
            0x00 => break,
            0xe5 => {
                lfn = Lfn::default();
                continue;
            }
            _ => {}
        }
        let attr = e[11];
        if attr & 0x3f == 0x0f {
            lfn.add(e);
            continue;
        }
        let long = lfn.take(e);
        if attr & 0x08 != 0 {
            continue; // volume label
        }
        let short = short_name(e);
        let name = long.unwrap_or_else(|| short.clone());
        if name == "." || name == ".." {
            continue;
        }
        let hi = if fat32 {
            u32::from(le16(e, 20)) << 16
        } else {
            0
        };
        out.push(Entry {
            name,
            short,
            is_dir: attr & 0x10 != 0,
            first_cluster: hi | u32::from(le16(e, 26)),
            size: le32(e, 28),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_honour_the_case_bits_and_the_e5_escape() {
        let mut e = [b' '; 32];
        e[..8].copy_from_slice(b"README  ");
        e[8..11].copy_from_slice(b"TXT");
        e[12] = 0;
        assert_eq!(short_name(&e), "README.TXT");
        e[12] = 0x18;
        assert_eq!(short_name(&e), "readme.txt");
        e[0] = 0x05;
        e[12] = 0;
        e[8..11].copy_from_slice(b"   ");
        assert_eq!(short_name(&e), "\u{e5}EADME");
    }
}
