//! Hostile images for `kubebake inspect` (issue 9, defects 9–11): `inspect`
//! reads images made by anyone, so every byte is hostile. Each case makes
//! its own image (kubebake's GPT writer, then a patch), runs the real binary
//! in text and `--json` mode, and asserts either a refusal (exit 1, one
//! `error:` line naming the path and the structure) or a damaged-but-readable
//! image (exit 0, `warning:` lines naming the path and the structure, the
//! same warnings in `--json`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use kubebake_disk::{gpt, guid, mbr};

use crate::harness::{self, Expect, Run, Work};

const MIB: u64 = 1 << 20;
/// The test disk: 8 MiB of 512-byte sectors.
const DISK: u64 = 8 * MIB;
/// Its last LBA, where the backup GPT header lives.
const LAST_LBA: u64 = DISK / 512 - 1;
/// Peak-RSS ceiling for images that declare huge structures.
const RSS_MIB: u64 = 64;

/// An 8 MiB GPT image from kubebake's own writer: one data partition.
fn gpt_image(work: &Work, name: &str) -> PathBuf {
    let path = work.join(name);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("create image");
    let part = gpt::Partition {
        name: "data".into(),
        type_guid: guid::LINUX_DATA,
        guid: guid::derive(b"hostile", "part"),
        first_lba: 2048,
        last_lba: 10239,
        attributes: 0,
    };
    gpt::write(&mut f, DISK, guid::derive(b"hostile", "disk"), &[part]).expect("gpt");
    path
}

/// CRC-32 (ISO-HDLC, as GPT uses), bit by bit: the test's own, independent
/// of the code under test.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Apply `edit` to the 92-byte GPT header at `lba`, then fix its CRC (when
/// `fix_crc`) so the damage is only what `edit` did.
fn patch_header(path: &Path, lba: u64, fix_crc: bool, edit: impl Fn(&mut [u8])) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut h = [0u8; 92];
    f.seek(SeekFrom::Start(lba * 512)).expect("seek");
    f.read_exact(&mut h).expect("read header");
    edit(&mut h);
    if fix_crc {
        h[16..20].fill(0);
        let crc = crc32(&h);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    }
    f.seek(SeekFrom::Start(lba * 512)).expect("seek");
    f.write_all(&h).expect("write header");
}

