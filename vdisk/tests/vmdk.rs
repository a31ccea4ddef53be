//! streamOptimized VMDK: qemu-img accepts and reads back what we write, our
//! reader reads ours and qemu's, output is reproducible whatever the thread
//! count, and hostile files give `Error::Invalid`, never a panic.

mod vmdk_support;

use std::path::Path;

use kubebake_vdisk::{vmdk, Error, Format, VirtualDisk};
use vmdk_support::{mixed, opts, qemu_accepts_vmdk, raw, run, same_as_raw, write, Fill, MIB};

#[test]
fn qemu_checks_reads_and_compares_what_we_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = mixed(dir.path(), "disk.raw");
    let v = dir.path().join("disk.vmdk");
    write(Format::Vmdk, &r, &v, &opts(2));
    qemu_accepts_vmdk(&r, &v);
    let head = std::fs::read(&v).expect("vmdk");
    let desc = String::from_utf8_lossy(&head[512..512 + 1024]);
    assert!(desc.contains("RW 204802 SPARSE \"disk.vmdk\""), "{desc}");
    // Ours reads it back too, through the format dispatch.
    let disk = kubebake_vdisk::open(&v).expect("open");
    assert_eq!(disk.format(), Format::Vmdk);
    assert_eq!(disk.size(), (100 * MIB + 777).next_multiple_of(512));
    same_as_raw(disk.as_ref(), &r);
}

#[test]
fn empty_and_tiny_disks() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, size, parts) in [
        ("holes.raw", 64 * MIB, &[][..]),
        ("tiny.raw", 1000, &[(0, Fill::Random(1000, 9))][..]),
        ("zeros.raw", 8 * MIB, &[(MIB, Fill::Zeros(4 * MIB))][..]),
    ] {
        let r = raw(dir.path(), name, size, parts);
        let v = dir.path().join(format!("{name}.vmdk"));
        write(Format::Vmdk, &r, &v, &opts(2));
        qemu_accepts_vmdk(&r, &v);
        same_as_raw(&vmdk::open(&v).expect("open"), &r);
    }
}

#[test]
fn zero_blocks_are_not_stored_and_the_output_depends_on_the_bytes_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = (3 * MIB, Fill::Random(MIB, 4));
    let sparse = raw(dir.path(), "sparse.raw", 64 * MIB, &[data]);
    // The same content with 40 MiB of zeros written around the data.
    let dense = raw(
        dir.path(),
        "dense.raw",
        64 * MIB,
        &[(0, Fill::Zeros(40 * MIB)), data],
    );
    let v = dir.path().join("disk.vmdk");
    write(Format::Vmdk, &sparse, &v, &opts(2));
    let a = std::fs::read(&v).expect("a");
    write(Format::Vmdk, &dense, &v, &opts(2));
    let b = std::fs::read(&v).expect("b");
    assert!(a == b, "the written zeros changed the VMDK");
    // 16 grains of random data, plus the header and metadata.
    assert!(a.len() < (MIB + 80 * 1024) as usize, "{} bytes", a.len());
}

#[test]
fn reproducible_whatever_the_thread_count() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = mixed(dir.path(), "disk.raw");
    let mut outs = Vec::new();
    // The same file name each time: the descriptor records it.
    let v = dir.path().join("disk.vmdk");
    for threads in [1, 2, 2, 5] {
        write(Format::Vmdk, &r, &v, &opts(threads));
        outs.push(std::fs::read(&v).expect("vmdk"));
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]), "outputs differ");
    // The content id comes from the identity.
    let mut o = opts(2);
    o.identity = [8; 32];
    write(Format::Vmdk, &r, &v, &o);
    assert_ne!(std::fs::read(&v).expect("vmdk"), outs[0]);
}

#[test]
fn reads_what_qemu_img_writes() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = mixed(dir.path(), "disk.raw");
    let rs = r.to_str().expect("utf8");
    for sub in ["streamOptimized", "monolithicSparse"] {
        let v = dir.path().join(format!("{sub}.vmdk"));
        let vs = v.to_str().expect("utf8");
        let o = format!("subformat={sub}");
        run(
            "qemu-img",
            &["convert", "-f", "raw", "-O", "vmdk", "-o", &o, rs, vs],
        );
        let disk = vmdk::open(&v).unwrap_or_else(|e| panic!("{sub}: {e}"));
        same_as_raw(&disk, &r);
    }
}

/// One corruption of a good file and the words its error must contain.
struct Case {
    name: &'static str,
    corrupt: fn(&mut Vec<u8>, &Layout),
    says: &'static str,
}

/// Where things are in the good file.
struct Layout {
    footer: usize,
    gd: usize,
    gt: usize,
    grain: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4"))
}

