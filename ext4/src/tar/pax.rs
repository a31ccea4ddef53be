//! Robust PAX extended-header handling.
//!
//! The `tar` crate splits PAX records at newlines, so binary values (e.g. a
//! `security.capability` or a large `user.*` xattr containing `0x0a`) make
//! it report "malformed pax extension" and skip later records. We record the
//! raw header bytes the crate reads between members ([`Tee`]) and parse the
//! length-prefixed records ourselves.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

/// Most bytes recorded between two members (headers and extensions only).
const CAP: usize = 64 << 20;

#[derive(Default)]
pub struct Rec {
    on: bool,
    start: u64,
    buf: Vec<u8>,
    overflow: bool,
}

impl Rec {
    pub fn start(&mut self) {
        self.on = true;
        self.buf.clear();
        self.overflow = false;
    }
    pub fn stop(&mut self) {
        self.on = false;
    }
}

/// A reader that counts its position and records bytes while asked to.
pub struct Tee<R> {
    pub inner: R,
    pub pos: u64,
    pub rec: Rc<RefCell<Rec>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut r = self.rec.borrow_mut();
        if r.on && !r.overflow {
            if r.buf.is_empty() {
                r.start = self.pos;
            }
            if r.buf.len() + n > CAP {
                r.overflow = true;
                r.buf.clear();
            } else {
                r.buf.extend_from_slice(&buf[..n]);
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        // base-256
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| (b'0'..=b'7').contains(&b))
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

fn valid_header(h: &[u8]) -> bool {
    let Some(sum) = octal(&h[148..156]) else {
        return false;
    };
    let mut s: u64 = 0;
    for (i, &b) in h.iter().enumerate() {
        s += if (148..156).contains(&i) {
            32
        } else {
            u64::from(b)
        };
    }
    s == sum && h.iter().any(|&b| b != 0)
}

/// The raw local PAX data describing the member whose header is at
/// `header_pos`, if it was recorded.
pub fn raw_pax(rec: &Rec, header_pos: u64) -> Option<Vec<u8>> {
    if rec.overflow || rec.buf.is_empty() {
        return None;
    }
    let base = rec.start;
    let mut off = base.div_ceil(512) * 512;
    let mut found = None;
    while off + 512 <= header_pos {
        let i = (off - base) as usize;
        let h = rec.buf.get(i..i + 512)?;
        if !valid_header(h) {
            off += 512;
            continue;
        }
        let size = octal(&h[124..136])?;
        let data = i + 512;
        if h[156] == b'x' {
            let d = rec.buf.get(data..data + usize::try_from(size).ok()?)?;
            found = Some(d.to_vec());
        }
        off = off.checked_add(512 + size.div_ceil(512) * 512)?;
    }
    found
}

/// Parse `LEN key=value\n` records. Returns None if malformed.
pub fn parse(data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < data.len() {
        if data[p..].iter().all(|&b| b == 0) {
            break;
        }
        let sp = data[p..].iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[p..p + sp]).ok()?.parse().ok()?;
        let rec = data.get(p..p.checked_add(len)?)?;
        if len <= sp + 1 || rec.last() != Some(&b'\n') {
            return None;
        }
        let kv = &rec[sp + 1..len - 1];
        let eq = kv.iter().position(|&b| b == b'=')?;
        let key = String::from_utf8(kv[..eq].to_vec()).ok()?;
        out.push((key, kv[eq + 1..].to_vec()));
        p += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_with_newlines() {
        let v = b"a\nb\n";
        let rec = format!("{} user.x=", 3 + 7 + v.len() + 1);
        let mut d = rec.into_bytes();
        d.extend_from_slice(v);
        d.push(b'\n');
        d.extend_from_slice(b"11 path=ab\n");
        let got = parse(&d).expect("parse");
        assert_eq!(got[0], ("user.x".to_string(), v.to_vec()));
        assert_eq!(got[1], ("path".to_string(), b"ab".to_vec()));
        assert!(parse(b"99 x=1\n").is_none());
    }
}