fn set_u32(h: &mut [u8], at: usize, v: u32) {
    h[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Field offsets in the GPT header.
const ENTRY_COUNT: usize = 80;
const ENTRY_SIZE: usize = 84;

/// `kubebake inspect [--json] PATH`, killed after 60 s so a hang fails
/// the case instead of the suite.
fn inspect(work: &Work, path: &Path, json: bool) -> Run {
    let mut args = vec!["inspect"];
    if json {
        args.push("--json");
    }
    let mut cmd = work.kubebake(&args);
    cmd.arg(path);
    harness::run_with_timeout(cmd, 60)
}

/// What one case must show.
enum Want {
    /// Exit 1; every needle in the one `error:` line (the path is added).
    Refused(&'static [&'static str]),
    /// Exit 0; each (code, needle) is a warning: a `warning:` line naming
    /// the path and containing the needle, and in `--json` an entry of
    /// `warnings` with that code whose message contains the needle.
    Warned(&'static [(&'static str, &'static str)]),
}

struct Case {
    name: &'static str,
    make: fn(&Work) -> PathBuf,
    want: Want,
    rss_mib: Option<u64>,
}

fn entry_size_0_both(w: &Work) -> PathBuf {
    let p = gpt_image(w, "size0.img");
    for lba in [1, LAST_LBA] {
        patch_header(&p, lba, true, |h| set_u32(h, ENTRY_SIZE, 0));
    }
    p
}

fn entry_size_129_both(w: &Work) -> PathBuf {
    let p = gpt_image(w, "size129.img");
    for lba in [1, LAST_LBA] {
        patch_header(&p, lba, true, |h| set_u32(h, ENTRY_SIZE, 129));
    }
    p
}

fn entry_size_129_primary(w: &Work) -> PathBuf {
    let p = gpt_image(w, "size129-primary.img");
    patch_header(&p, 1, true, |h| set_u32(h, ENTRY_SIZE, 129));
    p
}

fn huge_count_both(w: &Work) -> PathBuf {
    let p = gpt_image(w, "count.img");
    for lba in [1, LAST_LBA] {
        patch_header(&p, lba, true, |h| set_u32(h, ENTRY_COUNT, u32::MAX));
    }
    p
}

fn huge_count_primary(w: &Work) -> PathBuf {
    let p = gpt_image(w, "count-primary.img");
    patch_header(&p, 1, true, |h| set_u32(h, ENTRY_COUNT, u32::MAX));
    p
}

fn fifo(w: &Work) -> PathBuf {
    let p = w.join("pipe.img");
    let ok = Command::new("mkfifo")
        .arg(&p)
        .status()
        .expect("mkfifo")
        .success();
    assert!(ok, "mkfifo failed");
    p
}

fn directory(w: &Work) -> PathBuf {
    let p = w.join("dir.img");
    std::fs::create_dir(&p).expect("mkdir");
    p
}

fn char_device(_: &Work) -> PathBuf {
    PathBuf::from("/dev/null")
}

fn truncated(w: &Work) -> PathBuf {
    let p = gpt_image(w, "truncated.img");
    File::options()
        .write(true)
        .open(&p)
        .and_then(|f| f.set_len(6 * MIB))
        .expect("truncate");
    p
}

fn corrupt_primary(w: &Work) -> PathBuf {
    let p = gpt_image(w, "primary.img");
    // A flipped disk-GUID byte: the header CRC no longer matches.
    patch_header(&p, 1, false, |h| h[56] ^= 0xff);
    p
}

fn corrupt_backup(w: &Work) -> PathBuf {
    let p = gpt_image(w, "backup.img");
    patch_header(&p, LAST_LBA, false, |h| h[56] ^= 0xff);
    p
}

fn corrupt_both(w: &Work) -> PathBuf {
    let p = gpt_image(w, "both.img");
    for lba in [1, LAST_LBA] {
        patch_header(&p, lba, false, |h| h[56] ^= 0xff);
    }
    p
}

fn wiped_both(w: &Work) -> PathBuf {
    let p = gpt_image(w, "wiped.img");
    for lba in [1, LAST_LBA] {
        patch_header(&p, lba, false, |h| h.fill(0));
    }
    p
}

fn mbr_past_end(w: &Work) -> PathBuf {
    let p = w.join("mbr.img");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)
        .expect("create");
    let part = mbr::Partition {
        kind: mbr::LINUX,
        bootable: false,
        first_lba: 2048,
        last_lba: 16383,
    };
    mbr::write(&mut f, DISK, 0x1234_5678, &[part]).expect("mbr");
    f.set_len(4 * MIB).expect("truncate");
    p
}

/// Run a host tool the case needs; a missing tool fails the case.
fn tool(name: &str, args: &[&std::ffi::OsStr]) {
    kubebake_hosttool::need(&[name]);
    let o = kubebake_hosttool::command(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        o.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A GPT image whose data partition holds an ext4 filesystem (mkfs.ext4 -d)
/// with `manifest` as the baked manifest, then `debugfs_edit` applied to it.
fn ext4_image(w: &Work, manifest: &[u8], debugfs_edit: Option<&str>) -> PathBuf {
    ext4_image_with(w, manifest, debugfs_edit, |_| {})
}

/// [`ext4_image`], with `patch` applied to the filesystem's bytes.
fn ext4_image_with(
    w: &Work,
    manifest: &[u8],
    debugfs_edit: Option<&str>,
    patch: impl Fn(&mut Vec<u8>),
) -> PathBuf {
    let tree = w.join("tree");
    let dir = tree.join("usr/lib/kubebake");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("manifest.json"), manifest).expect("manifest");
    let fs = w.join("root.ext4");
    // No metadata_csum, so a patched superblock is still read.
    tool(
        "mkfs.ext4",
        &[
            "-q".as_ref(),
            "-O".as_ref(),
            "^metadata_csum".as_ref(),
            "-d".as_ref(),
            tree.as_os_str(),
            fs.as_os_str(),
            "4M".as_ref(),
        ],
    );
    if let Some(req) = debugfs_edit {
        tool(
            "debugfs",
            &["-w".as_ref(), "-R".as_ref(), req.as_ref(), fs.as_os_str()],
        );
    }
    let p = gpt_image(w, "ext4.img");
    let mut f = OpenOptions::new().write(true).open(&p).expect("open");
    f.seek(SeekFrom::Start(2048 * 512)).expect("seek");
    let mut bytes = std::fs::read(&fs).expect("read fs");
    patch(&mut bytes);
    f.write_all(&bytes).expect("copy fs");
    p
}

fn huge_manifest(w: &Work) -> PathBuf {
    ext4_image(
        w,
        b"{}",
        Some("sif /usr/lib/kubebake/manifest.json size 1099511627776"),
    )
}

/// A superblock claiming 2^32 - 1 blocks of one block per group: ext4-view
/// would allocate a descriptor for each of 4 billion groups.
fn huge_block_groups(w: &Work) -> PathBuf {
    ext4_image_with(w, b"{}", None, |fs| {
        fs[1024 + 0x04..1024 + 0x08].copy_from_slice(&u32::MAX.to_le_bytes());
        fs[1024 + 0x20..1024 + 0x24].copy_from_slice(&1u32.to_le_bytes());
    })
}

fn manifest_not_json(w: &Work) -> PathBuf {
    ext4_image(w, b"{\"profile\": ", None)
}

const CASES: &[Case] = &[
    Case {
        name: "GPT entry size 0 in both headers",
        make: entry_size_0_both,
        want: Want::Refused(&[
            "GPT header at LBA 1: entry size 0",
            "backup GPT header at LBA 16383: entry size 0",
        ]),
        rss_mib: None,
    },
    Case {
        name: "GPT entry size 129 in both headers",
        make: entry_size_129_both,
        want: Want::Refused(&[
            "GPT header at LBA 1: entry size 129",
            "backup GPT header at LBA 16383: entry size 129",
        ]),
        rss_mib: None,
    },
    Case {
        name: "GPT entry size 129 in the primary header only",
        make: entry_size_129_primary,
        want: Want::Warned(&[("primary-gpt-damaged", "GPT header at LBA 1: entry size 129")]),
        rss_mib: None,
    },
    Case {
        name: "GPT with 0xFFFFFFFF entries in both headers",
        make: huge_count_both,
        want: Want::Refused(&["GPT header at LBA 1: 4294967295 entries"]),
        rss_mib: Some(RSS_MIB),
    },
    Case {
        name: "GPT with 0xFFFFFFFF entries in the primary header only",
        make: huge_count_primary,
        want: Want::Warned(&[("primary-gpt-damaged", "4294967295 entries")]),
        rss_mib: Some(RSS_MIB),
    },
    Case {
        name: "a FIFO",
        make: fifo,
        want: Want::Refused(&["is a FIFO", "regular file or a block device"]),
        rss_mib: None,
    },
    Case {
        name: "a directory",
        make: directory,
        want: Want::Refused(&["is a directory", "regular file or a block device"]),
        rss_mib: None,
    },
    Case {
        name: "a character device",
        make: char_device,
        want: Want::Refused(&["is a character device"]),
        rss_mib: None,
    },
    Case {
        name: "a truncated image",
        make: truncated,
        want: Want::Warned(&[("truncated", "8388608 bytes"), ("truncated", "6291456")]),
        rss_mib: None,
    },
    Case {
        name: "a corrupt primary GPT header",
        make: corrupt_primary,
        want: Want::Warned(&[
            ("primary-gpt-damaged", "GPT header at LBA 1: header CRC32"),
            ("primary-gpt-damaged", "backup header at LBA 16383"),
        ]),
        rss_mib: None,
    },
    Case {
        name: "a corrupt backup GPT header",
        make: corrupt_backup,
        want: Want::Warned(&[(
            "backup-gpt-damaged",
            "backup GPT header at LBA 16383: header CRC32",
        )]),
        rss_mib: None,
    },
    Case {
        name: "both GPT headers corrupt",
        make: corrupt_both,
        want: Want::Refused(&[
            "GPT header at LBA 1: header CRC32",
            "backup GPT header at LBA 16383: header CRC32",
        ]),
        rss_mib: None,
    },
    Case {
        name: "both GPT headers wiped, protective MBR left",
        make: wiped_both,
        want: Want::Refused(&["protective MBR", "no \"EFI PART\" signature"]),
        rss_mib: None,
    },
    Case {
        name: "a manifest whose inode claims 1 TiB",
        make: huge_manifest,
        want: Want::Warned(&[("manifest-unreadable", "1099511627776 bytes")]),
        rss_mib: Some(RSS_MIB),
    },
    Case {
        name: "an ext4 superblock claiming 4 billion block groups",
        make: huge_block_groups,
        want: Want::Warned(&[(
            "manifest-unreadable",
            "ext4 superblock: 4294967294 block groups",
        )]),
        rss_mib: Some(RSS_MIB),
    },
    Case {
        name: "a manifest that is not JSON",
        make: manifest_not_json,
        want: Want::Warned(&[("manifest-unreadable", "not valid JSON")]),
        rss_mib: None,
    },
    Case {
        name: "an MBR partition past the end of the image",
        make: mbr_past_end,
        want: Want::Warned(&[("partition-past-end", "partition 1")]),
        rss_mib: None,
    },
];

fn check_refused(case: &Case, path: &Path, run: &Run, needles: &[&str], work: &Work) {
    let shown = path.display().to_string();
    let mut names = vec![shown.as_str()];
    names.extend_from_slice(needles);
    let want = Expect {
        code: 1,
        names: &names,
        out: None,
        rss_mib: case.rss_mib,
    };
    harness::assert_refused(case.name, run, &want, work);
}

/// Exit 0, no `error:` line, no panic.
fn assert_read(name: &str, run: &Run) {
    assert_eq!(
        run.code,
        Some(0),
        "{name}: exit code; stderr:\n{}",
        run.stderr
    );
    assert!(run.errors().is_empty(), "{name}: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
}

fn check_warned_text(case: &Case, path: &Path, run: &Run, needles: &[(&str, &str)]) {
    let name = case.name;
    assert_read(name, run);
    let shown = path.display().to_string();
    let warnings = run.warnings();
    for (_, needle) in needles {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&shown) && w.contains(needle)),
            "{name}: no warning naming {shown} with `{needle}`: {warnings:?}"
        );
    }
    assert!(
        run.stdout.contains("table"),
        "{name}: report: {}",
        run.stdout
    );
}

