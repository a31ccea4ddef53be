//! Profiles: strict TOML, `extends`, `--set` overrides, validation.
//!
//! Every file is parsed on its own against the strict schema first (so an
//! unknown key is reported with its file, line and column), then the files are
//! merged (child tables override parent tables key by key, arrays and scalars
//! are replaced), `--set` overrides are applied, and the result is validated.
//! This module holds the schema; [`load`] reads, merges and overrides.

mod load;
mod origin;
mod pins;
mod sizes;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

pub use load::resolve;
pub use pins::Unpinned;
pub use sizes::{Root, Sizes};

/// Profiles shipped inside the binary: (name, TOML text).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "generic-amd64",
        include_str!("../../../profiles/generic-amd64.toml"),
    ),
    (
        "generic-arm64",
        include_str!("../../../profiles/generic-arm64.toml"),
    ),
    (
        "aws-amd64",
        include_str!("../../../profiles/aws-amd64.toml"),
    ),
    (
        "aws-arm64",
        include_str!("../../../profiles/aws-arm64.toml"),
    ),
    (
        "vsphere-amd64",
        include_str!("../../../profiles/vsphere-amd64.toml"),
    ),
];

/// The profile used when `kubebake build` gets none.
pub const DEFAULT: &str = "generic-amd64";

/// Every component name a profile may pin and `--component` accepts.
pub const KNOWN: &[&str] = &[
    "kubelet",
    "kubeadm",
    "kubectl",
    "crictl",
    "cni-plugins",
    AGENT,
];

/// The first-boot agent's component name.
pub const AGENT: &str = "kubebake-firstboot";

/// Target CPU architecture (Debian naming).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64.
    Amd64,
    /// AArch64.
    Arm64,
}

impl Arch {
    /// Debian / Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
    /// The UEFI file-name suffix (`x64`, `aa64`).
    pub fn efi_suffix(self) -> &'static str {
        match self {
            Arch::Amd64 => "x64",
            Arch::Arm64 => "aa64",
        }
    }
    /// The ELF `e_machine` of its executables.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::Amd64 => 62,
            Arch::Arm64 => 183,
        }
    }
    /// The CPU's name as ELF tools print it.
    pub fn cpu(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86-64",
            Arch::Arm64 => "aarch64",
        }
    }
    /// The Rust target triple (`cargo build --target`).
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
    /// The architecture of the running host, if it is one we build for.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::Amd64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }
}

/// Where an image is meant to run: what the platform's import needs
/// (see `platform.rs`) and, later, which outputs suit it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Metal, QEMU/KVM, any UEFI machine.
    #[default]
    Generic,
    /// Amazon EC2 (an AMI registered from an imported snapshot).
    Aws,
    /// VMware vSphere (an OVA template).
    Vsphere,
}

/// A fully merged profile as written in TOML. Required fields are `Option`
/// so that a child file may leave them to its parent; [`Profile::validate`]
/// checks them after merging.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Parent profile: a shipped name or a path relative to this file.
    pub extends: Option<String>,
    /// Profile name (recorded in the image).
    pub name: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Target architecture.
    pub arch: Option<Arch>,
    /// Target platform (default `generic`).
    pub platform: Option<Platform>,
    /// Base root filesystem recipe.
    #[serde(default)]
    pub base: Base,
    /// Kubernetes version and pinned components.
    #[serde(default)]
    pub kubernetes: Kubernetes,
    /// Boot method and kernel command line additions.
    #[serde(default)]
    pub boot: Boot,
    /// Disk layout and sizes.
    #[serde(default)]
    pub disk: Disk,
    /// sysctl settings baked into /usr/lib/sysctl.d/60-kubebake-profile.conf.
    #[serde(default)]
    pub sysctls: BTreeMap<String, toml::Value>,
    /// Kernel modules loaded at boot (modules-load.d).
    #[serde(default)]
    pub modules: Vec<String>,
    /// Kernel modules the initrd must carry (the root disk's and the
    /// network's drivers): added to an mmdebstrap base's initramfs, and
    /// checked in the captured initrd whatever the base.
    #[serde(default)]
    pub initramfs_modules: Vec<String>,
    /// Extra overlay directories (relative to the profile file).
    #[serde(default)]
    pub overlays: Vec<String>,
    /// Extra packages added to the mmdebstrap package list.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Output settings.
    #[serde(default)]
    pub output: Output,
}

/// Base root filesystem: mmdebstrap recipe or a tarball.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    /// Run mmdebstrap with this recipe.
    pub mmdebstrap: Option<Mmdebstrap>,
    /// Use this tarball (relative to the profile file); wins over mmdebstrap.
    pub tarball: Option<String>,
}

