//! Reading one member's headers: the extension headers before it (PAX `x`
//! and `g`, GNU long names `L` and long links `K`) and the GNU old-style
//! sparse map after it. Metadata is capped at [`MAX_META`] per member and
//! its declared size is checked before anything is read, so an archive
//! cannot make the reader buffer what it merely declares.

use std::io::Read;

use super::pax;
use super::sparse::{Segment, SparseMap};
use super::stream::{Short, Stream, BLOCK};
use super::{Ctx, Records};

/// Most bytes of metadata one member may carry: a PAX record set, a GNU
/// long name or link, a sparse map.
pub(crate) const MAX_META: u64 = 1 << 20;

/// A member's own header plus what its extension headers said.
pub(crate) struct Raw {
    /// Byte offset of the member's own header.
    pub off: u64,
    /// The member's own header.
    pub header: tar::Header,
    /// Local PAX records (`x`), if any.
    pub pax: Option<Records>,
    /// GNU long name (`L`), trailing NULs removed.
    pub long_name: Option<Vec<u8>>,
    /// GNU long link target (`K`), trailing NULs removed.
    pub long_link: Option<Vec<u8>>,
    /// GNU old-style sparse map (type `S`).
    pub gnu_sparse: Option<SparseMap>,
}

impl Raw {
    /// The name: PAX `path`, else the GNU long name, else the header's.
    pub fn name(&self) -> Vec<u8> {
        pax::get(self.pax.as_ref(), "path")
            .map(<[u8]>::to_vec)
            .or_else(|| self.long_name.clone())
            .unwrap_or_else(|| self.header.path_bytes().into_owned())
    }

    /// The link target: PAX `linkpath`, else the GNU long link, else the
    /// header's.
    pub fn link(&self) -> Option<Vec<u8>> {
        pax::get(self.pax.as_ref(), "linkpath")
            .map(<[u8]>::to_vec)
            .or_else(|| self.long_link.clone())
            .or_else(|| self.header.link_name_bytes().map(|l| l.into_owned()))
    }

    /// Bytes stored after the header(s): PAX `size`, else the header's.
    pub fn stored(&self) -> Result<u64, String> {
        match pax::get(self.pax.as_ref(), "size") {
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad PAX size value {:?}", String::from_utf8_lossy(v))),
            None => self
                .header
                .entry_size()
                .map_err(|e| format!("bad size field: {e}")),
        }
    }
}

/// What comes next in the archive.
pub(crate) enum Next {
    /// A member.
    Member(Box<Raw>),
    /// The end: an end-of-archive block, or the end of the stream at a
    /// header boundary.
    End,
}

/// Extensions seen so far for the member to come.
#[derive(Default)]
struct Pending {
    pax: Option<Records>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    /// Offset of the first extension header, for errors.
    first: Option<u64>,
}

/// The header checksum: the unsigned sum of the block with the checksum
/// field as spaces (the signed sum of old writers is accepted too).
fn checksum_ok(b: &[u8; 512]) -> bool {
    let field = &b[148..156];
    let digits: String = field
        .iter()
        .map(|&c| c as char)
        .skip_while(|c| *c == ' ')
        .take_while(|c| ('0'..='7').contains(c))
        .collect();
    let Ok(want) = i64::from_str_radix(&digits, 8) else {
        return false;
    };
    let rest = b[..148].iter().chain(&b[156..]);
    let unsigned: i64 = rest.clone().map(|&c| i64::from(c)).sum::<i64>() + 8 * 32;
    let signed: i64 = rest.map(|&c| i64::from(c as i8)).sum::<i64>() + 8 * 32;
    want == unsigned || want == signed
}

