//! The disk's non-zero grains, deflated by several threads and handed back
//! in disk order.
//!
//! One thread reads grains (only those overlapping a data range), `threads`
//! workers drop all-zero grains and compress the rest, and the caller's
//! thread receives them in order. A fixed number of credits bounds the
//! grains in flight, so memory stays at a few MiB whatever the disk size
//! and however unevenly the workers run; the output does not depend on the
//! thread count.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use flate2::{Compress, Compression, FlushCompress, Status};

use super::{GRAIN_BYTES, GRAIN_SECTORS, SECTOR};
use crate::{is_zero, Error, RawDisk, Result};

/// zlib level: qemu's `compress()` default, which VMware reads too.
const LEVEL: u32 = 6;
/// Bytes of a grain marker before the compressed data: `{u64 lba, u32 size}`.
const MARKER_BYTES: usize = 12;

/// A stored grain: its index on the disk and its sector-padded record
/// (`{u64 lba, u32 size}` then the zlib stream).
pub(super) struct Grain {
    /// Grain index (the disk offset divided by the grain size).
    pub index: u64,
    /// The record as written to the file, a whole number of sectors.
    pub record: Vec<u8>,
}

struct Job {
    seq: u64,
    index: u64,
    data: Vec<u8>,
}

struct Done {
    seq: u64,
    index: u64,
    record: Result<Option<Vec<u8>>>,
}

/// Call `f` with every non-zero grain of `src`, in disk order.
pub(super) fn for_each(
    src: &RawDisk,
    threads: usize,
    mut f: impl FnMut(Grain) -> Result<()>,
) -> Result<()> {
    let threads = threads.max(1);
    let window = 4 * threads + 4;
    let (credit_tx, credit_rx) = sync_channel::<()>(window);
    for _ in 0..window {
        // Cannot fail: the channel has room and its receiver is alive.
        let _ = credit_tx.send(());
    }
    let (job_tx, job_rx) = sync_channel::<Job>(window);
    let (done_tx, done_rx) = sync_channel::<Done>(window);
    let job_rx = Mutex::new(job_rx);
    let job_rx = &job_rx;
    std::thread::scope(|s| {
        let reader_done = done_tx.clone();
        s.spawn(move || read_grains(src, &credit_rx, &job_tx, &reader_done));
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            s.spawn(move || compress_grains(src.path(), job_rx, &done_tx));
        }
        drop(done_tx);
        // Returning drops the receiver and the credits: the other threads
        // see closed channels and stop.
        in_order(done_rx, credit_tx, &mut f)
    })
}

/// The reader: one job per grain overlapping a data range, each after a
/// credit. A read error is sent in the grain's place.
fn read_grains(
    src: &RawDisk,
    credits: &Receiver<()>,
    jobs: &SyncSender<Job>,
    done: &SyncSender<Done>,
) {
    let mut seq = 0u64;
    for range in src.granules(GRAIN_BYTES as u64) {
        for index in range {
            if credits.recv().is_err() {
                return;
            }
            let mut data = vec![0u8; GRAIN_BYTES];
            if let Err(e) = src.read_at(index * GRAIN_BYTES as u64, &mut data) {
                let _ = done.send(Done {
                    seq,
                    index,
                    record: Err(e),
                });
                return;
            }
            if jobs.send(Job { seq, index, data }).is_err() {
                return;
            }
            seq += 1;
        }
    }
}

/// A worker: zero grains become `None`, the others their record.
fn compress_grains(path: &Path, jobs: &Mutex<Receiver<Job>>, done: &SyncSender<Done>) {
    let mut z = Compress::new(Compression::new(LEVEL), true);
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let record = if is_zero(&job.data) {
            Ok(None)
        } else {
            record(&mut z, job.index, &job.data)
                .map(Some)
                .map_err(|e| Error::io(path, Some(job.index * GRAIN_BYTES as u64), e))
        };
        let out = Done {
            seq: job.seq,
            index: job.index,
            record,
        };
        if done.send(out).is_err() {
            return;
        }
    }
}

/// The grain record: marker, zlib stream, zero padding to a sector.
fn record(z: &mut Compress, index: u64, data: &[u8]) -> std::io::Result<Vec<u8>> {
    z.reset();
    let mut rec = Vec::with_capacity(MARKER_BYTES + data.len() + 1024);
    rec.extend_from_slice(&(index * GRAIN_SECTORS).to_le_bytes());
    rec.extend_from_slice(&[0u8; 4]);
    loop {
        let consumed = usize::try_from(z.total_in()).unwrap_or(data.len());
        let status = z
            .compress_vec(
                &data[consumed.min(data.len())..],
                &mut rec,
                FlushCompress::Finish,
            )
            .map_err(std::io::Error::other)?;
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => rec.reserve(64 * 1024),
        }
    }
    let size = u32::try_from(rec.len() - MARKER_BYTES).unwrap_or(u32::MAX);
    rec[8..12].copy_from_slice(&size.to_le_bytes());
    rec.resize(rec.len().next_multiple_of(SECTOR as usize), 0);
    Ok(rec)
}

/// Hand the results to `f` in sequence order, returning a credit for each.
fn in_order(
    done: Receiver<Done>,
    credits: SyncSender<()>,
    f: &mut impl FnMut(Grain) -> Result<()>,
) -> Result<()> {
    let mut next = 0u64;
    let mut early: BTreeMap<u64, Done> = BTreeMap::new();
    for d in done {
        early.insert(d.seq, d);
        while let Some(d) = early.remove(&next) {
            next += 1;
            let _ = credits.send(());
            if let Some(record) = d.record? {
                f(Grain {
                    index: d.index,
                    record,
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    #[test]
    fn a_record_is_a_marker_and_a_zlib_stream() {
        let data: Vec<u8> = (0..GRAIN_BYTES).map(|i| (i % 251) as u8).collect();
        let mut z = Compress::new(Compression::new(LEVEL), true);
        let rec = record(&mut z, 3, &data).expect("record");
        assert_eq!(rec.len() % 512, 0);
        assert_eq!(
            u64::from_le_bytes(rec[0..8].try_into().expect("8")),
            3 * 128
        );
        let size = u32::from_le_bytes(rec[8..12].try_into().expect("4")) as usize;
        assert_eq!(&rec[12..14], &[0x78, 0x9c], "zlib header, default level");
        let mut out = Vec::with_capacity(GRAIN_BYTES);
        let mut d = Decompress::new(true);
        let st = d
            .decompress_vec(&rec[12..12 + size], &mut out, FlushDecompress::Finish)
            .expect("inflate");
        assert_eq!(st, Status::StreamEnd);
        assert_eq!(out, data);
        // The same compressor gives the same record again.
        assert_eq!(record(&mut z, 3, &data).expect("again"), rec);
    }
}
