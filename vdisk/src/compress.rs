//! raw.xz and raw.zst: the raw disk compressed with several threads.
//!
//! Holes are never read: the compressor is fed zeros for them from memory.
//!
//! - **zstd**: libzstd's multi-threaded streaming encoder (level 3 and the
//!   content checksum, as `zstd -T0`); its output does not depend on the
//!   number of workers.
//! - **xz**: one xz stream of independent 4 MiB blocks (LZMA2, preset 6 with
//!   a 4 MiB dictionary, CRC64), compressed by our own workers and written in
//!   order with the stream's index, as liblzma's multi-threaded encoder lays
//!   it out. LZMA2 compresses zeros at only ~30 MB/s per core, so a block
//!   that is all zero (most of a sparse disk) is compressed once and its
//!   bytes repeated. The blocks do not depend on the number of workers;
//!   workers are capped so that peak memory stays under ~200 MiB.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{mpsc, Arc, Condvar, Mutex};

use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};

use crate::{is_zero, Error, Progress, RawDisk, Result, WriteOptions};

/// Which compressor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// xz (liblzma, multi-threaded).
    Xz,
    /// zstd (multi-threaded).
    Zstd,
}

/// zstd level (`zstd`'s default).
const ZSTD_LEVEL: i32 = 3;
/// zstd workers at most (each holds a few MiB of job buffers).
const ZSTD_MAX_WORKERS: usize = 8;
/// Uncompressed bytes of one xz block (and its LZMA2 dictionary).
const XZ_BLOCK: u64 = 4 << 20;
/// xz preset the block encoder's options start from (`xz`'s default).
const XZ_PRESET: u32 = 6;
/// xz workers at most: each holds ~50 MiB of match finder plus a block in
/// and out.
const XZ_MAX_WORKERS: usize = 3;
/// Bytes fed to zstd at a time.
const PIECE: usize = 1 << 20;

/// Write `src` compressed with `codec` into `out`.
pub fn write(
    codec: Codec,
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    match codec {
        Codec::Xz => xz(src, out, out_path, opts.threads, progress),
        Codec::Zstd => zstd(src, out, out_path, opts.threads, progress),
    }
}

/// Read `buf.len()` bytes of `src` at `offset` without reading its holes
/// (they are zero in `buf`).
fn fill(src: &RawDisk, offset: u64, buf: &mut [u8]) -> Result<()> {
    buf.fill(0);
    let end = offset + buf.len() as u64;
    let data = src.data();
    let first = data.partition_point(|r| r.end <= offset);
    for r in data[first..].iter().take_while(|r| r.start < end) {
        let (a, b) = (r.start.max(offset), r.end.min(end));
        src.read_at(a, &mut buf[(a - offset) as usize..(b - offset) as usize])?;
    }
    Ok(())
}

fn zstd(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    threads: usize,
    progress: &dyn Progress,
) -> Result<()> {
    let oerr = |e: std::io::Error| Error::io(out_path, None, e);
    let workers = threads.clamp(1, ZSTD_MAX_WORKERS) as u32;
    let mut enc =
        zstd::stream::write::Encoder::new(BufWriter::new(out), ZSTD_LEVEL).map_err(oerr)?;
    enc.include_checksum(true).map_err(oerr)?;
    enc.include_contentsize(true).map_err(oerr)?;
    enc.set_pledged_src_size(Some(src.size())).map_err(oerr)?;
    enc.multithread(workers).map_err(oerr)?;
    let mut buf = vec![0u8; PIECE];
    let mut off = 0;
    while off < src.size() {
        let n = (src.size() - off).min(PIECE as u64) as usize;
        fill(src, off, &mut buf[..n])?;
        enc.write_all(&buf[..n]).map_err(oerr)?;
        off += n as u64;
        progress.advance(off);
    }
    enc.finish().and_then(|mut w| w.flush()).map_err(oerr)
}

/// One compressed xz block.
struct Block {
    /// Header, compressed data, padding and check.
    bytes: Vec<u8>,
    /// Its unpadded size (the index's record).
    unpadded: u64,
    /// The bytes it holds uncompressed.
    uncompressed: u64,
}

fn xz(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    threads: usize,
    progress: &dyn Progress,
) -> Result<()> {
    let oerr = |e: std::io::Error| Error::io(out_path, None, e);
    let size = src.size();
    let blocks = size.div_ceil(XZ_BLOCK);
    let zero: Mutex<Option<Arc<Block>>> = Mutex::new(None);
    let one = |i: u64| -> Result<Arc<Block>> {
        let off = i * XZ_BLOCK;
        let mut buf = vec![0u8; (size - off).min(XZ_BLOCK) as usize];
        fill(src, off, &mut buf)?;
        if buf.len() as u64 == XZ_BLOCK && is_zero(&buf) {
            let mut z = zero.lock().map_err(|_| poisoned(out_path))?;
            if z.is_none() {
                *z = Some(Arc::new(xz_block(&buf, out_path)?));
            }
            return z.clone().ok_or_else(|| poisoned(out_path));
        }
        Ok(Arc::new(xz_block(&buf, out_path)?))
    };
    let mut w = BufWriter::new(out);
    w.write_all(&xz_stream_header()).map_err(oerr)?;
    let mut index = Vec::with_capacity(blocks as usize);
    let mut done = 0u64;
    in_order(
        blocks,
        threads.clamp(1, XZ_MAX_WORKERS),
        one,
        |b: Arc<Block>| {
            w.write_all(&b.bytes).map_err(oerr)?;
            index.push((b.unpadded, b.uncompressed));
            done += b.uncompressed;
            progress.advance(done);
            Ok(())
        },
    )?;
    let index = xz_index(&index);
    w.write_all(&index).map_err(oerr)?;
    w.write_all(&xz_stream_footer(index.len())).map_err(oerr)?;
    w.flush().map_err(oerr)
}

