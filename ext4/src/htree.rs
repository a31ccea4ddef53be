//! Hashed directories (`dir_index`): the half-MD4 name hash (signed-char
//! variant, as mke2fs writes on x86) and the dx_root / dx_node index blocks with their tails.

use crate::alloc::BS;
use crate::csum::{crc, put16, put32};
use crate::dir::{self, DirEnt, FT_DIR};
use crate::Error;

fn str2hashbuf(msg: &[u8], num: usize, out: &mut [u32; 8]) {
    let len = msg.len();
    let mut pad = (len as u32) | ((len as u32) << 8);
    pad |= pad << 16;
    let mut val = pad;
    let take = len.min(num * 4);
    let mut n = num as isize;
    let mut k = 0;
    for (i, &c) in msg[..take].iter().enumerate() {
        // signed char, sign-extended (superblock flag SIGNED_HASH)
        val = (i32::from(c as i8) as u32).wrapping_add(val << 8);
        if i % 4 == 3 {
            out[k] = val;
            k += 1;
            val = pad;
            n -= 1;
        }
    }
    n -= 1;
    if n >= 0 {
        out[k] = val;
        k += 1;
    }
    while n > 0 {
        n -= 1;
        out[k] = pad;
        k += 1;
    }
}

fn half_md4(buf: &mut [u32; 4], inp: &[u32; 8]) {
    let (mut a, mut b, mut c, mut d) = (buf[0], buf[1], buf[2], buf[3]);
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    macro_rules! r {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a
                .wrapping_add($f($b, $c, $d))
                .wrapping_add($x)
                .rotate_left($s);
        };
    }
    r!(f, a, b, c, d, inp[0], 3);
    r!(f, d, a, b, c, inp[1], 7);
    r!(f, c, d, a, b, inp[2], 11);
    r!(f, b, c, d, a, inp[3], 19);
    r!(f, a, b, c, d, inp[4], 3);
    r!(f, d, a, b, c, inp[5], 7);
    r!(f, c, d, a, b, inp[6], 11);
    r!(f, b, c, d, a, inp[7], 19);

    r!(g, a, b, c, d, inp[1].wrapping_add(K2), 3);
    r!(g, d, a, b, c, inp[3].wrapping_add(K2), 5);
    r!(g, c, d, a, b, inp[5].wrapping_add(K2), 9);
    r!(g, b, c, d, a, inp[7].wrapping_add(K2), 13);
    r!(g, a, b, c, d, inp[0].wrapping_add(K2), 3);
    r!(g, d, a, b, c, inp[2].wrapping_add(K2), 5);
    r!(g, c, d, a, b, inp[4].wrapping_add(K2), 9);
    r!(g, b, c, d, a, inp[6].wrapping_add(K2), 13);

    r!(h, a, b, c, d, inp[3].wrapping_add(K3), 3);
    r!(h, d, a, b, c, inp[7].wrapping_add(K3), 9);
    r!(h, c, d, a, b, inp[2].wrapping_add(K3), 11);
    r!(h, b, c, d, a, inp[6].wrapping_add(K3), 15);
    r!(h, a, b, c, d, inp[1].wrapping_add(K3), 3);
    r!(h, d, a, b, c, inp[5].wrapping_add(K3), 9);
    r!(h, c, d, a, b, inp[0].wrapping_add(K3), 11);
    r!(h, b, c, d, a, inp[4].wrapping_add(K3), 15);

    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

/// ext4 `half_md4` (signed) directory hash of `name` with the superblock seed.
pub fn hash(name: &[u8], seed: &[u8; 16]) -> u32 {
    let mut buf = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    if seed.iter().any(|&b| b != 0) {
        for (i, w) in buf.iter_mut().enumerate() {
            *w = u32::from_le_bytes([
                seed[4 * i],
                seed[4 * i + 1],
                seed[4 * i + 2],
                seed[4 * i + 3],
            ]);
        }
    }
    let mut p = name;
    loop {
        let mut inp = [0u32; 8];
        str2hashbuf(p, 8, &mut inp);
        half_md4(&mut buf, &inp);
        if p.len() <= 32 {
            break;
        }
        p = &p[32..];
    }
    let mut h = buf[1] & !1;
    if h == 0x7fff_ffff << 1 {
        h = (0x7fff_ffff - 1) << 1;
    }
    h
}

const ROOT_LIMIT: usize = (BS - 32 - 8) / 8;
const NODE_LIMIT: usize = (BS - 8 - 8) / 8;

