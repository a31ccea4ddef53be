//! OVA: a tar holding the OVF envelope first, the manifest, then the streamOptimized VMDK.

use std::fs::File;
use std::path::Path;

use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// Write `src` as an OVA into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = (src, out, opts, progress);
    Err(Error::NotImplemented {
        format: Format::Ova,
        path: out_path.to_path_buf(),
    })
}
