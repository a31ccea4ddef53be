//! From a member's headers to an [`Entry`]: its name, metadata, kind, and
//! how its data is stored (plain, or sparse with a map).

use base64::Engine as _;

use super::header::Raw;
use super::sparse::{self, MapAt, SparseMap};
use super::Records;
use crate::{Entry, EntryKind, Metadata, Timestamp, Xattr};

/// How a member's data is stored.
pub(crate) enum Stored {
    /// The file's bytes, as they are.
    Plain,
    /// Data runs plus a map (GNU old-style, PAX 0.0 or 0.1).
    Sparse(SparseMap),
    /// Data runs preceded by their map (PAX 1.0).
    SparseMapInData {
        /// The file's size.
        real_size: u64,
    },
}

/// One member, ready to hand over.
pub(crate) struct Member {
    pub entry: Entry,
    /// The name as the archive spells it, for messages.
    pub shown: String,
    /// Byte offset of its header.
    pub off: u64,
    /// Bytes stored after the header.
    pub stored: u64,
    pub how: Stored,
}

/// Describe `raw`; an error is the message for this member.
pub(crate) fn describe(raw: &Raw) -> Result<Member, (String, String)> {
    let mut name = raw.name();
    let pax_sparse = match &raw.pax {
        Some(r) => sparse::from_pax(r).map_err(|m| (lossy(&name), m))?,
        None => None,
    };
    if let Some(real) = pax_sparse.as_ref().and_then(|p| p.name.clone()) {
        name = real;
    }
    let shown = lossy(&name);
    let fail = |m: String| (shown.clone(), m);
    let path = normalise(&name).map_err(fail)?;
    let stored = raw.stored().map_err(fail)?;
    let regular = matches!(
        raw.header.entry_type(),
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse
    );
    let how = match (pax_sparse.map(|p| p.map), &raw.gnu_sparse) {
        _ if !regular => Stored::Plain,
        (Some(MapAt::Records(m)), _) => Stored::Sparse(m),
        (Some(MapAt::Data { real_size }), _) => Stored::SparseMapInData { real_size },
        (None, Some(m)) => Stored::Sparse(m.clone()),
        (None, None) => Stored::Plain,
    };
    if let Stored::Sparse(m) = &how {
        m.check(stored).map_err(fail)?;
    }
    let size = match &how {
        Stored::Plain => stored,
        Stored::Sparse(m) => m.real_size,
        Stored::SparseMapInData { real_size } => *real_size,
    };
    let meta = metadata(&raw.header, raw.pax.as_ref()).map_err(fail)?;
    let kind = kind(&raw.header, size, raw.link()).map_err(fail)?;
    Ok(Member {
        entry: Entry { path, kind, meta },
        shown,
        off: raw.off,
        stored,
        how,
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Normalise a member name: strip `./`, reject absolute paths and `..`.
pub(crate) fn normalise(raw: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "name is not UTF-8".to_string())?;
    if s.starts_with('/') {
        return Err("absolute path".into());
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("path contains `..`".into()),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn parse_time(v: &str) -> Option<Timestamp> {
    let (s, frac) = match v.split_once('.') {
        Some((s, f)) => (s, f),
        None => (v, ""),
    };
    let sec: i64 = s.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let mut nsec: u32 = digits.parse().ok()?;
    // "-1.5" means -1 - 0.5 s
    if s.starts_with('-') && nsec > 0 {
        return Some(Timestamp {
            sec: sec.checked_sub(1)?,
            nsec: 1_000_000_000 - nsec,
        });
    }
    if nsec >= 1_000_000_000 {
        nsec = 0;
    }
    Some(Timestamp { sec, nsec })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Ownership, mode, times and xattrs from the header and its PAX records.
fn metadata(h: &tar::Header, records: Option<&Records>) -> Result<Metadata, String> {
    let mode = (h.mode().map_err(|x| format!("bad mode: {x}"))? & 0o7777) as u16;
    let mut uid = h.uid().map_err(|x| format!("bad uid: {x}"))?;
    let mut gid = h.gid().map_err(|x| format!("bad gid: {x}"))?;
    let mtime_raw = h.mtime().map_err(|x| format!("bad mtime: {x}"))?;
    let mut mtime = Timestamp::from_secs(i64::try_from(mtime_raw).unwrap_or(i64::MAX));
    let (mut atime, mut ctime) = (None, None);
    let mut xattrs: Vec<Xattr> = Vec::new();
    for (key, val) in records.into_iter().flatten() {
        let key = key.as_str();
        let sval = std::str::from_utf8(val).unwrap_or("");
        let bad = |k: &str| format!("bad PAX {k} value {sval:?}");
        match key {
            "mtime" => mtime = parse_time(sval).ok_or_else(|| bad(key))?,
            "atime" => atime = Some(parse_time(sval).ok_or_else(|| bad(key))?),
            "ctime" => ctime = Some(parse_time(sval).ok_or_else(|| bad(key))?),
            "uid" => uid = sval.parse().map_err(|_| bad(key))?,
            "gid" => gid = sval.parse().map_err(|_| bad(key))?,
            k => pax_xattr(&mut xattrs, k, val).ok_or_else(|| bad(key))?,
        }
    }
    let uid = u32::try_from(uid).map_err(|_| format!("uid {uid} over 32 bits"))?;
    let gid = u32::try_from(gid).map_err(|_| format!("gid {gid} over 32 bits"))?;
    Ok(Metadata {
        mode,
        uid,
        gid,
        atime: atime.unwrap_or(mtime),
        mtime,
        ctime: ctime.unwrap_or(mtime),
        xattrs,
    })
}

/// Apply one PAX xattr record (`SCHILY.xattr.*` wins over
/// `LIBARCHIVE.xattr.*`); other keys are ignored. `None`: a bad value.
fn pax_xattr(xattrs: &mut Vec<Xattr>, key: &str, val: &[u8]) -> Option<()> {
    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
        xattrs.retain(|x| x.name != name);
        xattrs.push(Xattr {
            name: name.to_string(),
            value: val.to_vec(),
        });
    } else if let Some(name) = key.strip_prefix("LIBARCHIVE.xattr.") {
        let name = percent_decode(name);
        let sval = std::str::from_utf8(val).unwrap_or("");
        let v = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(sval.trim_end_matches('='))
            .ok()?;
        if !xattrs.iter().any(|x| x.name == name) {
            xattrs.push(Xattr { name, value: v });
        }
    }
    Some(())
}

/// The entry kind from the header; `size` is the file size, `link` the
/// link target (PAX or GNU long link already applied).
fn kind(h: &tar::Header, size: u64, link: Option<Vec<u8>>) -> Result<EntryKind, String> {
    let et = h.entry_type();
    let dev = || {
        let ma = h.device_major().ok().flatten().unwrap_or(0);
        let mi = h.device_minor().ok().flatten().unwrap_or(0);
        (ma, mi)
    };
    Ok(match et {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            EntryKind::Regular { size }
        }
        tar::EntryType::Directory => EntryKind::Directory,
        tar::EntryType::Symlink | tar::EntryType::Link => {
            let target = link.ok_or_else(|| "link without a target".to_string())?;
            if et == tar::EntryType::Symlink {
                EntryKind::Symlink { target }
            } else {
                let t = normalise(&target).map_err(|m| format!("hard link target: {m}"))?;
                EntryKind::HardLink { target: t }
            }
        }
        tar::EntryType::Char => {
            let (major, minor) = dev();
            EntryKind::CharDevice { major, minor }
        }
        tar::EntryType::Block => {
            let (major, minor) = dev();
            EntryKind::BlockDevice { major, minor }
        }
        tar::EntryType::Fifo => EntryKind::Fifo,
        other => return Err(unsupported(other.as_byte())),
    })
}

/// "unsupported member type 'Z'", with what the type is when known.
fn unsupported(t: u8) -> String {
    let letter = if t.is_ascii_graphic() {
        format!("'{}'", t as char)
    } else {
        format!("0x{t:02x}")
    };
    let what = match t {
        b'D' => " (a GNU dump directory)",
        b'M' => " (a GNU multi-volume continuation)",
        b'N' => " (an old GNU long name)",
        b'V' => " (a GNU volume label)",
        b'A'..=b'Z' => " (a vendor extension)",
        _ => "",
    };
    format!(
        "unsupported member type {letter}{what}: only files, directories, symlinks, hard \
         links, devices and FIFOs go into the image"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalise(b"./usr/bin/").as_deref(), Ok("usr/bin"));
        assert_eq!(normalise(b"./").as_deref(), Ok(""));
        assert!(normalise(b"/etc/passwd").is_err());
        assert!(normalise(b"a/../../b").is_err());
    }

    #[test]
    fn unsupported_types_are_named_by_their_letter() {
        let m = unsupported(b'Z');
        assert!(m.contains("'Z'") && m.contains("vendor"), "{m}");
        assert!(unsupported(b'V').contains("'V' (a GNU volume label)"));
        assert!(unsupported(0x01).contains("0x01"));
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            parse_time("12.5"),
            Some(Timestamp {
                sec: 12,
                nsec: 500_000_000
            })
        );
        assert_eq!(
            parse_time("-1.25"),
            Some(Timestamp {
                sec: -2,
                nsec: 750_000_000
            })
        );
        assert_eq!(parse_time("x"), None);
    }
}
