//! The streamOptimized writer: one sequential pass, no seeks, so the OVA
//! writer can hash the stream as it goes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::grains::{self, Grain};
use super::{
    cid, descriptor, marker, Header, Marker, DESC_OFFSET, GD_AT_END, GRAIN_BYTES, GTES_PER_GT,
    MAX_CAPACITY_SECTORS, OVERHEAD, SECTOR,
};
use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// What a write produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    /// File size in bytes.
    pub bytes: u64,
    /// Non-zero grains stored (each 64 KiB of the virtual disk).
    pub grains: u64,
}

/// Write `src` as a streamOptimized VMDK into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let name = out_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk.vmdk".into());
    let mut w = BufWriter::with_capacity(1 << 20, out);
    write_to(src, &mut w, out_path, &name, opts, progress)?;
    w.flush().map_err(|e| Error::io(out_path, None, e))
}

/// Write `src` as a streamOptimized VMDK into `sink` (`out_path` names it in
/// errors, `extent` is the file name the descriptor records).
pub(crate) fn write_to(
    src: &RawDisk,
    sink: &mut dyn Write,
    out_path: &Path,
    extent: &str,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<Written> {
    let capacity = src.size().div_ceil(SECTOR);
    if capacity > MAX_CAPACITY_SECTORS {
        return Err(Error::Unsuitable {
            path: out_path.to_path_buf(),
            format: Format::Vmdk,
            why: format!(
                "the disk is {} bytes and a VMDK sparse extent holds at most 2 TiB; use qcow2 or raw",
                src.size()
            ),
        });
    }
    let header = Header::stream_optimized(capacity, GD_AT_END);
    let mut out = Sink {
        w: sink,
        pos: 0,
        path: out_path,
    };
    out.put(&header.encode())?;
    let desc = descriptor(capacity, extent, cid(&opts.identity));
    out.put(desc.as_bytes())?;
    out.zeros(OVERHEAD * SECTOR - DESC_OFFSET * SECTOR - desc.len() as u64)?;

    let mut tables = Tables::new(header.gt_count());
    let mut grains = 0u64;
    grains::for_each(src, opts.threads, |g: Grain| {
        tables.switch_to(&mut out, g.index / u64::from(GTES_PER_GT))?;
        let sector = out.sector()?;
        tables.set(g.index, sector);
        out.put(&g.record)?;
        grains += 1;
        progress.advance(((g.index + 1) * GRAIN_BYTES as u64).min(src.size()));
        Ok(())
    })?;
    tables.flush(&mut out)?;

    let gd = tables.directory();
    let gd_sectors = (gd.len() as u64).div_ceil(SECTOR).max(1);
    out.put(&marker(Marker::GrainDirectory, gd_sectors))?;
    let gd_offset = out.pos / SECTOR;
    out.put(&gd)?;
    out.zeros(gd_sectors * SECTOR - gd.len() as u64)?;
    out.put(&marker(Marker::Footer, 1))?;
    out.put(&Header::stream_optimized(capacity, gd_offset).encode())?;
    out.put(&marker(Marker::EndOfStream, 0))?;
    progress.advance(src.size());
    Ok(Written {
        bytes: out.pos,
        grains,
    })
}

/// The output stream and how far it is.
struct Sink<'a> {
    w: &'a mut dyn Write,
    pos: u64,
    path: &'a Path,
}

impl Sink<'_> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.w
            .write_all(b)
            .map_err(|e| Error::io(self.path, Some(self.pos), e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn zeros(&mut self, mut n: u64) -> Result<()> {
        const Z: [u8; 4096] = [0; 4096];
        while n > 0 {
            let k = n.min(Z.len() as u64);
            self.put(&Z[..k as usize])?;
            n -= k;
        }
        Ok(())
    }

    /// The current sector, as the 32-bit offset grain tables hold.
    fn sector(&self) -> Result<u32> {
        u32::try_from(self.pos / SECTOR).map_err(|_| Error::Unsuitable {
            path: self.path.to_path_buf(),
            format: Format::Vmdk,
            why: "the compressed disk passes 2 TiB, beyond the 32-bit sector offsets of a VMDK \
                  grain table; use qcow2 or raw"
                .into(),
        })
    }
}

/// The grain table being filled and the grain directory.
struct Tables {
    /// Sector of each grain table (0: none), one per 512 grains.
    directory: Vec<u32>,
    /// The table being filled: its index and entries.
    current: Option<(u64, Vec<u32>)>,
}

impl Tables {
    fn new(count: u64) -> Tables {
        Tables {
            directory: vec![0; usize::try_from(count).unwrap_or(0)],
            current: None,
        }
    }

    /// Make table `gt` the current one, writing the previous one out.
    fn switch_to(&mut self, out: &mut Sink<'_>, gt: u64) -> Result<()> {
        if self.current.as_ref().is_some_and(|(i, _)| *i == gt) {
            return Ok(());
        }
        self.flush(out)?;
        self.current = Some((gt, vec![0; GTES_PER_GT as usize]));
        Ok(())
    }

    fn set(&mut self, grain: u64, sector: u32) {
        if let Some((_, entries)) = &mut self.current {
            entries[(grain % u64::from(GTES_PER_GT)) as usize] = sector;
        }
    }

    /// Write the current table (marker, entries) and record it.
    fn flush(&mut self, out: &mut Sink<'_>) -> Result<()> {
        let Some((gt, entries)) = self.current.take() else {
            return Ok(());
        };
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        out.put(&marker(Marker::GrainTable, bytes.len() as u64 / SECTOR))?;
        let sector = out.sector()?;
        out.put(&bytes)?;
        if let Some(slot) = self.directory.get_mut(gt as usize) {
            *slot = sector;
        }
        Ok(())
    }

    /// The directory as bytes.
    fn directory(&self) -> Vec<u8> {
        self.directory
            .iter()
            .flat_map(|e| e.to_le_bytes())
            .collect()
    }
}
