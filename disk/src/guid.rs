//! Partition type GUIDs of the Discoverable Partitions Specification, and the deterministic
//! UUID/serial derivation every kubebake identifier goes through (no randomness: the same
//! inputs give the same disk).

use uuid::{uuid, Uuid};

/// EFI System Partition.
pub const ESP: Uuid = uuid!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
/// Root partition, x86-64.
pub const ROOT_X86_64: Uuid = uuid!("4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
/// Root partition, 64-bit ARM (AArch64).
pub const ROOT_ARM64: Uuid = uuid!("b921b045-1df0-41c3-af44-4c6f280d3fae");
/// Variable data partition (`/var`).
pub const VAR: Uuid = uuid!("4d21b016-b534-45c2-a9fb-5c16e091fd2d");
/// Generic Linux data partition.
pub const LINUX_DATA: Uuid = uuid!("0fc63daf-8483-4772-8e79-3d69d8477de4");

/// The root partition type for a Debian-style architecture name (`amd64`/`x86_64`,
/// `arm64`/`aarch64`); None for any other.
pub fn root_for_arch(arch: &str) -> Option<Uuid> {
    match arch {
        "amd64" | "x86_64" | "x86-64" => Some(ROOT_X86_64),
        "arm64" | "aarch64" => Some(ROOT_ARM64),
        _ => None,
    }
}

/// kubebake's UUID v5 namespace: `uuid5(NAMESPACE_DNS, "kubebake.invalid")`. Fixed forever:
/// changing it changes every derived identifier.
pub const NAMESPACE: Uuid = uuid!("327d6431-ded1-5269-8e6a-1d0d31b39894");

/// A deterministic UUID (v5 in [`NAMESPACE`]) for `what` ("disk", "part:root-a",
/// "fs:esp", ...) under `namespace_seed` (typically a hash of the profile and inputs).
/// The seed and `what` are separated by a NUL so ("ab","c") and ("a","bc") differ.
pub fn derive(namespace_seed: &[u8], what: &str) -> Uuid {
    let mut name = Vec::with_capacity(namespace_seed.len() + 1 + what.len());
    name.extend_from_slice(namespace_seed);
    name.push(0);
    name.extend_from_slice(what.as_bytes());
    Uuid::new_v5(&NAMESPACE, &name)
}

/// A deterministic 32-bit value (FAT volume serial, MBR disk signature): the first four bytes
/// of [`derive()`] read little-endian.
pub fn derive_u32(namespace_seed: &[u8], what: &str) -> u32 {
    let b = derive(namespace_seed, what).into_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A deterministic FAT volume serial ("volume id") for `what`; see [`derive_u32`].
pub fn fat_volume_id(namespace_seed: &[u8], what: &str) -> u32 {
    derive_u32(namespace_seed, &format!("fat-volume-id:{what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_the_documented_derivation() {
        assert_eq!(
            NAMESPACE,
            Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"kubebake.invalid")
        );
    }

    #[test]
    fn derive_is_v5_stable_and_separates_inputs() {
        let a = derive(b"seed", "disk");
        assert_eq!(a, derive(b"seed", "disk"));
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, derive(b"seed", "part:esp"));
        assert_ne!(a, derive(b"seed2", "disk"));
        assert_ne!(derive(b"ab", "c"), derive(b"a", "bc"));
        // Same as hashing the documented name by hand.
        assert_eq!(a, Uuid::new_v5(&NAMESPACE, b"seed\0disk"));
    }

    #[test]
    fn volume_ids_differ_per_volume() {
        assert_ne!(fat_volume_id(b"s", "esp"), fat_volume_id(b"s", "boot"));
        assert_eq!(fat_volume_id(b"s", "esp"), fat_volume_id(b"s", "esp"));
    }

    #[test]
    fn arch_names_map_to_dps_roots() {
        assert_eq!(root_for_arch("amd64"), Some(ROOT_X86_64));
        assert_eq!(root_for_arch("aarch64"), Some(ROOT_ARM64));
        assert_eq!(root_for_arch("riscv64"), None);
    }
}
