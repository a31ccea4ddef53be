//! A small write-back page cache in front of a stream. fatfs does many tiny reads and writes
//! (4-byte FAT entries, 32-byte directory entries, cluster-sized data) at scattered offsets;
//! straight on a file that is one syscall each. Pages are 64 KiB, at most 16 MiB are held,
//! the least recently used page is written back first, and [`PageCache::flush`] writes every
//! dirty page back in ascending order.
//!
//! In *fresh* mode (used when formatting) the old content of the stream is treated as
//! garbage: a page never touched before starts as zeros instead of being read. Every byte of
//! a touched page is then written back, so the result depends only on what was written, not
//! on what the target held, and building into a sparse file reads nothing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Page numbers are small integers: a multiplicative hash is plenty and far cheaper than
/// SipHash, which dominated directory-heavy builds (every 32-byte entry read is a lookup).
#[derive(Default)]
struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type PageMap = HashMap<u64, Page, BuildHasherDefault<PageHasher>>;

const PAGE: u64 = 64 * 1024;
const MAX_PAGES: usize = 256;

struct Page {
    data: Box<[u8]>,
    dirty: bool,
    last_use: u64,
}

/// Buffered Read/Write/Seek over `inner`; call [`PageCache::flush`] before dropping it or
/// dirty pages are lost (nothing is written on drop).
pub(crate) struct PageCache<T> {
    inner: T,
    pos: u64,
    /// Length of the stream: the inner length, grown by writes past it.
    len: u64,
    pages: PageMap,
    clock: u64,
    /// Fresh mode: pages ever loaded or created (their disk copy is ours); others are garbage.
    touched: Option<std::collections::HashSet<u64>>,
    /// Buffers of evicted pages, reused.
    spare: Vec<Box<[u8]>>,
}

impl<T: Read + Write + Seek> PageCache<T> {
    pub(crate) fn new(mut inner: T) -> io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(PageCache {
            inner,
            pos: 0,
            len,
            pages: PageMap::default(),
            clock: 0,
            touched: None,
            spare: Vec::new(),
        })
    }

    /// A cache that treats the stream's current content as garbage (see the module doc).
    pub(crate) fn fresh(inner: T) -> io::Result<Self> {
        let mut c = Self::new(inner)?;
        c.touched = Some(std::collections::HashSet::new());
        Ok(c)
    }

    fn write_back(inner: &mut T, len: u64, index: u64, page: &mut Page) -> io::Result<()> {
        if !page.dirty {
            return Ok(());
        }
        let start = index * PAGE;
        let n = usize::try_from(len.saturating_sub(start).min(PAGE)).unwrap_or(0);
        if n > 0 {
            inner.seek(SeekFrom::Start(start))?;
            inner.write_all(&page.data[..n])?;
        }
        page.dirty = false;
        Ok(())
    }

    fn evict_one(&mut self) -> io::Result<()> {
        let Some((&index, _)) = self.pages.iter().min_by_key(|(_, p)| p.last_use) else {
            return Ok(());
        };
        if let Some(mut page) = self.pages.remove(&index) {
            Self::write_back(&mut self.inner, self.len, index, &mut page)?;
            self.spare.push(page.data);
        }
        Ok(())
    }

    /// The page holding `index`, loaded from the stream unless `whole` (the caller is about to
    /// overwrite all of it).
    fn page(&mut self, index: u64, whole: bool) -> io::Result<&mut Page> {
        self.clock += 1;
        let clock = self.clock;
        if !self.pages.contains_key(&index) {
            if self.pages.len() >= MAX_PAGES {
                self.evict_one()?;
            }
            let mut data = match self.spare.pop() {
                Some(mut d) => {
                    d.fill(0);
                    d
                }
                None => vec![0u8; PAGE as usize].into_boxed_slice(),
            };
            let start = index * PAGE;
            let garbage = match &mut self.touched {
                Some(t) => t.insert(index),
                None => false,
            };
            if !whole && !garbage && start < self.len {
                let want = usize::try_from((self.len - start).min(PAGE)).unwrap_or(0);
                self.inner.seek(SeekFrom::Start(start))?;
                let mut got = 0;
                while got < want {
                    match self.inner.read(&mut data[got..want]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            self.pages.insert(
                index,
                Page {
                    data,
                    dirty: false,
                    last_use: clock,
                },
            );
        }
        let page = self
            .pages
            .get_mut(&index)
            .ok_or_else(|| io::Error::other("page cache lost a page"))?;
        page.last_use = clock;
        Ok(page)
    }

    /// Write every dirty page back (ascending offsets) and flush the inner stream.
    pub(crate) fn flush_all(&mut self) -> io::Result<()> {
        let mut dirty: Vec<u64> = self
            .pages
            .iter()
            .filter(|(_, p)| p.dirty)
            .map(|(&i, _)| i)
            .collect();
        dirty.sort_unstable();
        for index in dirty {
            if let Some(page) = self.pages.get_mut(&index) {
                Self::write_back(&mut self.inner, self.len, index, page)?;
            }
        }
        self.inner.flush()
    }
}

impl<T: Read + Write + Seek> Read for PageCache<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < want {
            let pos = self.pos + done as u64;
            let (index, off) = (pos / PAGE, (pos % PAGE) as usize);
            let n = (want - done).min(PAGE as usize - off);
            let page = self.page(index, false)?;
            buf[done..done + n].copy_from_slice(&page.data[off..off + n]);
            done += n;
        }
        self.pos += done as u64;
        Ok(done)
    }
}