/// mmdebstrap recipe.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mmdebstrap {
    /// Debian suite, e.g. `trixie`.
    pub suite: Option<String>,
    /// mmdebstrap `--variant` (default `minbase`).
    pub variant: Option<String>,
    /// Archive components, e.g. `["main"]`.
    #[serde(default)]
    pub components: Vec<String>,
    /// Packages to include; `{arch}` expands to the profile arch.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Mirror URL (mmdebstrap's default when unset).
    pub mirror: Option<String>,
}

/// Kubernetes version and its pinned components.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Kubernetes version without a leading `v`.
    pub version: Option<String>,
    /// Components by name: kubelet, kubeadm, kubectl, crictl, cni-plugins.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentSpec>,
}

/// One pinned download.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// Version (default: the Kubernetes version).
    pub version: Option<String>,
    /// URL template with `{version}` and `{arch}`.
    pub url: Option<String>,
    /// sha256 (hex, optionally `sha256:`-prefixed) per arch.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
}

/// Boot settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// `uefi` (systemd-boot) or `raspberrypi`.
    pub method: Option<String>,
    /// Kernel command line additions.
    #[serde(default)]
    pub cmdline: Vec<String>,
}

/// Disk layout and sizes, as written: any TOML value, so that a wrong type
/// gets the same message as a value out of range (`sizes.rs` checks both).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// ESP size (MiB).
    pub esp_mib: Option<toml::Value>,
    /// Free space added to the root filesystem (MiB).
    pub root_headroom_mib: Option<toml::Value>,
    /// Free space added to the root filesystem (percent of content).
    pub root_headroom_percent: Option<toml::Value>,
    /// Fixed root filesystem size (MiB); overrides the headroom settings.
    pub root_size_mib: Option<toml::Value>,
    /// Minimum STATE size created at first boot (MiB); the image leaves this
    /// much free (sparse) space after root B so it boots without resizing.
    pub state_min_mib: Option<toml::Value>,
}

/// Output settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Formats built when `--format` is not given.
    #[serde(default)]
    pub formats: Vec<kubebake_vdisk::Format>,
    /// The virtual hardware an OVA declares.
    #[serde(default)]
    pub vm: VmHardware,
}

/// `[output.vm]`, as written (checked by `sizes.rs`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmHardware {
    /// Virtual CPUs (default 2).
    pub cpus: Option<toml::Value>,
    /// Memory in MiB (default 4096).
    pub memory_mib: Option<toml::Value>,
}

/// A profile after merging and validation, with its origin.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The merged profile (required fields checked).
    pub profile: Profile,
    /// Profile name.
    pub name: String,
    /// Target architecture.
    pub arch: Arch,
    /// Directory relative paths resolve against (None for shipped profiles).
    pub dir: Option<PathBuf>,
    /// The merged TOML text (canonical; feeds the UUID derivation).
    pub canonical: String,
    /// The checked `[disk]` sizes.
    pub sizes: Sizes,
    /// The checked `[output.vm]` hardware, with the profile's name and
    /// description (what an OVA declares).
    pub vm: kubebake_vdisk::VmSpec,
    /// Components whose version has no sha256 pin for the profile's arch
    /// (neither the profile's nor the release table's), by name.
    pub unpinned: BTreeMap<String, Unpinned>,
}

impl Profile {
    pub(super) fn validate(&self) -> Result<(String, Arch)> {
        let name = self
            .name
            .clone()
            .context("profile has no `name`; add name = \"…\"")?;
        let arch = self
            .arch
            .context("profile has no `arch`; add arch = \"amd64\" or \"arm64\"")?;
        if self.base.tarball.is_none() && self.base.mmdebstrap.is_none() {
            bail!("profile {name} has no base; add [base.mmdebstrap] or base.tarball");
        }
        if let Some(m) = &self.base.mmdebstrap {
            if self.base.tarball.is_none() && m.suite.is_none() {
                bail!("profile {name}: [base.mmdebstrap] has no suite; add suite = \"trixie\"");
            }
        }
        match self.boot.method.as_deref() {
            None | Some("uefi") => {}
            Some("raspberrypi") => bail!(
                "profile {name}: boot.method = \"raspberrypi\" is not implemented yet; use \"uefi\""
            ),
            Some(m) => bail!("profile {name}: unknown boot.method `{m}`; use \"uefi\""),
        }
        for m in &self.initramfs_modules {
            if !is_module_name(m) {
                bail!(
                    "profile {name}: initramfs_modules entry `{m}` is not a kernel module name; \
                     use the module's name without .ko (letters, digits, `_`, `-`), e.g. \"nvme\""
                );
            }
        }
        if self.kubernetes.version.is_none() {
            bail!("profile {name} has no kubernetes.version; add it, e.g. \"1.35.1\"");
        }
        for (cname, c) in &self.kubernetes.components {
            if cname == AGENT {
                bail!(
                    "profile {name}: kubernetes.components.{AGENT} is not a Kubernetes component: \
                     kubebake bakes its own build of the agent (beside kubebake, or \
                     --component {AGENT}=PATH); remove [kubernetes.components.{AGENT}]"
                );
            }
            if !KNOWN.contains(&cname.as_str()) {
                bail!(
                    "profile {name}: unknown component `{cname}`; known: {}",
                    KNOWN.join(", ")
                );
            }
            if c.url.is_none() {
                bail!("profile {name}: component {cname} has no url; add url = \"…\"");
            }
        }
        Ok((name, arch))
    }

