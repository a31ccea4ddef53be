//! Hostile tarball inputs (issue 9, defects 1–6). Every case runs the real
//! `kubebake build --rootfs …` on an archive it makes itself (with the real
//! `gzip`, `xz`, `zstd` and GNU `tar` where the format comes from them) and
//! asserts the exit code, that the one `error:` line names the archive and
//! the entry, that nothing is left behind and, for the archives that declare
//! hundreds of MiB, a peak-RSS ceiling. Two more tests build images that
//! must succeed and read them back with `debugfs`: PAX sparse files and
//! whiteouts that may only hide lower layers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{assert_refused, run, run_with_timeout, Expect, Run, Work};
use crate::support::{self, Rootfs};

/// Peak RSS allowed for an archive that declares 300 MiB of metadata.
const BOMB_RSS_MIB: u64 = 64;

/// A host tool; its absence fails the test.
fn tool(name: &str) -> Command {
    kubebake_hosttool::need(&[name]);
    kubebake_hosttool::command(name)
}

/// A ustar header block with a valid checksum.
fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    let octal = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = len - 1);
        h[at..at + len].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, if typeflag == b'5' { 0o755 } else { 0o644 });
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, 1_700_000_000);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Append a member (header, data, padding) to `tar`.
fn member(tar: &mut Vec<u8>, name: &str, typeflag: u8, link: &str, data: &[u8]) {
    tar.extend_from_slice(&header(
        name.as_bytes(),
        typeflag,
        data.len() as u64,
        link.as_bytes(),
    ));
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

/// A PAX record `LEN key=value\n`.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Write `tar` plus the end-of-archive blocks to `work/name`.
fn write_tar(work: &Work, name: &str, mut tar: Vec<u8>) -> PathBuf {
    tar.extend_from_slice(&[0u8; 1024]);
    let p = work.join(name);
    std::fs::write(&p, tar).expect("write tar");
    p
}

/// The synthetic Debian-like base (plain tar).
fn base(work: &Work) -> PathBuf {
    let p = work.join("base.tar");
    support::write_rootfs(&p, Rootfs::full("amd64"));
    p
}

/// `tool -c plain > plain.EXT`.
fn compress(plain: &Path, tool_name: &str, ext: &str) -> PathBuf {
    let out = PathBuf::from(format!("{}.{ext}", plain.display()));
    let st = tool(tool_name)
        .arg("-c")
        .arg(plain)
        .stdout(std::fs::File::create(&out).expect("create"))
        .status()
        .expect("compress");
    assert!(st.success(), "{tool_name} -c failed");
    out
}

/// `tool -t file` must fail: the bytes really are damaged.
fn assert_tool_rejects(tool_name: &str, file: &Path) {
    let o = tool(tool_name)
        .arg("-t")
        .arg(file)
        .output()
        .expect("tool -t");
    assert!(
        !o.status.success(),
        "{tool_name} -t accepts {}, so the test damaged nothing",
        file.display()
    );
}

/// How to damage a compressed base.
#[derive(Clone, Copy)]
enum Damage {
    /// Flip 64 bytes in the middle.
    Middle,
    /// Flip the gzip CRC-32 (the trailer's first 4 bytes).
    GzipCrc,
    /// Drop the last `n` bytes (the trailer or checksum).
    CutTail(usize),
}

/// The base compressed by `tool_name`, damaged as `how`.
fn damaged_base(work: &Work, tool_name: &str, ext: &str, how: Damage) -> PathBuf {
    let p = compress(&base(work), tool_name, ext);
    let mut b = std::fs::read(&p).expect("read");
    let n = b.len();
    match how {
        Damage::Middle => b[n / 2..n / 2 + 64].iter_mut().for_each(|x| *x ^= 0x55),
        Damage::GzipCrc => b[n - 8] ^= 0xff,
        Damage::CutTail(k) => b.truncate(n - k),
    }
    std::fs::write(&p, &b).expect("write");
    assert_tool_rejects(tool_name, &p);
    p
}

/// An archive whose first member declares 300 MiB of metadata (a PAX `x`
/// header or a GNU long name), followed by 300 MiB of zeros and the member
/// it describes, zstd-compressed to a few KiB.
fn metadata_bomb(work: &Work, name: &str, typeflag: u8, member_name: &[u8]) -> PathBuf {
    let declared: u64 = 300 << 20;
    let out = work.join(name);
    let mut z = tool("zstd")
        .args(["-q", "-c", "-"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out).expect("create"))
        .spawn()
        .expect("zstd");
    {
        let mut stdin = z.stdin.take().expect("stdin");
        stdin
            .write_all(&header(member_name, typeflag, declared, b""))
            .expect("header");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..declared >> 20 {
            stdin.write_all(&zeros).expect("zeros");
        }
        let mut rest = Vec::new();
        member(&mut rest, "etc/after-the-bomb", b'0', "", b"x");
        rest.extend_from_slice(&[0u8; 1024]);
        stdin.write_all(&rest).expect("member");
    }
    assert!(z.wait().expect("zstd").success(), "zstd failed");
    let len = std::fs::metadata(&out).expect("bomb").len();
    assert!(len < 64 << 10, "the bomb is {len} bytes, not a few KiB");
    out
}

/// Data runs (offset, length) of the 3 MiB sparse test file.
const SPARSE_RUNS: [(u64, usize); 3] = [(10_000, 5000), (2 << 20, 100), ((3 << 20) - 7, 7)];

/// A GNU tar archive of one sparse file `usr/lib/sparse-V.img` of `size`
/// bytes with data at `runs`: `--format=posix --sparse --sparse-version=V`,
/// or GNU's old format (`--format=gnu --sparse`) for V `gnu`. Returns the
/// archive and the data of each run.
fn sparse_tar(
    work: &Work,
    version: &str,
    size: u64,
    runs: &[(u64, usize)],
) -> (PathBuf, Vec<Vec<u8>>) {
    let stage = work.join(&format!("stage-{version}"));
    std::fs::create_dir_all(stage.join("usr/lib")).expect("stage");
    let rel = format!("usr/lib/sparse-{version}.img");
    let data: Vec<Vec<u8>> = (1..)
        .zip(runs)
        .map(|(salt, &(_, len))| support::filler(len, salt))
        .collect();
    {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::create(stage.join(&rel)).expect("sparse file");
        f.set_len(size).expect("size");
        for ((at, _), bytes) in runs.iter().zip(&data) {
            f.seek(SeekFrom::Start(*at)).expect("seek");
            f.write_all(bytes).expect("write");
        }
    }
    let format = match version {
        "gnu" => vec!["--format=gnu".to_string()],
        v => vec![
            "--format=posix".to_string(),
            format!("--sparse-version={v}"),
        ],
    };
    let tar = work.join(&format!("sparse-{version}.tar"));
    let st = tool("tar")
        .args(format)
        .args([
            "--sparse",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
        ])
        .arg(&stage)
        .arg("-cf")
        .arg(&tar)
        .arg(&rel)
        .status()
        .expect("tar");
    assert!(st.success(), "GNU tar failed");
    (tar, data)
}

/// [`sparse_tar`] of the 3 MiB test file; returns the archive and the
/// file's bytes.
fn gnu_sparse(work: &Work, version: &str) -> (PathBuf, Vec<u8>) {
    let (tar, data) = sparse_tar(work, version, 3 << 20, &SPARSE_RUNS);
    let mut want = vec![0u8; 3 << 20];
    for ((at, len), bytes) in SPARSE_RUNS.iter().zip(&data) {
        want[*at as usize..*at as usize + len].copy_from_slice(bytes);
    }
    (tar, want)
}

/// Replace the sparse map at the start of the 1.0 member's data.
fn break_sparse_map(tar: &Path, map: &[u8]) {
    let mut b = std::fs::read(tar).expect("read");
    let at = (0..b.len() / 512)
        .map(|i| i * 512)
        .find(|&o| b[o..o + 100].windows(14).any(|w| w == b"GNUSparseFile."))
        .expect("GNUSparseFile member");
    let data = at + 512;
    b[data..data + 512].fill(0);
    b[data..data + map.len()].copy_from_slice(map);
    std::fs::write(tar, b).expect("write");
}

/// `kubebake build` with the test components and `layers` as `--rootfs`.
fn build(work: &Work, layers: &[PathBuf]) -> Run {
    run(build_command(work, layers))
}

/// The command [`build`] runs.
fn build_command(work: &Work, layers: &[PathBuf]) -> Command {
    let comps = support::write_components(work.path());
    let mut args: Vec<String> = ["build", "-o", "out.raw", "--set", "disk.esp_mib=48"]
        .map(String::from)
        .to_vec();
    for l in layers {
        args.push("--rootfs".into());
        args.push(l.display().to_string());
    }
    for c in comps {
        args.push("--component".into());
        args.push(c);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    work.kubebake(&args)
}

/// What a case builds from and what its error line must contain.
struct Made {
    layers: Vec<PathBuf>,
    names: Vec<String>,
}

fn made(layers: Vec<PathBuf>, names: &[&str]) -> Made {
    Made {
        layers,
        names: names.iter().map(|s| s.to_string()).collect(),
    }
}

fn compressed_case(work: &Work, tool_name: &str, ext: &str, how: Damage) -> Made {
    let p = damaged_base(work, tool_name, ext, how);
    let file = format!("base.tar.{ext}");
    made(vec![p], &[&file, tool_name, "damaged", "entry \""])
}

/// One hostile archive and the refusal it must get.
struct Case {
    name: &'static str,
    make: fn(&Work) -> Made,
    rss_mib: Option<u64>,
}

const CASES: &[Case] = &[
    // Defect 1: every decoder's check is enforced up to the end.
    Case {
        name: "gzip damaged in the middle",
        make: |w| compressed_case(w, "gzip", "gz", Damage::Middle),
        rss_mib: None,
    },
    Case {
        name: "gzip with a bad CRC",
        make: |w| compressed_case(w, "gzip", "gz", Damage::GzipCrc),
        rss_mib: None,
    },
    Case {
        name: "gzip with its trailer cut off",
        make: |w| compressed_case(w, "gzip", "gz", Damage::CutTail(4)),
        rss_mib: None,
    },
    Case {
        name: "xz damaged in the middle",
        make: |w| compressed_case(w, "xz", "xz", Damage::Middle),
        rss_mib: None,
    },
    Case {
        name: "xz with its footer cut off",
        make: |w| compressed_case(w, "xz", "xz", Damage::CutTail(12)),
        rss_mib: None,
    },
    Case {
        name: "zstd damaged in the middle",
        make: |w| compressed_case(w, "zstd", "zst", Damage::Middle),
        rss_mib: None,
    },
    Case {
        name: "zstd with its checksum cut off",
        make: |w| compressed_case(w, "zstd", "zst", Damage::CutTail(4)),
        rss_mib: None,
    },
    // Defect 2: a PAX sparse map that does not fit its member.
    Case {
        name: "PAX 1.0 sparse map past the stored data",
        make: |w| {
            let (tar, _) = gnu_sparse(w, "1.0");
            break_sparse_map(&tar, b"1\n0\n99999999\n");
            made(
                vec![base(w), tar],
                &["sparse-1.0.tar", "usr/lib/sparse-1.0.img", "sparse map"],
            )
        },
        rss_mib: None,
    },
    // Defect 3: `.wh.` names nothing.
    Case {
        name: "whiteout with an empty name",
        make: |w| {
            let mut t = Vec::new();
            member(&mut t, "etc/.wh.", b'0', "", b"");
            let p = write_tar(w, "wh-empty.tar", t);
            made(
                vec![base(w), p],
                &["wh-empty.tar", "etc/.wh.", "empty name"],
            )
        },
        rss_mib: None,
    },
    // Defect 4: declared sizes are not trusted for memory; paths are cut.
    Case {
        name: "PAX header declaring 300 MiB",
        make: |w| {
            let p = metadata_bomb(w, "bomb-pax.tar.zst", b'x', b"PaxHeaders/bomb");
            made(
                vec![base(w), p],
                &["bomb-pax.tar.zst", "PaxHeaders/bomb", "1 MiB", "offset 0"],
            )
        },
        rss_mib: Some(BOMB_RSS_MIB),
    },
    Case {
        name: "GNU long name declaring 300 MiB",
        make: |w| {
            let p = metadata_bomb(w, "bomb-long.tar.zst", b'L', b"././@LongLink");
            made(
                vec![base(w), p],
                &["bomb-long.tar.zst", "././@LongLink", "1 MiB", "offset 0"],
            )
        },
        rss_mib: Some(BOMB_RSS_MIB),
    },
    Case {
        name: "GNU long link name declaring 300 MiB",
        make: |w| {
            let p = metadata_bomb(w, "bomb-link.tar.zst", b'K', b"././@LongLink");
            made(
                vec![base(w), p],
                &["bomb-link.tar.zst", "GNU long link", "1 MiB", "offset 0"],
            )
        },
        rss_mib: Some(BOMB_RSS_MIB),
    },
    Case {
        name: "PAX global header declaring 300 MiB",
        make: |w| {
            let p = metadata_bomb(w, "bomb-global.tar.zst", b'g', b"pax_global_header");
            made(
                vec![base(w), p],
                &[
                    "bomb-global.tar.zst",
                    "pax_global_header",
                    "1 MiB",
                    "offset 0",
                ],
            )
        },
        rss_mib: Some(BOMB_RSS_MIB),
    },
    Case {
        name: "a 300 KB path is cut in the error",
        make: |w| {
            let mut name = "a/".repeat(150_000);
            name.push_str("../escape");
            let mut t = Vec::new();
            member(
                &mut t,
                "PaxHeaders/long",
                b'x',
                "",
                &pax_record("path", name.as_bytes()),
            );
            member(&mut t, "long", b'0', "", b"x");
            let p = write_tar(w, "long-path.tar", t);
            made(vec![base(w), p], &["long-path.tar", "a/a/a/", "…", "`..`"])
        },
        rss_mib: None,
    },
    // Defect 5: the type letter; a data-phase error names the archive.
    Case {
        name: "unknown member type Z",
        make: |w| {
            let mut t = Vec::new();
            member(&mut t, "etc/odd", b'Z', "", b"");
            let p = write_tar(w, "odd.tar", t);
            made(vec![base(w), p], &["odd.tar", "etc/odd", "'Z'"])
        },
        rss_mib: None,
    },
    Case {
        name: "file data cut off",
        make: |w| {
            let mut t = Vec::new();
            member(&mut t, "etc/big", b'0', "", &support::filler(100_000, 9));
            t.truncate(512 + 50_000);
            let p = w.join("cut.tar");
            std::fs::write(&p, t).expect("write");
            made(vec![base(w), p], &["cut.tar", "etc/big", "50000"])
        },
        rss_mib: None,
    },
    // Defect 6: a file below the merged-/usr `bin` symlink.
    Case {
        name: "file below bin on a merged-usr base",
        make: |w| {
            let mut t = Vec::new();
            member(&mut t, "bin/tool", b'0', "", b"#!/bin/sh\n");
            let p = write_tar(w, "bin-layer.tar", t);
            made(
                vec![base(w), p],
                &[
                    "bin-layer.tar",
                    "bin/tool",
                    "symlink",
                    "lower layer",
                    "usr/bin/tool",
                ],
            )
        },
        rss_mib: None,
    },
    // `--rootfs` that exists but is not a file: said as it is, not "does
    // not exist", and a FIFO is never waited on.
    Case {
        name: "rootfs is a directory",
        make: |w| {
            let d = w.join("tree");
            std::fs::create_dir(&d).expect("mkdir");
            made(vec![d], &["tree", "is a directory", "tar -C"])
        },
        rss_mib: None,
    },
    Case {
        name: "rootfs is a FIFO",
        make: |w| {
            let f = w.join("pipe");
            let st = tool("mkfifo").arg(&f).status().expect("run mkfifo");
            assert!(st.success(), "mkfifo: {st}");
            made(vec![f], &["pipe", "FIFO", "regular file"])
        },
        rss_mib: None,
    },
];

/// The first 300 characters of `line`.
fn preview(line: &str) -> String {
    line.chars().take(300).collect()
}

#[test]
fn hostile_tarballs_are_refused() {
    let mut failed = Vec::new();
    for case in CASES {
        let work = Work::new();
        let m = (case.make)(&work);
        // A hang (a FIFO waited on) fails its case instead of the suite.
        let r = run_with_timeout(build_command(&work, &m.layers), 600);
        let lines: Vec<String> = r.errors().iter().map(|l| preview(l)).collect();
        eprintln!(
            "{}: exit {:?}, peak RSS {} KiB, {lines:?}",
            case.name, r.code, r.peak_rss_kib
        );
        let names: Vec<&str> = m.names.iter().map(String::as_str).collect();
        let out = work.join("out.raw");
        let want = Expect {
            code: 1,
            names: &names,
            out: Some(&out),
            rss_mib: case.rss_mib,
        };
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Before the harness quotes the line: a path echoed in full
            // would make the report itself hundreds of MiB.
            let line = r.errors().first().map_or(0, |l| l.len());
            assert!(line < 2000, "{}: error line is {line} bytes", case.name);
            assert_refused(case.name, &r, &want, &work);
            assert!(
                !r.stderr.contains("Nonexhaustive"),
                "{}: internal type name in the error",
                case.name
            );
        }));
        if res.is_err() {
            failed.push(case.name);
        }
    }
    assert!(failed.is_empty(), "cases that failed: {failed:?}");
}

