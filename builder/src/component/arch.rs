//! Does a component run on the profile's CPU? An ELF executable must have
//! the arch's `e_machine`; a `#!` script runs anywhere; anything else is not
//! a program. Release archives (crictl, cni-plugins) are checked member by
//! member.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::archive::{each_file, is_archive};
use crate::profile::{Arch, Resolved};

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An ELF file for this `e_machine`.
    Elf(u16),
    /// A `#!` script.
    Script,
    /// Neither.
    Other,
}

fn sniff(head: &[u8]) -> Kind {
    if head.starts_with(b"#!") {
        return Kind::Script;
    }
    if head.len() < 20 || !head.starts_with(b"\x7fELF") {
        return Kind::Other;
    }
    let m = [head[18], head[19]];
    // EI_DATA: 2 is big-endian.
    Kind::Elf(if head[5] == 2 {
        u16::from_be_bytes(m)
    } else {
        u16::from_le_bytes(m)
    })
}

/// The CPU an ELF `e_machine` names.
fn cpu(machine: u16) -> String {
    match machine {
        3 => "i386 (32-bit x86)".into(),
        40 => "arm (32-bit)".into(),
        62 => Arch::Amd64.cpu().into(),
        183 => Arch::Arm64.cpu().into(),
        243 => "riscv".into(),
        m => format!("e_machine {m}"),
    }
}

fn head_of(r: &mut dyn Read) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64);
    r.take(64).read_to_end(&mut head)?;
    Ok(head)
}

/// Check one program's first bytes; `what` names it in the error.
fn check_head(head: &[u8], name: &str, what: &str, r: &Resolved) -> Result<()> {
    let want = r.arch;
    match sniff(head) {
        Kind::Script => Ok(()),
        Kind::Elf(m) if m == want.elf_machine() => Ok(()),
        Kind::Elf(m) => bail!(
            "{what} is an {} executable but profile {} builds {} ({}): give the {} build",
            cpu(m),
            r.name,
            want.as_str(),
            want.cpu(),
            want.as_str()
        ),
        Kind::Other => bail!(
            "{what} is neither an ELF executable nor a #! script; give the {name} program \
             built for {} ({})",
            want.as_str(),
            want.cpu()
        ),
    }
}

/// Check component `name` at `path` (shown as `what`) runs on the profile's
/// arch: the file itself, or every program in a crictl/cni-plugins archive.
pub(crate) fn check(name: &str, path: &Path, what: &str, r: &Resolved) -> Result<()> {
    let archive = matches!(name, "crictl" | "cni-plugins") && is_archive(path)?;
    if !archive {
        if name == "cni-plugins" {
            bail!(
                "{what} is not a .tgz release archive; pass the \
                 cni-plugins-linux-<arch>-v<version>.tgz file"
            );
        }
        let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let head = head_of(&mut f).with_context(|| format!("reading {}", path.display()))?;
        return check_head(&head, name, what, r);
    }
    let mut found = false;
    each_file(path, &mut |member, _, data| {
        let base = member.rsplit('/').next().unwrap_or(member);
        let head = head_of(data).with_context(|| format!("reading {member} in {what}"))?;
        let program = match name {
            "crictl" => base == "crictl",
            _ => matches!(sniff(&head), Kind::Elf(_)),
        };
        if !program {
            return Ok(());
        }
        found = true;
        check_head(&head, name, &format!("{what}: member {member}"), r)
    })?;
    if !found {
        bail!("{what} has no {name} program in it; check the {name} URL or file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16, big_endian: bool) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = if big_endian { 2 } else { 1 };
        let m = if big_endian {
            machine.to_be_bytes()
        } else {
            machine.to_le_bytes()
        };
        h[18..20].copy_from_slice(&m);
        h
    }

    #[test]
    fn sniffs_elf_machines_scripts_and_the_rest() {
        assert_eq!(sniff(&elf(62, false)), Kind::Elf(62));
        assert_eq!(sniff(&elf(183, true)), Kind::Elf(183));
        assert_eq!(sniff(b"#!/bin/sh\n"), Kind::Script);
        assert_eq!(sniff(b"\x7fELF"), Kind::Other);
        assert_eq!(sniff(b"MZ\x90\x00"), Kind::Other);
        assert_eq!(cpu(183), "aarch64");
        assert_eq!(cpu(8), "e_machine 8");
    }

    #[test]
    fn the_profile_arch_decides() {
        let r = crate::profile::resolve(Some("generic-arm64"), &[]).expect("arm64");
        assert!(check_head(&elf(183, false), "kubelet", "x", &r).is_ok());
        assert!(check_head(b"#!/bin/sh\n", "kubelet", "x", &r).is_ok());
        let e = check_head(&elf(62, false), "kubelet", "./k", &r).expect_err("amd64");
        let msg = format!("{e}");
        assert!(msg.contains("x86-64") && msg.contains("arm64"), "{msg}");
        let e = check_head(b"\0\0\0\0", "kubelet", "./k", &r).expect_err("data");
        assert!(format!("{e}").contains("neither an ELF"), "{e}");
    }
}
