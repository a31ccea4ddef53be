//! streamOptimized VMDK (qemu `block/vmdk.c`): deflate grains, grain tables and directory at the end, footer, end-of-stream marker.

use std::fs::File;
use std::path::Path;

use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// Write `src` as a streamOptimized VMDK into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = (src, out, opts, progress);
    Err(Error::NotImplemented {
        format: Format::Vmdk,
        path: out_path.to_path_buf(),
    })
}
