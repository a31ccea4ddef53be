//! Reading an initrd as the kernel does: one or more newc cpio archives,
//! back to back (zero padding between them), the last one possibly
//! compressed (gzip, xz or zstd). Debian's has an early-microcode archive, an
//! uncompressed archive of the (already xz-compressed) modules, then the
//! zstd-compressed main archive. Only what the checks need is kept: the
//! kernel modules it carries. File data is skipped as it streams past,
//! never held in memory (a module list `modules.builtin` excepted).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::profile::Resolved;
use crate::rootfs::Base;

/// newc header length (magic included).
const HEADER: usize = 110;
/// Longest name an entry may have (PATH_MAX).
const NAME_MAX: usize = 4096;
/// Largest `modules.builtin` read (Debian's is ~20 KiB).
const BUILTIN_MAX: u32 = 16 << 20;

/// The kernel modules an initrd carries: every `lib/modules/*/…/NAME.ko*`
/// file and every module `modules.builtin` lists (built into the kernel),
/// named as modprobe does (`-` read as `_`). `label` names the initrd in
/// errors.
pub fn modules(path: &Path, label: &str) -> Result<BTreeSet<String>> {
    let f = File::open(path).with_context(|| format!("opening the initrd {label}"))?;
    let mut found = BTreeSet::new();
    let mut r = Counted::new(BufReader::with_capacity(1 << 16, f));
    let at = archives(&mut r, &mut found).with_context(|| format!("reading the initrd {label}"))?;
    let Some(at) = at else {
        return Ok(found);
    };
    let mut magic = Vec::new();
    r.by_ref().take(6).read_to_end(&mut magic)?;
    if !is_compressed(&magic) {
        bail!(
            "the initrd {label} has data at offset {at} that is neither a cpio archive nor \
             gzip, xz or zstd (lz4, bzip2 and lzma are not read); make it with \
             COMPRESS=zstd in /etc/initramfs-tools/initramfs.conf"
        );
    }
    let inner = ext4w::tar::decompress(Box::new(io::Cursor::new(magic).chain(r.inner)))
        .with_context(|| format!("decompressing the initrd {label} at offset {at}"))?;
    let mut d = Counted::new(BufReader::with_capacity(1 << 16, inner));
    let rest = archives(&mut d, &mut found)
        .with_context(|| format!("reading the initrd {label}'s compressed part (offset {at})"))?;
    if let Some(off) = rest {
        bail!(
            "the initrd {label}'s compressed part (offset {at}) holds data that is not a cpio \
             archive at its offset {off}; make the initrd again with update-initramfs -u"
        );
    }
    Ok(found)
}

/// gzip, xz or zstd magic.
fn is_compressed(magic: &[u8]) -> bool {
    magic.starts_with(&[0x1f, 0x8b])
        || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Read archives until the end (None) or until data that does not start
/// with a cpio magic (its offset).
fn archives<R: BufRead>(r: &mut Counted<R>, found: &mut BTreeSet<String>) -> Result<Option<u64>> {
    loop {
        let buf = r.fill_buf().context("reading")?;
        if buf.is_empty() {
            return Ok(None);
        }
        let zeros = buf.iter().take_while(|b| **b == 0).count();
        if zeros > 0 {
            r.consume(zeros);
            continue;
        }
        if buf[0] != b'0' {
            return Ok(Some(r.pos));
        }
        archive(r, found)?;
    }
}

/// One cpio archive, up to and including its trailer.
fn archive<R: BufRead>(r: &mut Counted<R>, found: &mut BTreeSet<String>) -> Result<()> {
    loop {
        let at = r.pos;
        let mut h = [0u8; HEADER];
        r.read_exact(&mut h)
            .with_context(|| format!("truncated cpio header at offset {at}"))?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            bail!("no newc cpio magic at offset {at} (an old-format cpio is not read)");
        }
        let size = hex_field(&h, 6, at)?;
        let namesize = hex_field(&h, 11, at)? as usize;
        if namesize == 0 || namesize > NAME_MAX {
            bail!("cpio entry at offset {at}: name size {namesize} out of range");
        }
        let mut name = vec![0u8; namesize];
        r.read_exact(&mut name)
            .with_context(|| format!("truncated cpio name at offset {at}"))?;
        r.align()?;
        name.pop(); // the NUL
        let name = String::from_utf8_lossy(&name).into_owned();
        if name == "TRAILER!!!" {
            return Ok(());
        }
        if name.ends_with("/modules.builtin") && name.contains("lib/modules/") {
            if size > BUILTIN_MAX {
                bail!(
                    "cpio entry {name} at offset {at}: {size} bytes is too large for a module list"
                );
            }
            let mut text = Vec::new();
            r.by_ref().take(u64::from(size)).read_to_end(&mut text)?;
            if text.len() as u64 != u64::from(size) {
                bail!("cpio entry {name} at offset {at}: truncated data");
            }
            let text = String::from_utf8_lossy(&text);
            found.extend(text.lines().filter_map(module_name));
        } else {
            if name.contains("lib/modules/") {
                found.extend(module_name(&name));
            }
            let skipped = io::copy(&mut r.by_ref().take(u64::from(size)), &mut io::sink())?;
            if skipped != u64::from(size) {
                bail!("cpio entry {name} at offset {at}: truncated data");
            }
        }
        r.align()?;
    }
}

