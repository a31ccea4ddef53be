//! The keys cloud-init knows, so a seed key kubebake does not support is
//! told apart from a typo: cloud-init's keys are warnings (the seed may be
//! shared with cloud-init images), keys neither knows are errors with a
//! "did you mean".
//!
//! Source: the top-level `properties` of cloud-init's
//! `cloudinit/config/schemas/schema-cloud-config-v1.json` (cloud-init 25.x),
//! and its `users_groups.user` and `cc_write_files`/`cc_ntp` definitions.

use crate::problem::{join, suggest, Ctx};

/// Every top-level key of cloud-init's cloud-config schema.
pub(crate) const TOP: &[&str] = &[
    "allow_public_ssh_keys",
    "ansible",
    "apk_repos",
    "apt",
    "apt_pipelining",
    "apt_reboot_if_required",
    "apt_update",
    "apt_upgrade",
    "authkey_hash",
    "autoinstall",
    "bootcmd",
    "byobu_by_default",
    "ca-certs",
    "ca_certs",
    "chef",
    "chpasswd",
    "cloud_config_modules",
    "cloud_final_modules",
    "cloud_init_modules",
    "create_hostname_file",
    "device_aliases",
    "disable_ec2_metadata",
    "disable_piwiz",
    "disable_root",
    "disable_root_opts",
    "disk_setup",
    "drivers",
    "enable_rpi_connect",
    "fan",
    "final_message",
    "fqdn",
    "fs_setup",
    "groups",
    "growpart",
    "grub-dpkg",
    "grub_dpkg",
    "hostname",
    "keyboard",
    "landscape",
    "launch-index",
    "locale",
    "locale_configfile",
    "lxd",
    "manage_etc_hosts",
    "manage_resolv_conf",
    "mcollective",
    "merge_how",
    "merge_type",
    "migrate",
    "mount_default_fields",
    "mounts",
    "no_ssh_fingerprints",
    "ntp",
    "output",
    "package_reboot_if_required",
    "package_update",
    "package_upgrade",
    "packages",
    "password",
    "phone_home",
    "power_state",
    "prefer_fqdn_over_hostname",
    "preserve_hostname",
    "puppet",
    "random_seed",
    "reporting",
    "resize_rootfs",
    "resolv_conf",
    "rh_subscription",
    "rpi_interfaces",
    "rpi_userconf",
    "rsyslog",
    "runcmd",
    "salt_minion",
    "snap",
    "spacewalk",
    "ssh",
    "ssh_authorized_keys",
    "ssh_deletekeys",
    "ssh_fp_console_blacklist",
    "ssh_genkeytypes",
    "ssh_import_id",
    "ssh_key_console_blacklist",
    "ssh_keys",
    "ssh_publish_hostkeys",
    "ssh_pwauth",
    "ssh_quiet_keygen",
    "swap",
    "system_info",
    "timezone",
    "ubuntu_advantage",
    "ubuntu_pro",
    "updates",
    "user",
    "users",
    "vendor_data",
    "version",
    "wireguard",
    "write_files",
    "yum_repo_dir",
    "yum_repos",
    "zypper",
];

/// The keys of one `users` entry.
pub(crate) const USER: &[&str] = &[
    "create-groups",
    "create_groups",
    "doas",
    "expiredate",
    "gecos",
    "groups",
    "hashed-passwd",
    "hashed_passwd",
    "homedir",
    "inactive",
    "lock-passwd",
    "lock_passwd",
    "name",
    "no-create-home",
    "no_create_home",
    "no-log-init",
    "no_log_init",
    "no-user-group",
    "no_user_group",
    "passwd",
    "plain-text-passwd",
    "plain_text_passwd",
    "primary-group",
    "primary_group",
    "selinux-user",
    "selinux_user",
    "shell",
    "snapuser",
    "ssh-authorized-keys",
    "ssh_authorized_keys",
    "ssh-import-id",
    "ssh_import_id",
    "ssh-redirect-user",
    "ssh_redirect_user",
    "sudo",
    "system",
    "uid",
];

/// The keys of one `write_files` entry.
pub(crate) const WRITE_FILE: &[&str] = &[
    "append",
    "content",
    "defer",
    "encoding",
    "owner",
    "path",
    "permissions",
    "source",
];

/// The keys of `ntp`.
pub(crate) const NTP: &[&str] = &[
    "allow",
    "config",
    "enabled",
    "ntp_client",
    "peers",
    "pools",
    "servers",
];

/// Reports `key` under `parent`, which kubebake does not implement:
/// a warning when cloud-init knows it (`cloud_init`), else an error. Both
/// suggest the closest key of `supported`.
pub(crate) fn unsupported(
    cx: &mut Ctx,
    parent: &str,
    key: &str,
    supported: &[&str],
    cloud_init: &[&str],
) {
    let hint = suggest(key, supported)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    let at = join(parent, key);
    if cloud_init.contains(&key) {
        cx.warn_at(
            &at,
            parent,
            format!("unsupported cloud-init key `{key}`, ignored{hint}"),
        );
    } else {
        let hint = if hint.is_empty() {
            suggest(key, cloud_init)
                .map(|s| format!(" (did you mean `{s}`? kubebake ignores that cloud-init key)"))
                .unwrap_or_default()
        } else {
            hint
        };
        cx.err(
            &at,
            format!(
                "unknown key{hint}: neither kubebake nor cloud-init has it; kubebake supports: {}",
                supported.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_no_repeats_and_cover_what_kubebake_supports() {
        for list in [TOP, USER, WRITE_FILE, NTP] {
            let set: std::collections::BTreeSet<&str> = list.iter().copied().collect();
            assert_eq!(set.len(), list.len(), "repeats in {list:?}");
        }
        for k in crate::userdata::SUPPORTED {
            assert!(k == "kubernetes" || TOP.contains(&k), "{k}");
        }
    }
}
