//! Capture what the ESP needs (kernel, initrd, systemd-boot) while the base
//! streams past, by teeing those entries' data into temp files (not memory).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::profile::Arch;
use crate::version;

/// Files captured for the ESP; the temp dir lives as long as this value.
pub struct BootFiles {
    _dir: tempfile::TempDir,
    /// Kernel image.
    pub kernel: PathBuf,
    /// Initrd matching the kernel.
    pub initrd: PathBuf,
    /// systemd-boot EFI binary.
    pub systemd_boot: PathBuf,
    /// Kernel version (the `vmlinuz-` suffix).
    pub kernel_version: String,
}

/// Collects boot files during the base stream.
pub struct Capture {
    dir: tempfile::TempDir,
    efi: String,
    files: BTreeMap<String, Captured>,
    n: u32,
    /// The base layer being streamed (see [`Capture::begin_layer`]).
    layer: u32,
}

/// One captured file: its temp copy and the layer it came from.
struct Captured {
    copy: PathBuf,
    layer: u32,
}

/// A reader that copies everything it reads into a file.
pub struct Tee<'a> {
    inner: &'a mut dyn Read,
    out: BufWriter<File>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl Tee<'_> {
    /// Flush the copy; call after the writer consumed the data.
    pub fn done(mut self) -> Result<()> {
        io::copy(&mut self.inner, &mut self.out).context("draining a captured boot file")?;
        self.out.flush().context("writing a captured boot file")
    }
}

/// Merged-/usr aware key: `lib/systemd/…` is `usr/lib/systemd/…`.
fn key(path: &str) -> String {
    if path.starts_with("lib/systemd/") {
        format!("usr/{path}")
    } else {
        path.to_string()
    }
}

fn efi_path(arch: Arch) -> String {
    format!(
        "usr/lib/systemd/boot/efi/systemd-boot{}.efi",
        arch.efi_suffix()
    )
}

impl Capture {
    /// A capture for `arch` (temp files under $TMPDIR).
    pub fn new(arch: Arch) -> Result<Capture> {
        Ok(Capture {
            dir: tempfile::Builder::new()
                .prefix("kubebake-boot")
                .tempdir_in(crate::supervise::temp_root())
                .context("creating a temp dir for boot files (check TMPDIR)")?,
            efi: efi_path(arch),
            files: BTreeMap::new(),
            n: 0,
            layer: 0,
        })
    }

    /// Is this (normalised) path one we keep?
    pub fn wants(&self, path: &str) -> bool {
        let k = key(path);
        k.starts_with("boot/vmlinuz-") || k.starts_with("boot/initrd.img-") || k == self.efi
    }

