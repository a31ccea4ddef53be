//! Repairs for fatfs 0.3.6 output. `Dir::create_dir` writes long-file-name entries in front
//! of the "." and ".." entries of every new directory (rust-fatfs#117, fixed upstream after
//! 0.3.6), which fsck.fat reports as "Expected a valid '.' entry in this slot". After the
//! volume is unmounted we walk the directory tree ourselves and turn
//! `[LFN, ".", LFN, "..", ...]` into `[".", "..", <deleted>, <deleted>, ...]`.
//! It also points ".." of directories in a FAT32 root at cluster 0, as the spec says
//! (fatfs writes the root's cluster number, which fsck.fat rejects). And it stamps the
//! volume-label entry fatfs writes at format time (with zero timestamps) with the build time.

use std::io::{self, Read, Seek, SeekFrom, Write};

const ATTR_LFN: u8 = 0x0F;
const ATTR_DIR: u8 = 0x10;
const ATTR_VOLUME: u8 = 0x08;
const DELETED: u8 = 0xE5;

/// The geometry we need, from the boot sector.
struct Geometry {
    cluster_bytes: u64,
    fat_offset: u64,
    fat32: bool,
    /// Byte offset of the fixed root directory (FAT12/16) and its length.
    root_region: (u64, u64),
    root_cluster: u32,
    data_offset: u64,
    clusters: u64,
    fat12: bool,
}

fn geometry<T: Read + Seek>(disk: &mut T) -> io::Result<Geometry> {
    let mut bs = [0u8; 512];
    disk.seek(SeekFrom::Start(0))?;
    disk.read_exact(&mut bs)?;
    let u16at = |o: usize| u64::from(u16::from_le_bytes([bs[o], bs[o + 1]]));
    let u32at = |o: usize| u64::from(u32::from_le_bytes([bs[o], bs[o + 1], bs[o + 2], bs[o + 3]]));
    let bps = u16at(11);
    let spc = u64::from(bs[13]);
    let reserved = u16at(14);
    let fats = u64::from(bs[16]);
    let root_entries = u16at(17);
    let total = if u16at(19) != 0 { u16at(19) } else { u32at(32) };
    let fat_size = if u16at(22) != 0 { u16at(22) } else { u32at(36) };
    if bps == 0 || spc == 0 {
        return Err(io::Error::other("not a FAT boot sector"));
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let root_start = reserved + fats * fat_size;
    let data_start = root_start + root_sectors;
    let clusters = total.saturating_sub(data_start) / spc;
    Ok(Geometry {
        cluster_bytes: bps * spc,
        fat_offset: reserved * bps,
        fat32: clusters >= 65_525,
        root_region: (root_start * bps, root_sectors * bps),
        root_cluster: u32::try_from(u32at(44)).unwrap_or(0),
        data_offset: data_start * bps,
        clusters,
        fat12: clusters < 4085,
    })
}

impl Geometry {
    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset + u64::from(cluster - 2) * self.cluster_bytes
    }

    fn valid(&self, cluster: u32) -> bool {
        cluster >= 2 && u64::from(cluster) < self.clusters + 2
    }

    fn next<T: Read + Seek>(&self, disk: &mut T, cluster: u32) -> io::Result<Option<u32>> {
        let c = u64::from(cluster);
        let next = if self.fat12 {
            let off = self.fat_offset + c + c / 2;
            let mut b = [0u8; 2];
            disk.seek(SeekFrom::Start(off))?;
            disk.read_exact(&mut b)?;
            let v = u16::from_le_bytes(b);
            u32::from(if c % 2 == 0 { v & 0xFFF } else { v >> 4 })
        } else if self.fat32 {
            let mut b = [0u8; 4];
            disk.seek(SeekFrom::Start(self.fat_offset + c * 4))?;
            disk.read_exact(&mut b)?;
            u32::from_le_bytes(b) & 0x0FFF_FFFF
        } else {
            let mut b = [0u8; 2];
            disk.seek(SeekFrom::Start(self.fat_offset + c * 2))?;
            disk.read_exact(&mut b)?;
            u32::from(u16::from_le_bytes(b))
        };
        Ok(self.valid(next).then_some(next))
    }

    /// Byte ranges holding a directory that starts at `cluster` (0 = root).
    fn dir_extents<T: Read + Seek>(
        &self,
        disk: &mut T,
        cluster: u32,
    ) -> io::Result<Vec<(u64, u64)>> {
        if cluster == 0 && !self.fat32 {
            return Ok(vec![self.root_region]);
        }
        let mut c = if cluster == 0 {
            self.root_cluster
        } else {
            cluster
        };
        let mut out = Vec::new();
        while self.valid(c) {
            if out.len() as u64 > self.clusters {
                return Err(io::Error::other("cluster chain loops"));
            }
            out.push((self.cluster_offset(c), self.cluster_bytes));
            match self.next(disk, c)? {
                Some(n) => c = n,
                None => break,
            }
        }
        Ok(out)
    }
}

