//! What we write passes `qemu-img`; what `qemu-img` writes reads back.

use std::fs::File;

use kubebake_vdisk::{qcow2, Error, Format, NoProgress, RawDisk};

use super::*;

#[test]
fn written_qcow2_passes_qemu_img_and_reads_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = mixed_disk(dir.path(), "disk.raw");
    let q = dir.path().join("disk.qcow2");
    write_qcow2(&raw, &q);
    assert_qemu_accepts(&raw, &q);
    assert_refcounts_exact(&q);

    // Only the non-zero clusters are stored, plus header, the two L2
    // tables, L1, one refcount block and the refcount table.
    let data = nonzero_clusters(&raw);
    assert_eq!(data, 1 + 1 + 4 + 2, "test disk layout");
    let len = std::fs::metadata(&q).expect("stat").len();
    assert_eq!(len, (data + 1 + 2 + 1 + 1 + 1) * CLUSTER);

    let disk = kubebake_vdisk::open(&q).expect("our reader opens it");
    assert_eq!(disk.format(), Format::Qcow2);
    assert_reads_as(disk.as_ref(), &raw);

    // Reproducible, and the same bytes whether the writes overlap or not.
    for threads in [2, 1, 3] {
        let again = dir.path().join(format!("again-{threads}.qcow2"));
        write_qcow2_threads(&raw, &again, threads);
        assert!(
            std::fs::read(&q).expect("read") == std::fs::read(&again).expect("read"),
            "a second write of the same disk ({threads} threads) differs"
        );
    }
}

/// The output depends on the disk's bytes only: a dense copy (no holes, the
/// zeros written out) gives the same qcow2 byte for byte.
#[test]
fn dense_and_sparse_copies_give_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let size = 9 * MIB + 512;
    let writes = [(MIB + 5, noise(70_000, 4)), (size - 10, noise(10, 5))];
    let sparse = raw_disk(dir.path(), "sparse.raw", size, &writes);
    let dense = dir.path().join("dense.raw");
    let mut bytes = vec![0u8; size as usize];
    for (at, b) in &writes {
        bytes[*at as usize..*at as usize + b.len()].copy_from_slice(b);
    }
    std::fs::write(&dense, &bytes).expect("dense");
    assert!(RawDisk::open(&sparse).expect("open").data_bytes() < 2 * MIB);
    assert_eq!(RawDisk::open(&dense).expect("open").data_bytes(), size);
    let (a, b) = (dir.path().join("a.qcow2"), dir.path().join("b.qcow2"));
    write_qcow2(&sparse, &a);
    write_qcow2(&dense, &b);
    assert!(std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"));
    assert_qemu_accepts(&dense, &b);
}

#[test]
fn empty_tiny_and_odd_sized_disks() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, size, writes) in [
        ("empty", 0, vec![]),
        ("sector", 512, vec![(0, noise(512, 6))]),
        ("all-zero", 3 * MIB, vec![(0, vec![0; MIB as usize])]),
        ("one-cluster", CLUSTER, vec![(CLUSTER - 1, vec![1])]),
    ] {
        let raw = raw_disk(dir.path(), name, size, &writes);
        let q = dir.path().join(format!("{name}.qcow2"));
        write_qcow2(&raw, &q);
        assert_qemu_accepts(&raw, &q);
        assert_refcounts_exact(&q);
        let disk = qcow2::open(&q).expect("open");
        assert_eq!(disk.size(), size, "{name}");
        if size > 0 {
            assert_reads_as(&disk, &raw);
        }
    }
    // A size that is not a whole sector rounds up to one, as qemu-img does.
    let raw = raw_disk(dir.path(), "odd", 1000, &[(999, vec![3])]);
    let q = dir.path().join("odd.qcow2");
    write_qcow2(&raw, &q);
    let disk = qcow2::open(&q).expect("open");
    assert_eq!(disk.size(), 1024);
    let mut b = [0u8; 1024];
    disk.read_at(0, &mut b).expect("read");
    assert_eq!((b[998], b[999], b[1000]), (0, 3, 0));
    let (good, out, err) = run("qemu-img", &["check", "-f", "qcow2", s(&q)]);
    assert!(good, "{out}{err}");
}

