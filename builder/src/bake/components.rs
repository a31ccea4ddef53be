//! Bake the fetched components: kubelet/kubeadm/kubectl and the agent as bare
//! binaries, crictl out of its release archive, optional cni-plugins archive.

use std::io::{Seek, Write};

use anyhow::{bail, Result};
use ext4w::EntryKind;

use super::Sink;
use crate::archive::{each_file, is_archive};
use crate::component::{Fetched, AGENT};

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
