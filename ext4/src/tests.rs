//! Crate-internal end-to-end checks: build images through the public API and
//! let e2fsprogs judge them. (The independent oracle suite lives in tests/.)

use std::io::Cursor;

use crate::{Entry, EntryKind, Error, Metadata, Options, Sizing, Timestamp, Writer, Xattr};

fn meta(mode: u16) -> Metadata {
    let mut m = Metadata::new(mode);
    m.mtime = Timestamp {
        sec: 1_600_000_000,
        nsec: 123_456_789,
    };
    m.atime = m.mtime;
    m.ctime = m.mtime;
    m
}

fn add(w: &mut Writer<Cursor<Vec<u8>>>, path: &str, kind: EntryKind, data: &[u8]) {
    let e = Entry {
        path: path.into(),
        kind,
        meta: meta(0o644),
    };
    w.add(e, &mut &data[..]).expect("add");
}

fn fsck(img: &[u8], name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ext4w-unit-{}-{name}", std::process::id()));
    std::fs::write(&dir, img).expect("write image");
    let out = kubebake_hosttool::command("e2fsck")
        .arg("-fn")
        .arg(&dir)
        .output()
        .expect("run e2fsck");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "e2fsck failed:\n{text}");
    let dbg = kubebake_hosttool::command("debugfs")
        .arg("-R")
        .arg("stat /many/f00042")
        .arg(&dir)
        .output()
        .expect("run debugfs");
    let _ = std::fs::remove_file(&dir);
    String::from_utf8_lossy(&dbg.stdout).into_owned()
}

struct Sparse {
    pos: u64,
    size: u64,
}

impl std::io::Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.size - self.pos).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let p = self.pos + i as u64;
            // one non-zero block every 8 blocks: many extents
            *b = if (p / 4096) % 8 == 0 {
                (p % 251) as u8 | 1
            } else {
                0
            };
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn acl_v2() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 7u16, u32::MAX),
        (2, 5, 1000),
        (4, 5, u32::MAX),
        (0x10, 5, u32::MAX),
        (0x20, 5, u32::MAX),
    ] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

#[test]
fn fixed_size_too_small_is_an_error() {
    let mut o = Options::new([2; 16], 0);
    o.sizing = Sizing::Fixed { bytes: 1 << 20 };
    let mut w = Writer::new(Cursor::new(Vec::new()), o).expect("new");
    let size = 2 << 20;
    let e = Entry {
        path: "f".into(),
        kind: EntryKind::Regular { size },
        meta: meta(0o644),
    };
    let err = w
        .add(e, &mut std::io::repeat(1).take_n(size))
        .expect_err("must not fit");
    assert!(
        matches!(err, Error::NoSpace { available, .. } if available == 1 << 20),
        "{err}"
    );
}

trait TakeN: std::io::Read + Sized {
    fn take_n(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeN for R {}

#[test]
fn short_data_is_an_error() {
    let mut w = Writer::new(Cursor::new(Vec::new()), Options::new([3; 16], 0)).expect("new");
    let e = Entry {
        path: "f".into(),
        kind: EntryKind::Regular { size: 10 },
        meta: meta(0o644),
    };
    assert!(matches!(
        w.add(e, &mut &b"abc"[..]),
        Err(Error::Data { .. })
    ));
    let e = Entry {
        path: "a/../b".into(),
        kind: EntryKind::Directory,
        meta: meta(0o755),
    };
    assert!(w.add(e, &mut std::io::empty()).is_err());
}

#[test]
fn images_pass_e2fsck_and_are_deterministic() {
    kubebake_hosttool::need(&["e2fsck", "debugfs"]);
    let a = build_bytes();
    let b = build_bytes();
    assert!(a == b, "two builds differ");
    let stat = fsck(&a, "mixed");
    assert!(
        stat.contains("Size: 5"),
        "replaced file has the new size:\n{stat}"
    );
}

fn build_bytes() -> Vec<u8> {
    let mut w = Writer::new(
        Cursor::new(Vec::new()),
        Options::new([1; 16], 1_700_000_000),
    )
    .expect("new");
    for i in 0..10_000 {
        add(
            &mut w,
            &format!("many/f{i:05}"),
            EntryKind::Regular { size: 3 },
            b"abc",
        );
    }
    add(
        &mut w,
        "many/f00042",
        EntryKind::Regular { size: 5 },
        b"hello",
    );
    for i in 0..300 {
        let p = format!("many/\u{e9}t\u{e9}-\u{4e2d}\u{6587}-{i}");
        add(&mut w, &p, EntryKind::Regular { size: 1 }, b"u");
    }
    let size = 48 << 20; // 1536 extents: a depth-2 tree
    let e = Entry {
        path: "sparse".into(),
        kind: EntryKind::Regular { size },
        meta: meta(0o600),
    };
    w.add(e, &mut Sparse { pos: 0, size }).expect("sparse");
    let mut m = meta(0o4755);
    m.uid = 100_000;
    m.xattrs = vec![
        Xattr {
            name: "user.big".into(),
            value: vec![b'x'; 2000],
        },
        Xattr {
            name: "system.posix_acl_access".into(),
            value: acl_v2(),
        },
    ];
    w.add(
        Entry {
            path: "usr/bin/ping".into(),
            kind: EntryKind::Regular { size: 4 },
            meta: m,
        },
        &mut &b"ELF!"[..],
    )
    .expect("ping");
    add(
        &mut w,
        "usr/bin/ping2",
        EntryKind::HardLink {
            target: "usr/bin/ping".into(),
        },
        b"",
    );
    add(
        &mut w,
        "dev/c",
        EntryKind::CharDevice {
            major: 300,
            minor: 70_000,
        },
        b"",
    );
    add(
        &mut w,
        "l/slow",
        EntryKind::Symlink {
            target: vec![b'y'; 300],
        },
        b"",
    );
    add(&mut w, "gone/a/b", EntryKind::Regular { size: 1 }, b"1");
    add(&mut w, "gone", EntryKind::Regular { size: 1 }, b"2");
    for i in 0..70_000 {
        let e = Entry {
            path: format!("subdirs/d{i}"),
            kind: EntryKind::Directory,
            meta: meta(0o755),
        };
        w.add(e, &mut std::io::empty()).expect("dir");
    }
    let (summary, cur) = w.finish_into_inner().expect("finish");
    let bytes = cur.into_inner();
    assert_eq!(bytes.len() as u64, summary.size_bytes);
    bytes
}