impl<T: Read + Write + Seek> Write for PageCache<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let pos = self.pos + done as u64;
            let (index, off) = (pos / PAGE, (pos % PAGE) as usize);
            let n = (buf.len() - done).min(PAGE as usize - off);
            let whole = off == 0 && n == PAGE as usize;
            let page = self.page(index, whole)?;
            page.data[off..off + n].copy_from_slice(&buf[done..done + n]);
            page.dirty = true;
            done += n;
        }
        self.pos += done as u64;
        self.len = self.len.max(self.pos);
        Ok(done)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_all()
    }
}

impl<T: Read + Write + Seek> Seek for PageCache<T> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the stream",
            )
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn fresh_mode_ignores_old_content_but_keeps_its_own_writes() {
        let old = vec![0xEEu8; (MAX_PAGES + 4) * PAGE as usize];
        let mut c = PageCache::fresh(Cursor::new(old)).expect("new");
        c.seek(SeekFrom::Start(10)).expect("seek");
        c.write_all(b"abc").expect("write");
        let mut b = [1u8; 4];
        c.seek(SeekFrom::Start(2 * PAGE)).expect("seek");
        c.read_exact(&mut b).expect("read");
        assert_eq!(b, [0; 4], "untouched page must read as zeros in fresh mode");
        // Force page 0 out and back in: our own bytes must survive.
        for p in 0..MAX_PAGES as u64 + 2 {
            c.seek(SeekFrom::Start(p * PAGE + PAGE / 2)).expect("seek");
            c.read_exact(&mut b[..1]).expect("read");
        }
        c.seek(SeekFrom::Start(8)).expect("seek");
        let mut five = [0u8; 5];
        c.read_exact(&mut five).expect("read");
        assert_eq!(&five, b"\0\0abc");
        c.flush_all().expect("flush");
        let v = c.inner.get_ref();
        assert_eq!(&v[..16], b"\0\0\0\0\0\0\0\0\0\0abc\0\0\0");
        assert_eq!(
            v[PAGE as usize], 0xEE,
            "untouched, unwritten page left alone"
        );
    }

    #[test]
    fn matches_a_plain_cursor_under_scattered_io() {
        let size = 3 * PAGE as usize + 123;
        let mut plain = Cursor::new(vec![7u8; size]);
        let mut cached = PageCache::new(Cursor::new(vec![7u8; size])).expect("new");
        // A deterministic pseudo-random walk of reads and writes, crossing page borders and
        // forcing evictions is not possible with 4 pages, so also write far out below.
        let mut x: u64 = 12345;
        for i in 0..2000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pos = (x >> 33) % (size as u64 - 300);
            let n = ((x >> 20) % 300) as usize;
            plain.seek(SeekFrom::Start(pos)).expect("seek");
            cached.seek(SeekFrom::Start(pos)).expect("seek");
            if i % 3 == 0 {
                let data: Vec<u8> = (0..n).map(|k| (k as u64 ^ i) as u8).collect();
                plain.write_all(&data).expect("w");
                cached.write_all(&data).expect("w");
            } else {
                let mut a = vec![0u8; n];
                let mut b = vec![0u8; n];
                plain.read_exact(&mut a).expect("r");
                cached.read_exact(&mut b).expect("r");
                assert_eq!(a, b, "read at {pos}+{n}");
            }
        }
        cached.flush_all().expect("flush");
        assert_eq!(cached.inner.get_ref(), plain.get_ref());
    }

    #[test]
    fn evicts_and_writes_back_beyond_capacity() {
        let pages = MAX_PAGES as u64 + 10;
        let mut cached = PageCache::new(Cursor::new(Vec::new())).expect("new");
        for p in 0..pages {
            cached.seek(SeekFrom::Start(p * PAGE + 5)).expect("seek");
            cached
                .write_all(&[(p as u8).wrapping_add(1)])
                .expect("write");
        }
        assert!(cached.pages.len() <= MAX_PAGES);
        cached.flush_all().expect("flush");
        let v = cached.inner.get_ref();
        assert!(cached.spare.len() <= 10);
        assert_eq!(v.len() as u64, (pages - 1) * PAGE + 6);
        for p in 0..pages {
            assert_eq!(v[(p * PAGE + 5) as usize], (p as u8).wrapping_add(1));
        }
    }
}
