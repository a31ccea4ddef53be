//! Fixed VHD (qemu `block/vpc.c`): the raw disk rounded up to a whole MiB plus a 512-byte footer.

use std::fs::File;
use std::path::Path;

use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// Write `src` as a fixed VHD into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = (src, out, opts, progress);
    Err(Error::NotImplemented {
        format: Format::Vhd,
        path: out_path.to_path_buf(),
    })
}
