//! Bake the fetched components: kubelet/kubeadm/kubectl and the agent as bare
//! binaries, crictl out of its release archive, optional cni-plugins archive.

use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use ext4w::EntryKind;

use super::Sink;
use crate::component::{Fetched, AGENT};

/// Is this file a (gzip-compressed or plain) tar archive?
fn is_archive(path: &Path) -> Result<bool> {
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
fn each_file(path: &Path, f: &mut dyn FnMut(&str, u64, &mut dyn Read) -> Result<()>) -> Result<()> {
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

/// Bake every component. Returns true when a cni-plugins archive filled /opt/cni/bin.
pub fn bake<W: Write + Seek>(sink: &mut Sink<'_, W>, comps: &[Fetched]) -> Result<bool> {
    let mut cni = false;
    for c in comps {
        match c.name.as_str() {
            "crictl" if is_archive(&c.path)? => {
                let mut found = false;
                each_file(&c.path, &mut |name, size, r| {
                    if name.rsplit('/').next() == Some("crictl") {
                        sink.add("usr/bin/crictl", EntryKind::Regular { size }, 0o755, r)?;
                        found = true;
                    }
                    Ok(())
                })?;
                if !found {
                    bail!(
                        "crictl archive {} has no `crictl` member; check the crictl URL or file",
                        c.source
                    );
                }
            }
            "cni-plugins" => {
                if !is_archive(&c.path)? {
                    bail!(
                        "cni-plugins {} is not a .tgz release archive; pass the \
                         cni-plugins-linux-<arch>-v<version>.tgz file",
                        c.source
                    );
                }
                sink.dir("opt/cni/bin", 0o755)?;
                each_file(&c.path, &mut |name, size, r| {
                    let base = name.rsplit('/').next().unwrap_or(name);
                    if !base.is_empty() && !base.starts_with('.') {
                        sink.add(
                            &format!("opt/cni/bin/{base}"),
                            EntryKind::Regular { size },
                            0o755,
                            r,
                        )?;
                    }
                    Ok(())
                })?;
                cni = true;
            }
            name => {
                let dest = if name == AGENT {
                    format!("usr/bin/{AGENT}")
                } else {
                    format!("usr/bin/{name}")
                };
                sink.host_file(&dest, 0o755, &c.path)?;
            }
        }
        tracing::info!(component = %c.name, version = %c.version, sha256 = %c.sha256, "baked");
    }
    Ok(cni)
}