    /// Start teeing `data` of `path` into a temp file.
    pub fn tee<'a>(&mut self, path: &str, data: &'a mut dyn Read) -> Result<Tee<'a>> {
        self.n += 1;
        let dest = self.dir.path().join(format!("f{}", self.n));
        let f = File::create(&dest).with_context(|| format!("creating {}", dest.display()))?;
        let layer = self.layer;
        self.files.insert(key(path), Captured { copy: dest, layer });
        Ok(Tee {
            inner: data,
            out: BufWriter::new(f),
        })
    }

    /// Drop captures at or below a removed path (replaced entries).
    pub fn forget(&mut self, path: &str) {
        self.forget_if(path, |_| true);
    }

    /// Start the next base layer: its whiteouts hide earlier layers' files.
    pub fn begin_layer(&mut self) {
        self.layer += 1;
    }

    /// A whiteout of `path`: drop the captures at or below it that earlier
    /// layers made; this layer's stay, as they do in the image.
    pub fn forget_lower(&mut self, path: &str) {
        let layer = self.layer;
        self.forget_if(path, |c| c.layer < layer);
    }

    fn forget_if(&mut self, path: &str, drop: impl Fn(&Captured) -> bool) {
        let path = key(path);
        let prefix = format!("{path}/");
        self.files.retain(|k, c| {
            let below = path.is_empty() || *k == path || k.starts_with(&prefix);
            !(below && drop(c))
        });
    }

    /// Pick the newest kernel, its initrd and systemd-boot; error if missing.
    pub fn finish(self, arch: Arch) -> Result<BootFiles> {
        let kernels: Vec<&str> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix("boot/vmlinuz-"))
            .collect();
        let Some(version) = kernels.iter().copied().max_by(|a, b| version::cmp(a, b)) else {
            bail!(
                "rootfs has no kernel (/boot/vmlinuz-*): add package linux-image-{} to the \
                 profile's base packages (or to the --rootfs tarball)",
                arch.as_str()
            );
        };
        let version = version.to_string();
        let kernel = self.files[&format!("boot/vmlinuz-{version}")].copy.clone();
        let Some(initrd) = self
            .files
            .get(&format!("boot/initrd.img-{version}"))
            .map(|c| c.copy.clone())
        else {
            bail!(
                "rootfs has no /boot/initrd.img-{version} for its kernel: add package \
                 initramfs-tools to the profile's base packages (or to the --rootfs tarball)"
            );
        };
        let Some(systemd_boot) = self.files.get(&self.efi).map(|c| c.copy.clone()) else {
            bail!(
                "rootfs has no /{}: add package systemd-boot-efi to the profile's base \
                 packages (or to the --rootfs tarball)",
                self.efi
            );
        };
        Ok(BootFiles {
            _dir: self.dir,
            kernel,
            initrd,
            systemd_boot,
            kernel_version: version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_pieces_name_the_package() {
        let c = Capture::new(Arch::Amd64).expect("capture");
        let e = c.finish(Arch::Amd64).err().expect("no kernel");
        assert!(format!("{e}").contains("linux-image-amd64"));

        let mut c = Capture::new(Arch::Amd64).expect("capture");
        for p in ["boot/vmlinuz-6.1.0", "boot/initrd.img-6.1.0"] {
            assert!(c.wants(p));
            let mut data: &[u8] = b"k";
            c.tee(p, &mut data).expect("tee").done().expect("done");
        }
        let e = c.finish(Arch::Amd64).err().expect("no systemd-boot");
        assert!(format!("{e}").contains("systemd-boot-efi"), "{e}");
    }

    #[test]
    fn tee_copies_and_forget_drops() {
        let mut c = Capture::new(Arch::Arm64).expect("capture");
        let efi = "usr/lib/systemd/boot/efi/systemd-bootaa64.efi";
        assert!(c.wants(efi));
        assert!(!c.wants("usr/lib/systemd/boot/efi/systemd-bootx64.efi"));
        for (p, d) in [
            ("boot/vmlinuz-1", "K"),
            ("boot/initrd.img-1", "I"),
            (efi, "E"),
        ] {
            let mut data = d.as_bytes();
            let mut t = c.tee(p, &mut data).expect("tee");
            let mut sink = Vec::new();
            t.read_to_end(&mut sink).expect("read");
            t.done().expect("done");
        }
        c.forget("boot/vmlinuz-1");
        assert!(!c.files.contains_key("boot/vmlinuz-1"));
        let mut c2 = Capture::new(Arch::Arm64).expect("capture");
        for (p, d) in [
            ("boot/vmlinuz-1", "K"),
            ("boot/initrd.img-1", "I"),
            (efi, "E"),
        ] {
            let mut data = d.as_bytes();
            c2.tee(p, &mut data).expect("tee").done().expect("done");
        }
        let b = c2.finish(Arch::Arm64).expect("complete");
        assert_eq!(std::fs::read(&b.kernel).expect("k"), b"K");
        assert_eq!(std::fs::read(&b.systemd_boot).expect("e"), b"E");
        assert_eq!(b.kernel_version, "1");
    }
}