fn poisoned(path: &Path) -> Error {
    Error::io(
        path,
        None,
        std::io::Error::other("a compression worker panicked"),
    )
}

/// Run `work(0..n)` on `workers` threads, handing the results to `sink` in
/// order; at most `2 × workers` results are ahead of `sink` at any time.
fn in_order<T: Send>(
    n: u64,
    workers: usize,
    work: impl Fn(u64) -> Result<T> + Sync,
    mut sink: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let window = 2 * workers as u64;
    // (next index to hand out, results taken by sink, stop)
    let gate = (Mutex::new((0u64, 0u64, false)), Condvar::new());
    let take = || -> Option<u64> {
        let mut g = gate.0.lock().ok()?;
        loop {
            if g.2 || g.0 >= n {
                return None;
            }
            if g.0 < g.1 + window {
                g.0 += 1;
                return Some(g.0 - 1);
            }
            g = gate.1.wait(g).ok()?;
        }
    };
    let set = |f: &dyn Fn(&mut (u64, u64, bool))| {
        if let Ok(mut g) = gate.0.lock() {
            f(&mut g);
        }
        gate.1.notify_all();
    };
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(u64, Result<T>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (take, work) = (&take, &work);
            scope.spawn(move || {
                while let Some(i) = take() {
                    if tx.send((i, work(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut result = Ok(());
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&next) {
                next += 1;
                result = r.and_then(&mut sink);
                if result.is_err() {
                    set(&|g| g.2 = true);
                    return result;
                }
                set(&|g| g.1 += 1);
            }
        }
        if result.is_ok() && next != n {
            result = Err(Error::io(
                Path::new("."),
                None,
                std::io::Error::other("a compression worker stopped early"),
            ));
        }
        result
    })
}

/// `data` as one xz block: compressed as a one-block stream, whose block
/// is then cut out and its size read from the stream's index.
fn xz_block(data: &[u8], out_path: &Path) -> Result<Block> {
    let lerr = |e: liblzma::stream::Error| Error::io(out_path, None, std::io::Error::other(e));
    let mut opts = LzmaOptions::new_preset(XZ_PRESET).map_err(lerr)?;
    opts.dict_size(XZ_BLOCK as u32);
    let mut filters = Filters::new();
    filters.lzma2(&opts);
    let mut s = Stream::new_stream_encoder(&filters, Check::Crc64).map_err(lerr)?;
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
        }
        let fed = s.total_in() as usize;
        if s.process_vec(&data[fed..], &mut out, Action::Finish)
            .map_err(lerr)?
            == Status::StreamEnd
        {
            break;
        }
    }
    let bad = || {
        Error::io(
            out_path,
            None,
            std::io::Error::other("liblzma wrote an unexpected stream"),
        )
    };
    let len = out.len();
    let backward = out
        .get(len - 8..len - 4)
        .and_then(|b| b.try_into().ok())
        .map(|b| (u64::from(u32::from_le_bytes(b)) + 1) * 4)
        .ok_or_else(bad)?;
    let index_at = len.checked_sub(12 + backward as usize).ok_or_else(bad)?;
    let mut rec = out.get(index_at..).ok_or_else(bad)?.iter().copied();
    let (indicator, count) = (rec.next(), varint(&mut rec));
    let (unpadded, uncompressed) = (varint(&mut rec), varint(&mut rec));
    if indicator != Some(0) || count != Some(1) || uncompressed != Some(data.len() as u64) {
        return Err(bad());
    }
    out.truncate(index_at);
    out.drain(..12);
    Ok(Block {
        bytes: out,
        unpadded: unpadded.ok_or_else(bad)?,
        uncompressed: data.len() as u64,
    })
}

/// An xz multibyte integer.
fn varint(bytes: &mut impl Iterator<Item = u8>) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..63).step_by(7) {
        let b = bytes.next()?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Stream flags: CRC64.
const XZ_FLAGS: [u8; 2] = [0, 0x04];

fn xz_stream_header() -> Vec<u8> {
    let mut h = vec![0xfd, b'7', b'z', b'X', b'Z', 0];
    h.extend_from_slice(&XZ_FLAGS);
    h.extend_from_slice(&crc32fast::hash(&XZ_FLAGS).to_le_bytes());
    h
}

/// The index of blocks `(unpadded, uncompressed)`.
fn xz_index(records: &[(u64, u64)]) -> Vec<u8> {
    let mut x = vec![0u8];
    put_varint(&mut x, records.len() as u64);
    for (unpadded, uncompressed) in records {
        put_varint(&mut x, *unpadded);
        put_varint(&mut x, *uncompressed);
    }
    while x.len() % 4 != 0 {
        x.push(0);
    }
    let crc = crc32fast::hash(&x);
    x.extend_from_slice(&crc.to_le_bytes());
    x
}

fn xz_stream_footer(index_len: usize) -> Vec<u8> {
    let backward = u32::try_from(index_len / 4 - 1).unwrap_or(u32::MAX);
    let mut body = backward.to_le_bytes().to_vec();
    body.extend_from_slice(&XZ_FLAGS);
    let mut f = crc32fast::hash(&body).to_le_bytes().to_vec();
    f.extend_from_slice(&body);
    f.extend_from_slice(b"YZ");
    f
}