/// Read the next member and the extension headers before it.
pub(crate) fn next<R: Read>(s: &mut Stream<R>, at: &Ctx<'_>) -> Result<Next, crate::Error> {
    let mut p = Pending::default();
    loop {
        let off = s.pos();
        let mut block = [0u8; BLOCK as usize];
        match s.fill(&mut block) {
            Ok(()) => {}
            Err(Short::End { got: 0 }) if p.first.is_none() => return Ok(Next::End),
            Err(e) => return Err(at.header_err(off, e.describe("a header", BLOCK))),
        }
        if block.iter().all(|&b| b == 0) {
            if let Some(first) = p.first {
                return Err(at.header_err(
                    first,
                    "an extension header describes no member (the archive ends after it)",
                ));
            }
            return Ok(Next::End);
        }
        if !checksum_ok(&block) {
            let msg = "header checksum mismatch: not a tar header (the archive is damaged or \
                       not a tar archive)";
            // Garbled data from a damaged compressed stream: reading on
            // lets the decoder's check say so.
            let msg = match s.diagnose() {
                Some(cause) => format!("{cause}; it garbled the archive: {msg}"),
                None => msg.to_string(),
            };
            return Err(at.header_err(off, msg));
        }
        let header = tar::Header::from_byte_slice(&block).clone();
        let kind = block[156];
        if !matches!(kind, b'x' | b'g' | b'L' | b'K') {
            let mut raw = Raw {
                off,
                header,
                pax: p.pax,
                long_name: p.long_name,
                long_link: p.long_link,
                gnu_sparse: None,
            };
            if kind == b'S' {
                raw.gnu_sparse = Some(gnu_sparse_map(s, at, &raw)?);
            }
            return Ok(Next::Member(Box::new(raw)));
        }
        if kind != b'g' {
            p.first.get_or_insert(off);
        }
        let data = read_meta(s, at, &header, off)?;
        let shown = String::from_utf8_lossy(&header.path_bytes()).into_owned();
        match kind {
            b'x' => {
                p.pax = Some(pax::parse(&data).map_err(|m| at.err(&shown, off, m))?);
            }
            b'L' => p.long_name = Some(trim_nuls(data)),
            b'K' => p.long_link = Some(trim_nuls(data)),
            // Global records are not applied (as before); their size is
            // still capped.
            _ => {}
        }
    }
}

/// The data of an extension header, at most [`MAX_META`] bytes, checked
/// before it is read.
fn read_meta<R: Read>(
    s: &mut Stream<R>,
    at: &Ctx<'_>,
    h: &tar::Header,
    off: u64,
) -> Result<Vec<u8>, crate::Error> {
    let shown = String::from_utf8_lossy(&h.path_bytes()).into_owned();
    let what = match h.as_bytes()[156] {
        b'x' => "PAX extended header",
        b'g' => "PAX global header",
        b'L' => "GNU long name",
        _ => "GNU long link",
    };
    let size = h
        .entry_size()
        .map_err(|e| at.err(&shown, off, format!("bad size field: {e}")))?;
    if size > MAX_META {
        return Err(at.err(
            &shown,
            off,
            format!(
                "{what} of {size} bytes is over the {} MiB limit",
                MAX_META >> 20
            ),
        ));
    }
    let mut data = vec![0u8; size as usize];
    s.fill(&mut data)
        .and_then(|()| s.align())
        .map_err(|e| at.err(&shown, off, e.describe(what, size)))?;
    Ok(data)
}

fn trim_nuls(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// The GNU old-style sparse map: four runs in the header, 21 in each
/// extension block that follows it.
fn gnu_sparse_map<R: Read>(
    s: &mut Stream<R>,
    at: &Ctx<'_>,
    raw: &Raw,
) -> Result<SparseMap, crate::Error> {
    let shown = String::from_utf8_lossy(&raw.name()).into_owned();
    let err = |m: String| at.err(&shown, raw.off, m);
    let gnu = raw
        .header
        .as_gnu()
        .ok_or_else(|| err("a GNU sparse member (type 'S') without a GNU header".into()))?;
    let mut segments = Vec::new();
    add_runs(&gnu.sparse, &mut segments).map_err(err)?;
    let mut extended = gnu.is_extended();
    let mut read = 0u64;
    while extended {
        read += BLOCK;
        if read > MAX_META {
            return Err(err(format!(
                "GNU sparse map over the {} MiB limit",
                MAX_META >> 20
            )));
        }
        let mut ext = tar::GnuExtSparseHeader::new();
        s.fill(ext.as_mut_bytes())
            .map_err(|e| err(e.describe("the GNU sparse map", BLOCK)))?;
        add_runs(ext.sparse(), &mut segments).map_err(err)?;
        extended = ext.is_extended();
    }
    let real_size = gnu
        .real_size()
        .map_err(|e| err(format!("bad GNU sparse real size: {e}")))?;
    Ok(SparseMap {
        real_size,
        segments,
    })
}

fn add_runs(runs: &[tar::GnuSparseHeader], out: &mut Vec<Segment>) -> Result<(), String> {
    for r in runs.iter().filter(|r| !r.is_empty()) {
        let bad = |e: std::io::Error| format!("bad GNU sparse map entry: {e}");
        out.push(Segment {
            offset: r.offset().map_err(bad)?,
            len: r.length().map_err(bad)?,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        let mut h = tar::Header::new_ustar();
        h.set_path("a").expect("path");
        h.set_cksum();
        let mut b = *h.as_bytes();
        assert!(checksum_ok(&b));
        b[0] = b'b';
        assert!(!checksum_ok(&b));
        b[148..156].copy_from_slice(b"nonsense");
        assert!(!checksum_ok(&b));
    }
}
