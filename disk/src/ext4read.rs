//! Read files out of an ext2/3/4 filesystem in pure Rust (via `ext4-view`), for
//! `kubebake inspect` (the baked manifest) and tests.

use std::io::{Read, Seek, SeekFrom};

use crate::error::{Error, Result};

/// Adapts any Read+Seek to ext4-view's positional reader.
struct Reader<F>(F);

impl<F: Read + Seek> ext4_view::Ext4Read for Reader<F> {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.0.seek(SeekFrom::Start(start_byte))?;
        self.0.read_exact(dst)?;
        Ok(())
    }
}

/// The most block groups read: ext4-view allocates a descriptor for each before looking at
/// any, so a superblock claiming billions would abort the process. 2^18 groups of 32768
/// 4 KiB blocks is a 32 TiB filesystem.
pub const MAX_BLOCK_GROUPS: u64 = 1 << 18;

/// Check what ext4-view sizes its allocations by (block and group counts) against the
/// window the filesystem is in, before it sees the superblock.
fn check_superblock<F: Read + Seek>(f: &mut F) -> Result<()> {
    let io = |e| Error::io("reading the ext4 superblock", 1024, e);
    let window = f.seek(SeekFrom::End(0)).map_err(io)?;
    let mut sb = [0u8; 0x160];
    f.seek(SeekFrom::Start(1024)).map_err(io)?;
    if f.read_exact(&mut sb).is_err() {
        return Ok(()); // too short: ext4-view says so
    }
    let le32 = |o: usize| u32::from_le_bytes([sb[o], sb[o + 1], sb[o + 2], sb[o + 3]]);
    let blocks = u64::from(le32(0x150)) << 32 | u64::from(le32(0x04));
    let (first, per_group, log) = (u64::from(le32(0x14)), u64::from(le32(0x20)), le32(0x18));
    if per_group == 0 || log > 6 || u16::from_le_bytes([sb[0x38], sb[0x39]]) != 0xef53 {
        return Ok(()); // not ext4, or refused by ext4-view without allocating
    }
    let groups = blocks.saturating_sub(first).div_ceil(per_group);
    if groups > MAX_BLOCK_GROUPS {
        return Err(Error::Ext4Superblock(format!(
            "{groups} block groups ({blocks} blocks, {per_group} per group); at most \
             {MAX_BLOCK_GROUPS} are read"
        )));
    }
    let bytes = blocks.saturating_mul(1024 << log);
    if bytes > window {
        return Err(Error::Ext4Superblock(format!(
            "{blocks} blocks of {} bytes ({bytes} bytes) do not fit in the {window} bytes \
             it is in (a truncated image?)",
            1024 << log
        )));
    }
    Ok(())
}

fn open<F: Read + Seek + 'static>(mut f: F) -> Result<ext4_view::Ext4> {
    check_superblock(&mut f)?;
    ext4_view::Ext4::load(Box::new(Reader(f))).map_err(|source| Error::Ext4 {
        what: "loading",
        path: "/".into(),
        source,
    })
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Read a regular file of at most `limit` bytes out of an ext4 filesystem in a window (for
/// `inspect`: the baked manifest /usr/lib/kubebake/manifest.json). Pure Rust. Symlinks are
/// followed. The recorded size is checked before anything is allocated: a larger file is
/// [`Error::TooLarge`], whatever its inode claims.
pub fn read_file<F: Read + Seek + 'static>(f: F, path: &str, limit: u64) -> Result<Vec<u8>> {
    let fs = open(f)?;
    let path = absolute(path);
    let err = |source| Error::Ext4 {
        what: "reading",
        path: path.clone(),
        source,
    };
    let mut file = fs.open(path.as_str()).map_err(err)?;
    let size = file.metadata().len();
    if size > limit {
        return Err(Error::TooLarge { path, size, limit });
    }
    // size <= limit, and the caller's limit is what it is willing to hold.
    let mut out = vec![0u8; usize::try_from(size).unwrap_or(0)];
    let mut got = 0;
    while got < out.len() {
        match file.read_bytes(&mut out[got..]).map_err(err)? {
            0 => break,
            n => got += n,
        }
    }
    out.truncate(got);
    Ok(out)
}

/// Kind of a directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Device, fifo or socket.
    Other,
}

/// The entries of directory `path` (without "." and ".."), sorted by name, with kind and
/// size.
pub fn list_dir<F: Read + Seek + 'static>(f: F, path: &str) -> Result<Vec<(String, Kind, u64)>> {
    let fs = open(f)?;
    let path = absolute(path);
    let err = |what: &'static str, p: &str| {
        let p = p.to_string();
        move |source| Error::Ext4 {
            what,
            path: p,
            source,
        }
    };
    let mut out = Vec::new();
    for entry in fs.read_dir(path.as_str()).map_err(err("listing", &path))? {
        let entry = entry.map_err(err("listing", &path))?;
        let name = String::from_utf8_lossy(entry.file_name().as_ref()).into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let meta = entry.metadata().map_err(err("stat", &name))?;
        let ft = meta.file_type();
        let kind = if ft.is_regular_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        out.push((name, kind, meta.len()));
    }
    out.sort();
    Ok(out)
}
