//! Extended attributes: name prefixes, the in-inode area (after
//! `extra_isize`) and the external xattr block, with their hashes.

use crate::alloc::BS;
use crate::csum::{crc, put16, put32};
use crate::inode::{INODE_SIZE, XATTR_OFF};
use crate::{Error, Xattr};

const MAGIC: u32 = 0xEA02_0000;

/// (name index, suffix) for a full xattr name.
pub fn split_name(name: &str) -> Option<(u8, &str)> {
    const PREFIXES: [(&str, u8); 6] = [
        ("user.", 1),
        ("trusted.", 4),
        ("security.", 6),
        ("system.posix_acl_access", 2),
        ("system.posix_acl_default", 3),
        ("system.", 7),
    ];
    for (p, i) in PREFIXES {
        if let Some(rest) = name.strip_prefix(p) {
            if (i == 2 || i == 3) && !rest.is_empty() {
                continue;
            }
            return Some((i, rest));
        }
    }
    None
}

/// Check a name and convert POSIX ACLs to ext4's on-disk format.
pub(crate) fn validate(path: &str, x: &mut Xattr) -> Result<(), Error> {
    let Some((idx, suffix)) = split_name(&x.name) else {
        return Err(Error::entry(
            path,
            format!("unsupported xattr namespace in {:?}", x.name),
        ));
    };
    if suffix.len() > 255 || (suffix.is_empty() && idx != 2 && idx != 3) {
        return Err(Error::entry(
            path,
            format!("invalid xattr name {:?}", x.name),
        ));
    }
    if idx == 2 || idx == 3 {
        x.value = crate::acl::to_ext4(path, &x.value)?;
    }
    if x.value.len() > BS - 32 - 16 - 256 - 4 {
        return Err(Error::entry(
            path,
            format!("xattr {:?} value is too large", x.name),
        ));
    }
    Ok(())
}

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// e_hash of one entry.
fn entry_hash(suffix: &[u8], value: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in suffix {
        h = (h << 5) ^ (h >> 27) ^ u32::from(c);
    }
    for w in value.chunks(4) {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes(b);
    }
    h
}

struct Ent<'a> {
    idx: u8,
    suffix: &'a [u8],
    value: &'a [u8],
    hash: u32,
}

fn entries(xattrs: &[Xattr]) -> Vec<Ent<'_>> {
    let mut v: Vec<Ent<'_>> = xattrs
        .iter()
        .filter_map(|x| {
            let (idx, s) = split_name(&x.name)?;
            Some(Ent {
                idx,
                suffix: s.as_bytes(),
                value: &x.value,
                hash: entry_hash(s.as_bytes(), &x.value),
            })
        })
        .collect();
    v.sort_by(|a, b| (a.idx, a.suffix.len(), a.suffix).cmp(&(b.idx, b.suffix.len(), b.suffix)));
    v.dedup_by(|a, b| a.idx == b.idx && a.suffix == b.suffix);
    v
}

fn space(es: &[Ent<'_>]) -> usize {
    es.iter()
        .map(|e| pad4(16 + e.suffix.len()) + pad4(e.value.len()))
        .sum::<usize>()
        + 4
}

/// Lay entries into `area` (entries from `first`, values from the end);
/// value offsets are relative to `base`.
fn lay(es: &[Ent<'_>], area: &mut [u8], first: usize, base: usize) {
    let mut off = first;
    let mut vend = area.len();
    for e in es {
        let vlen = pad4(e.value.len());
        vend -= vlen;
        area[vend..vend + e.value.len()].copy_from_slice(e.value);
        area[off] = e.suffix.len() as u8;
        area[off + 1] = e.idx;
        put16(
            area,
            off + 2,
            if e.value.is_empty() {
                0
            } else {
                (vend - base) as u16
            },
        );
        put32(area, off + 4, 0);
        put32(area, off + 8, e.value.len() as u32);
        put32(area, off + 12, e.hash);
        area[off + 16..off + 16 + e.suffix.len()].copy_from_slice(e.suffix);
        off += pad4(16 + e.suffix.len());
    }
}

/// Where an inode's xattrs go.
pub enum Placement {
    None,
    /// The in-inode area bytes (from `XATTR_OFF` to the end of the inode).
    InInode(Vec<u8>),
    /// Needs an external block.
    Block,
}

/// Decide placement: everything in the inode if it fits, else a block.
pub fn place(xattrs: &[Xattr]) -> Placement {
    let es = entries(xattrs);
    if es.is_empty() {
        return Placement::None;
    }
    let room = INODE_SIZE - XATTR_OFF;
    if space(&es) + 4 > room {
        return Placement::Block;
    }
    let mut area = vec![0u8; room];
    put32(&mut area, 0, MAGIC);
    lay(&es, &mut area, 4, 4);
    Placement::InInode(area)
}

/// Does the block form fit at all?
pub fn fits_block(xattrs: &[Xattr]) -> bool {
    space(&entries(xattrs)) + 32 <= BS
}

/// The external xattr block at physical block `blk`.
pub fn block(xattrs: &[Xattr], blk: u64, fs_seed: u32) -> Vec<u8> {
    let es = entries(xattrs);
    let mut b = vec![0u8; BS];
    put32(&mut b, 0, MAGIC);
    put32(&mut b, 4, 1); // refcount
    put32(&mut b, 8, 1); // blocks
    lay(&es, &mut b, 32, 0);
    let mut h: u32 = 0;
    for e in &es {
        h = (h << 16) ^ (h >> 16) ^ e.hash;
    }
    put32(&mut b, 12, h);
    let c = crc(fs_seed, &blk.to_le_bytes());
    let c = crc(c, &b);
    put32(&mut b, 16, c);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_xattrs_go_in_inode_large_in_block() {
        let cap = Xattr {
            name: "security.capability".into(),
            value: vec![1; 20],
        };
        assert!(matches!(
            place(std::slice::from_ref(&cap)),
            Placement::InInode(_)
        ));
        let big = Xattr {
            name: "user.big".into(),
            value: vec![2; 1000],
        };
        assert!(matches!(place(&[cap, big]), Placement::Block));
    }

    #[test]
    fn names_map_to_indexes() {
        assert_eq!(split_name("user.a"), Some((1, "a")));
        assert_eq!(split_name("system.posix_acl_access"), Some((2, "")));
        assert_eq!(split_name("security.selinux"), Some((6, "selinux")));
        assert_eq!(split_name("foo.bar"), None);
    }
}
