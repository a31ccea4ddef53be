//! GPT and MBR tables checked with sgdisk and sfdisk, and tables made by those tools read
//! back with our code.

mod common;

use common::{ok, s};
use kubebake_disk::{gpt, guid, mbr};
use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use uuid::Uuid;

const MIB: u64 = 1 << 20;

fn layout(seed: &[u8]) -> Vec<gpt::Partition> {
    let mib = |m: u64| m * MIB / 512;
    vec![
        gpt::Partition {
            name: "ESP".into(),
            type_guid: guid::ESP,
            guid: guid::derive(seed, "part:esp"),
            first_lba: mib(1),
            last_lba: mib(9) - 1,
            attributes: 0,
        },
        gpt::Partition {
            name: "root-a".into(),
            type_guid: guid::ROOT_X86_64,
            guid: guid::derive(seed, "part:root-a"),
            first_lba: mib(9),
            last_lba: mib(25) - 1,
            attributes: gpt::ATTR_READ_ONLY,
        },
        gpt::Partition {
            name: "root-b".into(),
            type_guid: guid::ROOT_X86_64,
            guid: guid::derive(seed, "part:root-b"),
            first_lba: mib(25),
            last_lba: mib(41) - 1,
            attributes: gpt::ATTR_READ_ONLY | gpt::ATTR_NO_AUTO,
        },
    ]
}

