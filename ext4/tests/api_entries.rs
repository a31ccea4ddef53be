//! Entries that tar cannot carry (sockets: GNU tar skips them and the format
//! has no type for them) go through `Writer::add` directly, and are checked
//! with the same oracle as the tar-built images.

mod common;

use std::collections::BTreeMap;

use common::*;
use ext4w::{Entry, EntryKind, Metadata, Timestamp, Writer, Xattr};

fn meta(mode: u16, uid: u32, sec: i64, nsec: u32) -> Metadata {
    let t = Timestamp { sec, nsec };
    Metadata {
        mode,
        uid,
        gid: uid + 1,
        atime: t,
        mtime: t,
        ctime: t,
        xattrs: Vec::new(),
    }
}

fn expect(path: &str, kind: Kind, m: &Metadata, group: u64) -> Expect {
    Expect {
        path: path.as_bytes().to_vec(),
        kind,
        mode: u32::from(m.mode),
        uid: m.uid,
        gid: m.gid,
        mtime: Some((m.mtime.sec, m.mtime.nsec)),
        size: None,
        sha256: None,
        target: None,
        dev: None,
        xattrs: m
            .xattrs
            .iter()
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect::<BTreeMap<_, _>>(),
        group,
    }
}

#[test]
fn sockets_fifos_and_devices_through_the_api() {
    kubebake_hosttool::need(ORACLE_TOOLS);
    let dir = scratch();
    let img = dir.path().join("api.img");
    let file = std::fs::File::create(&img).expect("create image");
    let mut w = Writer::new(file, test_options(3)).expect("writer");
    let mut exp = Vec::new();

    let root = meta(0o755, 0, 1_600_000_000, 0);
    w.add(
        Entry {
            path: String::new(),
            kind: EntryKind::Directory,
            meta: root.clone(),
        },
        &mut std::io::empty(),
    )
    .expect("root");
    exp.push(expect("", Kind::Dir, &root, 1));

    let run = meta(0o1777, 0, 1_600_000_001, 5);
    w.add(
        Entry {
            path: "run".into(),
            kind: EntryKind::Directory,
            meta: run.clone(),
        },
        &mut std::io::empty(),
    )
    .expect("run");
    exp.push(expect("run", Kind::Dir, &run, 2));

    let mut sock = meta(0o660, 70_000, 1_700_000_000, 999_999_999);
    sock.xattrs.push(Xattr {
        name: "security.selinux".into(),
        value: b"system_u:object_r:var_run_t:s0\0".to_vec(),
    });
    w.add(
        Entry {
            path: "run/daemon.sock".into(),
            kind: EntryKind::Socket,
            meta: sock.clone(),
        },
        &mut std::io::empty(),
    )
    .expect("socket");
    exp.push(expect("run/daemon.sock", Kind::Sock, &sock, 3));

    let fifo = meta(0o600, 1, 1_700_000_001, 1);
    w.add(
        Entry {
            path: "run/pipe".into(),
            kind: EntryKind::Fifo,
            meta: fifo.clone(),
        },
        &mut std::io::empty(),
    )
    .expect("fifo");
    exp.push(expect("run/pipe", Kind::Fifo, &fifo, 4));

    // A hard link to the socket shares its inode.
    w.add(
        Entry {
            path: "sock-link".into(),
            kind: EntryKind::HardLink {
                target: "run/daemon.sock".into(),
            },
            meta: Metadata::new(0),
        },
        &mut std::io::empty(),
    )
    .expect("hard link to socket");
    exp.push(expect("sock-link", Kind::Sock, &sock, 3));

    let dev = meta(0o640, 0, 1_700_000_002, 0);
    for (i, (name, major, minor, blk)) in [
        ("tty", 4u32, 1u32, false),
        ("big-chr", 511, 65_536, false),
        ("big-blk", 4095, 1_048_575, true),
    ]
    .into_iter()
    .enumerate()
    {
        let kind = if blk {
            EntryKind::BlockDevice { major, minor }
        } else {
            EntryKind::CharDevice { major, minor }
        };
        w.add(
            Entry {
                path: name.into(),
                kind,
                meta: dev.clone(),
            },
            &mut std::io::empty(),
        )
        .expect("device");
        let mut e = expect(
            name,
            if blk { Kind::Blk } else { Kind::Chr },
            &dev,
            10 + i as u64,
        );
        e.dev = Some((major, minor));
        exp.push(e);
    }
    w.finish().expect("finish");
    check_image(&img, &exp);
}

/// OCI whiteouts through the API: remove a subtree, clear a directory.
#[test]
fn remove_and_clear_dir() {
    kubebake_hosttool::need(ORACLE_TOOLS);
    let dir = scratch();
    let img = dir.path().join("wh.img");
    let file = std::fs::File::create(&img).expect("create image");
    let mut w = Writer::new(file, test_options(4)).expect("writer");
    let m = meta(0o755, 0, 1_650_000_000, 0);
    let add = |w: &mut Writer<std::fs::File>, path: &str, kind: EntryKind, data: &[u8]| {
        w.add(
            Entry {
                path: path.into(),
                kind,
                meta: m.clone(),
            },
            &mut &data[..],
        )
        .unwrap_or_else(|e| panic!("add {path}: {e}"));
    };
    add(&mut w, "", EntryKind::Directory, b"");
    for d in ["a", "a/b", "c", "c/d"] {
        add(&mut w, d, EntryKind::Directory, b"");
    }
    for f in ["a/b/f1", "a/f2", "c/f3", "c/d/f4", "keep"] {
        add(&mut w, f, EntryKind::Regular { size: 3 }, b"abc");
    }
    w.remove("a").expect("remove a");
    w.remove("does/not/exist")
        .expect("removing a missing path is Ok");
    w.clear_dir("c").expect("clear c");
    add(&mut w, "c/new", EntryKind::Regular { size: 3 }, b"xyz");
    w.finish().expect("finish");

    let sha = |d: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(d))
    };
    let mut exp = vec![expect("", Kind::Dir, &m, 1), expect("c", Kind::Dir, &m, 2)];
    for (p, data, g) in [("c/new", b"xyz", 3), ("keep", b"abc", 4)] {
        let mut e = expect(p, Kind::Reg, &m, g);
        e.size = Some(3);
        e.sha256 = Some(sha(data));
        exp.push(e);
    }
    check_image(&img, &exp);
}
