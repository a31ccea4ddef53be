//! Seeds made by kubebake's own writers (GPT, MBR, FAT, ext4) for the disk fuzz targets:
//! `make_seeds CORPUS_DIR` writes `CORPUS_DIR/<target>/kubebake-*`. `seeds.sh` adds
//! images made by sgdisk, sfdisk, mkfs.vfat and mkfs.ext4.

use std::io::Cursor;
use std::path::Path;

use kubebake_disk::{fat, gpt, guid, mbr, Window};
use kubebake_disk_fuzz::Sparse;

const KIB: u64 = 1024;
const MANIFEST: &[u8] = br#"{"profile":"generic-amd64","arch":"amd64","kubernetes_version":null,
"components":[{"name":"kubelet","version":null,"origin":"local-file","sha256":"00","source":"file:kubelet"}]}"#;

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join(format!("kubebake-{name}")), bytes).expect("write seed");
}

fn part(name: &str, type_guid: uuid::Uuid, first: u64, last: u64) -> gpt::Partition {
    gpt::Partition {
        name: name.into(),
        type_guid,
        guid: guid::derive(b"seed", name),
        first_lba: first,
        last_lba: last,
        attributes: gpt::ATTR_READ_ONLY,
    }
}

fn gpt_disk(bytes: u64, parts: &[gpt::Partition]) -> Vec<u8> {
    let mut cur = Cursor::new(Vec::new());
    gpt::write(&mut cur, bytes, guid::derive(b"seed", "disk"), parts).expect("gpt");
    cur.into_inner()
}

fn fat_with(bytes: u64, label: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut cur = Cursor::new(vec![0u8; bytes as usize]);
    let opts = fat::FatOptions {
        size_bytes: bytes,
        label: label.into(),
        volume_id: 0x1234_5678,
        timestamp: 1_700_000_000,
    };
    let files: Vec<fat::FatFile> = files
        .iter()
        .map(|(path, text)| fat::FatFile {
            path: (*path).into(),
            source: fat::Source::Bytes(text.as_bytes().to_vec()),
        })
        .collect();
    fat::build(Window::new(&mut cur, 0, Some(bytes)), &opts, &files).expect("fat");
    cur.into_inner()
}

fn fat_volume(bytes: u64) -> Vec<u8> {
    fat_with(
        bytes,
        "ESP",
        &[
            ("loader/loader.conf", "timeout 0\n"),
            (
                "loader/entries/kubebake.conf",
                "title k\noptions root=PARTLABEL=root-a ro\n",
            ),
            ("cmdline.txt", "console=serial0 root=/dev/mmcblk0p2\n"),
            ("EFI/BOOT/BOOTX64.EFI", "MZ not really"),
        ],
    )
}

/// A NoCloud volume as the first-boot agent reads it (boot partition or CIDATA).
fn cidata_volume(bytes: u64) -> Vec<u8> {
    fat_with(
        bytes,
        "CIDATA",
        &[
            ("user-data", "#cloud-config\nhostname: n1\n"),
            ("meta-data", "instance-id: i-1\n"),
            ("network-config", "version: 2\n"),
            ("nodes/52-54-00-12-34-56.yaml", "hostname: n2\n"),
        ],
    )
}

