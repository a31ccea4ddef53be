//! Base root filesystem input: `--rootfs` tarballs (layered) or the profile's
//! mmdebstrap recipe, run by kubebake with its tar output streamed (nothing
//! is extracted to disk).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::profile::{Arch, Resolved};
use crate::progress::Progress;

/// Where the base entries come from.
#[derive(Debug, Clone)]
pub enum Base {
    /// Tarballs applied in order (later entries win; OCI whiteouts honoured).
    Tarballs(Vec<PathBuf>),
    /// An mmdebstrap command line writing a tar stream to stdout.
    Mmdebstrap(Vec<String>),
}

/// Decide the base input and check its host prerequisites (without running anything).
pub fn plan(r: &Resolved, rootfs: &[PathBuf]) -> Result<Base> {
    let mut tarballs: Vec<PathBuf> = rootfs.to_vec();
    if tarballs.is_empty() {
        if let Some(t) = &r.profile.base.tarball {
            let p = match &r.dir {
                Some(d) if Path::new(t).is_relative() => d.join(t),
                _ => PathBuf::from(t),
            };
            tarballs.push(p);
        }
    }
    if !tarballs.is_empty() {
        for t in &tarballs {
            check_tarball(t)?;
        }
        return Ok(Base::Tarballs(tarballs));
    }
    let m = r
        .profile
        .base
        .mmdebstrap
        .as_ref()
        .context("profile has no base; add [base.mmdebstrap] or pass --rootfs TARBALL")?;
    if kubebake_hosttool::find("mmdebstrap").is_none() {
        bail!(
            "mmdebstrap not found: install it (apt-get install mmdebstrap) or pass --rootfs TARBALL"
        );
    }
    check_foreign_arch(r.arch)?;
    Ok(Base::Mmdebstrap(mmdebstrap_args(r, m)))
}

/// A rootfs tarball must be a regular file: a directory is not an archive,
/// and a FIFO or device is refused before anything waits on it.
fn check_tarball(t: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let shown = t.display();
    let Ok(md) = std::fs::metadata(t) else {
        bail!("rootfs tarball {shown} does not exist; check the --rootfs path");
    };
    let ft = md.file_type();
    if ft.is_file() {
        return Ok(());
    }
    if ft.is_dir() {
        bail!(
            "rootfs tarball {shown} is a directory, not a tar archive; pack it first \
             (`tar -C {shown} -cf rootfs.tar .`) and pass --rootfs rootfs.tar"
        );
    }
    let kind = if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a file"
    };
    bail!(
        "rootfs tarball {shown} is {kind}, not a regular file; save the archive to a file \
         and pass --rootfs FILE"
    )
}

/// mmdebstrap arguments for a recipe: tar on stdout, nothing extracted.
pub fn mmdebstrap_args(r: &Resolved, m: &crate::profile::Mmdebstrap) -> Vec<String> {
    let mut args = vec![
        format!("--variant={}", m.variant.as_deref().unwrap_or("minbase")),
        format!("--architectures={}", r.arch.as_str()),
        "--format=tar".to_string(),
    ];
    if !m.components.is_empty() {
        args.push(format!("--components={}", m.components.join(",")));
    }
    let pkgs = r.profile.package_list(r.arch);
    if !pkgs.is_empty() {
        args.push(format!("--include={}", pkgs.join(",")));
    }
    if let Some(hook) = initramfs_hook(&r.profile.initramfs_modules) {
        args.push(format!("--customize-hook={hook}"));
    }
    args.push(m.suite.clone().unwrap_or_else(|| "trixie".into()));
    args.push("-".to_string());
    if let Some(mirror) = &m.mirror {
        args.push(mirror.clone());
    }
    args
}

/// The mmdebstrap hook that puts `modules` into the initrd: listed in
/// /etc/initramfs-tools/modules (initramfs-tools also loads them early),
/// then every installed kernel's initrd made again. mmdebstrap runs it with
/// `sh -c`, the chroot as `$1`; the names are checked module names (see
/// `profile::is_module_name`), so they are safe as shell words.
fn initramfs_hook(modules: &[String]) -> Option<String> {
    if modules.is_empty() {
        return None;
    }
    Some(format!(
        "printf '%s\\n' {} >> \"$1/etc/initramfs-tools/modules\" && \
         chroot \"$1\" update-initramfs -u -k all",
        modules.join(" ")
    ))
}

/// A foreign-arch mmdebstrap needs qemu-user registered with binfmt_misc.
fn check_foreign_arch(arch: Arch) -> Result<()> {
    if Arch::host() == Some(arch) {
        return Ok(());
    }
    let (name, fix) = match arch {
        Arch::Arm64 => ("qemu-aarch64", "/usr/lib/binfmt.d/qemu-aarch64.conf"),
        Arch::Amd64 => ("qemu-x86_64", "/usr/lib/binfmt.d/qemu-x86_64.conf"),
    };
    let entry = Path::new("/proc/sys/fs/binfmt_misc").join(name);
    let enabled = std::fs::read_to_string(&entry)
        .map(|s| s.lines().next() == Some("enabled"))
        .unwrap_or(false);
    if !enabled {
        bail!(
            "building {} on this host needs qemu-user binfmt ({} missing or disabled): run \
             `apt-get install qemu-user-static binfmt-support && update-binfmts --enable {name}` \
             (or `cat {fix} > /proc/sys/fs/binfmt_misc/register`), or pass --rootfs TARBALL",
            arch.as_str(),
            entry.display()
        );
    }
    Ok(())
}

