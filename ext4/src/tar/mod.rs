//! Tar front end: stream (compressed) tar archives into a [`Writer`].
//!
//! Uses the `tar` crate only to parse headers (never to unpack). GNU and PAX
//! long names, PAX times/ids/xattrs (`SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`),
//! hard links and GNU sparse members are supported. `./` prefixes are
//! normalised; absolute paths and `..` components are rejected.

use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::Path;

use base64::Engine as _;

mod pax;

use crate::{Entry, EntryKind, Error, Metadata, Timestamp, Writer, Xattr};

/// Counts from one archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarStats {
    /// Members turned into entries (whiteouts included).
    pub entries: u64,
    /// Bytes of regular file data.
    pub data_bytes: u64,
    /// OCI whiteouts applied (only by [`add_tar`]).
    pub whiteouts: u64,
}

/// Open a possibly compressed archive (plain, gzip, xz, zstd).
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, Error> {
    let f = File::open(path).map_err(|e| Error::Archive {
        path: path.display().to_string(),
        msg: format!("cannot open: {e}"),
    })?;
    decompress(Box::new(BufReader::with_capacity(1 << 20, f)))
}

/// Wrap `r` in a decompressor chosen by its magic bytes (plain tar passes
/// through unchanged).
pub fn decompress(r: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, Error> {
    let mut r = BufReader::with_capacity(1 << 20, r);
    let magic = {
        use std::io::BufRead as _;
        let buf = r.fill_buf().map_err(|e| Error::Archive {
            path: "<stream>".into(),
            msg: format!("reading the archive start: {e}"),
        })?;
        buf[..buf.len().min(6)].to_vec()
    };
    let zerr = |e: std::io::Error| Error::Archive {
        path: "<stream>".into(),
        msg: format!("zstd: {e}"),
    };
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if magic.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(r))
    } else if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(zerr)?)
    } else {
        Box::new(r)
    })
}

/// Normalise a member name: strip `./`, reject absolute paths and `..`.
fn normalise(raw: &[u8]) -> Result<String, String> {
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

/// A PAX record set: `(key, value)` in archive order (later keys win).
type Records = Vec<(String, Vec<u8>)>;

/// The last value of PAX key `k`.
fn pax_get(records: Option<&Records>, k: &str) -> Option<Vec<u8>> {
    records?
        .iter()
        .rev()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.clone())
}

/// The member's PAX records: our own parse of the raw header bytes (binary
/// values may contain newlines), else the `tar` crate's.
fn pax_records<R: Read>(
    own: Option<Records>,
    e: &mut tar::Entry<'_, R>,
) -> Result<Option<Records>, String> {
    if own.is_some() {
        return Ok(own);
    }
    let Some(pax) = e
        .pax_extensions()
        .map_err(|x| format!("bad PAX header: {x}"))?
    else {
        return Ok(None);
    };
    let mut v = Vec::new();
    for ext in pax {
        let ext = ext.map_err(|x| format!("bad PAX record: {x}"))?;
        let Ok(key) = ext.key() else { continue };
        v.push((key.to_string(), ext.value_bytes().to_vec()));
    }
    Ok(Some(v))
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
            k => pax_xattr(&mut xattrs, k, val).map_err(|()| bad(key))?,
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
/// `LIBARCHIVE.xattr.*`); other keys are ignored.
fn pax_xattr(xattrs: &mut Vec<Xattr>, key: &str, val: &[u8]) -> Result<(), ()> {
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
            .map_err(|_| ())?;
        if !xattrs.iter().any(|x| x.name == name) {
            xattrs.push(Xattr { name, value: v });
        }
    }
    Ok(())
}

/// The entry kind from the header; `size` is the data size, `link` the
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
        other => return Err(format!("unsupported member type {other:?}")),
    })
}

