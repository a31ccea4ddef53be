//! FAT volumes built by us, checked with fsck.vfat and mtools; volumes made by mkfs.vfat and
//! mcopy read back with our code.

mod common;

use common::{noise, ok, ok_bytes, run, s};
use kubebake_disk::fat::{self, FatFile, FatOptions, Source};
use kubebake_disk::probe::{self, FsInfo};
use kubebake_disk::{gpt, guid, Window};
use std::fs::{File, OpenOptions};
use std::path::Path;

const MIB: u64 = 1 << 20;
// 2023-11-14T22:13:20Z
const EPOCH: i64 = 1_700_000_000;

fn open_rw(p: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .expect("open image")
}

fn esp_files(dir: &Path) -> (Vec<FatFile>, Vec<u8>) {
    let big = noise(3 * MIB as usize + 12345, 7);
    let host = dir.join("bootx64.efi");
    std::fs::write(&host, &big).expect("write host file");
    let files = vec![
        FatFile {
            path: "EFI/BOOT/BOOTX64.EFI".into(),
            source: Source::File(host),
        },
        FatFile {
            path: "loader/loader.conf".into(),
            source: Source::Bytes(b"timeout 0\ndefault kubebake.conf\n".to_vec()),
        },
        FatFile {
            path: "loader/entries/kubebake.conf".into(),
            source: Source::Bytes(b"title kubebake\nlinux /vmlinuz\noptions ro\n".to_vec()),
        },
        FatFile {
            path: "vmlinuz".into(),
            source: Source::Bytes(noise(700_000, 9)),
        },
        FatFile {
            path: "A Long File Name.txt".into(),
            source: Source::Bytes(b"lfn\n".to_vec()),
        },
    ];
    (files, big)
}

fn opts(size: u64, label: &str) -> FatOptions {
    FatOptions {
        size_bytes: size,
        label: label.into(),
        volume_id: 0x1234_ABCD,
        timestamp: EPOCH,
    }
}

fn build_file(img: &Path, o: &FatOptions, files: &[FatFile]) {
    let f = open_rw(img);
    f.set_len(o.size_bytes).expect("size");
    fat::build(Window::new(f, 0, Some(o.size_bytes)), o, files).expect("build fat");
}

fn fsck_clean(img: &Path) {
    let (good, out, err) = run("fsck.vfat", &["-n", s(img)]);
    assert!(good, "fsck.vfat -n failed:\n{out}\n{err}");
    // fsck -n exits 0 even after reporting fixable problems: only the summary may follow
    // the version line.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "fsck.vfat -n reported something:\n{out}");
}

#[test]
fn esp_fat32_passes_fsck_and_mtools() {
    kubebake_hosttool::need(&["fsck.vfat", "mdir", "mcopy"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("esp.img");
    let (files, big) = esp_files(dir.path());
    let o = opts(256 * MIB, "ESP");
    build_file(&img, &o, &files);
    fsck_clean(&img);

    let ls = ok("mdir", &["-i", s(&img), "::/EFI/BOOT"]);
    assert!(ls.contains("BOOTX64  EFI"), "{ls}");
    assert!(
        ls.contains(&(3 * MIB + 12345).to_string()),
        "size missing:\n{ls}"
    );
    assert!(
        ls.contains("2023-11-14  22:13"),
        "timestamp not from options:\n{ls}"
    );
    assert!(ls.contains("Volume in drive : is ESP"), "{ls}");
    assert!(ls.contains("Volume Serial Number is 1234-ABCD"), "{ls}");

    let got = ok_bytes(
        "mcopy",
        &["-n", "-i", s(&img), "::/EFI/BOOT/BOOTX64.EFI", "-"],
    );
    assert!(
        got == big,
        "BOOTX64.EFI content differs ({} vs {} bytes)",
        got.len(),
        big.len()
    );
    let conf = ok_bytes("mtype", &["-i", s(&img), "::/loader/entries/kubebake.conf"]);
    assert_eq!(conf, b"title kubebake\nlinux /vmlinuz\noptions ro\n");
    let lfn = ok("mdir", &["-i", s(&img), "::/"]);
    assert!(lfn.contains("A Long File Name.txt"), "{lfn}");

    let info = ok("minfo", &["-i", s(&img), "::"]);
    assert!(info.contains("disk type=\"FAT32   \""), "{info}");

    // Our own readers agree with the tools.
    let listed = fat::list(
        File::open(&img)
            .map(|f| Window::new(ReadOnly(f), 0, None))
            .expect("open"),
    )
    .expect("list");
    let names: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "A Long File Name.txt",
            "EFI/BOOT/BOOTX64.EFI",
            "loader/entries/kubebake.conf",
            "loader/loader.conf",
            "vmlinuz"
        ]
    );
    match probe::identify(&mut File::open(&img).expect("open")).expect("probe") {
        FsInfo::Fat(i) => {
            assert_eq!(i.kind, "FAT32");
            assert_eq!(i.label, "ESP");
            assert_eq!(i.volume_id, 0x1234_ABCD);
        }
        other => panic!("not FAT: {other:?}"),
    }
}

