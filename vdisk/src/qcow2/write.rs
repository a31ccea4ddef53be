//! The qcow2 writer: one sequential pass over the data ranges.
//!
//! File layout, every cluster used exactly once (so every refcount is 1 and
//! there is nothing to leak):
//!
//! ```text
//! header | data clusters of L2 span 0, its L2 table | … span k … | L1 table
//!        | refcount blocks | refcount table
//! ```
//!
//! An L2 table covers 512 MiB of the disk; its data clusters are streamed in
//! disk order and it is written right after them, so memory is one L2 table
//! and the L1 table (8 bytes per 512 MiB), whatever the disk size. The
//! header is written last, over the placeholder hole at offset 0.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use super::{Header, COPIED, HEADER_V3_LEN, MAX_L1_BYTES};
use crate::{is_zero, Error, Format, Progress, RawDisk, Result, WriteOptions};

/// 64 KiB clusters (qemu's default).
const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
/// Entries of an L2 table (one cluster of u64).
const L2_ENTRIES: u64 = CLUSTER / 8;
/// 16-bit refcounts.
const REFCOUNT_ORDER: u32 = 4;
/// Refcounts in one refcount block.
const REFCOUNTS_PER_BLOCK: u64 = CLUSTER * 8 / (1 << REFCOUNT_ORDER);
/// Clusters read at a time (4 MiB).
const BATCH: u64 = 64;
/// Batches read ahead of the writer.
const AHEAD: usize = 2;

/// Write `src` as qcow2 v3 into `out` (a new, empty regular file at
/// `out_path`). The virtual size is the raw size rounded up to a whole
/// 512-byte sector (as `qemu-img convert` does); clusters that are holes or
/// all zero bytes are not stored.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    // Nothing to derive from opts.identity or opts.epoch: qcow2 stores no
    // ids or timestamps.
    let size = src.size().next_multiple_of(512);
    let l1_size = size.div_ceil(CLUSTER * L2_ENTRIES);
    if l1_size * 8 > MAX_L1_BYTES {
        return Err(Error::Unsuitable {
            path: out_path.to_path_buf(),
            format: Format::Qcow2,
            why: format!(
                "the disk is {size} bytes; qcow2 with 64 KiB clusters holds at most 2 PiB"
            ),
        });
    }
    let mut w = Stream {
        out: Out {
            file: out,
            path: out_path,
        },
        pos: CLUSTER, // cluster 0 is the header, written last
        l1: vec![0; usize::try_from(l1_size).unwrap_or(usize::MAX)],
        l2: vec![0; L2_ENTRIES as usize],
        span: None,
    };
    let batches = batches(src.granules(CLUSTER));
    if opts.threads > 1 {
        // Reading, placing and writing overlap; the writes are positional,
        // so their order does not matter.
        let out = Out {
            file: out,
            path: out_path,
        };
        pipeline(src, batches, &out, opts.threads, |c, chunk| {
            progress.advance(((c * CLUSTER) + chunk.len() as u64).min(size));
            w.place(c, chunk)
        })?;
    } else {
        let mut buf = vec![0u8; (BATCH * CLUSTER) as usize];
        for (c, n) in batches {
            let chunk = &mut buf[..(n * CLUSTER) as usize];
            src.read_at(c * CLUSTER, chunk)?;
            let runs = w.place(c, chunk)?;
            w.out.runs(chunk, &runs)?;
            progress.advance(((c + n) * CLUSTER).min(size));
        }
    }
    w.end_span()?;
    let l1_offset = w.pos;
    let l1: Vec<u8> = w.l1.iter().flat_map(|e| e.to_be_bytes()).collect();
    w.put(&l1)?;
    w.pos = l1_offset + (l1.len() as u64).next_multiple_of(CLUSTER);
    let (reftable_offset, reftable_clusters) = w.refcounts()?;
    let header = Header {
        version: 3,
        cluster_bits: CLUSTER_BITS,
        size,
        l1_size: u32::try_from(l1_size).unwrap_or(u32::MAX),
        l1_table_offset: if l1_size == 0 { 0 } else { l1_offset },
        refcount_table_offset: reftable_offset,
        refcount_table_clusters: reftable_clusters,
        refcount_order: REFCOUNT_ORDER,
        header_length: HEADER_V3_LEN,
        ..Header::default()
    };
    out.write_all_at(&header.encode(), 0)
        .map_err(|e| Error::io(out_path, Some(0), e))?;
    progress.advance(size);
    Ok(())
}