/// A running base layer: its tar stream plus, for mmdebstrap, the child to reap.
pub struct Layer {
    /// Name used in errors and logs.
    pub source: String,
    /// The (decompressed) tar stream.
    pub reader: Box<dyn Read + Send>,
    child: Option<Child>,
}

impl Layer {
    /// Wait for the producer (mmdebstrap) and check it succeeded.
    pub fn finish(mut self) -> Result<()> {
        drop(self.reader);
        if let Some(mut c) = self.child.take() {
            let st = c.wait().context("waiting for mmdebstrap")?;
            if !st.success() {
                bail!(
                    "mmdebstrap failed ({st}); see its messages above (mirror reachable? \
                     package names right?) or pass --rootfs TARBALL"
                );
            }
        }
        Ok(())
    }
}

/// The bytes the base's tarballs hold (None for mmdebstrap: unknown).
pub fn input_len(base: &Base) -> Option<u64> {
    match base {
        Base::Tarballs(t) => t
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).ok())
            .sum(),
        Base::Mmdebstrap(_) => None,
    }
}

/// Open every layer of `base`, in order.
pub fn open_layers(base: &Base) -> Result<Vec<LayerSource>> {
    Ok(match base {
        Base::Tarballs(t) => t.iter().cloned().map(LayerSource::Tarball).collect(),
        Base::Mmdebstrap(a) => vec![LayerSource::Mmdebstrap(a.clone())],
    })
}

/// A layer not opened yet (opened one at a time, when its turn comes).
#[derive(Debug, Clone)]
pub enum LayerSource {
    /// A tarball path.
    Tarball(PathBuf),
    /// mmdebstrap arguments.
    Mmdebstrap(Vec<String>),
}

impl LayerSource {
    /// Start reading the layer; a tarball's bytes advance `progress`.
    pub fn open(&self, progress: &Progress) -> Result<Layer> {
        match self {
            LayerSource::Tarball(p) => {
                let f = std::fs::File::open(p)
                    .with_context(|| format!("opening rootfs tarball {}", p.display()))?;
                let reader = ext4w::tar::decompress(Box::new(progress.counting(f)))
                    .with_context(|| format!("opening rootfs tarball {}", p.display()))?;
                Ok(Layer {
                    source: p.display().to_string(),
                    reader,
                    child: None,
                })
            }
            LayerSource::Mmdebstrap(args) => {
                tracing::info!("running mmdebstrap {}", args.join(" "));
                let mut child = Command::new("mmdebstrap")
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .context("starting mmdebstrap (apt-get install mmdebstrap)")?;
                let out = child.stdout.take().context("mmdebstrap stdout")?;
                Ok(Layer {
                    source: "mmdebstrap".into(),
                    reader: Box::new(out),
                    child: Some(child),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmdebstrap_args_follow_the_profile() {
        let r = crate::profile::resolve(Some("generic-arm64"), &["packages=[\"vim\"]".into()])
            .expect("resolve");
        let m = r.profile.base.mmdebstrap.as_ref().expect("recipe");
        let a = mmdebstrap_args(&r, m);
        assert_eq!(a[0], "--variant=minbase");
        assert!(a.contains(&"--architectures=arm64".to_string()));
        assert!(a.contains(&"--format=tar".to_string()));
        let inc = a
            .iter()
            .find(|x| x.starts_with("--include="))
            .expect("include");
        assert!(inc.contains("linux-image-arm64") && inc.contains("systemd-boot-efi"));
        assert!(inc.ends_with(",vim"), "profile packages appended: {inc}");
        assert_eq!(&a[a.len() - 2..], ["trixie", "-"]);
        assert!(
            !a.iter().any(|x| x.starts_with("--customize-hook")),
            "no initramfs_modules, no hook: {a:?}"
        );
    }

    /// The hook appends the profile's modules to the chroot's
    /// /etc/initramfs-tools/modules and regenerates the initrd (run by a
    /// real `sh` against a stand-in chroot; `chroot` itself needs root and
    /// a real tree, so the image tests cover that part).
    #[test]
    fn initramfs_modules_become_a_customize_hook() {
        let r = crate::profile::resolve(
            Some("generic-arm64"),
            &["initramfs_modules=[\"nvme\",\"ena\"]".into()],
        )
        .expect("resolve");
        let m = r.profile.base.mmdebstrap.as_ref().expect("recipe");
        let a = mmdebstrap_args(&r, m);
        let hook = a
            .iter()
            .find_map(|x| x.strip_prefix("--customize-hook="))
            .expect("hook");
        assert!(
            a.iter().position(|x| x.starts_with("--customize-hook"))
                < a.iter().position(|x| x == "trixie")
        );
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("etc/initramfs-tools")).expect("mkdir");
        let modules = dir.path().join("etc/initramfs-tools/modules");
        std::fs::write(&modules, "# kept\n").expect("modules");
        let upto_chroot = hook.split(" && ").next().expect("printf part");
        let st = Command::new("sh")
            .arg("-c")
            .arg(upto_chroot)
            .arg("sh")
            .arg(dir.path())
            .status()
            .expect("sh");
        assert!(st.success());
        assert_eq!(
            std::fs::read_to_string(&modules).expect("read"),
            "# kept\nnvme\nena\n"
        );
        assert!(
            hook.ends_with("chroot \"$1\" update-initramfs -u -k all"),
            "{hook}"
        );
    }
}
