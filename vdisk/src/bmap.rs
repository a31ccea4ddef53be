//! bmaptool's block map, format 2.0 (yoctoproject/bmaptool
//! `src/bmaptool/BmapCreate.py`): the raw disk's mapped 4 KiB blocks as
//! ranges with their sha256, so `bmaptool copy` writes only the data.

use std::fs::File;
use std::path::Path;

use crate::{Error, Format, RawDisk, Result};

/// Write the bmap of `src` into `out`.
pub fn write(src: &RawDisk, out: &mut File, out_path: &Path) -> Result<()> {
    let _ = (src, out);
    Err(Error::NotImplemented {
        format: Format::Raw,
        path: out_path.to_path_buf(),
    })
}
