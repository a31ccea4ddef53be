//! UEFI boot: the kernel command line and the ESP contents (systemd-boot as
//! the removable-media fallback loader, a loader entry, kernel and initrd).

use kubebake_disk::fat::{FatFile, Source};
use uuid::Uuid;

use crate::bake::BootFiles;
use crate::profile::{Arch, Resolved};

/// The kernel's `init=`: a wrapper baked from overlays/ that gives systemd
/// the node's machine-id kept on STATE before it starts, then execs it.
pub(crate) const INIT: &str = "/usr/libexec/kubebake/init";

/// Flags every image carries, before the profile's additions.
pub fn cmdline(root_a: Uuid, r: &Resolved) -> String {
    let mut parts = vec![
        format!("root=PARTUUID={root_a}"),
        "ro".to_string(),
        "rootfstype=ext4".to_string(),
        "systemd.unified_cgroup_hierarchy=1".to_string(),
        format!("init={INIT}"),
    ];
    parts.extend(r.profile.boot.cmdline.iter().cloned());
    parts.join(" ")
}

/// The loader entry (`loader/entries/kubebake.conf`).
pub fn loader_entry(r: &Resolved, kernel_version: &str, cmdline: &str) -> String {
    format!(
        "title {} ({kernel_version})\nlinux /kubebake/vmlinuz\ninitrd /kubebake/initrd\noptions {cmdline}\n",
        r.profile.description.clone().unwrap_or_else(|| format!("kubebake {}", r.name)),
    )
}

/// Every file on the ESP.
pub fn esp_files(arch: Arch, r: &Resolved, boot: &BootFiles, cmdline: &str) -> Vec<FatFile> {
    let sfx = arch.efi_suffix();
    let f = |path: String, source: Source| FatFile { path, source };
    vec![
        f(
            format!("EFI/BOOT/BOOT{}.EFI", sfx.to_ascii_uppercase()),
            Source::File(boot.systemd_boot.clone()),
        ),
        f(
            format!("EFI/systemd/systemd-boot{sfx}.efi"),
            Source::File(boot.systemd_boot.clone()),
        ),
        f(
            "loader/loader.conf".into(),
            Source::Bytes(b"default kubebake.conf\ntimeout 0\neditor no\n".to_vec()),
        ),
        f(
            "loader/entries/kubebake.conf".into(),
            Source::Bytes(loader_entry(r, &boot.kernel_version, cmdline).into_bytes()),
        ),
        f("kubebake/vmlinuz".into(), Source::File(boot.kernel.clone())),
        f("kubebake/initrd".into(), Source::File(boot.initrd.clone())),
    ]
}

/// The `options` line of a loader entry, if any.
pub fn options_of(entry: &str) -> Option<String> {
    entry.lines().find_map(|l| {
        l.trim()
            .strip_prefix("options")
            .map(|o| o.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use crate::embedded::{Embedded, OVERLAYS};

    /// The kernel panics when `init=` names no executable: the wrapper is
    /// always baked, executable.
    #[test]
    fn init_is_an_executable_overlay() {
        let want = super::INIT.trim_start_matches('/');
        let found = OVERLAYS.iter().find_map(|e| match *e {
            Embedded::File(p, mode, data) if p == want => Some((mode, data)),
            _ => None,
        });
        let (mode, data) = found.unwrap_or_else(|| panic!("{want} is not in overlays/"));
        assert_eq!(mode, 0o755);
        assert!(data.starts_with(b"#!/bin/sh\n"));
        assert!(std::str::from_utf8(data).is_ok_and(|t| t.contains("exec /sbin/init \"$@\"")));
    }
}