/// A File that can be handed where Read+Write+Seek is wanted but refuses every write:
/// proves `list`/`read_file` never write.
struct ReadOnly(File);

impl std::io::Read for ReadOnly {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(b)
    }
}
impl std::io::Write for ReadOnly {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other(
            "read-only test stream was written to",
        ))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
impl std::io::Seek for ReadOnly {
    fn seek(&mut self, p: std::io::SeekFrom) -> std::io::Result<u64> {
        self.0.seek(p)
    }
}

#[test]
fn rebuilds_are_byte_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (files, _) = esp_files(dir.path());
    let o = opts(64 * MIB, "ESP");
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    build_file(&a, &o, &files);
    // b starts dirty: leftovers must not leak into the volume's metadata
    std::fs::write(&b, noise(MIB as usize, 3)).expect("dirty");
    build_file(&b, &o, &files);
    let c = dir.path().join("c.img");
    build_file(&c, &o, &files);
    let (a, b) = (std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
    let c = std::fs::read(&c).expect("c");
    assert!(a == c, "two builds into fresh files differ");
    assert_eq!(a.len(), b.len());
    let meta_end = 8 * MIB as usize; // boot sectors, FATs, root dir, early clusters
    assert!(
        a[..meta_end] == b[..meta_end],
        "metadata differs between identical builds"
    );
}

