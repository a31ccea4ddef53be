//! Sparse members. GNU's old format keeps the map in the header and its
//! extension blocks; the PAX formats keep it in records (0.0: repeated
//! `GNU.sparse.offset`/`numbytes`; 0.1: one `GNU.sparse.map`) or at the start
//! of the member's data (1.0, with the real name in `GNU.sparse.name`). The
//! map plus the stored data give the file's bytes. Holes read as zeros, and
//! the reader tells the writer where they are ([`Source::hole`]) so that it
//! skips them unread: they stay holes and cost nothing.

use std::io::{self, Read};

use super::header::MAX_META;
use super::stream::BLOCK;
use super::Records;
use crate::{Hole, Source};

/// One run of stored data in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Where the run starts in the file.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

/// The map of a sparse file: its size and where its data runs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SparseMap {
    /// The file's size (holes included).
    pub real_size: u64,
    /// Data runs, in file order.
    pub segments: Vec<Segment>,
}

impl SparseMap {
    /// The runs must be in order, not overlap, end within the file, and
    /// hold exactly the `stored` bytes of the member.
    pub fn check(&self, stored: u64) -> Result<(), String> {
        let (mut end, mut sum) = (0u64, 0u64);
        for s in &self.segments {
            if s.offset < end {
                return Err(format!(
                    "sparse map: the run at byte {} overlaps the one before or is out of order",
                    s.offset
                ));
            }
            end = s
                .offset
                .checked_add(s.len)
                .filter(|&e| e <= self.real_size)
                .ok_or_else(|| {
                    format!(
                        "sparse map: the run at byte {} of {} bytes reaches past the file's \
                         size of {} bytes",
                        s.offset, s.len, self.real_size
                    )
                })?;
            sum += s.len;
        }
        if sum != stored {
            return Err(format!(
                "sparse map: its runs hold {sum} bytes but the member stores {stored}"
            ));
        }
        Ok(())
    }
}

/// What a PAX sparse member's records say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaxSparse {
    /// The real name (`GNU.sparse.name`), when given.
    pub name: Option<Vec<u8>>,
    /// Where the map is.
    pub map: MapAt,
}

/// Where a PAX sparse member's map is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MapAt {
    /// In the records (formats 0.0 and 0.1).
    Records(SparseMap),
    /// At the start of the data (format 1.0).
    Data {
        /// The file's size.
        real_size: u64,
    },
}

fn last<'a>(records: &'a Records, key: &str) -> Option<&'a [u8]> {
    records
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

fn number(key: &str, v: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad PAX {key} value {:?}", String::from_utf8_lossy(v)))
}

/// The sparse format of a member from its PAX records; `None` for an
/// ordinary member.
pub(crate) fn from_pax(records: &Records) -> Result<Option<PaxSparse>, String> {
    let name = last(records, "GNU.sparse.name").map(<[u8]>::to_vec);
    let size = || {
        let (k, v) = ["GNU.sparse.realsize", "GNU.sparse.size"]
            .iter()
            .find_map(|k| last(records, k).map(|v| (*k, v)))
            .ok_or("a PAX sparse member without GNU.sparse.realsize or GNU.sparse.size")?;
        number(k, v)
    };
    let major = last(records, "GNU.sparse.major");
    let minor = last(records, "GNU.sparse.minor");
    match (major, minor) {
        (Some(b"1"), Some(b"0") | None) => {
            let real_size = size()?;
            let map = MapAt::Data { real_size };
            return Ok(Some(PaxSparse { name, map }));
        }
        (Some(b"0") | None, _) => {}
        (Some(ma), mi) => {
            return Err(format!(
                "GNU sparse format {}.{} is not supported (only 0.0, 0.1 and 1.0)",
                String::from_utf8_lossy(ma),
                String::from_utf8_lossy(mi.unwrap_or(b"0"))
            ))
        }
    }
    let segments = if let Some(map) = last(records, "GNU.sparse.map") {
        map_01(map)?
    } else if records.iter().any(|(k, _)| k == "GNU.sparse.offset") {
        map_00(records)?
    } else if records.iter().any(|(k, _)| k.starts_with("GNU.sparse.")) {
        return Err("PAX GNU.sparse records without a map (GNU.sparse.map or \
                    GNU.sparse.offset/numbytes)"
            .into());
    } else {
        return Ok(None);
    };
    if let Some(n) = last(records, "GNU.sparse.numblocks") {
        let n = number("GNU.sparse.numblocks", n)?;
        if n != segments.len() as u64 {
            return Err(format!(
                "sparse map: GNU.sparse.numblocks says {n} runs, the map has {}",
                segments.len()
            ));
        }
    }
    let map = SparseMap {
        real_size: size()?,
        segments,
    };
    let map = MapAt::Records(map);
    Ok(Some(PaxSparse { name, map }))
}