fn ext4_fs(bytes: u64) -> Vec<u8> {
    let mut opts = ext4w::Options::new([0x5a; 16], 1_700_000_000);
    opts.sizing = ext4w::Sizing::Fixed { bytes };
    let mut cur = Cursor::new(Vec::new());
    let mut w = ext4w::Writer::new(&mut cur, opts).expect("ext4");
    let meta = |mode| ext4w::Metadata {
        mode,
        uid: 0,
        gid: 0,
        atime: ext4w::Timestamp { sec: 1, nsec: 0 },
        mtime: ext4w::Timestamp { sec: 1, nsec: 0 },
        ctime: ext4w::Timestamp { sec: 1, nsec: 0 },
        xattrs: Vec::new(),
    };
    let file = |path: &str, data: &[u8]| ext4w::Entry {
        path: path.into(),
        kind: ext4w::EntryKind::Regular {
            size: data.len() as u64,
        },
        meta: meta(0o644),
    };
    w.add(
        file("usr/lib/kubebake/manifest.json", MANIFEST),
        &mut &MANIFEST[..],
    )
    .expect("manifest");
    w.add(file("etc/hostname", b"node\n"), &mut &b"node\n"[..])
        .expect("hostname");
    let link = ext4w::Entry {
        path: "lib".into(),
        kind: ext4w::EntryKind::Symlink {
            target: b"usr/lib".to_vec(),
        },
        meta: meta(0o777),
    };
    w.add(link, &mut std::io::empty()).expect("symlink");
    w.finish().expect("finish");
    cur.into_inner()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: make_seeds CORPUS_DIR");
    let dir = Path::new(&dir);

    let small = gpt_disk(
        64 * KIB,
        &[
            part("ESP", guid::ESP, 34, 60),
            part("root-a", guid::ROOT_X86_64, 61, 90),
        ],
    );
    put(dir, "gpt", "two-parts", &small);
    put(dir, "mbr", "gpt-protective", &small[..4096]);
    put(dir, "gpt", "empty", &gpt_disk(48 * KIB, &[]));

    let mut pi = Cursor::new(Vec::new());
    let mbr_parts = [
        mbr::Partition {
            kind: mbr::FAT32_LBA,
            bootable: true,
            first_lba: 8,
            last_lba: 63,
        },
        mbr::Partition {
            kind: mbr::LINUX,
            bootable: false,
            first_lba: 64,
            last_lba: 127,
        },
    ];
    mbr::write(&mut pi, 64 * KIB, 0xdead_beef, &mbr_parts).expect("mbr");
    put(dir, "mbr", "pi", &pi.get_ref()[..512]);

    let esp = fat_volume(128 * KIB);
    put(dir, "fat", "esp-128k", &esp);
    put(dir, "fat", "cidata-128k", &cidata_volume(128 * KIB));
    let root = ext4_fs(1 << 20);
    put(dir, "ext4", "root-1m", &root);

    // A whole kubebake-like disk (ESP + root) as a sparse image, and an 8 GiB one whose
    // backup GPT sits at the end.
    let esp_lba = 2048;
    let root_lba = esp_lba + esp.len() as u64 / 512;
    let end = root_lba + root.len() as u64 / 512;
    let disk_bytes = (end + 2048) * 512;
    let mut disk = gpt_disk(
        disk_bytes,
        &[
            part("ESP", guid::ESP, esp_lba, root_lba - 1),
            part("root-a", guid::ROOT_X86_64, root_lba, end - 1),
        ],
    );
    disk[(esp_lba * 512) as usize..][..esp.len()].copy_from_slice(&esp);
    disk[(root_lba * 512) as usize..][..root.len()].copy_from_slice(&root);
    put(dir, "image", "kubebake-disk", &Sparse::encode(&disk));

    let big = 8u64 << 30;
    let mut sparse_disk = SparseFile::new(big);
    gpt::write(
        &mut sparse_disk,
        big,
        guid::derive(b"seed", "big"),
        &[part("data", guid::LINUX_DATA, 2048, big / 512 - 2048)],
    )
    .expect("big gpt");
    put(dir, "image", "gpt-8g", &sparse_disk.encode());
}

/// A write-only-where-touched disk for laying out big tables without allocating them.
struct SparseFile {
    size: u64,
    pos: u64,
    sectors: std::collections::BTreeMap<u64, [u8; 512]>,
}

impl SparseFile {
    fn new(size: u64) -> Self {
        SparseFile {
            size,
            pos: 0,
            sectors: Default::default(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = u32::try_from(self.size / 512)
            .expect("size")
            .to_le_bytes()
            .to_vec();
        for (lba, s) in &self.sectors {
            if s.iter().all(|&b| b == 0) {
                continue;
            }
            out.extend_from_slice(&u32::try_from(*lba).expect("lba").to_le_bytes());
            out.extend_from_slice(&512u16.to_le_bytes());
            out.extend_from_slice(s);
        }
        out
    }
}

impl std::io::Read for SparseFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.size.saturating_sub(self.pos)) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let at = self.pos + i as u64;
            *b = self
                .sectors
                .get(&(at / 512))
                .map_or(0, |s| s[(at % 512) as usize]);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Write for SparseFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (i, &b) in buf.iter().enumerate() {
            let at = self.pos + i as u64;
            self.sectors.entry(at / 512).or_insert([0; 512])[(at % 512) as usize] = b;
        }
        self.pos += buf.len() as u64;
        self.size = self.size.max(self.pos);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Seek for SparseFile {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            std::io::SeekFrom::Start(n) => n,
            std::io::SeekFrom::End(d) => self.size.saturating_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}
