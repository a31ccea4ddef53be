//! Compressed archives: the decoder is chosen by the magic bytes, reads every
//! member (gzip), stream (xz) or frame (zstd) to the end of the file, and
//! its errors say which format is damaged. The integrity checks (gzip
//! CRC-32 and length, xz check, zstd content checksum) are verified when the
//! decoder reaches them, which is why the tar reader reads on to the end of
//! the stream.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::Error;

/// Input buffer for files and decoders.
const BUF: usize = 1 << 20;

/// A compression format the reader recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Gzip,
    Xz,
    Zstd,
}

impl Format {
    fn detect(magic: &[u8]) -> Option<Format> {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Some(Format::Gzip)
        } else if magic.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0]) {
            Some(Format::Xz)
        } else if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
            Some(Format::Zstd)
        } else {
            None
        }
    }

    /// The name, which is also the command that tests such a file.
    fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Xz => "xz",
            Format::Zstd => "zstd",
        }
    }
}

/// A decoder whose errors name the format and what to run to check it.
struct Decoded<D> {
    inner: D,
    format: Format,
}

impl<D: Read> Read for Decoded<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let name = self.format.name();
            io::Error::new(
                e.kind(),
                format!(
                    "the {name} data is damaged or cut off ({e}): `{name} -t` on the file \
                     shows it; get an intact copy"
                ),
            )
        })
    }
}

/// Open a possibly compressed archive (plain, gzip, xz, zstd).
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, Error> {
    let f = File::open(path).map_err(|e| Error::Archive {
        path: path.display().to_string(),
        msg: format!("cannot open: {e}"),
    })?;
    decompress(Box::new(BufReader::with_capacity(BUF, f)))
}

/// Wrap `r` in a decompressor chosen by its magic bytes (plain tar passes
/// through unchanged).
pub fn decompress(r: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, Error> {
    let mut r = BufReader::with_capacity(BUF, r);
    let magic = {
        let buf = r.fill_buf().map_err(|e| Error::Archive {
            path: "<stream>".into(),
            msg: format!("reading the archive start: {e}"),
        })?;
        buf[..buf.len().min(6)].to_vec()
    };
    let Some(format) = Format::detect(&magic) else {
        return Ok(Box::new(r));
    };
    Ok(match format {
        Format::Gzip => Box::new(Decoded {
            inner: flate2::bufread::MultiGzDecoder::new(r),
            format,
        }),
        Format::Xz => Box::new(Decoded {
            inner: liblzma::read::XzDecoder::new_multi_decoder(r),
            format,
        }),
        Format::Zstd => {
            let d = zstd::stream::read::Decoder::with_buffer(r).map_err(|e| Error::Archive {
                path: "<stream>".into(),
                msg: format!("zstd: {e}"),
            })?;
            Box::new(Decoded { inner: d, format })
        }
    })
}
