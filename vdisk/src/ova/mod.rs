//! OVA: a ustar archive holding the OVF envelope first, the manifest, then
//! the streamOptimized VMDK (the order vSphere and ovftool stream it in).
//!
//! The envelope needs the VMDK's size and the manifest its SHA-256, so the
//! VMDK is written first to an unnamed temporary file in the output's
//! directory (`O_TMPFILE`, or created and unlinked at once: nothing is left
//! behind even if the process is killed), hashed as it is written, then
//! copied into the archive. Members: `NAME.ovf`, `NAME.mf`,
//! `NAME-disk1.vmdk`, where NAME is the VM name with characters other than
//! letters, digits, `.`, `_` and `-` replaced by `_`. Tar headers are
//! reproducible: mode 0644, uid/gid 0, no user names, mtime the epoch.

mod ovf;

use std::fs::File;
use std::io::{BufWriter, Seek as _, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::vmdk::{self, VmdkDisk};
use crate::{Error, Format, Progress, RawDisk, Result, WriteOptions};

/// Longest member name stem, so every name fits a ustar header (100 bytes).
const MAX_STEM: usize = 64;
/// Tar block.
const BLOCK: u64 = 512;
/// Most members looked at when opening an OVA.
const MAX_MEMBERS: usize = 64;

/// The member names of an OVA for the VM `name`.
struct Names {
    ovf: String,
    mf: String,
    vmdk: String,
}

impl Names {
    fn new(name: &str) -> Names {
        let mut stem: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(MAX_STEM)
            .collect();
        if stem.is_empty() || stem.starts_with('.') {
            stem.insert_str(0, "vm");
        }
        Names {
            ovf: format!("{stem}.ovf"),
            mf: format!("{stem}.mf"),
            vmdk: format!("{stem}-disk1.vmdk"),
        }
    }
}

/// Write `src` as an OVA into `out`.
pub fn write(
    src: &RawDisk,
    out: &mut File,
    out_path: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let vm = &opts.vm;
    if vm.cpus == 0 || vm.memory_mib == 0 {
        return Err(Error::Unsuitable {
            path: out_path.to_path_buf(),
            format: Format::Ova,
            why: format!(
                "the VM has {} CPUs and {} MiB of memory; give at least 1 of each",
                vm.cpus, vm.memory_mib
            ),
        });
    }
    let names = Names::new(&vm.name);
    let dir = match out_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, None, e))?;
    let (disk, disk_sha) = {
        let mut sink = Hashing {
            inner: BufWriter::with_capacity(1 << 20, &mut tmp),
            sha: Sha256::new(),
        };
        let w = vmdk::write_to(src, &mut sink, out_path, &names.vmdk, opts, progress)?;
        sink.inner
            .flush()
            .map_err(|e| Error::io(out_path, None, e))?;
        (w, sink.sha.finalize())
    };
    tmp.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(out_path, None, e))?;

    let capacity = src.size().next_multiple_of(512);
    let envelope = ovf::envelope(
        vm,
        &ovf::DiskFile {
            href: &names.vmdk,
            size: disk.bytes,
            capacity,
            populated: (disk.grains * 65536).min(capacity),
        },
    );
    let manifest = format!(
        "SHA256({})= {}\nSHA256({})= {}\n",
        names.ovf,
        hex::encode(Sha256::digest(envelope.as_bytes())),
        names.vmdk,
        hex::encode(disk_sha),
    );
    let mtime = u64::try_from(opts.epoch).unwrap_or(0).min(0o777_7777_7777);
    let mut w = Tar {
        out: BufWriter::with_capacity(1 << 20, out),
        path: out_path,
        pos: 0,
        mtime,
    };
    w.member(&names.ovf, envelope.len() as u64, &mut envelope.as_bytes())?;
    w.member(&names.mf, manifest.len() as u64, &mut manifest.as_bytes())?;
    w.member(&names.vmdk, disk.bytes, &mut tmp)?;
    w.put(&[0u8; 2 * BLOCK as usize])?;
    w.out.flush().map_err(|e| Error::io(out_path, None, e))
}

/// A writer that hashes what passes through.
struct Hashing<W: Write> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The archive being written.
struct Tar<'a, W: Write> {
    out: W,
    path: &'a Path,
    pos: u64,
    mtime: u64,
}

impl<W: Write> Tar<'_, W> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out
            .write_all(b)
            .map_err(|e| Error::io(self.path, Some(self.pos), e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    /// One regular file: header, `size` bytes of `data`, padding.
    fn member(&mut self, name: &str, size: u64, data: &mut dyn std::io::Read) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)
            .map_err(|e| Error::io(self.path, Some(self.pos), e))?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        self.put(h.as_bytes())?;
        let at = self.pos;
        let copied = std::io::copy(&mut std::io::Read::take(data, size), &mut self.out)
            .map_err(|e| Error::io(self.path, Some(at), e))?;
        self.pos += copied;
        if copied != size {
            return Err(Error::io(
                self.path,
                Some(self.pos),
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "member shorter than its size",
                ),
            ));
        }
        let pad = size.next_multiple_of(BLOCK) - size;
        self.put(&[0u8; BLOCK as usize][..pad as usize])
    }
}

/// Open the VMDK inside the OVA at `path` (its first `.vmdk` member).
pub fn open(path: &Path) -> Result<VmdkDisk> {
    let file = File::open(path).map_err(|e| Error::io(path, None, e))?;
    let bad = |what: String| Error::invalid(path, None, what);
    let found = {
        let mut archive = tar::Archive::new(&file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        let mut found = None;
        for entry in entries.take(MAX_MEMBERS) {
            let entry = entry.map_err(|e| bad(format!("a corrupt tar member: {e}")))?;
            let name = entry.path_bytes().into_owned();
            if name.ends_with(b".vmdk") {
                found = Some((entry.raw_file_position(), entry.size()));
                break;
            }
        }
        found
    };
    let Some((at, len)) = found else {
        return Err(bad(format!(
            "no .vmdk member in the first {MAX_MEMBERS} members of the OVA"
        )));
    };
    let total = file.metadata().map_err(|e| Error::io(path, None, e))?.len();
    if at.checked_add(len).is_none_or(|end| end > total) {
        return Err(Error::invalid(
            path,
            Some(at),
            "the VMDK member runs past the end of the OVA: the file is truncated",
        ));
    }
    vmdk::open_at(file, path, at, len, Format::Ova)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_safe_for_tar_and_manifest() {
        let n = Names::new("vsphere-amd64");
        assert_eq!(
            (n.ovf.as_str(), n.mf.as_str(), n.vmdk.as_str()),
            (
                "vsphere-amd64.ovf",
                "vsphere-amd64.mf",
                "vsphere-amd64-disk1.vmdk"
            )
        );
        assert_eq!(Names::new("a/b (c)&").ovf, "a_b__c__.ovf");
        assert_eq!(Names::new("").mf, "vm.mf");
        assert_eq!(Names::new("..").mf, "vm...mf");
        assert!(Names::new(&"x".repeat(300)).vmdk.len() < 100);
    }
}
