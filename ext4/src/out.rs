//! Buffered, seek-avoiding block output to the target.

use std::io::{Seek, SeekFrom, Write};

use crate::alloc::BS;
use crate::Error;

/// Buffered block output: contiguous blocks are collected and written with
/// one large `write_all`; a seek is issued only when the next block is not
/// where the target's position already is.
pub(crate) struct BlockOut<W: Write + Seek> {
    pub target: W,
    base: u64,
    buf: Vec<u8>,
    buf_start: u64,
    pos: Option<u64>,
    /// One past the highest block written.
    pub high: u64,
}

/// Output buffer size.
pub(crate) const OUT_BUF: usize = 1 << 20;

impl<W: Write + Seek> BlockOut<W> {
    pub fn new(mut target: W) -> Result<Self, Error> {
        let base = target
            .stream_position()
            .map_err(|e| Error::io("reading the target position", e))?;
        Ok(BlockOut {
            target,
            base,
            buf: Vec::with_capacity(OUT_BUF),
            buf_start: 0,
            pos: Some(base),
            high: 0,
        })
    }

    /// Queue `data` (a multiple of the block size) at block `blk`.
    pub fn write(&mut self, blk: u64, data: &[u8]) -> Result<(), Error> {
        debug_assert_eq!(data.len() % BS, 0);
        let buf_end = self.buf_start + (self.buf.len() / BS) as u64;
        if !self.buf.is_empty() && (blk != buf_end || self.buf.len() + data.len() > OUT_BUF) {
            self.flush()?;
        }
        if self.buf.is_empty() {
            self.buf_start = blk;
        }
        self.buf.extend_from_slice(data);
        self.high = self.high.max(blk + (data.len() / BS) as u64);
        if self.buf.len() >= OUT_BUF {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let off = self.base + self.buf_start * BS as u64;
        if self.pos != Some(off) {
            self.target
                .seek(SeekFrom::Start(off))
                .map_err(|e| Error::io(format!("seeking to byte {off}"), e))?;
        }
        self.target
            .write_all(&self.buf)
            .map_err(|e| Error::io(format!("{} bytes at byte {off}", self.buf.len()), e))?;
        self.pos = Some(off + self.buf.len() as u64);
        self.buf.clear();
        Ok(())
    }
}