/// The root filesystem (root A) of an image built with a 48 MiB ESP.
fn root_of(work: &Work) -> PathBuf {
    let img = work.join("out.raw");
    let root = work.join("root.img");
    let len = std::fs::metadata(&img).expect("image").len();
    support::extract(&img, 49 << 20, (len - (50 << 20)) / 2, &root);
    root
}

/// `debugfs -R CMD root`, stdout and stderr together.
fn debugfs(root: &Path, cmd: &str) -> String {
    let o = tool("debugfs")
        .args(["-R", cmd])
        .arg(root)
        .output()
        .expect("debugfs");
    assert!(o.status.success(), "debugfs {cmd}");
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    s
}

fn exists(root: &Path, path: &str) -> bool {
    !debugfs(root, &format!("stat {path}")).contains("File not found")
}

/// GNU's old sparse format and the three PAX ones.
#[test]
fn sparse_files_keep_their_name_and_bytes() {
    let work = Work::new();
    let mut layers = vec![base(&work)];
    let mut files = Vec::new();
    for v in ["gnu", "0.0", "0.1", "1.0"] {
        let (tar, want) = gnu_sparse(&work, v);
        layers.push(tar);
        files.push((format!("usr/lib/sparse-{v}.img"), want));
    }
    let r = build(&work, &layers);
    assert_eq!(r.code, Some(0), "build failed:\n{}", r.stderr);
    let root = root_of(&work);
    let listing = debugfs(&root, "ls -l /usr/lib");
    assert!(
        !listing.contains("GNUSparseFile"),
        "placeholder name baked:\n{listing}"
    );
    for (path, want) in files {
        let dump = work.join("dump");
        let _ = std::fs::remove_file(&dump);
        debugfs(&root, &format!("dump /{path} {}", dump.display()));
        let got = std::fs::read(&dump).unwrap_or_else(|e| panic!("{path} not baked: {e}"));
        assert_eq!(got.len(), want.len(), "{path}: size");
        assert!(got == want, "{path}: bytes differ from the sparse file");
    }
}

