//! Property test: random small trees built through `Writer::add` are
//! e2fsck-clean and read back (debugfs + ext4-view) exactly as described.
//! 32 cases by default (each runs e2fsck and debugfs); PROPTEST_CASES=N
//! overrides.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::*;
use ext4w::{Entry, EntryKind, Metadata, Timestamp, Writer, Xattr};
use proptest::prelude::*;
use sha2::Digest;

#[derive(Debug, Clone)]
enum Spec {
    Dir,
    File {
        size: u32,
        seed: u64,
        zero_mask: u64,
    },
    Symlink {
        len: u16,
        seed: u8,
    },
    HardLink {
        to: usize,
    },
    Fifo,
    Chr {
        major: u32,
        minor: u32,
    },
    Blk {
        major: u32,
        minor: u32,
    },
}

#[derive(Debug, Clone)]
struct Node {
    parent: usize,
    name: String,
    spec: Spec,
    mode: u16,
    uid: u32,
    gid: u32,
    sec: i64,
    nsec: u32,
    xattrs: Vec<(u8, Vec<u8>)>,
}

const XATTR_NAMES: [&str; 5] = [
    "user.a",
    "user.b",
    "trusted.c",
    "security.selinux",
    "user.a_rather_long_attribute_name",
];

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        3 => Just(Spec::Dir),
        4 => (
            prop_oneof![0u32..5000, 4090u32..4200, 5000u32..200_000],
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(size, seed, zero_mask)| Spec::File { size, seed, zero_mask }),
        2 => (prop_oneof![1u16..60, 60u16..400], any::<u8>())
            .prop_map(|(len, seed)| Spec::Symlink { len, seed }),
        1 => any::<usize>().prop_map(|to| Spec::HardLink { to }),
        1 => Just(Spec::Fifo),
        1 => (0u32..4096, 0u32..(1 << 20)).prop_map(|(major, minor)| Spec::Chr { major, minor }),
        1 => (0u32..4096, 0u32..(1 << 20)).prop_map(|(major, minor)| Spec::Blk { major, minor }),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z0-9_][a-z0-9_.-]{0,11}",
        1 => "[a-zé日🦀]{1,40}",
        1 => Just("n".repeat(255)),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    (
        any::<usize>(),
        name(),
        spec(),
        0u16..0o10000,
        any::<u32>(),
        any::<u32>(),
        // Mostly 1970..2038 (ext4-view can read those too), sometimes the
        // whole ext4 range (debugfs only).
        prop_oneof![4 => 0i64..(1 << 31), 1 => -(1i64 << 31)..(1i64 << 33)],
        0u32..1_000_000_000,
        prop::collection::vec((0u8..5, prop::collection::vec(any::<u8>(), 0..300)), 0..3),
    )
        .prop_map(
            |(parent, name, spec, mode, uid, gid, sec, nsec, xattrs)| Node {
                parent,
                name,
                spec,
                mode,
                uid,
                gid,
                sec,
                nsec,
                xattrs,
            },
        )
}

