//! qcow2 v3 (qemu `docs/interop/qcow2.txt`): zero clusters are never stored.

use std::fs::File;
use std::path::Path;

use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// Write `src` as qcow2 into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = (src, out, opts, progress);
    Err(Error::NotImplemented {
        format: Format::Qcow2,
        path: out_path.to_path_buf(),
    })
}