#[test]
fn fat_inside_a_gpt_disk_via_window() {
    kubebake_hosttool::need(&["mdir", "sgdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("disk.img");
    let mut f = open_rw(&img);
    let esp = gpt::Partition {
        name: "ESP".into(),
        type_guid: guid::ESP,
        guid: guid::derive(b"w", "esp"),
        first_lba: 2048,
        last_lba: 2048 + 40 * MIB / 512 - 1,
        attributes: 0,
    };
    gpt::write(
        &mut f,
        48 * MIB,
        guid::derive(b"w", "disk"),
        std::slice::from_ref(&esp),
    )
    .expect("gpt");
    let (files, big) = esp_files(dir.path());
    let o = opts(esp.byte_len(), "ESP");
    fat::build(
        Window::new(&mut f, esp.byte_offset(), Some(esp.byte_len())).named("ESP"),
        &o,
        &files,
    )
    .expect("fat in window");
    drop(f);
    let v = ok("sgdisk", &["-v", s(&img)]);
    assert!(
        v.contains("No problems found"),
        "FAT write damaged the GPT:\n{v}"
    );
    let at = format!("{}@@{}", s(&img), esp.byte_offset());
    let got = ok_bytes("mcopy", &["-n", "-i", &at, "::/EFI/BOOT/BOOTX64.EFI", "-"]);
    assert!(got == big, "content differs");
    // And read back with our reader through a window.
    let f = File::open(&img).expect("open");
    let w = Window::new(ReadOnly(f), esp.byte_offset(), Some(esp.byte_len()));
    assert_eq!(
        fat::read_file(w, "/loader/loader.conf", 4096).expect("read"),
        b"timeout 0\ndefault kubebake.conf\n"
    );
    let f = File::open(&img).expect("open");
    let w = Window::new(ReadOnly(f), esp.byte_offset(), Some(esp.byte_len()));
    let e = fat::read_file(w, "EFI/BOOT/BOOTX64.EFI", 1000).expect_err("over the limit");
    let msg = e.to_string();
    assert!(msg.contains("BOOTX64.EFI") && msg.contains("1000"), "{msg}");
}

#[test]
fn small_volumes_fall_back_to_fat16_and_fat12_and_labels_are_optional() {
    kubebake_hosttool::need(&["fsck.vfat", "minfo"]);
    let dir = tempfile::tempdir().expect("tempdir");
    for (size, kind, label) in [
        (16 * MIB, "FAT16", "CIDATA"),
        (MIB, "FAT12", ""),
        (40 * MIB, "FAT32", ""),
    ] {
        let img = dir.path().join(format!("{kind}.img"));
        let files = vec![
            FatFile {
                path: "user-data".into(),
                source: Source::Bytes(b"#cloud-config\n".to_vec()),
            },
            FatFile {
                path: "meta-data".into(),
                source: Source::Bytes(b"instance-id: x\n".to_vec()),
            },
        ];
        build_file(&img, &opts(size, label), &files);
        fsck_clean(&img);
        let info = ok("minfo", &["-i", s(&img), "::"]);
        assert!(
            info.contains(&format!("disk type=\"{kind}   \"")),
            "{kind}:\n{info}"
        );
        let ty = ok_bytes("mtype", &["-i", s(&img), "::/user-data"]);
        assert_eq!(ty, b"#cloud-config\n");
        match probe::identify(&mut File::open(&img).expect("open")).expect("probe") {
            FsInfo::Fat(i) => {
                assert_eq!(i.kind, kind);
                assert_eq!(i.label, label);
            }
            other => panic!("not FAT: {other:?}"),
        }
    }
}

#[test]
fn volumes_made_by_mkfs_vfat_and_mcopy_are_readable() {
    kubebake_hosttool::need(&["mkfs.vfat", "mcopy", "mmd"]);
    let dir = tempfile::tempdir().expect("tempdir");
    for (fat_bits, size) in [("32", 64 * MIB), ("16", 16 * MIB)] {
        let img = dir.path().join(format!("mk{fat_bits}.img"));
        File::create(&img)
            .and_then(|f| f.set_len(size))
            .expect("size");
        ok(
            "mkfs.vfat",
            &["-F", fat_bits, "-n", "OTHERTOOL", "-i", "c0ffee42", s(&img)],
        );
        let payload = noise(200_000, 11);
        let host = dir.path().join("payload.bin");
        std::fs::write(&host, &payload).expect("payload");
        ok("mmd", &["-i", s(&img), "::/dir", "::/dir/Sub Dir"]);
        ok(
            "mcopy",
            &["-i", s(&img), s(&host), "::/dir/Sub Dir/payload.bin"],
        );
        ok("mcopy", &["-i", s(&img), s(&host), "::/TOP.BIN"]);
        let listed = fat::list(Window::new(
            ReadOnly(File::open(&img).expect("open")),
            0,
            None,
        ))
        .expect("list");
        assert_eq!(
            listed,
            vec![
                ("TOP.BIN".to_string(), 200_000),
                ("dir/Sub Dir/payload.bin".to_string(), 200_000)
            ],
            "FAT{fat_bits}"
        );
        let got = fat::read_file(
            Window::new(ReadOnly(File::open(&img).expect("open")), 0, None),
            "dir/Sub Dir/payload.bin",
            1 << 30,
        )
        .expect("read");
        assert!(got == payload, "FAT{fat_bits} content differs");
        match probe::identify(&mut File::open(&img).expect("open")).expect("probe") {
            FsInfo::Fat(i) => {
                assert_eq!(i.kind, format!("FAT{fat_bits}"));
                assert_eq!(i.label, "OTHERTOOL");
                assert_eq!(i.volume_id, 0xc0ff_ee42);
            }
            other => panic!("not FAT: {other:?}"),
        }
    }
}

#[test]
fn bad_inputs_are_refused_with_the_path() {
    let mut buf = std::io::Cursor::new(vec![0u8; 4 * MIB as usize]);
    let dup = vec![
        FatFile {
            path: "a/b".into(),
            source: Source::Bytes(vec![1]),
        },
        FatFile {
            path: "A/B".into(),
            source: Source::Bytes(vec![2]),
        },
    ];
    let e = fat::build(&mut buf, &opts(4 * MIB, "X"), &dup).expect_err("dup");
    assert!(e.to_string().contains("A/B"), "{e}");
    let e = fat::build(&mut buf, &opts(4 * MIB, "WAY TOO LONG LABEL"), &[]).expect_err("label");
    assert!(e.to_string().contains("label"), "{e}");
    let missing = vec![FatFile {
        path: "x".into(),
        source: Source::File("/nonexistent/kb".into()),
    }];
    let e = fat::build(&mut buf, &opts(4 * MIB, "X"), &missing).expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/kb"), "{e}");
    // A volume bigger than its window fails naming the window instead of writing past it.
    let f = tempfile::tempfile().expect("tmp");
    let w = Window::new(f, 0, Some(2 * MIB)).named("ESP");
    let big = vec![FatFile {
        path: "big".into(),
        source: Source::Bytes(noise(3 * MIB as usize, 1)),
    }];
    let e = fat::build(w, &opts(4 * MIB, "X"), &big).expect_err("too big");
    assert!(
        format!("{e:#}").contains("ESP") || format!("{e:?}").contains("ESP"),
        "{e:?}"
    );
}

#[test]
fn every_size_gets_a_valid_fat_type() {
    kubebake_hosttool::need(&["fsck.vfat", "minfo"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = vec![FatFile {
        path: "EFI/BOOT/BOOTAA64.EFI".into(),
        source: Source::Bytes(noise(100_000, 2)),
    }];
    // Around the FAT32 threshold (~33 MiB with 512-byte clusters) and typical ESP sizes.
    for mib in [4u64, 32, 33, 34, 35, 48, 65, 130, 260, 513] {
        let img = dir.path().join(format!("s{mib}.img"));
        build_file(&img, &opts(mib * MIB, "SZ"), &files);
        fsck_clean(&img);
        let info = ok("minfo", &["-i", s(&img), "::"]);
        let kind = match probe::identify(&mut File::open(&img).expect("open")).expect("probe") {
            FsInfo::Fat(i) => i.kind,
            other => panic!("{mib} MiB: not FAT: {other:?}"),
        };
        assert!(
            info.contains(&format!("disk type=\"{kind}   \"")),
            "{mib} MiB: {kind} vs\n{info}"
        );
        if mib >= 48 {
            assert_eq!(kind, "FAT32", "{mib} MiB should be FAT32");
        }
        let back = fat::read_file(
            File::open(&img).map(ReadOnly).expect("open"),
            "EFI/BOOT/BOOTAA64.EFI",
            1 << 30,
        )
        .expect("read back");
        assert!(back == noise(100_000, 2), "{mib} MiB: content differs");
    }
}

#[test]
fn many_long_names_in_one_directory() {
    kubebake_hosttool::need(&["fsck.vfat", "mdir"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("pi.img");
    // Like the Raspberry Pi overlays/ directory: hundreds of long, similar names.
    let files: Vec<FatFile> = (0..260)
        .map(|i| FatFile {
            path: format!("overlays/vc4-kms-dsi-{i:03}-overlay.dtbo"),
            source: Source::Bytes(format!("overlay {i}\n").into_bytes()),
        })
        .chain(std::iter::once(FatFile {
            path: "config.txt".into(),
            source: Source::Bytes(b"arm_64bit=1\n".to_vec()),
        }))
        .collect();
    build_file(&img, &opts(64 * MIB, "bootfs"), &files);
    fsck_clean(&img);
    let ls = ok("mdir", &["-b", "-i", s(&img), "::/overlays"]);
    assert_eq!(ls.lines().count(), 260, "{ls}");
    assert!(
        ls.contains("::/overlays/vc4-kms-dsi-259-overlay.dtbo"),
        "{ls}"
    );
    let one = ok_bytes(
        "mtype",
        &["-i", s(&img), "::/overlays/vc4-kms-dsi-123-overlay.dtbo"],
    );
    assert_eq!(one, b"overlay 123\n");
    let listed = fat::list(File::open(&img).map(ReadOnly).expect("open")).expect("list");
    assert_eq!(listed.len(), 261);
}

/// A volume from our writer, in memory, with `CMDLINE.TXT` (an 8.3 name: one short entry)
/// and a subdirectory `DIR`.
fn volume_in_memory() -> Vec<u8> {
    let o = opts(MIB, "");
    let mut cur = std::io::Cursor::new(vec![0u8; MIB as usize]);
    let file = |path: &str, data: &[u8]| FatFile {
        path: path.into(),
        source: Source::Bytes(data.to_vec()),
    };
    fat::build(
        Window::new(&mut cur, 0, Some(MIB)),
        &o,
        &[
            file("CMDLINE.TXT", b"console=tty0\n"),
            file("DIR/X.TXT", b"x\n"),
        ],
    )
    .expect("build");
    cur.into_inner()
}

fn entry_at(img: &[u8], short: &[u8; 11]) -> usize {
    img.windows(11)
        .position(|w| w == short)
        .unwrap_or_else(|| panic!("no entry {short:?}"))
}

/// Found by the `fat` fuzz target (disk/fuzz): a file whose first cluster is 0 or 1 made
/// fatfs compute `cluster - 2` (an overflow panic with overflow checks, a read of some
/// other place of the image without). Such a cluster is now an error naming the file.
#[test]
fn clusters_outside_the_data_area_are_refused_not_followed() {
    let img = volume_in_memory();
    let cur = |img: &[u8]| std::io::Cursor::new(img.to_vec());
    assert_eq!(
        fat::read_file(cur(&img), "cmdline.txt", 100).expect("read"),
        b"console=tty0\n"
    );
    let at = entry_at(&img, b"CMDLINE TXT");
    for cluster in [0u16, 1, 0xfff0] {
        let mut bad = img.clone();
        bad[at + 26..at + 28].copy_from_slice(&cluster.to_le_bytes());
        let e = fat::read_file(cur(&bad), "CMDLINE.TXT", 100).expect_err("bad cluster");
        let msg = e.to_string();
        assert!(
            msg.contains("CMDLINE.TXT") && msg.contains(&format!("cluster {cluster} is outside")),
            "{msg}"
        );
    }
}

/// A directory whose cluster chain loops back on itself and never ends ends in an error,
/// not a hang.
#[test]
fn a_looping_directory_chain_is_an_error() {
    let mut img = volume_in_memory();
    let at = entry_at(&img, b"DIR        ");
    let cluster = usize::from(u16::from_le_bytes([img[at + 26], img[at + 27]]));
    match probe::identify(&mut std::io::Cursor::new(&img)).expect("probe") {
        FsInfo::Fat(i) => assert_eq!(i.kind, "FAT12", "the patch below is for FAT12"),
        other => panic!("{other:?}"),
    }
    let le16 = |o: usize| usize::from(u16::from_le_bytes([img[o], img[o + 1]]));
    let (bps, spc, reserved) = (le16(11), usize::from(img[13]), le16(14));
    let (fats, root_entries, fat_sectors) = (usize::from(img[16]), le16(17), le16(22));
    // The FAT entry of DIR's cluster points back at itself.
    let off = reserved * bps + cluster + cluster / 2;
    let v = le16(off) as u16;
    let c = cluster as u16;
    let v = if cluster % 2 == 0 {
        (v & 0xf000) | c
    } else {
        (v & 0x000f) | (c << 4)
    };
    img[off..off + 2].copy_from_slice(&v.to_le_bytes());
    // And its cluster is full of entries, with no end marker.
    let data = (reserved + fats * fat_sectors) * bps + root_entries * 32;
    let start = data + (cluster - 2) * spc * bps;
    for (i, e) in img[start..start + spc * bps]
        .chunks_exact_mut(32)
        .enumerate()
    {
        e.fill(0);
        e[..11].copy_from_slice(format!("F{i:<7}TXT").as_bytes());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(fat::list(std::io::Cursor::new(img)).map_err(|e| e.to_string()));
    });
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("fat::list hung on a looping chain");
    let msg = got.expect_err("a loop must be an error");
    assert!(
        msg.contains("DIR") && msg.contains("more than 100000"),
        "{msg}"
    );
}
