//! Tar front end: stream (compressed) tar archives into a [`Writer`].

use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::{Entry, Error, Writer};

/// Counts from one archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarStats {
    /// Members read.
    pub entries: u64,
    /// Bytes of regular file data.
    pub data_bytes: u64,
    /// OCI whiteouts applied.
    pub whiteouts: u64,
}

/// Open a possibly compressed archive (plain, gzip, xz, zstd).
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, Error> {
    let _ = path;
    Err(Error::Limit("not implemented yet".into()))
}

/// Wrap `r` in a decompressor chosen by its magic bytes.
pub fn decompress(r: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, Error> {
    Ok(r)
}

/// Stream every member as an [`Entry`] plus its data reader.
pub fn for_each_entry<R: Read>(
    r: R,
    source: &str,
    f: &mut dyn FnMut(Entry, &mut dyn Read) -> Result<(), Error>,
) -> Result<TarStats, Error> {
    let _ = (r, source, f);
    Err(Error::Limit("not implemented yet".into()))
}

/// Add every member to `w`, applying OCI whiteouts.
pub fn add_tar<R: Read, W: Write + Seek>(
    w: &mut Writer<W>,
    r: R,
    source: &str,
) -> Result<TarStats, Error> {
    let _ = (w, r, source);
    Err(Error::Limit("not implemented yet".into()))
}
