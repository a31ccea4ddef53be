//! The `[disk]` sizes, checked once when the profile is loaded: each is an
//! integer inside its range, and every byte count is computed with checked
//! arithmetic, so nothing downstream (layout, ext4 sizing, repart) ever sees
//! a wrapped or absurd value. Errors name the key, who set it and the range.

use anyhow::{bail, Context, Result};

use super::origin::Origins;
use super::Disk;

/// 1 MiB.
const MIB: u64 = 1 << 20;

/// One `[disk]` key and its accepted range (inclusive).
struct Key {
    name: &'static str,
    lo: u64,
    hi: u64,
    unit: &'static str,
}

/// FAT32 ESP: room for systemd-boot, kernel and initrd; 4 GiB is plenty.
const ESP: Key = Key {
    name: "esp_mib",
    lo: 32,
    hi: 4096,
    unit: "MiB",
};
/// STATE's minimum (`SizeMinBytes=`), left free and sparse in the image.
const STATE_MIN: Key = Key {
    name: "state_min_mib",
    lo: 64,
    hi: 1 << 20,
    unit: "MiB",
};
/// A fixed root filesystem (root A and root B each).
const ROOT_SIZE: Key = Key {
    name: "root_size_mib",
    lo: 1,
    hi: 256 << 10,
    unit: "MiB",
};
/// Free space added to the root's content.
const HEADROOM: Key = Key {
    name: "root_headroom_mib",
    lo: 0,
    hi: 256 << 10,
    unit: "MiB",
};
/// Free space added to the root, in percent of its content.
const PERCENT: Key = Key {
    name: "root_headroom_percent",
    lo: 0,
    hi: 1000,
    unit: "percent of the root's content",
};

/// vCPUs of the VM an OVA describes.
const CPUS: Key = Key {
    name: "cpus",
    lo: 1,
    hi: 768,
    unit: "virtual CPUs",
};
/// Memory of the VM an OVA describes.
const MEMORY: Key = Key {
    name: "memory_mib",
    lo: 256,
    hi: 24 << 20,
    unit: "MiB",
};

/// The checked `[output.vm]` hardware (defaults: 2 vCPUs, 4 GiB, which
/// kubeadm's preflight asks of a control-plane node).
pub(super) fn vm(
    vm: &super::VmHardware,
    name: &str,
    description: &str,
    origins: &Origins,
) -> Result<kubebake_vdisk::VmSpec> {
    let cpus = value_in("output.vm", vm.cpus.as_ref(), &CPUS, origins)?.unwrap_or(2);
    let memory_mib = value_in("output.vm", vm.memory_mib.as_ref(), &MEMORY, origins)?;
    Ok(kubebake_vdisk::VmSpec {
        name: name.to_string(),
        description: description.to_string(),
        cpus: u32::try_from(cpus).context("output.vm.cpus overflows")?,
        memory_mib: memory_mib.unwrap_or(4096),
    })
}

/// How big the root filesystem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `disk.root_size_mib`.
    Fixed {
        /// Filesystem size.
        bytes: u64,
    },
    /// Content plus headroom.
    Fit {
        /// `disk.root_headroom_mib` in bytes.
        headroom_bytes: u64,
        /// `disk.root_headroom_percent`.
        headroom_percent: u32,
    },
}

/// The checked `[disk]` sizes.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// ESP size in bytes.
    pub esp_bytes: u64,
    /// STATE's minimum in MiB (repart's `SizeMinBytes=`).
    pub state_min_mib: u64,
    /// STATE's minimum in bytes (left free after root B).
    pub state_min_bytes: u64,
    /// The root filesystem's size rule.
    pub root: Root,
}

/// The value of `key` (None when unset), checked against its range.
fn value(raw: Option<&toml::Value>, key: &Key, origins: &Origins) -> Result<Option<u64>> {
    value_in("disk", raw, key, origins)
}

/// The value of `section.key` (None when unset), checked against its range.
fn value_in(
    section: &str,
    raw: Option<&toml::Value>,
    key: &Key,
    origins: &Origins,
) -> Result<Option<u64>> {
    let Some(v) = raw else {
        return Ok(None);
    };
    let dotted = format!("{section}.{}", key.name);
    let origin = origins.of(&dotted).unwrap_or_else(|| "the profile".into());
    let (lo, hi, unit) = (key.lo, key.hi, key.unit);
    let Some(n) = v.as_integer() else {
        bail!("{dotted} = {v} ({origin}) is not an integer: use {lo} to {hi} ({unit})");
    };
    match u64::try_from(n) {
        Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
        _ => bail!("{dotted} = {n} ({origin}) is out of range: use {lo} to {hi} ({unit})"),
    }
}

fn mib_to_bytes(key: &Key, mib: u64) -> Result<u64> {
    mib.checked_mul(MIB)
        .with_context(|| format!("disk.{} = {mib} overflows a byte count", key.name))
}

/// Check every `[disk]` size of the merged profile.
pub(super) fn check(disk: &Disk, origins: &Origins) -> Result<Sizes> {
    let esp = value(disk.esp_mib.as_ref(), &ESP, origins)?.unwrap_or(256);
    let state = value(disk.state_min_mib.as_ref(), &STATE_MIN, origins)?.unwrap_or(1024);
    let fixed = value(disk.root_size_mib.as_ref(), &ROOT_SIZE, origins)?;
    let headroom = value(disk.root_headroom_mib.as_ref(), &HEADROOM, origins)?.unwrap_or(128);
    let percent = value(disk.root_headroom_percent.as_ref(), &PERCENT, origins)?.unwrap_or(10);
    let root = match fixed {
        Some(mib) => Root::Fixed {
            bytes: mib_to_bytes(&ROOT_SIZE, mib)?,
        },
        None => Root::Fit {
            headroom_bytes: mib_to_bytes(&HEADROOM, headroom)?,
            headroom_percent: u32::try_from(percent).context("disk.root_headroom_percent")?,
        },
    };
    Ok(Sizes {
        esp_bytes: mib_to_bytes(&ESP, esp)?,
        state_min_mib: state,
        state_min_bytes: mib_to_bytes(&STATE_MIN, state)?,
        root,
    })
}