/// Format 0.1: `GNU.sparse.map=offset,len,offset,len,…`.
fn map_01(map: &[u8]) -> Result<Vec<Segment>, String> {
    let nums: Vec<u64> = map
        .split(|&b| b == b',')
        .filter(|f| !f.is_empty())
        .map(|f| number("GNU.sparse.map", f))
        .collect::<Result<_, _>>()?;
    if nums.len() % 2 != 0 {
        return Err("sparse map: GNU.sparse.map has an odd number of values".into());
    }
    Ok(nums
        .chunks(2)
        .map(|p| Segment {
            offset: p[0],
            len: p[1],
        })
        .collect())
}

/// Format 0.0: `GNU.sparse.offset` and `GNU.sparse.numbytes`, alternating.
fn map_00(records: &Records) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut offset = None;
    for (k, v) in records {
        match k.as_str() {
            "GNU.sparse.offset" => offset = Some(number(k, v)?),
            "GNU.sparse.numbytes" => {
                let offset = offset
                    .take()
                    .ok_or("sparse map: GNU.sparse.numbytes without a GNU.sparse.offset")?;
                out.push(Segment {
                    offset,
                    len: number(k, v)?,
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Format 1.0: read the map from the start of the data (decimal numbers,
/// one a line: the count, then offset and length of each run; padded to a
/// block). Returns the runs and the bytes the map took.
pub(crate) fn read_map_v1(data: &mut dyn Read) -> Result<(Vec<Segment>, u64), String> {
    let mut text: Vec<u8> = Vec::new();
    let mut nums: Vec<u64> = Vec::new();
    let mut count: Option<u64> = None;
    let mut parsed = 0usize;
    while count.is_none_or(|c| (nums.len() as u64) < 2 * c) {
        if text.len() as u64 >= MAX_META {
            return Err(format!("sparse map: over the {} MiB limit", MAX_META >> 20));
        }
        let start = text.len();
        text.resize(start + BLOCK as usize, 0);
        data.read_exact(&mut text[start..])
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    "the sparse map is cut off (it runs past the member's data)".to_string()
                }
                _ => format!("reading the sparse map: {e}"),
            })?;
        while let Some(nl) = text[parsed..].iter().position(|&b| b == b'\n') {
            let v = number("sparse map", &text[parsed..parsed + nl])
                .map_err(|_| "sparse map: not a decimal number".to_string())?;
            parsed += nl + 1;
            match count {
                None if v > MAX_META => return Err(format!("sparse map: {v} runs")),
                None => count = Some(v),
                Some(_) => nums.push(v),
            }
            if count.is_some_and(|c| nums.len() as u64 == 2 * c) {
                break;
            }
        }
    }
    let segs = nums
        .chunks(2)
        .map(|p| Segment {
            offset: p[0],
            len: p[1],
        })
        .collect();
    Ok((segs, text.len() as u64))
}

/// The file's bytes from its map and stored data.
pub(crate) struct SparseReader<'a> {
    data: &'a mut dyn Read,
    map: &'a SparseMap,
    pos: u64,
    next: usize,
}

impl<'a> SparseReader<'a> {
    pub fn new(data: &'a mut dyn Read, map: &'a SparseMap) -> Self {
        SparseReader {
            data,
            map,
            pos: 0,
            next: 0,
        }
    }
}

impl Read for SparseReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let segs = &self.map.segments;
        while segs
            .get(self.next)
            .is_some_and(|s| s.offset + s.len <= self.pos)
        {
            self.next += 1;
        }
        let room = (self.map.real_size - self.pos).min(buf.len() as u64) as usize;
        if room == 0 {
            return Ok(0);
        }
        let n = match segs.get(self.next) {
            Some(s) if s.offset <= self.pos => {
                let n = room.min((s.offset + s.len - self.pos) as usize);
                self.data.read(&mut buf[..n])?
            }
            next => {
                let hole_end = next.map_or(self.map.real_size, |s| s.offset);
                let n = room.min((hole_end - self.pos) as usize);
                buf[..n].fill(0);
                n
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Source for SparseReader<'_> {
    fn hole(&self) -> Option<Hole> {
        let segs = &self.map.segments;
        let mut i = self.next;
        while segs.get(i).is_some_and(|s| s.offset + s.len <= self.pos) {
            i += 1;
        }
        // Where the next data run from segment `j` on starts.
        let data_from = |j: usize| {
            segs[j..]
                .iter()
                .find(|s| s.len > 0)
                .map_or(self.map.real_size, |s| s.offset)
        };
        Some(match segs.get(i) {
            Some(s) if s.offset <= self.pos => {
                let end = s.offset + s.len;
                Hole {
                    at: end - self.pos,
                    len: data_from(i + 1) - end,
                }
            }
            _ => Hole {
                at: 0,
                len: data_from(i) - self.pos,
            },
        })
    }

    fn skip_hole(&mut self, n: u64) {
        self.pos += n;
    }

    fn as_read(&mut self) -> &mut dyn Read {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(k: &str, v: &str) -> (String, Vec<u8>) {
        (k.to_string(), v.as_bytes().to_vec())
    }

    #[test]
    fn pax_maps() {
        let r01 = vec![
            rec("GNU.sparse.size", "100"),
            rec("GNU.sparse.numblocks", "2"),
            rec("GNU.sparse.name", "d/f"),
            rec("GNU.sparse.map", "10,5,50,10"),
        ];
        let p = from_pax(&r01).expect("ok").expect("sparse");
        assert_eq!(p.name.as_deref(), Some(&b"d/f"[..]));
        let MapAt::Records(m) = p.map else {
            panic!("0.1 map")
        };
        assert_eq!(
            m.segments[1],
            Segment {
                offset: 50,
                len: 10
            }
        );
        m.check(15).expect("valid");
        assert!(m.check(16).is_err());
        let r00 = vec![
            rec("GNU.sparse.size", "100"),
            rec("GNU.sparse.offset", "0"),
            rec("GNU.sparse.numbytes", "3"),
            rec("GNU.sparse.offset", "100"),
            rec("GNU.sparse.numbytes", "0"),
        ];
        let p = from_pax(&r00).expect("ok").expect("sparse");
        assert_eq!(p.name, None);
        let MapAt::Records(m) = p.map else {
            panic!("0.0 map")
        };
        assert_eq!(m.segments.len(), 2);
        let r10 = vec![
            rec("GNU.sparse.major", "1"),
            rec("GNU.sparse.minor", "0"),
            rec("GNU.sparse.realsize", "9"),
        ];
        assert_eq!(
            from_pax(&r10).expect("ok").expect("sparse").map,
            MapAt::Data { real_size: 9 }
        );
        assert!(from_pax(&[rec("GNU.sparse.major", "2")].to_vec()).is_err());
        assert!(from_pax(&[rec("GNU.sparse.size", "2")].to_vec()).is_err());
        assert!(from_pax(&[rec("path", "x")].to_vec())
            .expect("ok")
            .is_none());
    }

    #[test]
    fn bad_maps_are_refused() {
        let m = |segs: &[(u64, u64)]| SparseMap {
            real_size: 100,
            segments: segs
                .iter()
                .map(|&(offset, len)| Segment { offset, len })
                .collect(),
        };
        assert!(m(&[(50, 10), (10, 5)]).check(15).is_err(), "out of order");
        assert!(m(&[(10, 10), (15, 5)]).check(15).is_err(), "overlap");
        assert!(m(&[(95, 10)]).check(10).is_err(), "past the end");
        assert!(m(&[(u64::MAX, 10)]).check(10).is_err(), "overflow");
    }

    #[test]
    fn v1_map_and_reader() {
        let mut data = b"2\n2\n3\n8\n1\n".to_vec();
        data.resize(512, 0);
        data.extend_from_slice(b"abcd");
        let mut r = &data[..];
        let (segs, used) = read_map_v1(&mut r).expect("map");
        assert_eq!(used, 512);
        let map = SparseMap {
            real_size: 10,
            segments: segs,
        };
        map.check(4).expect("valid");
        let mut out = Vec::new();
        SparseReader::new(&mut r, &map)
            .read_to_end(&mut out)
            .expect("read");
        assert_eq!(out, b"\0\0abc\0\0\0d\0");
        let mut data = &b"abcd"[..];
        let mut r = SparseReader::new(&mut data, &map);
        assert_eq!(r.hole(), Some(Hole { at: 0, len: 2 }));
        r.skip_hole(2);
        assert_eq!(r.hole(), Some(Hole { at: 3, len: 3 }));
        let mut b = [0u8; 3];
        r.read_exact(&mut b).expect("data");
        assert_eq!(r.hole(), Some(Hole { at: 0, len: 3 }));
        r.skip_hole(3);
        assert_eq!(r.hole(), Some(Hole { at: 1, len: 1 }));
        for bad in [&b"99999999\n"[..], b"1\nx\n", b"1\n5\n"] {
            let mut b = bad.to_vec();
            b.resize(512, 0);
            assert!(read_map_v1(&mut &b[..]).is_err(), "{bad:?}");
        }
    }
}
