//! The qcow2 reader: the header checked field by field, the L1 table in
//! memory, L2 tables read on demand into a small cache.
//!
//! Every offset and size taken from the file is checked before use (in the
//! file, cluster-aligned, no overflow), so a hostile image gives an
//! [`Error::Invalid`] naming the offset and the field, never a panic or an
//! allocation larger than the file.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{
    incompat, Header, COMPRESSED, HEADER_V2_LEN, HEADER_V3_LEN, MAGIC, MAX_L1_BYTES, OFFSET_MASK,
    ZERO,
};
use crate::{Error, Format, Result, VirtualDisk};

/// L2 tables kept in memory.
const CACHE_SLOTS: usize = 16;

/// A qcow2 image opened for reading.
#[derive(Debug)]
pub struct Qcow2Disk {
    file: File,
    path: PathBuf,
    file_len: u64,
    size: u64,
    cluster_bits: u32,
    /// `v3`: L2 entries may carry the all-zeros flag.
    v3: bool,
    l1: Vec<u64>,
    cache: Mutex<Cache>,
}

/// Recently read L2 tables, replaced round-robin.
#[derive(Debug, Default)]
struct Cache {
    tables: Vec<(u64, Vec<u64>)>,
    next: usize,
}

/// Open the qcow2 image at `path`: check its header and read its L1 table.
pub fn open(path: &Path) -> Result<Qcow2Disk> {
    let file = File::open(path).map_err(|e| Error::io(path, None, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, None, e))?.len();
    let mut head = vec![0u8; usize::try_from(file_len.min(4096)).unwrap_or(4096)];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(path, Some(0), e))?;
    let bad = |offset: u64, what: String| Error::invalid(path, Some(offset), what);
    if !head.starts_with(&MAGIC) {
        return Err(bad(0, "not a qcow2 image (no QFI\\xfb magic)".into()));
    }
    let h = Header::decode(&head).ok_or_else(|| {
        bad(
            0,
            format!("qcow2 header truncated: the file is {file_len} bytes, a header at least {HEADER_V2_LEN}"),
        )
    })?;
    if let Some((at, what)) = header_problem(&h, head.len()) {
        return Err(bad(at, what));
    }
    let cluster = 1u64 << h.cluster_bits;
    let l1_bytes = u64::from(h.l1_size) * 8;
    let l1_needed = h.size.div_ceil(cluster * (cluster / 8));
    if u64::from(h.l1_size) < l1_needed || l1_bytes > MAX_L1_BYTES {
        return Err(bad(
            36,
            format!(
                "l1_size {} does not fit a virtual size of {} bytes (needs {l1_needed}, at most {}); the image is corrupt",
                h.l1_size,
                h.size,
                MAX_L1_BYTES / 8
            ),
        ));
    }
    if h.l1_size > 0 {
        check_table(h.l1_table_offset, l1_bytes, cluster, file_len).map_err(|why| {
            bad(
                40,
                format!("l1_table_offset {:#x}: {why}", h.l1_table_offset),
            )
        })?;
    }
    let mut raw = vec![0u8; l1_bytes as usize];
    file.read_exact_at(&mut raw, h.l1_table_offset)
        .map_err(|e| Error::io(path, Some(h.l1_table_offset), e))?;
    let l1 = raw
        .chunks_exact(8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
        .collect();
    Ok(Qcow2Disk {
        file,
        path: path.to_path_buf(),
        file_len,
        size: h.size,
        cluster_bits: h.cluster_bits,
        v3: h.version == 3,
        l1,
        cache: Mutex::new(Cache::default()),
    })
}

/// The first header field that makes an image unreadable here: its offset
/// in the header, and what is wrong with the fix.
fn header_problem(h: &Header, head_len: usize) -> Option<(u64, String)> {
    let convert = "flatten it with `qemu-img convert -O qcow2 IN OUT` first";
    let corrupt = "the image is corrupt";
    let v3_len = HEADER_V3_LEN as usize;
    if h.version != 2 && h.version != 3 {
        let v = h.version;
        return Some((
            4,
            format!("qcow2 version {v} is not supported (2 and 3 are)"),
        ));
    }
    if h.version == 3 && (h.header_length < HEADER_V3_LEN || head_len < v3_len) {
        let l = h.header_length;
        return Some((
            100,
            format!("header_length {l} is below 104 or past the end of the file; {corrupt}"),
        ));
    }
    if !(9..=21).contains(&h.cluster_bits) {
        let b = h.cluster_bits;
        return Some((20, format!("cluster_bits {b} is outside 9..=21; {corrupt}")));
    }
    if u64::from(h.header_length) > 1 << h.cluster_bits {
        let l = h.header_length;
        return Some((
            100,
            format!("header_length {l} is larger than a cluster; {corrupt}"),
        ));
    }
    if h.backing_file_offset != 0 {
        return Some((
            8,
            format!("the image has a backing file (an overlay, not a whole disk); {convert}"),
        ));
    }
    if h.crypt_method != 0 {
        let m = h.crypt_method;
        return Some((32, format!("the image is encrypted (crypt_method {m}); decrypt it with `qemu-img convert` first")));
    }
    let f = h.incompatible_features;
    let refused = [
        (
            incompat::CORRUPT,
            "qemu marked it corrupt; repair it with `qemu-img check -r all` first".to_string(),
        ),
        (
            incompat::EXTERNAL_DATA,
            format!("its data is in an external data file; {convert}"),
        ),
        (
            incompat::EXTENDED_L2,
            format!("it has extended L2 entries (subclusters); {convert}"),
        ),
    ];
    if let Some((_, why)) = refused.into_iter().find(|(bit, _)| f & bit != 0) {
        return Some((72, why));
    }
    let known = incompat::DIRTY
        | incompat::CORRUPT
        | incompat::EXTERNAL_DATA
        | incompat::COMPRESSION_TYPE
        | incompat::EXTENDED_L2;
    if f & !known != 0 {
        let u = f & !known;
        return Some((
            72,
            format!("unknown incompatible features {u:#x}; {convert} with this qemu-img"),
        ));
    }
    if h.refcount_order > 6 {
        let o = h.refcount_order;
        return Some((96, format!("refcount_order {o} is above 6; {corrupt}")));
    }
    None
}