fn is_dot(e: &[u8]) -> bool {
    &e[..11] == b".          " && e[11] & ATTR_DIR != 0
}

fn is_dotdot(e: &[u8]) -> bool {
    &e[..11] == b"..         " && e[11] & ATTR_DIR != 0
}

/// Fix the dot entries of every directory below the root. Returns how many were fixed.
pub(crate) fn fix_dot_entries<T: Read + Write + Seek>(disk: &mut T) -> io::Result<usize> {
    let g = geometry(disk)?;
    let mut fixed = 0;
    // (directory's first cluster, parent's first cluster); 0 = root.
    let mut todo = vec![(0u32, 0u32)];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((dir, parent)) = todo.pop() {
        if !seen.insert(dir) {
            continue;
        }
        let extents = g.dir_extents(disk, dir)?;
        let mut bytes = Vec::new();
        for (off, len) in &extents {
            let mut buf = vec![0u8; usize::try_from(*len).unwrap_or(0)];
            disk.seek(SeekFrom::Start(*off))?;
            disk.read_exact(&mut buf)?;
            bytes.extend_from_slice(&buf);
        }
        if dir != 0 && bytes.len() >= 128 {
            let e = |i: usize| &bytes[i * 32..i * 32 + 32];
            let mut head = [0u8; 128];
            head.copy_from_slice(&bytes[..128]);
            if e(0)[11] == ATTR_LFN && is_dot(e(1)) && e(2)[11] == ATTR_LFN && is_dotdot(e(3)) {
                head = [0u8; 128];
                head[..32].copy_from_slice(e(1));
                head[32..64].copy_from_slice(e(3));
                head[64] = DELETED;
                head[96] = DELETED;
            }
            if is_dotdot(&head[32..64]) {
                let [lo0, lo1, hi0, hi1] = parent.to_le_bytes();
                head[32 + 20] = hi0;
                head[32 + 21] = hi1;
                head[32 + 26] = lo0;
                head[32 + 27] = lo1;
            }
            if head[..] != bytes[..128] {
                disk.seek(SeekFrom::Start(extents[0].0))?;
                disk.write_all(&head)?;
                fixed += 1;
            }
        }
        for e in bytes.chunks_exact(32) {
            if e[0] == 0 {
                break;
            }
            let attr = e[11];
            if e[0] == DELETED || attr == ATTR_LFN || attr & ATTR_VOLUME != 0 {
                continue;
            }
            if attr & ATTR_DIR != 0 && !is_dot(e) && !is_dotdot(e) {
                let hi = u32::from(u16::from_le_bytes([e[20], e[21]]));
                let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
                let first = if g.fat32 { (hi << 16) | lo } else { lo };
                if g.valid(first) {
                    todo.push((first, dir));
                }
            }
        }
    }
    Ok(fixed)
}

/// Rewrite the volume-label entry that fatfs put first in the root directory (what `blkid`
/// and `mlabel` read) with the build timestamp, like mkfs.fat does.
pub(crate) fn stamp_label_entry<T: Read + Write + Seek>(
    disk: &mut T,
    label: [u8; 11],
    when: fatfs::DateTime,
) -> io::Result<()> {
    let g = geometry(disk)?;
    let off = if g.fat32 {
        g.cluster_offset(g.root_cluster)
    } else {
        g.root_region.0
    };
    let (d, t) = (when.date, when.time);
    let date = ((d.year - 1980) << 9) | (d.month << 5) | d.day;
    let time = (t.hour << 11) | (t.min << 5) | (t.sec / 2);
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(&label);
    e[11] = ATTR_VOLUME;
    e[22..24].copy_from_slice(&time.to_le_bytes());
    e[24..26].copy_from_slice(&date.to_le_bytes());
    disk.seek(SeekFrom::Start(off))?;
    disk.write_all(&e)
}
