//! File data that may know its holes: a sparse file's reader tells the
//! writer where the runs of zeros are, so they are skipped instead of read
//! (a 16 TiB sparse file of a few bytes costs what its data costs).

use std::io::Read;

/// A run of zeros ahead in a [`Source`]: it starts `at` bytes after the
/// current position and is `len` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hole {
    /// Bytes from the current position to the hole.
    pub at: u64,
    /// Its length.
    pub len: u64,
}

/// File data for [`crate::Writer::add_from`].
pub trait Source: Read {
    /// The next hole at or after the current position, if known.
    fn hole(&self) -> Option<Hole> {
        None
    }

    /// Skip `n` bytes of the hole that starts at the current position
    /// (`n` is at most its length).
    fn skip_hole(&mut self, n: u64) {
        let _ = n;
    }

    /// This source as a plain reader.
    fn as_read(&mut self) -> &mut dyn Read;
}

/// A plain reader as a [`Source`] without known holes.
pub(crate) struct Plain<'a>(pub &'a mut dyn Read);

impl Read for Plain<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Source for Plain<'_> {
    fn as_read(&mut self) -> &mut dyn Read {
        self
    }
}