fn content(size: u32, seed: u64, zero_mask: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size as usize)
        .map(|i| {
            if zero_mask >> ((i / 4096) % 64) & 1 == 1 {
                return 0;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Build the tree through the API and describe what the image must hold.
fn build(nodes: &[Node], root: &Node, img: &std::path::Path) -> Vec<Expect> {
    let file = std::fs::File::create(img).expect("create image");
    let mut w = Writer::new(file, test_options(9)).expect("writer");
    let mut expected: Vec<Expect> = Vec::new();
    let mut dirs: Vec<String> = vec![String::new()];
    let mut files: Vec<usize> = Vec::new(); // indexes into `expected`
    let mut used: HashSet<String> = HashSet::new();

    fn add(
        w: &mut Writer<std::fs::File>,
        n: &Node,
        path: String,
        expected: &mut Vec<Expect>,
    ) -> Kind {
        let t = Timestamp {
            sec: n.sec,
            nsec: n.nsec,
        };
        let mut xattrs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for (i, v) in &n.xattrs {
            xattrs
                .entry(XATTR_NAMES[*i as usize].to_string())
                .or_insert_with(|| v.clone());
        }
        let meta = Metadata {
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            atime: t,
            mtime: t,
            ctime: t,
            xattrs: xattrs
                .iter()
                .map(|(k, v)| Xattr {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        };
        let mut e = Expect {
            path: path.as_bytes().to_vec(),
            kind: Kind::Dir,
            mode: u32::from(n.mode),
            uid: n.uid,
            gid: n.gid,
            mtime: Some((n.sec, n.nsec)),
            size: None,
            sha256: None,
            target: None,
            dev: None,
            xattrs,
            group: expected.len() as u64 + 1,
        };
        let (kind, data) = match &n.spec {
            Spec::Dir => (EntryKind::Directory, Vec::new()),
            Spec::File {
                size,
                seed,
                zero_mask,
            } => {
                let d = content(*size, *seed, *zero_mask);
                e.kind = Kind::Reg;
                e.size = Some(u64::from(*size));
                e.sha256 = Some(hex::encode(sha2::Sha256::digest(&d)));
                (
                    EntryKind::Regular {
                        size: d.len() as u64,
                    },
                    d,
                )
            }
            Spec::Symlink { len, seed } => {
                let target: Vec<u8> = (0..*len)
                    .map(|i| {
                        if i % 50 == 49 {
                            b'/'
                        } else {
                            b'a' + ((i as u8).wrapping_add(*seed)) % 26
                        }
                    })
                    .collect();
                e.kind = Kind::Sym;
                e.size = Some(u64::from(*len));
                e.target = Some(target.clone());
                (EntryKind::Symlink { target }, Vec::new())
            }
            Spec::Fifo => {
                e.kind = Kind::Fifo;
                (EntryKind::Fifo, Vec::new())
            }
            Spec::Chr { major, minor } => {
                e.kind = Kind::Chr;
                e.dev = Some((*major, *minor));
                (
                    EntryKind::CharDevice {
                        major: *major,
                        minor: *minor,
                    },
                    Vec::new(),
                )
            }
            Spec::Blk { major, minor } => {
                e.kind = Kind::Blk;
                e.dev = Some((*major, *minor));
                (
                    EntryKind::BlockDevice {
                        major: *major,
                        minor: *minor,
                    },
                    Vec::new(),
                )
            }
            Spec::HardLink { .. } => unreachable!("handled by the caller"),
        };
        let k = e.kind;
        w.add(
            Entry {
                path: path.clone(),
                kind,
                meta,
            },
            &mut data.as_slice(),
        )
        .unwrap_or_else(|err| panic!("add {path}: {err}"));
        expected.push(e);
        k
    }

    add(&mut w, root, String::new(), &mut expected);
    for n in nodes {
        let parent = &dirs[n.parent % dirs.len()];
        let path = if parent.is_empty() {
            n.name.clone()
        } else {
            format!("{parent}/{}", n.name)
        };
        if path.len() > 3000 || !used.insert(path.clone()) {
            continue;
        }
        if let Spec::HardLink { to } = n.spec {
            if files.is_empty() {
                continue;
            }
            let target = expected[files[to % files.len()]].clone();
            let target_path = String::from_utf8(target.path.clone()).expect("utf-8 path");
            w.add(
                Entry {
                    path: path.clone(),
                    kind: EntryKind::HardLink {
                        target: target_path,
                    },
                    meta: Metadata::new(0o644),
                },
                &mut std::io::empty(),
            )
            .unwrap_or_else(|err| panic!("hard link {path}: {err}"));
            let mut e = target;
            e.path = path.into_bytes();
            expected.push(e);
            continue;
        }
        match add(&mut w, n, path.clone(), &mut expected) {
            Kind::Dir => dirs.push(path),
            _ => files.push(expected.len() - 1),
        }
    }
    w.finish().expect("finish");
    expected
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_trees_round_trip(root in node(), nodes in prop::collection::vec(node(), 1..40)) {
        kubebake_hosttool::need(ORACLE_TOOLS);
        let mut root = root;
        root.spec = Spec::Dir;
        let dir = scratch();
        let img = dir.path().join("p.img");
        let expected = build(&nodes, &root, &img);
        check_image(&img, &expected);
    }
}
