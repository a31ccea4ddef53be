//! Hostile qcow2 images: every corrupted header field and table entry is an
//! `Error::Invalid` naming the file and the offset, and random corruption
//! never panics.

use kubebake_vdisk::{qcow2, Error, VirtualDisk};

use super::*;

/// A small image we wrote (2 MiB, data in clusters 0 and 16), its bytes and
/// the offsets of its L1 and L2 tables.
struct Sample {
    bytes: Vec<u8>,
    l1: u64,
    l2: u64,
}

fn sample(dir: &Path) -> Sample {
    let writes = [(0, noise(5000, 8)), (MIB, noise(CLUSTER as usize, 9))];
    let raw = raw_disk(dir, "sample.raw", 2 * MIB, &writes);
    let q = dir.join("sample.qcow2");
    write_qcow2(&raw, &q);
    let bytes = std::fs::read(&q).expect("read sample");
    let l1 = be64(&bytes, 40);
    let l2 = be64(&bytes, l1) & 0x00ff_ffff_ffff_fe00;
    Sample { bytes, l1, l2 }
}

fn set32(b: &mut [u8], at: u64, v: u32) {
    b[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes());
}

fn set64(b: &mut [u8], at: u64, v: u64) {
    b[at as usize..at as usize + 8].copy_from_slice(&v.to_be_bytes());
}

/// Open `bytes` as a qcow2 image and read all of it (at most 4 MiB, and the
/// last sector): the first error.
fn open_and_read(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).expect("write image");
    let disk = qcow2::open(path)?;
    let mut buf = vec![0u8; disk.size().min(4 * MIB) as usize];
    disk.read_at(0, &mut buf)?;
    let mut last = [0u8; 512];
    disk.read_at(disk.size().saturating_sub(512), &mut last)
}

type Mutation = fn(&mut Vec<u8>, &Sample);

#[test]
fn corrupted_headers_and_tables_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let sample = sample(dir.path());
    let path = dir.path().join("hostile.qcow2");
    open_and_read(&path, &sample.bytes).expect("the pristine sample reads");
    let cases: &[(&str, Mutation, &str)] = &[
        ("magic", |b, _| b[3] = 0, "no QFI"),
        ("short file", |b, _| b.truncate(60), "truncated"),
        ("version", |b, _| set32(b, 4, 4), "version 4"),
        (
            "short v3 header",
            |b, _| set32(b, 100, 72),
            "header_length 72",
        ),
        (
            "huge header",
            |b, _| set32(b, 100, 1 << 20),
            "larger than a cluster",
        ),
        ("cluster_bits 8", |b, _| set32(b, 20, 8), "cluster_bits 8"),
        (
            "cluster_bits 22",
            |b, _| set32(b, 20, 22),
            "cluster_bits 22",
        ),
        (
            "cluster_bits max",
            |b, _| set32(b, 20, u32::MAX),
            "cluster_bits",
        ),
        ("backing file", |b, _| set64(b, 8, 0x200), "backing file"),
        ("encryption", |b, _| set32(b, 32, 1), "encrypted"),
        ("corrupt bit", |b, _| set64(b, 72, 2), "check -r all"),
        (
            "external data",
            |b, _| set64(b, 72, 4),
            "external data file",
        ),
        ("extended L2", |b, _| set64(b, 72, 16), "extended L2"),
        (
            "unknown feature",
            |b, _| set64(b, 72, 1 << 40),
            "unknown incompatible",
        ),
        ("refcount_order", |b, _| set32(b, 96, 7), "refcount_order 7"),
        (
            "size beyond L1",
            |b, _| set64(b, 24, 1 << 40),
            "l1_size 1 does not fit",
        ),
        ("size max", |b, _| set64(b, 24, u64::MAX), "l1_size"),
        ("no L1", |b, _| set32(b, 36, 0), "l1_size 0"),
        ("L1 too big", |b, _| set32(b, 36, u32::MAX), "l1_size"),
        ("L1 at 0", |b, _| set64(b, 40, 0), "l1_table_offset"),
        (
            "L1 unaligned",
            |b, s| set64(b, 40, s.l1 + 8),
            "l1_table_offset",
        ),
        ("L1 past end", |b, _| set64(b, 40, 1 << 40), "past the end"),
        (
            "L1 wraps",
            |b, _| set64(b, 40, u64::MAX << 16),
            "past the end",
        ),
        (
            "L2 past end",
            |b, s| set64(b, s.l1, 1 << 40),
            "L2 table of L1 entry 0",
        ),
        (
            "L2 unaligned",
            |b, s| set64(b, s.l1, s.l2 + 512),
            "L2 table",
        ),
        (
            "compressed cluster",
            |b, s| set64(b, s.l2, 1 << 62 | 0x10000),
            "compressed",
        ),
        ("data past end", |b, s| set64(b, s.l2, 1 << 40), "points at"),
        (
            "data unaligned",
            |b, s| set64(b, s.l2, 0x10200),
            "points at",
        ),
    ];
    for (name, mutate, want) in cases {
        let mut bytes = sample.bytes.clone();
        mutate(&mut bytes, &sample);
        let e = open_and_read(&path, &bytes).expect_err(name);
        assert!(matches!(e, Error::Invalid { .. }), "{name}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(s(&path)) && msg.contains(" at byte "),
            "{name}: {msg}"
        );
        assert!(msg.contains(want), "{name}: want {want:?} in {msg}");
    }
}

/// The feature bits that do not change how the data reads are accepted.
#[test]
fn dirty_and_compression_type_bits_still_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let sample = sample(dir.path());
    let path = dir.path().join("dirty.qcow2");
    let mut bytes = sample.bytes.clone();
    set64(&mut bytes, 72, 1 | 8);
    open_and_read(&path, &bytes).expect("dirty image reads");
}

/// Random bytes of the header, L1 and L2 tables changed, or the file cut
/// short: an error or a read, never a panic.
#[test]
fn random_corruption_never_panics() {
    let dir = tempfile::tempdir().expect("tmp");
    let sample = sample(dir.path());
    let path = dir.path().join("fuzz.qcow2");
    let regions = [
        (0, 112),
        (sample.l1, sample.l1 + 16),
        (sample.l2, sample.l2 + 8 * 20),
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut opened, mut refused) = (0, 0);
    for _ in 0..1500 {
        let mut bytes = sample.bytes.clone();
        for _ in 0..1 + next() % 4 {
            let (start, end) = regions[(next() % 3) as usize];
            let at = (start + next() % (end - start)) as usize;
            bytes[at] = next() as u8;
        }
        if next() % 16 == 0 {
            bytes.truncate((next() % bytes.len() as u64) as usize);
        }
        match open_and_read(&path, &bytes) {
            Ok(()) => opened += 1,
            Err(Error::Invalid { .. } | Error::Io { .. }) => refused += 1,
            Err(e) => panic!("unexpected error kind: {e:?}"),
        }
    }
    // Both outcomes happen, or the corruption missed the structures.
    assert!(
        opened > 100 && refused > 100,
        "{opened} opened, {refused} refused"
    );
}