/// Give an error from the callback the archive position: entry and data
/// problems become [`Error::Tar`]; space, limit and I/O errors on the
/// image keep their own variant.
fn located(err: Error, source: &str, shown: &str, off: u64) -> Error {
    match err {
        Error::Entry { .. } | Error::Data { .. } => Error::Tar {
            archive: source.to_string(),
            entry: shown.to_string(),
            offset: off,
            msg: err.to_string(),
        },
        Error::NoSpace {
            needed, available, ..
        } => Error::NoSpace {
            needed,
            available,
            context: format!(" while adding {shown:?} ({source}, byte offset {off})"),
        },
        other => other,
    }
}

/// Stream every member as an [`Entry`] plus its data reader. `source` names
/// the archive in errors.
pub fn for_each_entry<R: Read>(
    r: R,
    source: &str,
    f: &mut dyn FnMut(Entry, &mut dyn Read) -> Result<(), Error>,
) -> Result<TarStats, Error> {
    let rec = std::rc::Rc::new(std::cell::RefCell::new(pax::Rec::default()));
    let mut ar = tar::Archive::new(pax::Tee {
        inner: r,
        pos: 0,
        rec: rec.clone(),
    });
    let mut stats = TarStats::default();
    let mut next_off: u64 = 0;
    let terr = |entry: &str, offset: u64, msg: String| Error::Tar {
        archive: source.to_string(),
        entry: entry.to_string(),
        offset,
        msg,
    };
    let mut entries = ar
        .entries()
        .map_err(|e| terr("", 0, format!("reading the archive: {e}")))?;
    loop {
        rec.borrow_mut().start();
        let item = entries.next();
        rec.borrow_mut().stop();
        let Some(item) = item else { break };
        let mut e = item.map_err(|e| terr("", next_off, format!("bad member header: {e}")))?;
        let off = e.raw_header_position();
        let own_pax = pax::raw_pax(&rec.borrow(), off).and_then(|d| pax::parse(&d));
        let raw_name =
            pax_get(own_pax.as_ref(), "path").unwrap_or_else(|| e.path_bytes().into_owned());
        let shown = String::from_utf8_lossy(&raw_name).into_owned();
        next_off = e.raw_file_position() + e.size().div_ceil(512) * 512;
        let h = e.header().clone();
        if h.entry_type().is_pax_global_extensions() {
            continue;
        }
        let path = normalise(&raw_name).map_err(|m| terr(&shown, off, m))?;
        let link = pax_get(own_pax.as_ref(), "linkpath")
            .or_else(|| e.link_name_bytes().map(|l| l.into_owned()));
        let records = pax_records(own_pax, &mut e).map_err(|m| terr(&shown, off, m))?;
        let meta = metadata(&h, records.as_ref()).map_err(|m| terr(&shown, off, m))?;
        let kind = kind(&h, e.size(), link).map_err(|m| terr(&shown, off, m))?;
        if let EntryKind::Regular { size } = kind {
            stats.data_bytes += size;
        }
        stats.entries += 1;
        f(Entry { path, kind, meta }, &mut e).map_err(|err| located(err, source, &shown, off))?;
    }
    Ok(stats)
}

/// Add every member to `w`, applying OCI whiteouts (`.wh.NAME` removes
/// `NAME`; `.wh..wh..opq` hides what earlier layers put in its directory).
pub fn add_tar<R: Read, W: Write + Seek>(
    w: &mut Writer<W>,
    r: R,
    source: &str,
) -> Result<TarStats, Error> {
    w.begin_layer();
    let mut whiteouts = 0u64;
    let mut stats = for_each_entry(r, source, &mut |entry, data| {
        let (dir, base) = match entry.path.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", entry.path.as_str()),
        };
        if base == ".wh..wh..opq" {
            whiteouts += 1;
            return w.clear_lower(dir);
        }
        if let Some(name) = base.strip_prefix(".wh.") {
            whiteouts += 1;
            let p = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            return w.remove(&p);
        }
        w.add(entry, data)
    })?;
    stats.whiteouts = whiteouts;
    Ok(stats)
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
