//! Batch `debugfs` runs and parsers for its `ls -p`, `stat` and `ea_get`
//! output. Everything is addressed by inode number, so no path quoting.

use std::path::Path;

use super::tool;

/// Run `cmds` in one `debugfs -f` invocation; returns each command's output.
pub fn batch(img: &Path, cmds: &[String]) -> Vec<Vec<u8>> {
    if cmds.is_empty() {
        return Vec::new();
    }
    let dir = super::scratch();
    let script = dir.path().join("cmds");
    std::fs::write(&script, cmds.join("\n") + "\n").expect("writing debugfs script");
    let out = tool("debugfs")
        .arg("-f")
        .arg(&script)
        .arg(img)
        .output()
        .expect("running debugfs");
    assert!(
        out.status.success(),
        "debugfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in out.stdout.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"debugfs: ") {
            if let Some(b) = current.take() {
                blocks.push(b);
            }
            current = Some(Vec::new());
        } else if let Some(b) = current.as_mut() {
            b.extend_from_slice(line);
        }
    }
    if let Some(b) = current.take() {
        blocks.push(b);
    }
    assert_eq!(
        blocks.len(),
        cmds.len(),
        "debugfs output has {} command blocks for {} commands; stderr: {}",
        blocks.len(),
        cmds.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    blocks
}

/// One line of `ls -p`.
#[derive(Debug, Clone)]
pub struct LsEntry {
    pub ino: u32,
    pub mode: u32,
    pub name: Vec<u8>,
}

/// Parse `ls -p` output: `/ino/mode/uid/gid/name/size/` per line.
pub fn parse_ls(out: &[u8]) -> Vec<LsEntry> {
    let mut v = Vec::new();
    for line in out.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let line = line
            .strip_prefix(b"/")
            .unwrap_or_else(|| panic!("odd ls -p line {:?}", String::from_utf8_lossy(line)));
        let mut it = line.splitn(5, |&b| b == b'/');
        let ino = it.next().expect("ino");
        let mode = it.next().expect("mode");
        let _uid = it.next();
        let _gid = it.next();
        let rest = it.next().expect("name/size");
        // rest = name "/" size "/"
        let rest = rest.strip_suffix(b"/").expect("trailing /");
        let cut = rest.iter().rposition(|&b| b == b'/').expect("name/size");
        let name = rest[..cut].to_vec();
        let s = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        v.push(LsEntry {
            ino: s(ino).parse().expect("ls ino"),
            mode: u32::from_str_radix(&s(mode), 8).expect("ls mode"),
            name,
        });
    }
    v
}

/// The parts of `stat <ino>` the oracle uses.
#[derive(Debug, Clone, Default)]
pub struct Stat {
    pub ino: u32,
    /// Permission bits incl. setuid/setgid/sticky.
    pub perm: u32,
    pub type_name: String,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub links: u32,
    pub flags: u32,
    pub mtime: Option<(i64, u32)>,
    pub dev: Option<(u32, u32)>,
    pub fast_link: Option<Vec<u8>>,
    /// (name, value length) in the order debugfs lists them.
    pub xattrs: Vec<(String, usize)>,
    /// Leaf extents and extent-tree index blocks listed under EXTENTS.
    pub leaf_extents: usize,
    pub index_blocks: usize,
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let i = text.find(key)?;
    text[i + key.len()..].split_whitespace().next()
}

/// Decode a `0xSECONDS:EXTRA` debugfs time into (sec, nsec).
fn decode_time(s: &str) -> Option<(i64, u32)> {
    let (a, b) = s.split_once(':')?;
    let lo = u32::from_str_radix(a.trim_start_matches("0x"), 16).ok()? as i32 as i64;
    let extra = u32::from_str_radix(b, 16).ok()?;
    Some((lo + (((extra & 3) as i64) << 32), extra >> 2))
}

pub fn parse_stat(out: &[u8]) -> Stat {
    let text = String::from_utf8_lossy(out).to_string();
    let num = |k: &str| -> u64 {
        field(&text, k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("stat output lacks {k}:\n{text}"))
    };
    let signed = |k: &str| -> i64 {
        field(&text, k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("stat output lacks {k}:\n{text}"))
    };
    let mut st = Stat {
        ino: num("Inode:") as u32,
        perm: field(&text, "Mode:")
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .expect("stat Mode"),
        // debugfs prints ids with %d: 4000000000 shows as -294967296.
        uid: signed("User:") as u32,
        gid: signed("Group:") as u32,
        size: num("Size:"),
        links: num("Links:") as u32,
        ..Stat::default()
    };
    st.flags = field(&text, "Flags:")
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .expect("stat Flags");
    if let Some(i) = text.find("Type: ") {
        let rest = &text[i + 6..];
        st.type_name = rest[..rest.find("  ").unwrap_or(rest.len())]
            .trim()
            .to_string();
    }
    let mut in_xattrs = false;
    let mut in_extents = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(" mtime: ") {
            st.mtime = v.split_whitespace().next().and_then(decode_time);
        }
        if let Some(i) = line.find("Device major/minor number: ") {
            let v = &line[i + "Device major/minor number: ".len()..];
            let v = v.split_whitespace().next().expect("device numbers");
            let (a, b) = v.split_once(':').expect("major:minor");
            st.dev = Some((a.parse().expect("major"), b.parse().expect("minor")));
        }
        if line == "Extended attributes:" {
            in_xattrs = true;
            continue;
        }
        if in_xattrs {
            if let Some(l) = line.strip_prefix("  ") {
                let open = l.find(" (").expect("xattr ( len");
                let close = l[open..].find(')').expect("xattr len )") + open;
                let len = l[open + 2..close].parse().expect("xattr len");
                st.xattrs.push((l[..open].to_string(), len));
                continue;
            }
            in_xattrs = false;
        }
        if line == "EXTENTS:" {
            in_extents = true;
            continue;
        }
        if in_extents {
            for item in line.split(", ") {
                if item.starts_with("(ETB") {
                    st.index_blocks += 1;
                } else if item.starts_with('(') {
                    st.leaf_extents += 1;
                }
            }
        }
    }
    // Fast link targets are printed quoted and raw; take the bytes.
    let key = b"Fast link dest: \"";
    if let Some(i) = out.windows(key.len()).position(|w| w == key) {
        let rest = &out[i + key.len()..];
        let end = rest
            .iter()
            .rposition(|&b| b == b'"')
            .expect("closing quote of fast link");
        st.fast_link = Some(rest[..end].to_vec());
    }
    st
}

#[test]
fn debugfs_times_decode_with_epoch_bits() {
    assert_eq!(decode_time("0x00000001:00000000"), Some((1, 0)));
    // 2100-01-01T00:00:00.5: low 32 bits wrap negative, epoch bits = 1.
    assert_eq!(
        decode_time("0xf4865700:77359401"),
        Some((4_102_444_800, 500_000_000))
    );
    // 1969-12-31T23:59:59: 0xffffffff with epoch bits 0.
    assert_eq!(decode_time("0xffffffff:00000000"), Some((-1, 0)));
}
