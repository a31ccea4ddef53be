//! Size caps on the seed's files. A seed is configuration: kilobytes. The
//! caps keep a wrong or hostile file (a disk image dropped on the boot
//! partition as `user-data`, a gzip bomb in guestinfo) from costing the
//! builder or the agent hundreds of MiB: files are read through
//! [`read_capped`], which never reads more than the cap plus one byte.

use std::io::Read;

/// The files of a NoCloud seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFile {
    /// `user-data`: 1 MiB (cloud-init's EC2 limit is 16 KiB; PEM CA bundles
    /// and `write_files` need more).
    UserData,
    /// `meta-data`: 64 KiB (an instance id and a hostname).
    MetaData,
    /// `network-config`: 64 KiB.
    NetworkConfig,
    /// One `nodes/<mac>.yaml`: 64 KiB.
    NodeOverride,
}

/// All `nodes/*.yaml` of one seed together: 4 MiB (thousands of nodes).
pub const NODE_OVERRIDES_TOTAL: u64 = 4 << 20;

impl SeedFile {
    /// The cap in bytes.
    pub fn cap(self) -> u64 {
        match self {
            SeedFile::UserData => 1 << 20,
            SeedFile::MetaData | SeedFile::NetworkConfig | SeedFile::NodeOverride => 64 << 10,
        }
    }

    /// The NoCloud name (`nodes/<mac>.yaml` for overrides).
    pub fn name(self) -> &'static str {
        match self {
            SeedFile::UserData => "user-data",
            SeedFile::MetaData => "meta-data",
            SeedFile::NetworkConfig => "network-config",
            SeedFile::NodeOverride => "nodes/<mac>.yaml",
        }
    }

    /// The error for a file over the cap.
    pub fn too_large(self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "larger than {}, the cap for {}; fix: a seed holds configuration only, \
                 so bake large files into the image (profile overlays) or fetch them from runcmd",
                human(self.cap()),
                self.name()
            ),
        )
    }
}

/// `1 MiB`, `64 KiB`.
pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// Reads `r` to its end, failing with [`SeedFile::too_large`] as soon as
/// it holds more than `kind`'s cap; never buffers more than cap + 1 bytes.
pub fn read_capped(r: impl Read, kind: SeedFile) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(kind.cap() + 1).read_to_end(&mut out)?;
    if out.len() as u64 > kind.cap() {
        return Err(kind.too_large());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_reads() {
        assert_eq!(human(SeedFile::UserData.cap()), "1 MiB");
        assert_eq!(human(SeedFile::MetaData.cap()), "64 KiB");
        let exact = vec![b'a'; 64 << 10];
        assert_eq!(
            read_capped(&exact[..], SeedFile::NetworkConfig)
                .expect("at the cap")
                .len(),
            64 << 10
        );
        // An endless reader is stopped at cap + 1 bytes.
        let e = read_capped(std::io::repeat(b'x'), SeedFile::UserData).expect_err("endless");
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert!(
            e.to_string()
                .contains("larger than 1 MiB, the cap for user-data"),
            "{e}"
        );
    }
}
