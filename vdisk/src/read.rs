//! Reading images back: the virtual disk of any format written here, found
//! by its magic, as a [`VirtualDisk`] (and a `Read + Seek` view of it for
//! readers that want a stream, like `kubebake inspect`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use crate::{Error, Format, RawDisk, Result};

/// A virtual disk, whatever its container format.
pub trait VirtualDisk {
    /// The container format it was read from.
    fn format(&self) -> Format;
    /// The virtual disk size in bytes.
    fn size(&self) -> u64;
    /// Read exactly `buf.len()` bytes of the virtual disk at `offset`
    /// (bytes past the end read as zero).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

impl VirtualDisk for RawDisk {
    fn format(&self) -> Format {
        Format::Raw
    }
    fn size(&self) -> u64 {
        RawDisk::size(self)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        RawDisk::read_at(self, offset, buf)
    }
}

/// The container format of `path`, by its magic (raw when none matches).
pub fn detect(path: &Path) -> Result<Format> {
    let mut f = File::open(path).map_err(|e| Error::io(path, None, e))?;
    let mut head = [0u8; 512];
    let n = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, Some(0), e))?;
    let head = &head[..n];
    Ok(if head.starts_with(b"QFI\xfb") {
        Format::Qcow2
    } else if head.starts_with(b"KDMV") {
        Format::Vmdk
    } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
        Format::RawXz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::RawZst
    } else if n >= 263 && &head[257..262] == b"ustar" {
        Format::Ova
    } else if vhd_footer(&mut f, path)? {
        Format::Vhd
    } else {
        Format::Raw
    })
}

/// Whether the last 512 bytes are a VHD footer (`conectix`).
fn vhd_footer(f: &mut File, path: &Path) -> Result<bool> {
    let len = f.metadata().map_err(|e| Error::io(path, None, e))?.len();
    if len < 512 {
        return Ok(false);
    }
    let mut cookie = [0u8; 8];
    f.seek(SeekFrom::Start(len - 512))
        .and_then(|_| f.read_exact(&mut cookie))
        .map_err(|e| Error::io(path, Some(len - 512), e))?;
    Ok(&cookie == b"conectix")
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Open `path` as a virtual disk of whatever format it is.
pub fn open(path: &Path) -> Result<Rc<dyn VirtualDisk>> {
    match detect(path)? {
        Format::Raw => Ok(Rc::new(RawDisk::open(path)?)),
        Format::Qcow2 => Ok(Rc::new(crate::qcow2::open(path)?)),
        Format::Vhd => Ok(Rc::new(crate::vhd::open(path)?)),
        Format::Vmdk => Ok(Rc::new(crate::vmdk::open(path)?)),
        Format::Ova => Ok(Rc::new(crate::ova::open(path)?)),
        format => Err(Error::invalid(
            path,
            None,
            format!("reading {format} images is not implemented yet; convert it to raw first"),
        )),
    }
}

/// `Read + Seek` over a shared [`VirtualDisk`] (several readers may share
/// one disk and its caches).
pub struct Reader {
    disk: Rc<dyn VirtualDisk>,
    pos: u64,
}

impl Reader {
    /// A stream over `disk`, at offset 0.
    pub fn new(disk: Rc<dyn VirtualDisk>) -> Reader {
        Reader { disk, pos: 0 }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.disk.size().saturating_sub(self.pos);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        self.disk
            .read_at(self.pos, &mut buf[..n])
            .map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Reader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.disk.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}