#[test]
fn whiteouts_hide_only_lower_layers() {
    let work = Work::new();
    let mut t = Vec::new();
    member(&mut t, "etc/own", b'0', "", b"same layer\n");
    member(&mut t, "etc/.wh.own", b'0', "", b"");
    member(&mut t, "etc/.wh.motd", b'0', "", b"");
    member(&mut t, "usr/bin/own", b'0', "", b"same layer\n");
    member(&mut t, "usr/bin/.wh..wh..opq", b'0', "", b"");
    let layer = write_tar(&work, "wh.tar", t);
    let r = build(&work, &[base(&work), layer]);
    assert_eq!(r.code, Some(0), "build failed:\n{}", r.stderr);
    let root = root_of(&work);
    assert!(
        exists(&root, "/etc/own"),
        "a whiteout hid an entry of its own layer"
    );
    assert!(
        !exists(&root, "/etc/motd"),
        "lower /etc/motd not whited out"
    );
    assert!(
        exists(&root, "/usr/bin/own"),
        "an opaque whiteout hid an entry of its own layer"
    );
    assert!(
        !exists(&root, "/usr/bin/true"),
        "lower /usr/bin/true not hidden by the opaque whiteout"
    );
}

/// Peak RSS allowed for the build with a 1 TiB sparse file.
const HUGE_SPARSE_RSS_MIB: u64 = 256;

