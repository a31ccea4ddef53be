//! The byte stream under the tar reader: its position, whole reads and
//! skips, the data reader of one member, and what the reader below reported
//! (a decoder's error, an early end).

use std::io::{self, Read};

/// Tar block size.
pub(crate) const BLOCK: u64 = 512;

/// How far [`Stream::diagnose`] reads on to find the cause of a parse error.
const DIAGNOSE_LIMIT: u64 = 256 << 20;

/// Why a read of a known length came up short.
#[derive(Debug)]
pub(crate) enum Short {
    /// The stream ended after `got` bytes.
    End {
        /// Bytes read before the end.
        got: u64,
    },
    /// The reader below failed (a decoder's integrity check, an I/O error).
    Io(io::Error),
}

impl Short {
    /// "the archive ends after 5 of 512 bytes of WHAT" or the reader's error.
    pub fn describe(&self, what: &str, want: u64) -> String {
        match self {
            Short::End { got } => {
                format!("the archive ends after {got} of the {want} bytes of {what} (truncated)")
            }
            Short::Io(e) => format!("reading {what}: {e}"),
        }
    }
}

/// A counting reader that remembers the first error of the reader below.
pub(crate) struct Stream<R> {
    inner: R,
    pos: u64,
    fault: Option<String>,
}

impl<R: Read> Stream<R> {
    pub fn new(inner: R) -> Self {
        Stream {
            inner,
            pos: 0,
            fault: None,
        }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The first error or early end the reader below produced, if any.
    pub fn take_fault(&mut self) -> Option<String> {
        self.fault.take()
    }

    /// One read of the reader below (retrying `Interrupted`).
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fault.get_or_insert_with(|| e.to_string());
                    return Err(e);
                }
            }
        }
    }

    /// Fill `buf` completely.
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<(), Short> {
        let mut got = 0;
        while got < buf.len() {
            match self.read_some(&mut buf[got..]) {
                Ok(0) => return Err(Short::End { got: got as u64 }),
                Ok(n) => got += n,
                Err(e) => return Err(Short::Io(e)),
            }
        }
        Ok(())
    }

    /// Read and drop `n` bytes.
    pub fn skip(&mut self, n: u64) -> Result<(), Short> {
        let mut buf = [0u8; 8192];
        let mut left = n;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            match self.read_some(&mut buf[..want]) {
                Ok(0) => return Err(Short::End { got: n - left }),
                Ok(k) => left -= k as u64,
                Err(e) => return Err(Short::Io(e)),
            }
        }
        Ok(())
    }

    /// Skip to the next block boundary.
    pub fn align(&mut self) -> Result<(), Short> {
        let pad = self.pos.next_multiple_of(BLOCK) - self.pos;
        self.skip(pad)
    }

    /// Read to the end of the stream, which must hold only zeros (the rest
    /// of the end-of-archive marker and record padding). Reading to the end
    /// is what makes a decoder verify its trailer. Returns the offset of
    /// the first non-zero byte, if any.
    pub fn drain_zeros(&mut self) -> Result<Option<u64>, io::Error> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let start = self.pos;
            let n = self.read_some(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                return Ok(Some(start + i as u64));
            }
        }
    }

    /// After the archive turned out malformed: read on (a bounded amount)
    /// to see whether the reader below reports damage, which is then the
    /// real cause. `None` when it does not.
    pub fn diagnose(&mut self) -> Option<String> {
        if let Some(f) = self.fault.take() {
            return Some(f);
        }
        let mut buf = vec![0u8; 64 << 10];
        let mut read = 0u64;
        while read < DIAGNOSE_LIMIT {
            match self.read_some(&mut buf) {
                Ok(0) => return None,
                Ok(n) => read += n as u64,
                Err(_) => return self.fault.take(),
            }
        }
        None
    }
}

/// The data of one member: at most `left` more bytes of the stream. An
/// early end is recorded as the stream's fault and reads as EOF.
pub(crate) struct Data<'a, R> {
    s: &'a mut Stream<R>,
    left: u64,
}

impl<'a, R: Read> Data<'a, R> {
    pub fn new(s: &'a mut Stream<R>, len: u64) -> Self {
        Data { s, left: len }
    }
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = self.left.min(buf.len() as u64) as usize;
        let n = self.s.read_some(&mut buf[..want])?;
        if n == 0 {
            let left = self.left;
            self.s.fault.get_or_insert_with(|| {
                format!("the archive ends {left} bytes before the end of this member's data (truncated)")
            });
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl<R: Read> crate::Source for Data<'_, R> {
    fn as_read(&mut self) -> &mut dyn Read {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_and_faults() {
        let mut s = Stream::new(&[1u8, 2, 3][..]);
        let mut b = [0u8; 5];
        assert!(matches!(s.fill(&mut b), Err(Short::End { got: 3 })));
        let mut s = Stream::new(&[0u8; 700][..]);
        s.skip(100).expect("skip");
        s.align().expect("align");
        assert_eq!(s.pos(), 512);
        assert_eq!(s.drain_zeros().expect("drain"), None);
        let mut s = Stream::new(&[0u8, 0, 9, 0][..]);
        assert_eq!(s.drain_zeros().expect("drain"), Some(2));
        let mut s = Stream::new(&b"abc"[..]);
        let mut d = Data::new(&mut s, 10);
        let mut v = Vec::new();
        d.read_to_end(&mut v).expect("read");
        assert_eq!(v, b"abc");
        assert!(s
            .take_fault()
            .expect("fault")
            .contains("7 bytes before the end"));
    }
}
