//! raw.xz and raw.zst: the raw disk compressed with several threads.

use std::fs::File;
use std::path::Path;

use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// Which compressor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// xz (liblzma, multi-threaded).
    Xz,
    /// zstd (multi-threaded).
    Zstd,
}

/// Write `src` compressed with `codec` into `out`.
pub fn write(
    codec: Codec,
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let _ = (src, out, opts, progress);
    Err(Error::NotImplemented {
        format: match codec {
            Codec::Xz => Format::RawXz,
            Codec::Zstd => Format::RawZst,
        },
        path: out_path.to_path_buf(),
    })
}