/// Images `qemu-img` makes, in the layouts it offers, read back equal.
#[test]
fn reads_images_qemu_img_made() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = mixed_disk(dir.path(), "disk.raw");
    for (name, opts) in [
        ("default", "compat=1.1"),
        ("v2", "compat=0.10"),
        ("small-clusters", "cluster_size=4096"),
        ("big-clusters", "cluster_size=2M"),
        ("refcount-bits-1", "refcount_bits=1"),
    ] {
        let q = dir.path().join(format!("{name}.qcow2"));
        ok(
            "qemu-img",
            &[
                "convert",
                "-f",
                "raw",
                "-O",
                "qcow2",
                "-o",
                opts,
                s(&raw),
                s(&q),
            ],
        );
        let disk = kubebake_vdisk::open(&q).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_reads_as(disk.as_ref(), &raw);
    }
    // Zero-flagged and discarded clusters (qemu-io writes them) read as zeros.
    let q = dir.path().join("zero.qcow2");
    ok("qemu-img", &["create", "-q", "-f", "qcow2", s(&q), "4M"]);
    ok(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -P 0x61 0 1M",
            "-c",
            "write -z 64k 128k",
            "-c",
            "discard 512k 64k",
            s(&q),
        ],
    );
    let mut want = vec![0x61u8; MIB as usize];
    want[64 * KIB as usize..192 * KIB as usize].fill(0);
    want[512 * KIB as usize..576 * KIB as usize].fill(0);
    let disk = qcow2::open(&q).expect("open");
    let mut got = vec![9u8; 4 * MIB as usize];
    disk.read_at(0, &mut got).expect("read");
    assert!(got[..MIB as usize] == want[..], "zero clusters");
    assert!(kubebake_vdisk::is_zero(&got[MIB as usize..]));
}

/// What qemu-img can make but we do not read is refused, naming the fix.
#[test]
fn refuses_qemu_images_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = raw_disk(dir.path(), "base.raw", 4 * MIB, &[(0, noise(300_000, 7))]);
    let p = |n: &str| dir.path().join(n);
    ok(
        "qemu-img",
        &[
            "convert",
            "-c",
            "-f",
            "raw",
            "-O",
            "qcow2",
            s(&raw),
            s(&p("c.qcow2")),
        ],
    );
    let c = qcow2::open(&p("c.qcow2")).expect("a compressed image opens");
    let e = c.read_at(0, &mut [0u8; 512]).expect_err("compressed");
    assert!(
        e.to_string().contains("compressed") && e.to_string().contains("without -c"),
        "{e}"
    );
    let b = s(&raw);
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "backing.qcow2",
            vec!["create", "-q", "-f", "qcow2", "-b", b, "-F", "raw"],
            "backing file",
        ),
        (
            "ext.qcow2",
            vec!["create", "-q", "-f", "qcow2", "-o", "extended_l2=on"],
            "extended L2",
        ),
        (
            "enc.qcow2",
            vec![
                "create",
                "-q",
                "-f",
                "qcow2",
                "--object",
                "secret,id=s0,data=kubebake",
                "-o",
                "encrypt.format=luks,encrypt.key-secret=s0",
            ],
            "encrypted",
        ),
    ];
    for (name, mut args, want) in cases {
        let path = p(name);
        args.push(s(&path));
        args.push("4M");
        ok("qemu-img", &args);
        let e = qcow2::open(&path).expect_err(name);
        assert!(matches!(e, Error::Invalid { .. }), "{name}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(want) && msg.contains(name), "{name}: {msg}");
    }
}

/// A failing output (here a read-only file) is an I/O error naming it, with
/// or without writer threads, and never a hang.
#[test]
fn a_failing_output_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let raw = raw_disk(
        dir.path(),
        "d.raw",
        64 * MIB,
        &[(0, noise(20 * MIB as usize, 10))],
    );
    let q = dir.path().join("ro.qcow2");
    File::create(&q).expect("create");
    let src = RawDisk::open(&raw).expect("open raw");
    for threads in [1, 2] {
        let mut ro = File::open(&q).expect("open read-only");
        let e = kubebake_vdisk::write(
            Format::Qcow2,
            &src,
            &mut ro,
            &q,
            &opts(threads),
            &NoProgress,
        )
        .expect_err("read-only output");
        assert!(
            matches!(e, Error::Io { .. }) && e.to_string().contains(s(&q)),
            "{e}"
        );
    }
}
