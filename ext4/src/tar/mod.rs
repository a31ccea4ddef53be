//! Tar front end: stream (compressed) tar archives into a [`Writer`].
//!
//! The reader is our own; the `tar` crate only decodes header fields. GNU
//! and PAX long names, PAX times/ids/xattrs (`SCHILY.xattr.*`,
//! `LIBARCHIVE.xattr.*`), hard links and sparse members (GNU old-style, PAX
//! 0.0, 0.1 and 1.0) are supported. `./` prefixes are normalised; absolute
//! paths and `..` components are rejected. Metadata is capped at 1 MiB per
//! member. After the end-of-archive marker the stream is read to its end,
//! so a compressed archive's checksums are verified, and anything but
//! zeros there is an error.

use std::io::{Read, Seek, Write};

mod compress;
mod header;
mod member;
mod pax;
mod sparse;
mod stream;
mod whiteout;

pub use compress::{decompress, open};
pub use whiteout::Whiteout;

use crate::error::quote;
use crate::{Entry, EntryKind, Error, Source, Writer};
use header::Next;
use member::{Member, Stored};
use sparse::{SparseMap, SparseReader};
use stream::{Data, Stream};

/// A PAX record set: `(key, value)` in archive order (later keys win).
pub(crate) type Records = Vec<(String, Vec<u8>)>;

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

/// Where errors are: the archive's name and the last member read.
pub(crate) struct Ctx<'a> {
    archive: &'a str,
    last: Option<String>,
}

impl Ctx<'_> {
    /// An error about member `entry` whose header is at `offset`.
    pub fn err(&self, entry: &str, offset: u64, msg: impl Into<String>) -> Error {
        Error::Tar {
            archive: self.archive.to_string(),
            entry: entry.to_string(),
            offset,
            msg: msg.into(),
        }
    }

    /// An error in a header whose member is not known yet: say which
    /// member it follows.
    pub fn header_err(&self, offset: u64, msg: impl std::fmt::Display) -> Error {
        let msg = match &self.last {
            Some(l) => format!("{msg} (in the header after entry {})", quote(l)),
            None => format!("{msg} (in the first header)"),
        };
        self.err("", offset, msg)
    }

    /// "after the last entry \"x\"", for errors past the last member.
    fn after_last(&self) -> String {
        match &self.last {
            Some(l) => format!("after the last entry {}", quote(l)),
            None => "in an archive without entries".into(),
        }
    }
}

/// Give an error from the callback the archive position: entry and data
/// problems become [`Error::Tar`]; space, limit and I/O errors on the
/// image keep their own variant.
fn located(err: Error, at: &Ctx<'_>, path: &str, shown: &str, off: u64) -> Error {
    match err {
        Error::Entry { path: p, msg } if p == path => at.err(shown, off, msg),
        Error::Entry { .. } | Error::Data { .. } => at.err(shown, off, err.to_string()),
        Error::NoSpace {
            needed, available, ..
        } => Error::NoSpace {
            needed,
            available,
            context: format!(
                " while adding {} ({}, byte offset {off})",
                quote(shown),
                at.archive
            ),
        },
        other => other,
    }
}

/// Why handing a member over failed.
enum Failed {
    /// The archive is at fault (a bad sparse map, say).
    Archive(String),
    /// The callback returned this.
    Callback(Error),
}

/// Run the callback on one member with a reader of its data, then skip
/// what it did not read.
fn hand_over<R: Read>(
    s: &mut Stream<R>,
    at: &Ctx<'_>,
    m: Member,
    f: &mut dyn FnMut(Entry, &mut dyn Source) -> Result<(), Error>,
) -> Result<(), Error> {
    let Member {
        entry,
        shown,
        off,
        stored,
        how,
    } = m;
    let path = entry.path.clone();
    let start = s.pos();
    let res = {
        let mut data = Data::new(s, stored);
        match &how {
            Stored::Plain => f(entry, &mut data).map_err(Failed::Callback),
            Stored::Sparse(map) => {
                f(entry, &mut SparseReader::new(&mut data, map)).map_err(Failed::Callback)
            }
            Stored::SparseMapInData { real_size } => sparse::read_map_v1(&mut data)
                .and_then(|(segments, used)| {
                    let map = SparseMap {
                        real_size: *real_size,
                        segments,
                    };
                    map.check(stored - used)?;
                    Ok(map)
                })
                .map_err(Failed::Archive)
                .and_then(|map| {
                    f(entry, &mut SparseReader::new(&mut data, &map)).map_err(Failed::Callback)
                }),
        }
    };
    match res {
        Ok(()) => {}
        Err(Failed::Archive(msg)) => return Err(at.err(&shown, off, msg)),
        Err(Failed::Callback(err)) => {
            if let Some(fault) = s.take_fault() {
                return Err(at.err(&shown, off, format!("reading its data: {fault}")));
            }
            return Err(located(err, at, &path, &shown, off));
        }
    }
    let left = (start + stored).saturating_sub(s.pos());
    s.skip(left)
        .and_then(|()| s.align())
        .map_err(|e| at.err(&shown, off, e.describe("its data", stored)))
}

/// After the end-of-archive marker: only zeros may follow, up to the end
/// of the stream, which a decoder must reach to verify its checksums.
fn finish<R: Read>(s: &mut Stream<R>, at: &Ctx<'_>) -> Result<(), Error> {
    let off = s.pos();
    match s.drain_zeros() {
        Ok(None) => Ok(()),
        Ok(Some(data)) => Err(at.err(
            "",
            data,
            format!(
                "data after the end-of-archive marker ({}): is another archive appended to \
                 this one? Its members would be lost; pass each archive as its own layer or \
                 repack them as one",
                at.after_last()
            ),
        )),
        Err(e) => Err(at.err("", off, format!("{}: {e}", at.after_last()))),
    }
}

/// Stream every member as an [`Entry`] plus its data (a [`Source`]: a
/// sparse member's holes are known, so [`Writer::add_from`] skips them).
/// `source` names the archive in errors.
pub fn for_each_entry<R: Read>(
    r: R,
    source: &str,
    f: &mut dyn FnMut(Entry, &mut dyn Source) -> Result<(), Error>,
) -> Result<TarStats, Error> {
    let mut s = Stream::new(r);
    let mut at = Ctx {
        archive: source,
        last: None,
    };
    let mut stats = TarStats::default();
    while let Next::Member(raw) = header::next(&mut s, &at)? {
        let m = member::describe(&raw).map_err(|(shown, msg)| at.err(&shown, raw.off, msg))?;
        if let EntryKind::Regular { size } = m.entry.kind {
            stats.data_bytes += size;
        }
        stats.entries += 1;
        at.last = Some(m.shown.clone());
        hand_over(&mut s, &at, m, f)?;
    }
    finish(&mut s, &at)?;
    Ok(stats)
}

/// Add every member to `w` as a new layer, applying OCI whiteouts
/// ([`Whiteout`]: they hide only what earlier layers added).
pub fn add_tar<R: Read, W: Write + Seek>(
    w: &mut Writer<W>,
    r: R,
    source: &str,
) -> Result<TarStats, Error> {
    w.begin_layer();
    let mut whiteouts = 0u64;
    let mut stats = for_each_entry(
        r,
        source,
        &mut |entry, data| match Whiteout::parse(&entry.path)? {
            Some(wh) => {
                whiteouts += 1;
                wh.apply(w)
            }
            None => w.add_from(entry, data),
        },
    )?;
    stats.whiteouts = whiteouts;
    Ok(stats)
}