/// The batches to read, `(first cluster, clusters)`: the data clusters,
/// [`BATCH`] at a time, a batch never crossing into the next L2 table's span.
fn batches(runs: Vec<std::ops::Range<u64>>) -> impl Iterator<Item = (u64, u64)> + Send {
    runs.into_iter().flat_map(|run| {
        let mut c = run.start;
        std::iter::from_fn(move || {
            let span_end = (c / L2_ENTRIES + 1) * L2_ENTRIES;
            let n = (run.end - c).min(BATCH).min(span_end - c);
            (n > 0).then(|| {
                c += n;
                (c - n, n)
            })
        })
    })
}

/// A run of stored clusters: bytes `[start, end)` of a batch go to host
/// offset `host`.
type Run = (usize, usize, u64);

/// Read `batches` of `src` on one thread, at most [`AHEAD`] ahead; `place`
/// them in order on this one; write the runs it returns on `writers`
/// threads. Memory: about `2 * AHEAD + writers + 2` batches.
fn pipeline(
    src: &RawDisk,
    batches: impl Iterator<Item = (u64, u64)> + Send,
    out: &Out<'_>,
    writers: usize,
    mut place: impl FnMut(u64, &[u8]) -> Result<Vec<Run>>,
) -> Result<()> {
    use std::sync::mpsc::{channel, sync_channel};
    use std::sync::Mutex;
    let (full_tx, full_rx) = sync_channel::<Result<(u64, Vec<u8>)>>(AHEAD);
    let (empty_tx, empty_rx) = channel::<Vec<u8>>();
    let (job_tx, job_rx) = sync_channel::<(Vec<u8>, Vec<Run>)>(AHEAD);
    let job_rx = Mutex::new(job_rx);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for (c, n) in batches {
                let mut buf = empty_rx.try_recv().unwrap_or_default();
                buf.resize((n * CLUSTER) as usize, 0);
                let read = src.read_at(c * CLUSTER, &mut buf).map(|()| (c, buf));
                let stop = read.is_err();
                // A closed channel: the placing stopped on an error.
                if full_tx.send(read).is_err() || stop {
                    break;
                }
            }
        });
        for _ in 0..writers.max(1) {
            let (job_rx, failed, empty_tx) = (&job_rx, &failed, empty_tx.clone());
            scope.spawn(move || {
                // After a failure the jobs are drained unwritten, so the
                // placing never blocks on a full channel.
                while let Ok((buf, runs)) = lock(job_rx).recv() {
                    if lock(failed).is_none() {
                        if let Err(e) = out.runs(&buf, &runs) {
                            lock(failed).get_or_insert(e);
                        }
                    }
                    let _ = empty_tx.send(buf);
                }
            });
        }
        drop(empty_tx);
        let placed = (|| {
            for batch in full_rx {
                let (c, buf) = batch?;
                let runs = place(c, &buf)?;
                if job_tx.send((buf, runs)).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(job_tx);
        placed
    })?;
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A mutex's guard, poisoned or not (the data stays consistent: every
/// holder only reads or sets it whole).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The output file.
struct Out<'a> {
    file: &'a File,
    path: &'a Path,
}

impl Out<'_> {
    /// Write `bytes` at `at`.
    fn put(&self, bytes: &[u8], at: u64) -> Result<()> {
        self.file
            .write_all_at(bytes, at)
            .map_err(|e| Error::io(self.path, Some(at), e))
    }

    /// Write the `runs` of `chunk`.
    fn runs(&self, chunk: &[u8], runs: &[Run]) -> Result<()> {
        runs.iter()
            .try_for_each(|&(s, e, host)| self.put(&chunk[s..e], host))
    }
}

/// The output as it is being streamed.
struct Stream<'a> {
    out: Out<'a>,
    /// Where the next cluster goes.
    pos: u64,
    /// Host offset of each L2 table, with [`COPIED`], or 0.
    l1: Vec<u64>,
    /// The L2 table of the current span.
    l2: Vec<u64>,
    /// The span (L1 index) `l2` belongs to, once it has an entry.
    span: Option<u64>,
}