/// Why a table of `len` bytes at `offset` is not a valid cluster-aligned
/// range of a `file_len`-byte file.
fn check_table(offset: u64, len: u64, cluster: u64, file_len: u64) -> Result<(), String> {
    if offset == 0 || offset % cluster != 0 {
        return Err(format!(
            "not a nonzero multiple of the {cluster}-byte cluster size"
        ));
    }
    match offset.checked_add(len) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(format!(
            "{len} bytes there run past the end of the {file_len}-byte file"
        )),
    }
}

impl Qcow2Disk {
    fn cluster(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// The host offset of virtual cluster `c`, or `None` when it reads as
    /// zeros.
    fn host_cluster(&self, c: u64) -> Result<Option<u64>> {
        let per_l2 = self.cluster() / 8;
        let l1_index = c / per_l2;
        let l1e = self.l1.get(l1_index as usize).copied().unwrap_or(0);
        let l2_offset = l1e & OFFSET_MASK;
        if l2_offset == 0 {
            return Ok(None);
        }
        check_table(l2_offset, self.cluster(), self.cluster(), self.file_len).map_err(|why| {
            self.bad(l2_offset, format!("L2 table of L1 entry {l1_index} (virtual cluster {c}): {why}; the image is corrupt"))
        })?;
        let l2e = self.l2_entry(l2_offset, (c % per_l2) as usize)?;
        if l2e & COMPRESSED != 0 {
            return Err(self.bad(
                l2_offset,
                format!("virtual cluster {c} is compressed, which this reader does not read; convert it with `qemu-img convert -O qcow2` (without -c) first"),
            ));
        }
        let host = l2e & OFFSET_MASK;
        if (self.v3 && l2e & ZERO != 0) || host == 0 {
            return Ok(None);
        }
        if host % self.cluster() != 0 || host >= self.file_len {
            return Err(self.bad(
                l2_offset,
                format!("L2 entry for virtual cluster {c} points at {host:#x}, not a cluster in the {}-byte file; the image is corrupt", self.file_len),
            ));
        }
        Ok(Some(host))
    }

    /// Entry `index` of the L2 table at `offset`, through the cache.
    fn l2_entry(&self, offset: u64, index: usize) -> Result<u64> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, t)) = cache.tables.iter().find(|(o, _)| *o == offset) {
            return Ok(t[index]);
        }
        let mut raw = vec![0u8; self.cluster() as usize];
        self.file
            .read_exact_at(&mut raw, offset)
            .map_err(|e| Error::io(&self.path, Some(offset), e))?;
        let table: Vec<u64> = raw
            .chunks_exact(8)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
            .collect();
        let entry = table[index];
        if cache.tables.len() < CACHE_SLOTS {
            cache.tables.push((offset, table));
        } else {
            let slot = cache.next;
            cache.tables[slot] = (offset, table);
            cache.next = (slot + 1) % CACHE_SLOTS;
        }
        Ok(entry)
    }

    fn bad(&self, offset: u64, what: String) -> Error {
        Error::invalid(&self.path, Some(offset), what)
    }
}

impl VirtualDisk for Qcow2Disk {
    fn format(&self) -> Format {
        Format::Qcow2
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let off = offset.saturating_add(done as u64);
            let within = off & (self.cluster() - 1);
            // Up to the cluster's end, and stop at the virtual size: past
            // it the bytes read as zero whatever the cluster holds.
            let left = if off < self.size {
                self.size - off
            } else {
                u64::MAX
            };
            let n = usize::try_from((self.cluster() - within).min(left))
                .unwrap_or(usize::MAX)
                .min(buf.len() - done);
            let part = &mut buf[done..done + n];
            match (off < self.size)
                .then(|| self.host_cluster(off >> self.cluster_bits))
                .transpose()?
                .flatten()
            {
                Some(host) => self.read_host(host + within, part)?,
                None => part.fill(0),
            }
            done += n;
        }
        Ok(())
    }
}

impl Qcow2Disk {
    /// Read `buf` at host offset `at`, past the end of the file as zeros
    /// (qemu does not always extend the file over a last, partial cluster).
    /// Bytes past the virtual size are zeroed by the caller's bounds.
    fn read_host(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let avail = usize::try_from(self.file_len.saturating_sub(at)).unwrap_or(usize::MAX);
        let (head, tail) = buf.split_at_mut(avail.min(buf.len()));
        self.file
            .read_exact_at(head, at)
            .map_err(|e| Error::io(&self.path, Some(at), e))?;
        tail.fill(0);
        Ok(())
    }
}
