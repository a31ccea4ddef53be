//! What the oracle expects to find at each path of an image.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Reg,
    Sym,
    Chr,
    Blk,
    Fifo,
    Sock,
}

impl Kind {
    /// The `S_IFMT` bits of this kind.
    pub fn ifmt(self) -> u32 {
        match self {
            Kind::Dir => 0o040000,
            Kind::Reg => 0o100000,
            Kind::Sym => 0o120000,
            Kind::Chr => 0o020000,
            Kind::Blk => 0o060000,
            Kind::Fifo => 0o010000,
            Kind::Sock => 0o140000,
        }
    }
}

/// One path of the expected tree. Paths sharing `group` are hard links to
/// one inode.
#[derive(Debug, Clone)]
pub struct Expect {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `None` for directories created implicitly (time unspecified).
    pub mtime: Option<(i64, u32)>,
    /// Regular files and symlinks.
    pub size: Option<u64>,
    /// Hex sha256 of a regular file's content.
    pub sha256: Option<String>,
    pub target: Option<Vec<u8>>,
    pub dev: Option<(u32, u32)>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    pub group: u64,
}

impl Expect {
    pub fn display_path(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.path))
    }
}

fn num(v: &serde_json::Value, k: &str) -> Option<u64> {
    v.get(k).and_then(|x| x.as_u64())
}

fn hexbytes(s: &str) -> Vec<u8> {
    hex::decode(s).expect("manifest hex")
}

/// Parse tar_manifest.py's JSON.
pub fn from_json(bytes: &[u8]) -> Vec<Expect> {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("manifest JSON");
    let list = v.as_array().expect("manifest is a list");
    list.iter()
        .map(|e| {
            let kind = match e["kind"].as_str().expect("kind") {
                "dir" => Kind::Dir,
                "reg" => Kind::Reg,
                "sym" => Kind::Sym,
                "chr" => Kind::Chr,
                "blk" => Kind::Blk,
                "fifo" => Kind::Fifo,
                other => panic!("unknown kind {other}"),
            };
            let mtime = e["mtime"].as_array().map(|a| {
                (
                    a[0].as_i64().expect("mtime sec"),
                    a[1].as_u64().expect("mtime nsec") as u32,
                )
            });
            let xattrs = e["xattrs"]
                .as_object()
                .expect("xattrs")
                .iter()
                .map(|(k, v)| (k.clone(), hexbytes(v.as_str().expect("xattr hex"))))
                .collect();
            Expect {
                path: hexbytes(e["path"].as_str().expect("path")),
                kind,
                mode: num(e, "mode").expect("mode") as u32,
                uid: num(e, "uid").expect("uid") as u32,
                gid: num(e, "gid").expect("gid") as u32,
                mtime,
                size: num(e, "size"),
                sha256: e.get("sha256").and_then(|s| s.as_str()).map(String::from),
                target: e.get("target").and_then(|s| s.as_str()).map(hexbytes),
                dev: match (num(e, "major"), num(e, "minor")) {
                    (Some(a), Some(b)) => Some((a as u32, b as u32)),
                    _ => None,
                },
                xattrs,
                group: num(e, "group").expect("group"),
            }
        })
        .collect()
}