impl Stream<'_> {
    /// Give the non-zero clusters of `chunk` (the clusters from `first`
    /// on, all in one span) their host offsets, in order, and return them
    /// as runs to write (consecutive clusters in one run).
    fn place(&mut self, first: u64, chunk: &[u8]) -> Result<Vec<Run>> {
        let mut runs: Vec<Run> = Vec::new();
        for (i, data) in chunk.chunks(CLUSTER as usize).enumerate() {
            if is_zero(data) {
                continue;
            }
            let c = first + i as u64;
            self.start_span(c / L2_ENTRIES)?;
            self.l2[(c % L2_ENTRIES) as usize] = self.pos | COPIED;
            let at = i * CLUSTER as usize;
            match runs.last_mut() {
                Some(run) if run.1 == at => run.1 += data.len(),
                _ => runs.push((at, at + data.len(), self.pos)),
            }
            self.pos += CLUSTER;
        }
        Ok(runs)
    }

    /// Write `bytes` at the current position and move past them.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.put(bytes, self.pos)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Make `span` current, writing out the previous span's L2 table.
    fn start_span(&mut self, span: u64) -> Result<()> {
        if self.span != Some(span) {
            self.end_span()?;
            self.span = Some(span);
        }
        Ok(())
    }

    /// Write the current span's L2 table and point its L1 entry at it.
    fn end_span(&mut self) -> Result<()> {
        let Some(span) = self.span.take() else {
            return Ok(());
        };
        let table: Vec<u8> = self.l2.iter().flat_map(|e| e.to_be_bytes()).collect();
        self.l1[span as usize] = self.pos | COPIED;
        self.put(&table)?;
        self.l2.fill(0);
        Ok(())
    }

    /// Append the refcount blocks and table for every cluster so far plus
    /// themselves, all with refcount 1; return the table's offset and its
    /// length in clusters.
    fn refcounts(&mut self) -> Result<(u64, u32)> {
        let used = self.pos / CLUSTER;
        let (blocks, tables) = refcount_clusters(used);
        let total = used + blocks + tables;
        let first_block = self.pos;
        let mut block = vec![0u8; CLUSTER as usize];
        for b in 0..blocks {
            let covered = (total - b * REFCOUNTS_PER_BLOCK).min(REFCOUNTS_PER_BLOCK) as usize;
            block.fill(0);
            for r in block[..covered * 2].chunks_exact_mut(2) {
                r.copy_from_slice(&1u16.to_be_bytes());
            }
            self.put(&block)?;
        }
        let table_offset = self.pos;
        let mut table = vec![0u8; (tables * CLUSTER) as usize];
        for (b, e) in table.chunks_exact_mut(8).take(blocks as usize).enumerate() {
            e.copy_from_slice(&(first_block + b as u64 * CLUSTER).to_be_bytes());
        }
        self.put(&table)?;
        Ok((table_offset, u32::try_from(tables).unwrap_or(u32::MAX)))
    }
}

/// The refcount blocks and refcount table clusters needed for `used`
/// clusters plus themselves (the least fixed point).
fn refcount_clusters(used: u64) -> (u64, u64) {
    let (mut blocks, mut tables) = (0u64, 0u64);
    loop {
        let b = (used + blocks + tables).div_ceil(REFCOUNTS_PER_BLOCK);
        let t = b.div_ceil(L2_ENTRIES).max(1);
        if (b, t) == (blocks, tables) {
            return (blocks, tables);
        }
        (blocks, tables) = (b, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcount_structures_cover_themselves() {
        assert_eq!(refcount_clusters(1), (1, 1));
        assert_eq!(refcount_clusters(REFCOUNTS_PER_BLOCK - 2), (1, 1));
        // One more cluster and the block itself no longer fits.
        assert_eq!(refcount_clusters(REFCOUNTS_PER_BLOCK - 1), (2, 1));
        for used in [1, 1000, REFCOUNTS_PER_BLOCK * L2_ENTRIES - 5, 1 << 40] {
            let (b, t) = refcount_clusters(used);
            assert!(b * REFCOUNTS_PER_BLOCK >= used + b + t, "{used}");
            assert!(t * L2_ENTRIES >= b, "{used}");
            assert!(
                (b - 1) * REFCOUNTS_PER_BLOCK < used + b + t,
                "{used}: least"
            );
        }
    }
}
