//! [`Window`]: a byte range of an inner stream, seen as a stream of its own.
//!
//! Partitions are windows over the disk image: the FAT writer, the ext4 reader and the
//! probes all work on offset 0 of their window.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// A byte window `[offset, offset+len)` of an inner Read/Write/Seek (`len` None = unbounded).
///
/// Seeks are relative to the window: `SeekFrom::Start(0)` is `offset` in the inner stream and
/// `SeekFrom::End(n)` is relative to `len` when bounded (to the inner end otherwise). Reads stop
/// at `len` (short read, then 0); writes that would cross `len` fail with an
/// [`io::ErrorKind::WriteZero`] error naming the window, and write nothing.
pub struct Window<F> {
    inner: F,
    offset: u64,
    len: Option<u64>,
    name: String,
    /// Position relative to `offset`.
    pos: u64,
}

impl<F> Window<F> {
    /// A window of `len` bytes (None: up to the inner end) starting at byte `offset` of `inner`.
    pub fn new(inner: F, offset: u64, len: Option<u64>) -> Self {
        Window {
            inner,
            offset,
            len,
            name: String::from("window"),
            pos: 0,
        }
    }

    /// Name the window ("ESP", "root-a"): used in error messages.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The inner stream back.
    pub fn into_inner(self) -> F {
        self.inner
    }

    /// Borrow the inner stream (its position is unspecified).
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// Start of the window in the inner stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Length of the window, None when unbounded.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// True for a bounded window of length 0.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    fn describe(&self) -> String {
        match self.len {
            Some(len) => format!(
                "{} [bytes {}..{} of the image]",
                self.name,
                self.offset,
                self.offset.saturating_add(len)
            ),
            None => format!("{} [bytes {}.. of the image]", self.name, self.offset),
        }
    }

    fn abs(&self) -> io::Result<u64> {
        self.offset.checked_add(self.pos).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("position overflows in {}", self.describe()),
            )
        })
    }
}

impl<'a, F: Write + Seek> Window<&'a mut F> {
    /// The whole disk of `disk_bytes` as a window named "disk". A shorter
    /// stream is extended by writing its last byte (a sparse file stays
    /// sparse); a longer one is treated as a disk of `disk_bytes`.
    pub(crate) fn disk(f: &'a mut F, disk_bytes: u64) -> crate::error::Result<Self> {
        use crate::error::Error;
        let cur_len = f
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io("finding the image size", 0, e))?;
        if cur_len < disk_bytes {
            let last = disk_bytes - 1;
            f.seek(SeekFrom::Start(last))
                .and_then(|_| f.write_all(&[0]))
                .map_err(|e| Error::io("extending the image to the disk size", last, e))?;
        }
        Ok(Window::new(f, 0, Some(disk_bytes)).named("disk"))
    }
}

impl<F: Seek> Window<F> {
    /// Put the inner stream at our position. Always seeks: the inner stream may have been
    /// moved by someone else (a `&File` can seek).
    fn sync_inner(&mut self) -> io::Result<()> {
        let abs = self.abs()?;
        self.inner.seek(SeekFrom::Start(abs))?;
        Ok(())
    }
}

impl<F> fmt::Debug for Window<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("name", &self.name)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish()
    }
}

impl<F: Read + Seek> Read for Window<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.len {
            Some(len) => {
                let left = len.saturating_sub(self.pos);
                buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        if want == 0 {
            return Ok(0);
        }
        self.sync_inner()?;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<F: Write + Seek> Write for Window<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(len) = self.len {
            let end = self.pos.checked_add(buf.len() as u64);
            if end.is_none_or(|end| end > len) {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "write of {} bytes at offset {} would cross the end of {} ({} bytes)",
                        buf.len(),
                        self.pos,
                        self.describe(),
                        len
                    ),
                ));
            }
        }
        self.sync_inner()?;
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<F: Seek> Seek for Window<F> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => {
                let end = match self.len {
                    Some(len) => len,
                    None => self
                        .inner
                        .seek(SeekFrom::End(0))?
                        .saturating_sub(self.offset),
                };
                (end, d)
            }
        };
        let new = base.checked_add_signed(delta).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "seek to {base}{delta:+} is outside {} (before its start or overflowing)",
                    self.describe()
                ),
            )
        })?;
        self.pos = new;
        Ok(new)
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn base() -> Cursor<Vec<u8>> {
        Cursor::new((0u8..100).collect())
    }

    #[test]
    fn reads_only_inside_the_window() {
        let mut w = Window::new(base(), 10, Some(5));
        let mut out = Vec::new();
        w.read_to_end(&mut out).expect("read");
        assert_eq!(out, vec![10, 11, 12, 13, 14]);
        let mut b = [0u8; 4];
        assert_eq!(w.read(&mut b).expect("read at end"), 0);
    }

    #[test]
    fn seek_end_is_relative_to_len_when_bounded() {
        let mut w = Window::new(base(), 10, Some(20));
        assert_eq!(w.seek(SeekFrom::End(0)).expect("seek"), 20);
        assert_eq!(w.seek(SeekFrom::End(-2)).expect("seek"), 18);
        let mut b = [0u8; 1];
        w.read_exact(&mut b).expect("read");
        assert_eq!(b[0], 28);
        assert_eq!(w.seek(SeekFrom::Current(-3)).expect("seek"), 16);
        w.read_exact(&mut b).expect("read");
        assert_eq!(b[0], 26);
        assert!(w.seek(SeekFrom::Current(-100)).is_err());
    }

    #[test]
    fn unbounded_window_ends_at_the_inner_end() {
        let mut w = Window::new(base(), 90, None);
        assert_eq!(w.seek(SeekFrom::End(0)).expect("seek"), 10);
        w.seek(SeekFrom::Start(0)).expect("seek");
        let mut out = Vec::new();
        w.read_to_end(&mut out).expect("read");
        assert_eq!(out, (90u8..100).collect::<Vec<_>>());
    }

    #[test]
    fn writes_land_at_offset_and_refuse_to_cross_len() {
        let mut w = Window::new(base(), 50, Some(4)).named("ESP");
        w.write_all(&[1, 2, 3]).expect("write inside");
        let err = w.write_all(&[9, 9]).expect_err("must refuse crossing len");
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert!(err.to_string().contains("ESP"), "{err}");
        w.write_all(&[4]).expect("last byte fits");
        let inner = w.into_inner().into_inner();
        assert_eq!(&inner[49..56], &[49, 1, 2, 3, 4, 54, 55]);
    }

    #[test]
    fn interleaved_inner_moves_do_not_confuse_the_window() {
        let mut cur = base();
        {
            let mut w = Window::new(&mut cur, 20, Some(10));
            let mut b = [0u8; 2];
            w.read_exact(&mut b).expect("read");
            assert_eq!(b, [20, 21]);
        }
        cur.seek(SeekFrom::Start(0)).expect("seek");
        let mut w = Window::new(&mut cur, 20, Some(10));
        w.seek(SeekFrom::Start(2)).expect("seek");
        let mut b = [0u8; 2];
        w.read_exact(&mut b).expect("read");
        assert_eq!(b, [22, 23]);
    }
}
