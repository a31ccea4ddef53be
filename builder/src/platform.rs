//! What a platform's import needs to know about an image, for `--json`:
//! the values of `aws ec2 register-image` for an `aws` profile (README.md,
//! "AWS"). Pure functions of the resolved profile.

use serde_json::{json, Value};

use crate::profile::{Arch, Platform, Resolved};

/// The device EC2 attaches the root snapshot as (`--root-device-name`), as
/// Bottlerocket and the Debian AMIs register it.
pub const AWS_ROOT_DEVICE: &str = "/dev/xvda";

/// `aws ec2 register-image` values for an `aws` profile (None for others):
/// `architecture` (`x86_64`, `arm64`), `boot_mode` (`uefi`: kubebake
/// images boot systemd-boot only), `ena_support` (the initrd carries
/// `ena`: the build checked it), `imds_support` (`v2.0`: the agent speaks IMDSv2 only),
/// `root_device_name` and `virtualization_type` (`hvm`).
pub fn aws_register_values(r: &Resolved) -> Option<Value> {
    if r.profile.platform.unwrap_or_default() != Platform::Aws {
        return None;
    }
    let architecture = match r.arch {
        Arch::Amd64 => "x86_64",
        Arch::Arm64 => "arm64",
    };
    Some(json!({
        "architecture": architecture,
        "boot_mode": "uefi",
        "ena_support": r.profile.initramfs_modules.iter().any(|m| m == "ena"),
        "imds_support": "v2.0",
        "root_device_name": AWS_ROOT_DEVICE,
        "virtualization_type": "hvm",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::resolve;

    #[test]
    fn aws_profiles_give_register_image_values() {
        for (name, arch) in [("aws-amd64", "x86_64"), ("aws-arm64", "arm64")] {
            let r = resolve(Some(name), &[]).expect("resolve");
            let v = aws_register_values(&r).expect("an aws profile");
            assert_eq!(v["architecture"], arch, "{name}");
            assert_eq!(v["boot_mode"], "uefi");
            assert_eq!(v["ena_support"], true);
            assert_eq!(v["imds_support"], "v2.0");
            assert_eq!(v["root_device_name"], "/dev/xvda");
            assert_eq!(v["virtualization_type"], "hvm");
        }
    }

    #[test]
    fn other_platforms_have_none() {
        for name in ["generic-amd64", "generic-arm64", "vsphere-amd64"] {
            let r = resolve(Some(name), &[]).expect("resolve");
            assert!(aws_register_values(&r).is_none(), "{name}");
        }
        // The platform is a profile key: a profile extending aws-amd64 under
        // another name keeps it, and `--set platform=generic` drops it.
        let r = resolve(Some("aws-amd64"), &["name=\"prod\"".into()]).expect("resolve");
        assert!(aws_register_values(&r).is_some());
        let r = resolve(Some("aws-amd64"), &["platform=\"generic\"".into()]).expect("resolve");
        assert!(aws_register_values(&r).is_none());
    }
}
