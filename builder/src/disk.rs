//! Disk assembly: GPT with ESP, root A (our ext4, streamed straight into its
//! partition window), root B (same size, empty), then unpartitioned room for
//! STATE (`disk.state_min_mib`, sparse: it costs no bytes in the file), which
//! systemd-repart turns into STATE at first boot, growing it to fill whatever
//! disk the image was written to. The image boots as it is, without resizing.

use std::fs::File;
use std::io::{Seek, Write};

use anyhow::{Context, Result};
use kubebake_disk::gpt::{self, Partition, ATTR_NO_AUTO, ATTR_READ_ONLY};
use kubebake_disk::{fat, guid, Window};
use uuid::Uuid;

use crate::profile::{Arch, Resolved};

/// 1 MiB: partition alignment.
pub const MIB: u64 = 1 << 20;
const SECTOR: u64 = 512;

/// Deterministic identities of one image.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Disk GUID.
    pub disk: Uuid,
    /// ESP partition GUID.
    pub esp: Uuid,
    /// Root A partition GUID (root=PARTUUID=).
    pub root_a: Uuid,
    /// Root B partition GUID.
    pub root_b: Uuid,
    /// Root A filesystem UUID.
    pub root_fs: Uuid,
    /// ESP FAT serial.
    pub esp_serial: u32,
}

impl Ids {
    /// Derive every id from the input hash.
    pub fn derive(seed: &[u8]) -> Ids {
        Ids {
            disk: guid::derive(seed, "disk"),
            esp: guid::derive(seed, "part:esp"),
            root_a: guid::derive(seed, "part:root-a"),
            root_b: guid::derive(seed, "part:root-b"),
            root_fs: guid::derive(seed, "fs:root-a"),
            esp_serial: guid::fat_volume_id(seed, "esp"),
        }
    }
}

/// Byte layout of the image.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// ESP offset and size.
    pub esp: (u64, u64),
    /// Root A offset (size known after the ext4 is written).
    pub root_offset: u64,
    /// Free space left after root B for STATE.
    pub state_reserve: u64,
}

/// Where the partitions go, before the root size is known (the profile's
/// sizes were checked when it was loaded).
pub fn layout(r: &Resolved) -> Layout {
    let esp = r.sizes.esp_bytes;
    Layout {
        esp: (MIB, esp),
        root_offset: MIB + esp,
        state_reserve: r.sizes.state_min_bytes,
    }
}

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

fn part(name: &str, type_guid: Uuid, guid: Uuid, off: u64, len: u64, attributes: u64) -> Partition {
    Partition {
        name: name.to_string(),
        type_guid,
        guid,
        first_lba: off / SECTOR,
        last_lba: (off + len) / SECTOR - 1,
        attributes,
    }
}

/// Finish the image: ESP, root B, GPT. Returns the disk size.
pub fn finish(
    f: &mut File,
    lay: &Layout,
    arch: Arch,
    ids: &Ids,
    root_fs_bytes: u64,
    esp_files: &[fat::FatFile],
    epoch: i64,
) -> Result<u64> {
    let root_len = round_up(root_fs_bytes, MIB);
    let root_b = lay.root_offset + root_len;
    let disk_bytes = [root_len, lay.state_reserve, MIB]
        .iter()
        .try_fold(root_b, |acc, n| acc.checked_add(*n))
        .context("the image size overflows 64 bits; lower the [disk] sizes")?;
    f.set_len(disk_bytes).context("sizing the image file")?;

    let (esp_off, esp_len) = lay.esp;
    let win = Window::new(&mut *f, esp_off, Some(esp_len)).named("ESP");
    let opts = fat::FatOptions {
        size_bytes: esp_len,
        label: "ESP".into(),
        volume_id: ids.esp_serial,
        timestamp: epoch,
    };
    fat::build(win, &opts, esp_files).map_err(|e| {
        anyhow::anyhow!(
            "writing the ESP: {e}; if the kernel and initrd do not fit, raise disk.esp_mib"
        )
    })?;

    let root_type = match arch {
        Arch::Amd64 => guid::ROOT_X86_64,
        Arch::Arm64 => guid::ROOT_ARM64,
    };
    let parts = [
        part("ESP", guid::ESP, ids.esp, esp_off, esp_len, 0),
        part(
            "root-a",
            root_type,
            ids.root_a,
            lay.root_offset,
            root_len,
            ATTR_READ_ONLY,
        ),
        part(
            "root-b",
            root_type,
            ids.root_b,
            root_b,
            root_len,
            ATTR_READ_ONLY | ATTR_NO_AUTO,
        ),
    ];
    gpt::write(f, disk_bytes, ids.disk, &parts).context("writing the GPT")?;
    f.flush().context("flushing the image")?;
    f.seek(std::io::SeekFrom::Start(0))
        .context("rewinding the image")?;
    Ok(disk_bytes)
}
