//! Directory entries: 8.3 names with their case bits, long names (VFAT), and the raw
//! bytes of a directory turned into [`Entry`]s.

use crate::bpb::{le16, le32};

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
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
pub enum Dir {
    /// The FAT12/16 root directory region.
    FixedRoot,
    /// A cluster chain.
    Chain(u32),
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
pub(crate) fn parse_dir(raw: &[u8], fat32: bool) -> Vec<Entry> {
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