/// Field `i` (0 = ino … 11 = namesize) of a newc header: 8 hex digits.
fn hex_field(h: &[u8; HEADER], i: usize, at: u64) -> Result<u32> {
    let start = 6 + 8 * i;
    std::str::from_utf8(&h[start..start + 8])
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .with_context(|| format!("cpio header at offset {at}: field {i} is not 8 hex digits"))
}

/// `…/NAME.ko`, `NAME.ko.xz`, `.ko.zst`, `.ko.gz` → `NAME` (`-` as `_`).
fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let (stem, ext) = file.split_once(".ko")?;
    if stem.is_empty() || !matches!(ext, "" | ".xz" | ".zst" | ".gz") {
        return None;
    }
    Some(stem.replace('-', "_"))
}

/// A reader that knows its offset (cpio pads to 4 bytes from the start).
struct Counted<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Counted<R> {
    fn new(inner: R) -> Self {
        Counted { inner, pos: 0 }
    }

    /// Skip the padding to the next multiple of 4.
    fn align(&mut self) -> Result<()> {
        let pad = (4 - self.pos % 4) % 4;
        let skipped = io::copy(&mut self.by_ref().take(pad), &mut io::sink())?;
        if skipped != pad {
            bail!("cpio archive truncated at offset {}", self.pos);
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.pos += n as u64;
        self.inner.consume(n);
    }
}

/// The profile's `initramfs_modules` must all be in the captured initrd:
/// checked in what goes onto the ESP, not in the profile text, for every
/// base (a `--rootfs` tarball's initrd is used as it is).
/// `initrd` is the captured copy of `/boot/initrd.img-KERNEL_VERSION`.
pub fn check(r: &Resolved, base: &Base, initrd: &Path, kernel_version: &str) -> Result<()> {
    let want = &r.profile.initramfs_modules;
    if want.is_empty() {
        return Ok(());
    }
    let label = format!("/boot/initrd.img-{kernel_version}");
    let have = modules(initrd, &label).with_context(|| {
        format!(
            "profile {}: checking initramfs_modules in the rootfs's initrd (it must be the \
             initramfs-tools initrd of the newest /boot/vmlinuz-*)",
            r.name
        )
    })?;
    let missing: Vec<&str> = want
        .iter()
        .filter(|m| !have.contains(&m.replace('-', "_")))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let fix = match base {
        Base::Tarballs(_) => {
            "add them to /etc/initramfs-tools/modules in the --rootfs tarball and run \
             update-initramfs -u there, build from the profile's [base.mmdebstrap] (kubebake \
             adds them), or remove them from initramfs_modules"
        }
        Base::Mmdebstrap(_) => {
            "kubebake asked update-initramfs for them, so the kernel has no such module: check \
             the names (modinfo NAME) or remove them from initramfs_modules"
        }
    };
    bail!(
        "profile {}: initramfs_modules lists {} but the rootfs's initrd {label} has no such \
         module ({} modules in it); {fix}",
        r.name,
        missing.join(", "),
        have.len()
    )
}

#[cfg(test)]
mod tests;