    /// mmdebstrap package list: recipe packages + profile packages, `{arch}` expanded.
    pub fn package_list(&self, arch: Arch) -> Vec<String> {
        let recipe = self
            .base
            .mmdebstrap
            .as_ref()
            .map(|m| m.packages.clone())
            .unwrap_or_default();
        recipe
            .iter()
            .chain(&self.packages)
            .map(|p| p.replace("{arch}", arch.as_str()))
            .collect()
    }
}

/// A kernel module name as modprobe takes it (also safe in a shell word).
fn is_module_name(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 64
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_resolve() {
        let a = resolve(Some("generic-amd64"), &[]).expect("amd64");
        assert_eq!(a.arch, Arch::Amd64);
        let b = resolve(Some("generic-arm64"), &[]).expect("arm64");
        assert_eq!(b.arch, Arch::Arm64);
        assert_eq!(b.name, "generic-arm64");
        // inherited from the parent
        assert_eq!(b.profile.kubernetes.version, a.profile.kubernetes.version);
        assert!(b.profile.boot.cmdline.iter().any(|c| c.contains("ttyAMA0")));
        assert!(b.package_list_contains("linux-image-arm64"));
    }

    #[test]
    fn platform_profiles_resolve_through_extends() {
        let aws = resolve(Some("aws-amd64"), &[]).expect("aws-amd64");
        let graviton = resolve(Some("aws-arm64"), &[]).expect("aws-arm64");
        let vsphere = resolve(Some("vsphere-amd64"), &[]).expect("vsphere-amd64");
        assert_eq!(aws.profile.platform, Some(Platform::Aws));
        assert_eq!(graviton.profile.platform, Some(Platform::Aws));
        assert_eq!(vsphere.profile.platform, Some(Platform::Vsphere));
        assert_eq!((aws.arch, graviton.arch), (Arch::Amd64, Arch::Arm64));
        assert_eq!(graviton.profile.initramfs_modules, ["nvme", "ena"]);
        assert_eq!(graviton.profile.boot.cmdline, aws.profile.boot.cmdline);
        assert!(graviton.package_list_contains("linux-image-arm64"));
        assert!(vsphere.package_list_contains("open-vm-tools"));
        assert!(
            vsphere.package_list_contains("systemd-boot-efi"),
            "generic's recipe"
        );
        use kubebake_vdisk::Format;
        assert_eq!(vsphere.profile.output.formats, [Format::Ova]);
        assert_eq!(
            aws.profile.output.formats,
            [Format::Raw],
            "import-snapshot's RAW"
        );
        assert_eq!(graviton.profile.output.formats, [Format::Raw]);
    }

    #[test]
    fn initramfs_modules_must_be_module_names() {
        for bad in ["", "nvme ena", "nvme;reboot", "../x", "nvme.ko\n"] {
            let set = format!("initramfs_modules=[{bad:?}]");
            let e = resolve(Some("generic-amd64"), &[set]).expect_err(bad);
            let msg = format!("{e:#}");
            assert!(
                msg.contains("initramfs_modules") && msg.contains("without .ko"),
                "{msg}"
            );
        }
        let ok = resolve(
            Some("generic-amd64"),
            &["initramfs_modules=[\"nvme-core\"]".into()],
        );
        assert!(ok.is_ok());
    }

    impl Resolved {
        fn package_list_contains(&self, p: &str) -> bool {
            self.profile.package_list(self.arch).iter().any(|x| x == p)
        }
    }
}
