//! A raw copy: the data ranges copied, the holes left as holes.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use crate::{Error, Progress, RawDisk, Result};

/// Copy block size.
const BLOCK: usize = 1 << 20;

/// Copy `src` into `out` (sized to the disk, holes kept).
pub fn copy(src: &RawDisk, out: &mut File, out_path: &Path, progress: &dyn Progress) -> Result<()> {
    out.set_len(src.size())
        .map_err(|e| Error::io(out_path, None, e))?;
    let mut buf = vec![0u8; BLOCK];
    for r in src.data() {
        let mut off = r.start;
        while off < r.end {
            let n = usize::try_from(r.end - off).unwrap_or(BLOCK).min(BLOCK);
            let chunk = &mut buf[..n];
            src.read_at(off, chunk)?;
            if !crate::is_zero(chunk) {
                out.write_all_at(chunk, off)
                    .map_err(|e| Error::io(out_path, Some(off), e))?;
            }
            off += n as u64;
            progress.advance(off);
        }
    }
    Ok(())
}