#[test]
fn a_huge_sparse_file_costs_its_data_not_its_size() {
    // 1 TiB holding 12 bytes, in GNU's old format and in PAX 1.0. Reading
    // its holes as zeros took about 35 s per 64 GiB: 9 minutes each.
    let work = Work::new();
    let size: u64 = 1 << 40;
    let runs = [(0, 5), ((1 << 39) + 123, 6), (size - 1, 1)];
    let mut layers = vec![base(&work)];
    let mut files = Vec::new();
    for v in ["gnu", "1.0"] {
        let (tar, data) = sparse_tar(&work, v, size, &runs);
        let len = std::fs::metadata(&tar).expect("tar").len();
        assert!(len < 64 << 10, "{}: {len} bytes", tar.display());
        layers.push(tar);
        files.push((format!("/usr/lib/sparse-{v}.img"), data));
    }
    let r = run_with_timeout(build_command(&work, &layers), 120);
    assert_eq!(r.code, Some(0), "build failed or timed out:\n{}", r.stderr);
    let rss = r.peak_rss_kib >> 10;
    assert!(rss < HUGE_SPARSE_RSS_MIB, "peak RSS {rss} MiB");
    let root = root_of(&work);
    let image = std::fs::read(&root).expect("root image");
    for (path, data) in files {
        let st = debugfs(&root, &format!("stat {path}"));
        assert!(st.contains(&format!("Size: {size}")), "{path}:\n{st}");
        // One block per run, each holding the run's bytes at its offset.
        let blocks = st
            .split("EXTENTS:")
            .nth(1)
            .and_then(|t| t.trim_start().lines().next())
            .expect("extents");
        let items: Vec<&str> = blocks.split(", ").collect();
        assert_eq!(items.len(), runs.len(), "{path}: extents {blocks}");
        for (((at, _), bytes), item) in runs.iter().zip(&data).zip(items) {
            let (lblk, pblk) = item.split_once("):").expect("(L):P");
            assert_eq!(
                lblk.trim_start_matches('('),
                (at / 4096).to_string(),
                "{path}"
            );
            let pblk: usize = pblk.parse().expect("physical block");
            let block = &image[pblk * 4096..][..4096];
            let mut want = vec![0u8; 4096];
            let o = (at % 4096) as usize;
            want[o..o + bytes.len()].copy_from_slice(bytes);
            assert!(block == &want[..], "{path}: the block of the run at {at}");
        }
    }
}
