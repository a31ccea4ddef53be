//! ext4 probing checked against dumpe2fs, and ext4 file reading checked against images made
//! by `mkfs.ext4 -d`.

mod common;

use common::{ok, s};
use kubebake_disk::probe::{self, FsInfo};
use kubebake_disk::{ext4read, Window};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

const MIB: u64 = 1 << 20;

fn mkfs(img: &Path, size_mib: u64, extra: &[&str]) {
    File::create(img)
        .and_then(|f| f.set_len(size_mib * MIB))
        .expect("size");
    let mut args = vec!["-q", "-F", "-E", "root_owner=0:0"];
    args.extend_from_slice(extra);
    args.push(s(img));
    ok("mkfs.ext4", &args);
}

/// Field `name` of `dumpe2fs -h`.
fn field(dump: &str, name: &str) -> String {
    dump.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} missing in dumpe2fs output"))
        .trim()
        .to_string()
}

#[test]
fn ext4_superblock_matches_dumpe2fs() {
    kubebake_hosttool::need(&["mkfs.ext4", "dumpe2fs"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let variants: &[&[&str]] = &[
        &[],
        &["-O", "^has_journal,^metadata_csum,^64bit"],
        &["-b", "1024", "-O", "^resize_inode,^dir_index,inline_data"],
        &["-O", "quota,project,bigalloc", "-C", "16384"],
        &["-t", "ext2"],
        &["-O", "^huge_file,large_dir"], // + tune2fs -O read-only below
    ];
    for (i, extra) in variants.iter().enumerate() {
        let img = dir.path().join(format!("v{i}.img"));
        let uuid = format!("1234567{i}-89ab-4def-8123-456789abcdef");
        let label = format!("vol{i}");
        let mut args = vec!["-U", &uuid, "-L", &label];
        args.extend_from_slice(extra);
        mkfs(&img, 64, &args);
        if i == variants.len() - 1 {
            kubebake_hosttool::need(&["tune2fs"]);
            ok("tune2fs", &["-O", "read-only", s(&img)]);
        }
        let dump = ok("dumpe2fs", &["-h", s(&img)]);
        let info = match probe::identify(&mut File::open(&img).expect("open")).expect("probe") {
            FsInfo::Ext4(x) => x,
            other => panic!("variant {extra:?}: not ext4: {other:?}"),
        };
        let want: Vec<String> = field(&dump, "Filesystem features")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!(info.features, want, "variant {extra:?}");
        assert_eq!(info.uuid.to_string(), field(&dump, "Filesystem UUID"));
        assert_eq!(info.label, field(&dump, "Filesystem volume name"));
        assert_eq!(info.block_size.to_string(), field(&dump, "Block size"));
        assert_eq!(info.block_count.to_string(), field(&dump, "Block count"));
        assert_eq!(info.free_blocks.to_string(), field(&dump, "Free blocks"));
        assert_eq!(info.inode_count.to_string(), field(&dump, "Inode count"));
        assert_eq!(info.inode_size.to_string(), field(&dump, "Inode size"));
        assert_eq!(info.has_journal, want.iter().any(|f| f == "has_journal"));
        assert_eq!(info.read_only, want.iter().any(|f| f == "read-only"));
        assert_eq!(info.read_only, i == variants.len() - 1);
        assert_eq!(info.clean, field(&dump, "Filesystem state") == "clean");
    }
}

#[test]
fn ext4_in_a_window_and_fat_from_mkfs_vfat() {
    kubebake_hosttool::need(&["mkfs.ext4", "mkfs.vfat"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("fs.img");
    mkfs(&img, 16, &["-L", "root-a"]);
    // Put the filesystem at 3 MiB inside a bigger "disk".
    let disk = dir.path().join("disk.img");
    let mut d = File::create(&disk).expect("disk");
    d.set_len(20 * MIB).expect("len");
    d.seek(SeekFrom::Start(3 * MIB)).expect("seek");
    d.write_all(&std::fs::read(&img).expect("read"))
        .expect("copy");
    drop(d);
    let mut w = Window::new(File::open(&disk).expect("open"), 3 * MIB, Some(16 * MIB));
    match probe::identify(&mut w).expect("probe") {
        FsInfo::Ext4(x) => assert_eq!(x.label, "root-a"),
        other => panic!("not ext4: {other:?}"),
    }
    // Same disk, wrong offset: nothing there.
    let mut w = Window::new(File::open(&disk).expect("open"), 0, Some(3 * MIB));
    assert_eq!(probe::identify(&mut w).expect("probe"), FsInfo::Unknown);

    let vfat = dir.path().join("vfat.img");
    File::create(&vfat)
        .and_then(|f| f.set_len(40 * MIB))
        .expect("len");
    ok(
        "mkfs.vfat",
        &["-F", "32", "-n", "BOOTFS", "-i", "0badcafe", s(&vfat)],
    );
    match probe::identify(&mut File::open(&vfat).expect("open")).expect("probe") {
        FsInfo::Fat(x) => {
            assert_eq!(x.kind, "FAT32");
            assert_eq!(x.label, "BOOTFS");
            assert_eq!(x.volume_id, 0x0bad_cafe);
        }
        other => panic!("not FAT: {other:?}"),
    }
}

#[test]
fn ext4read_reads_files_from_mkfs_ext4_d() {
    kubebake_hosttool::need(&["mkfs.ext4"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let manifest = br#"{"components":{"kubelet":{"version":"v1.33.0"}}}"#;
    std::fs::create_dir_all(src.join("usr/lib/kubebake")).expect("mkdir");
    std::fs::create_dir_all(src.join("etc")).expect("mkdir");
    std::fs::write(src.join("usr/lib/kubebake/manifest.json"), manifest).expect("write");
    let big = common::noise(5 * MIB as usize + 77, 5);
    std::fs::write(src.join("usr/lib/big.bin"), &big).expect("write");
    std::fs::write(src.join("etc/hostname"), b"node\n").expect("write");
    std::os::unix::fs::symlink("usr/lib", src.join("lib")).expect("symlink");

    let img = dir.path().join("root.img");
    mkfs(&img, 32, &["-d", s(&src)]);
    // Embed at 1 MiB like a partition.
    let disk = dir.path().join("disk.img");
    let mut d = File::create(&disk).expect("disk");
    d.set_len(34 * MIB).expect("len");
    d.seek(SeekFrom::Start(MIB)).expect("seek");
    d.write_all(&std::fs::read(&img).expect("read"))
        .expect("copy");
    drop(d);
    let win = || Window::new(File::open(&disk).expect("open"), MIB, Some(32 * MIB));

    assert_eq!(
        ext4read::read_file(win(), "/usr/lib/kubebake/manifest.json", 1 << 20).expect("manifest"),
        manifest
    );
    assert!(ext4read::read_file(win(), "usr/lib/big.bin", 1 << 30).expect("big") == big);
    assert_eq!(
        ext4read::read_file(win(), "/lib/kubebake/manifest.json", 1 << 20).expect("via symlink"),
        manifest
    );
    let e = ext4read::read_file(win(), "/nope", 1 << 20).expect_err("missing");
    assert!(e.to_string().contains("/nope"), "{e}");
    let e = ext4read::read_file(win(), "usr/lib/big.bin", 1000).expect_err("over the limit");
    assert!(
        e.to_string().contains("/usr/lib/big.bin") && e.to_string().contains("1000"),
        "{e}"
    );

    let root = ext4read::list_dir(win(), "/").expect("list");
    let names: Vec<(&str, ext4read::Kind)> =
        root.iter().map(|(n, k, _)| (n.as_str(), *k)).collect();
    assert_eq!(
        names,
        [
            ("etc", ext4read::Kind::Dir),
            ("lib", ext4read::Kind::Symlink),
            ("lost+found", ext4read::Kind::Dir),
            ("usr", ext4read::Kind::Dir)
        ]
    );
    let etc = ext4read::list_dir(win(), "/etc").expect("list etc");
    assert_eq!(etc, vec![("hostname".to_string(), ext4read::Kind::File, 5)]);
}
