//! Component release archives (crictl, cni-plugins): plain or gzip tar.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};

/// Is this file a (gzip-compressed or plain) tar archive?
pub(crate) fn is_archive(path: &Path) -> Result<bool> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 262];
    let mut n = 0;
    while n < head.len() {
        let r = f
            .read(&mut head[n..])
            .with_context(|| format!("reading {}", path.display()))?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok((n >= 2 && head[..2] == [0x1f, 0x8b]) || (n >= 262 && &head[257..262] == b"ustar"))
}

/// Call `f(name, size, reader)` for every regular file in a (gz) tar archive.
pub(crate) fn each_file(
    path: &Path,
    f: &mut dyn FnMut(&str, u64, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = BufReader::new(file);
    let gz = {
        let buf = std::io::BufRead::fill_buf(&mut head)
            .with_context(|| format!("reading {}", path.display()))?;
        buf.len() >= 2 && buf[..2] == [0x1f, 0x8b]
    };
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(head))
    } else {
        Box::new(head)
    };
    let mut ar = tar::Archive::new(reader);
    for e in ar
        .entries()
        .with_context(|| format!("reading archive {}", path.display()))?
    {
        let mut e = e.with_context(|| format!("reading archive {}", path.display()))?;
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e
            .path()
            .with_context(|| format!("bad member name in {}", path.display()))?
            .to_string_lossy()
            .into_owned();
        let size = e.size();
        f(&name, size, &mut e)?;
    }
    Ok(())
}