#[test]
fn gpt_written_by_us_passes_sgdisk_and_sfdisk() {
    kubebake_hosttool::need(&["sgdisk", "sfdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("disk.img");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .expect("create");
    let disk_guid = guid::derive(b"seed", "disk");
    let parts = layout(b"seed");
    gpt::write(&mut f, 64 * MIB, disk_guid, &parts).expect("write gpt");
    drop(f);

    let meta = std::fs::metadata(&img).expect("stat");
    assert_eq!(meta.len(), 64 * MIB);
    assert!(
        meta.blocks() * 512 < MIB,
        "image is not sparse: {} blocks",
        meta.blocks()
    );

    let v = ok("sgdisk", &["-v", s(&img)]);
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");

    let dump = ok("sfdisk", &["--dump", s(&img)]);
    assert!(dump.contains("label: gpt"), "{dump}");
    let id = format!("label-id: {}", disk_guid.hyphenated()).to_uppercase();
    assert!(
        dump.to_uppercase().contains(&id),
        "disk GUID missing:\n{dump}"
    );
    assert!(dump.contains("first-lba: 34\n"), "{dump}");
    assert!(
        dump.contains(&format!("last-lba: {}\n", 64 * MIB / 512 - 34)),
        "{dump}"
    );
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("start=")).collect();
    assert_eq!(lines.len(), 3, "{dump}");
    for (line, p) in lines.iter().zip(&parts) {
        let up = line.to_uppercase();
        let norm = line.split_whitespace().collect::<Vec<_>>().join(" ");
        let size = p.last_lba - p.first_lba + 1;
        assert!(
            norm.contains(&format!("start= {}, size= {size},", p.first_lba)),
            "{}: {norm}",
            p.name
        );
        assert!(
            up.contains(&format!("TYPE={}", p.type_guid.hyphenated()).to_uppercase()),
            "{line}"
        );
        assert!(
            up.contains(&format!("UUID={}", p.guid.hyphenated()).to_uppercase()),
            "{line}"
        );
        assert!(line.contains(&format!("name=\"{}\"", p.name)), "{line}");
    }
    assert!(lines[1].contains("attrs=\"GUID:60\""), "{}", lines[1]);
    assert!(lines[2].contains("attrs=\"GUID:60,63\""), "{}", lines[2]);

    let info = ok("sgdisk", &["-i", "2", s(&img)]);
    assert!(info.contains("Linux x86-64 root (/)"), "{info}");
    assert!(info.contains("Attribute flags: 1000000000000000"), "{info}");
    assert!(info.contains("Partition name: 'root-a'"), "{info}");
    let info = ok("sgdisk", &["-i", "1", s(&img)]);
    assert!(
        info.contains("EFI system partition") || info.contains("EFI System"),
        "{info}"
    );
    assert!(info.contains("First sector: 2048 "), "{info}");
    assert!(info.contains("Last sector: 18431 "), "{info}");
}

#[test]
fn gpt_rewrite_is_byte_identical() {
    let mut a = std::io::Cursor::new(Vec::new());
    let mut b = std::io::Cursor::new(vec![0xAAu8; 512]);
    gpt::write(&mut a, 64 * MIB, guid::derive(b"x", "disk"), &layout(b"x")).expect("a");
    gpt::write(&mut b, 64 * MIB, guid::derive(b"x", "disk"), &layout(b"x")).expect("b");
    assert!(
        a.get_ref() == b.get_ref(),
        "stale sector-0 bytes leaked into the table"
    );
}

#[test]
fn gpt_made_by_sgdisk_reads_back() {
    kubebake_hosttool::need(&["sgdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("sg.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(48 * MIB))
        .expect("size");
    let disk = "11111111-2222-3333-4444-555555555555";
    let p1 = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let p2 = "01234567-89ab-cdef-0123-456789abcdef";
    ok(
        "sgdisk",
        &[
            "-U",
            disk,
            "-n",
            "1:2048:+8M",
            "-t",
            "1:ef00",
            "-c",
            "1:EFI system",
            "-u",
            &format!("1:{p1}"),
            "-n",
            "2:0:0",
            "-t",
            "2:8305",
            "-c",
            "2:root-arm",
            "-u",
            &format!("2:{p2}"),
            "-A",
            "2:set:60",
            s(&img),
        ],
    );
    let mut f = std::fs::File::open(&img).expect("open");
    let t = gpt::read(&mut f).expect("read sgdisk table");
    assert_eq!(t.disk_guid, Uuid::parse_str(disk).expect("uuid"));
    assert_eq!(t.sector_size, 512);
    assert_eq!(t.numbers, vec![1, 2]);
    assert_eq!(t.partitions[0].type_guid, guid::ESP);
    assert_eq!(t.partitions[0].name, "EFI system");
    assert_eq!(t.partitions[0].guid, Uuid::parse_str(p1).expect("uuid"));
    assert_eq!(t.partitions[0].first_lba, 2048);
    assert_eq!(t.partitions[0].last_lba, 2048 + 8 * MIB / 512 - 1);
    assert_eq!(t.partitions[1].type_guid, guid::ROOT_ARM64);
    assert_eq!(t.partitions[1].guid, Uuid::parse_str(p2).expect("uuid"));
    assert_eq!(t.partitions[1].attributes, gpt::ATTR_READ_ONLY);
    assert_eq!(t.last_usable_lba, 48 * MIB / 512 - 34);
    // sgdisk's "largest" fill ends at the last usable sector (aligned down)
    assert!(t.partitions[1].last_lba <= t.last_usable_lba);
}

#[test]
fn mbr_written_by_us_matches_sfdisk() {
    kubebake_hosttool::need(&["sfdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("pi.img");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .expect("create");
    let sig = guid::derive_u32(b"seed", "mbr");
    let parts = [
        mbr::Partition {
            kind: mbr::FAT32_LBA,
            bootable: true,
            first_lba: 8192,
            last_lba: 8192 + 65536 - 1,
        },
        mbr::Partition {
            kind: mbr::LINUX,
            bootable: false,
            first_lba: 8192 + 65536,
            last_lba: 200_000,
        },
    ];
    mbr::write(&mut f, 128 * MIB, sig, &parts).expect("write");
    drop(f);
    let dump = ok("sfdisk", &["--dump", s(&img)]);
    assert!(dump.contains("label: dos"), "{dump}");
    assert!(dump.contains(&format!("label-id: 0x{sig:08x}")), "{dump}");
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("start=")).collect();
    assert_eq!(lines.len(), 2, "{dump}");
    let norm = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let l0 = norm(lines[0]);
    let l1 = norm(lines[1]);
    assert!(
        l0.contains("start= 8192, size= 65536, type=c, bootable"),
        "{l0}"
    );
    assert!(
        l1.contains(&format!(
            "start= 73728, size= {}, type=83",
            200_000 - 73728 + 1
        )),
        "{l1}"
    );
    assert!(!l1.contains("bootable"), "{l1}");
    let (good, _, err) = common::run("sfdisk", &["--verify", s(&img)]);
    assert!(good, "sfdisk --verify: {err}");
}

#[test]
fn mbr_made_by_sfdisk_reads_back() {
    kubebake_hosttool::need(&["sfdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("sf.img");
    std::fs::File::create(&img)
        .and_then(|f| f.set_len(64 * MIB))
        .expect("size");
    let script = dir.path().join("layout");
    std::fs::write(
        &script,
        "label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=16384, type=c, bootable\nstart=18432, type=83\n",
    )
    .expect("script");
    let out = kubebake_hosttool::command("sfdisk")
        .arg(&img)
        .stdin(std::fs::File::open(&script).expect("open script"))
        .output()
        .expect("sfdisk");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut f = std::fs::File::open(&img).expect("open");
    let t = mbr::read(&mut f).expect("read");
    assert_eq!(t.disk_signature, 0x1234_abcd);
    assert_eq!(
        t.partitions,
        vec![
            mbr::Partition {
                kind: 0x0c,
                bootable: true,
                first_lba: 2048,
                last_lba: 2048 + 16384 - 1
            },
            mbr::Partition {
                kind: 0x83,
                bootable: false,
                first_lba: 18432,
                last_lba: 64 * MIB / 512 - 1
            },
        ]
    );
}

#[test]
fn damaged_primary_gpt_falls_back_to_the_backup() {
    use std::io::{Seek, SeekFrom, Write};
    let mut cur = std::io::Cursor::new(Vec::new());
    let parts = layout(b"bk");
    let disk = guid::derive(b"bk", "disk");
    gpt::write(&mut cur, 64 * MIB, disk, &parts).expect("write");
    cur.seek(SeekFrom::Start(512)).expect("seek");
    cur.write_all(&[0u8; 512]).expect("wipe primary header");
    let t = gpt::read(&mut cur).expect("read from backup");
    assert_eq!(t.disk_guid, disk);
    assert_eq!(t.partitions, parts);
    // Not silently: the damage is reported, naming the header and the backup used.
    let w: Vec<String> = t.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("GPT header at LBA 1: no \"EFI PART\" signature")
            && w[0].contains(&format!("backup header at LBA {}", 64 * MIB / 512 - 1)),
        "{w:?}"
    );
}

#[test]
fn sgdisk_repairs_nothing_after_we_write_4_partitions_on_a_big_sparse_disk() {
    kubebake_hosttool::need(&["sgdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("big.img");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .expect("create");
    // 20 GiB sparse: LBAs past 32 bits of bytes, sizes past FAT/MBR limits.
    let gib = 1u64 << 30;
    let lba = |b: u64| b / 512;
    let mk = |name: &str, t, a: u64, b: u64| gpt::Partition {
        name: name.into(),
        type_guid: t,
        guid: guid::derive(b"big", name),
        first_lba: lba(a),
        last_lba: lba(b) - 1,
        attributes: 0,
    };
    let parts = vec![
        mk("ESP", guid::ESP, MIB, 513 * MIB),
        mk("root-a", guid::ROOT_ARM64, 513 * MIB, 513 * MIB + 4 * gib),
        mk(
            "root-b",
            guid::ROOT_ARM64,
            513 * MIB + 4 * gib,
            513 * MIB + 8 * gib,
        ),
        mk("state", guid::VAR, 513 * MIB + 8 * gib, 20 * gib - MIB),
    ];
    gpt::write(&mut f, 20 * gib, guid::derive(b"big", "disk"), &parts).expect("write");
    drop(f);
    let v = ok("sgdisk", &["-v", s(&img)]);
    assert!(v.contains("No problems found"), "{v}");
    let info = ok("sgdisk", &["-i", "4", s(&img)]);
    assert!(
        info.contains("4D21B016-B534-45C2-A9FB-5C16E091FD2D"),
        "{info}"
    );
    assert!(info.contains("Partition name: 'state'"), "{info}");
    let info = ok("sgdisk", &["-i", "2", s(&img)]);
    assert!(
        info.contains("B921B045-1DF0-41C3-AF44-4C6F280D3FAE"),
        "{info}"
    );
    assert!(info.contains("Linux ARM64 root (/)"), "{info}");
}

#[test]
fn dps_type_constants_are_the_ones_sgdisk_names() {
    kubebake_hosttool::need(&["sgdisk"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let img = dir.path().join("types.img");
    let types = [
        (guid::ESP, "EFI system partition"),
        (guid::ROOT_X86_64, "Linux x86-64 root (/)"),
        (guid::ROOT_ARM64, "Linux ARM64 root (/)"),
        (guid::VAR, "Linux /var"),
        (guid::LINUX_DATA, "Linux filesystem"),
    ];
    let parts: Vec<gpt::Partition> = types
        .iter()
        .enumerate()
        .map(|(i, (t, _))| gpt::Partition {
            name: format!("p{i}"),
            type_guid: *t,
            guid: guid::derive(b"types", &i.to_string()),
            first_lba: 2048 * (i as u64 + 1),
            last_lba: 2048 * (i as u64 + 2) - 1,
            attributes: 0,
        })
        .collect();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&img)
        .expect("create");
    gpt::write(&mut f, 16 * MIB, guid::derive(b"types", "disk"), &parts).expect("write");
    drop(f);
    for (i, (t, name)) in types.iter().enumerate() {
        let info = ok("sgdisk", &["-i", &(i + 1).to_string(), s(&img)]);
        let want = format!(
            "Partition GUID code: {} ({name})",
            t.hyphenated().to_string().to_uppercase()
        );
        assert!(info.contains(&want), "want {want:?} in\n{info}");
    }
}