fn layout(b: &[u8]) -> Layout {
    let footer = b.len() - 1024;
    let gd = u64::from_le_bytes(b[footer + 56..footer + 64].try_into().expect("8")) as usize * 512;
    let gt = u32_at(b, gd) as usize * 512;
    let grain = u32_at(b, gt) as usize * 512;
    Layout {
        footer,
        gd,
        gt,
        grain,
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

const CASES: &[Case] = &[
    Case {
        name: "empty file",
        corrupt: |b, _| b.clear(),
        says: "runs past the end",
    },
    Case {
        name: "bad magic",
        corrupt: |b, _| put(b, 0, b"KDMX"),
        says: "magic KDMV",
    },
    Case {
        name: "version 4",
        corrupt: |b, _| put(b, 4, &4u32.to_le_bytes()),
        says: "version 4",
    },
    Case {
        name: "text-mode newlines",
        corrupt: |b, _| put(b, 73, b"\n \n\n"),
        says: "text mode",
    },
    Case {
        name: "footer marker type",
        corrupt: |b, l| put(b, l.footer - 512 + 12, &7u32.to_le_bytes()),
        says: "footer marker",
    },
    Case {
        name: "no end-of-stream",
        corrupt: |b, l| put(b, l.footer + 512, &[1]),
        says: "end-of-stream",
    },
    Case {
        name: "truncated",
        corrupt: |b, _| b.truncate(b.len() - 4096),
        says: "",
    },
    Case {
        name: "footer magic",
        corrupt: |b, l| put(b, l.footer, b"XXXX"),
        says: "magic KDMV",
    },
    Case {
        name: "grain size 0",
        corrupt: |b, l| put(b, l.footer + 20, &0u64.to_le_bytes()),
        says: "grain size",
    },
    Case {
        name: "grain size 3",
        corrupt: |b, l| put(b, l.footer + 20, &3u64.to_le_bytes()),
        says: "grain size",
    },
    Case {
        name: "huge grain table",
        corrupt: |b, l| put(b, l.footer + 44, &4096u32.to_le_bytes()),
        says: "numGTEsPerGT",
    },
    Case {
        name: "compression 2",
        corrupt: |b, l| put(b, l.footer + 77, &2u16.to_le_bytes()),
        says: "compressAlgorithm",
    },
    Case {
        name: "capacity 1 EiB",
        corrupt: |b, l| put(b, l.footer + 12, &(1u64 << 51).to_le_bytes()),
        says: "capacity",
    },
    Case {
        name: "footer GD_AT_END",
        corrupt: |b, l| put(b, l.footer + 56, &u64::MAX.to_le_bytes()),
        says: "GD_AT_END",
    },
    Case {
        name: "GD past the end",
        corrupt: |b, l| put(b, l.footer + 56, &(1u64 << 40).to_le_bytes()),
        says: "grain directory",
    },
    Case {
        name: "GT past the end",
        corrupt: |b, l| put(b, l.gd, &u32::MAX.to_le_bytes()),
        says: "grain table",
    },
    Case {
        name: "grain past the end",
        corrupt: |b, l| put(b, l.gt, &(u32::MAX - 1).to_le_bytes()),
        says: "grain marker",
    },
    Case {
        name: "grain marker lba",
        corrupt: |b, l| put(b, l.grain, &9u64.to_le_bytes()),
        says: "grain marker says sector 9",
    },
    Case {
        name: "grain size huge",
        corrupt: |b, l| put(b, l.grain + 8, &u32::MAX.to_le_bytes()),
        says: "compressed grain size",
    },
    Case {
        name: "grain size 0",
        corrupt: |b, l| put(b, l.grain + 8, &0u32.to_le_bytes()),
        says: "compressed grain size",
    },
    Case {
        name: "zlib garbage",
        corrupt: |b, l| put(b, l.grain + 12, &[0x78, 0x9c, 0xff, 0xff, 0xff]),
        says: "does not inflate",
    },
    Case {
        name: "short grain",
        corrupt: |b, l| {
            let n = u32_at(b, l.grain + 8);
            put(b, l.grain + 8, &(n / 2).to_le_bytes())
        },
        says: "does not inflate",
    },
];

#[test]
fn hostile_files_are_invalid_not_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = raw(
        dir.path(),
        "disk.raw",
        40 * MIB,
        &[(0, Fill::Random(MIB, 5)), (33 * MIB, Fill::Text(MIB))],
    );
    let v = dir.path().join("good.vmdk");
    write(Format::Vmdk, &r, &v, &opts(2));
    let good = std::fs::read(&v).expect("vmdk");
    let l = layout(&good);
    for case in CASES {
        let mut b = good.clone();
        (case.corrupt)(&mut b, &l);
        let p = dir.path().join("bad.vmdk");
        std::fs::write(&p, &b).expect("write bad");
        let err = read_all(&p).expect_err(case.name);
        let Error::Invalid { path, what, .. } = &err else {
            panic!("{}: not Invalid: {err}", case.name);
        };
        assert_eq!(path, &p, "{}", case.name);
        assert!(what.contains(case.says), "{}: {err}", case.name);
    }
}

/// Open and read the whole disk.
fn read_all(p: &Path) -> Result<(), Error> {
    let d = vmdk::open(p)?;
    let mut buf = vec![0u8; MIB as usize];
    for i in 0..d.size().div_ceil(MIB) {
        d.read_at(i * MIB, &mut buf)?;
    }
    Ok(())
}