/// Write count/limit plus entries at `off`; `entries[0].0` is ignored.
fn put_dx(b: &mut [u8], off: usize, limit: usize, entries: &[(u32, u32)]) {
    put16(b, off, limit as u16);
    put16(b, off + 2, entries.len() as u16);
    for (i, &(h, blk)) in entries.iter().enumerate() {
        if i > 0 {
            put32(b, off + 8 * i, h);
        }
        put32(b, off + 8 * i + 4, blk);
    }
}

/// dx_tail checksum over the header and entries in use.
fn seal_dx(b: &mut [u8], count_off: usize, count: usize, limit: usize, inode_seed: u32) {
    let tail = count_off + limit * 8;
    put32(b, tail, 0);
    let c = crc(inode_seed, &b[..count_off + count * 8]);
    let c = crc(c, &[0u8; 4]);
    let c = crc(c, &[0u8; 4]);
    put32(b, tail + 4, c);
}

/// Build an indexed directory. Returns its blocks (block 0 is the dx_root).
pub fn build(
    ino: u32,
    parent: u32,
    entries: &[DirEnt<'_>],
    seed: &[u8; 16],
    inode_seed: u32,
) -> Result<Vec<u8>, Error> {
    let mut hashed: Vec<(u32, DirEnt<'_>)> = entries
        .iter()
        .map(|e| (hash(e.name, seed), e.clone()))
        .collect();
    hashed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(b.1.name)));
    let sorted: Vec<DirEnt<'_>> = hashed.iter().map(|(_, e)| e.clone()).collect();
    // Leaf blocks and the hash each starts with (low bit = continuation).
    let mut starts = Vec::new();
    let leaves = dir::pack(&sorted, inode_seed, |i| starts.push(i));
    let mut leaf_hashes = Vec::with_capacity(starts.len());
    for &i in &starts {
        let h = hashed[i].0;
        let cont = i > 0 && hashed[i - 1].0 == h;
        leaf_hashes.push(if cont { h | 1 } else { h });
    }
    let nleaves = leaf_hashes.len();
    let (levels, nodes) = if nleaves <= ROOT_LIMIT {
        (0u8, 0usize)
    } else {
        let n = nleaves.div_ceil(NODE_LIMIT);
        if n > ROOT_LIMIT {
            return Err(Error::Limit(format!(
                "directory inode {ino} has too many entries for a two-level htree"
            )));
        }
        (1, n)
    };
    let first_leaf = 1 + nodes;
    let mut out = vec![0u8; BS * (1 + nodes)];
    // dx_root
    {
        let b = &mut out[..BS];
        dir::put_entry(
            b,
            0,
            &DirEnt {
                name: b".",
                ino,
                ftype: FT_DIR,
            },
            12,
        );
        dir::put_entry(
            b,
            12,
            &DirEnt {
                name: b"..",
                ino: parent,
                ftype: FT_DIR,
            },
            BS - 12,
        );
        put32(b, 24, 0);
        b[28] = 1; // half_md4
        b[29] = 8; // info length
        b[30] = levels;
        b[31] = 0;
        let root_entries: Vec<(u32, u32)> = if levels == 0 {
            (0..nleaves)
                .map(|i| (leaf_hashes[i], (first_leaf + i) as u32))
                .collect()
        } else {
            (0..nodes)
                .map(|n| (leaf_hashes[n * NODE_LIMIT], (1 + n) as u32))
                .collect()
        };
        put_dx(b, 32, ROOT_LIMIT, &root_entries);
        seal_dx(b, 32, root_entries.len(), ROOT_LIMIT, inode_seed);
    }
    for n in 0..nodes {
        let b = &mut out[BS * (1 + n)..BS * (2 + n)];
        put32(b, 0, 0);
        put16(b, 4, BS as u16);
        let lo = n * NODE_LIMIT;
        let hi = (lo + NODE_LIMIT).min(nleaves);
        let ents: Vec<(u32, u32)> = (lo..hi)
            .map(|i| (leaf_hashes[i], (first_leaf + i) as u32))
            .collect();
        put_dx(b, 8, NODE_LIMIT, &ents);
        seal_dx(b, 8, ents.len(), NODE_LIMIT, inode_seed);
    }
    out.extend_from_slice(&leaves);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_even_and_seed_dependent() {
        let h0 = hash(b"hello", &[0; 16]);
        let h1 = hash(b"hello", &[1; 16]);
        assert_eq!(h0 & 1, 0);
        assert_ne!(h0, h1);
        // long names go through several rounds
        let long = vec![b'x'; 255];
        assert_ne!(hash(&long, &[0; 16]), hash(&long[..254], &[0; 16]));
    }
}