fn check_warned_json(case: &Case, run: &Run, needles: &[(&str, &str)]) {
    let name = case.name;
    assert_read(name, run);
    let r: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{name}: JSON: {e}: {}", run.stdout));
    let warnings = r["warnings"].as_array().expect("warnings array");
    for (code, needle) in needles {
        assert!(
            warnings
                .iter()
                .any(|w| w["code"] == *code
                    && w["message"].as_str().is_some_and(|m| m.contains(needle))),
            "{name}: no JSON warning {code} with `{needle}`: {warnings:?}"
        );
    }
}

fn run_case(case: &Case) {
    let work = Work::new();
    let path = (case.make)(&work);
    for json in [false, true] {
        let run = inspect(&work, &path, json);
        if let Some(mib) = case.rss_mib {
            assert!(
                run.peak_rss_kib <= mib << 10,
                "{}: peak RSS {} KiB over {mib} MiB",
                case.name,
                run.peak_rss_kib
            );
        }
        match &case.want {
            Want::Refused(needles) => check_refused(case, &path, &run, needles, &work),
            Want::Warned(needles) if json => check_warned_json(case, &run, needles),
            Want::Warned(needles) => check_warned_text(case, &path, &run, needles),
        }
    }
}

/// Every case runs; the failures are listed together at the end.
#[test]
fn hostile_images_are_refused_or_reported() {
    let failed: Vec<&str> = CASES
        .iter()
        .filter(|case| std::panic::catch_unwind(|| run_case(case)).is_err())
        .map(|case| case.name)
        .collect();
    assert!(failed.is_empty(), "failed cases: {failed:#?}");
}

#[test]
fn an_undamaged_image_has_no_warnings() {
    let work = Work::new();
    let path = gpt_image(&work, "good.img");
    let run = inspect(&work, &path, true);
    assert_read("an undamaged image", &run);
    assert!(run.warnings().is_empty(), "{}", run.stderr);
    let r: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(r["warnings"], serde_json::json!([]));
    assert_eq!(r["table"], "gpt");
    assert_eq!(r["partitions"].as_array().map(Vec::len), Some(1));
}
