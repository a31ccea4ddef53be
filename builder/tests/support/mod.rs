//! Shared helpers for the builder's integration tests: a synthetic rootfs
//! tarball, component doubles, and running the real `kubebake` binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kubebake binary under test.
pub fn kubebake() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubebake"));
    c.env("KUBEBAKE_LOG", "warn");
    c
}

/// Deterministic filler bytes.
pub fn filler(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ salt)
        .collect()
}

/// What goes into a synthetic rootfs.
#[derive(Clone, Copy)]
pub struct Rootfs {
    /// "amd64" or "arm64".
    pub arch: &'static str,
    /// Include /boot/vmlinuz-*.
    pub kernel: bool,
    /// Include the systemd-boot EFI binary.
    pub systemd_boot: bool,
}

impl Rootfs {
    /// A complete rootfs for `arch`.
    pub fn full(arch: &'static str) -> Self {
        Rootfs {
            arch,
            kernel: true,
            systemd_boot: true,
        }
    }
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).expect("path");
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Total bytes of regular file data put into the rootfs by [`write_rootfs`].
pub const KERNEL_BYTES: usize = 3 << 20;
/// Initrd size.
pub const INITRD_BYTES: usize = 2 << 20;

/// Write a small Debian-like rootfs tarball (plain tar, or gzip by extension).
pub fn write_rootfs(path: &Path, spec: Rootfs) -> u64 {
    let file = std::fs::File::create(path).expect("create tar");
    let out: Box<dyn Write> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(file)
    };
    let mut b = tar::Builder::new(out);
    let mut data_bytes = 0u64;
    for d in [
        "./",
        "./etc/",
        "./etc/ssh/",
        "./boot/",
        "./usr/",
        "./usr/bin/",
        "./usr/lib/",
        "./usr/lib/cni/",
        "./usr/lib/systemd/",
        "./usr/lib/systemd/system/",
        "./usr/lib/systemd/boot/",
        "./usr/lib/systemd/boot/efi/",
        "./var/",
        "./var/lib/",
        "./var/lib/dbus/",
    ] {
        let mut h = header(d, tar::EntryType::Directory, 0o755, 0);
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("dir");
    }
    let ver = format!("6.12.0-1-{}", spec.arch);
    let efi = if spec.arch == "arm64" { "aa64" } else { "x64" };
    let mut files: Vec<(String, u32, Vec<u8>)> = vec![
        (
            "./etc/os-release".into(),
            0o644,
            b"ID=debian\nVERSION_CODENAME=trixie\n".to_vec(),
        ),
        ("./etc/motd".into(), 0o644, b"hello\n".to_vec()),
        (
            "./etc/ssh/ssh_host_ed25519_key".into(),
            0o600,
            b"SECRET-KEY\n".to_vec(),
        ),
        ("./usr/bin/true".into(), 0o755, filler(40_000, 1)),
        ("./usr/lib/cni/bridge".into(), 0o755, filler(100_000, 2)),
        ("./usr/lib/cni/host-local".into(), 0o755, filler(50_000, 3)),
        (
            "./usr/lib/systemd/system/containerd.service".into(),
            0o644,
            b"[Unit]\nDescription=containerd\n[Install]\nWantedBy=multi-user.target\n".to_vec(),
        ),
        (
            "./var/lib/dbus/machine-id".into(),
            0o444,
            b"0123456789abcdef0123456789abcdef\n".to_vec(),
        ),
    ];
    if spec.kernel {
        files.push((
            format!("./boot/vmlinuz-{ver}"),
            0o644,
            filler(KERNEL_BYTES, 4),
        ));
        files.push((
            format!("./boot/initrd.img-{ver}"),
            0o644,
            filler(INITRD_BYTES, 5),
        ));
        // an older kernel that must not be picked
        files.push(("./boot/vmlinuz-6.1.0-9-old".into(), 0o644, filler(1000, 6)));
    }
    if spec.systemd_boot {
        let mut efi_bytes = b"MZ".to_vec();
        efi_bytes.extend(filler(120_000, 7));
        files.push((
            format!("./usr/lib/systemd/boot/efi/systemd-boot{efi}.efi"),
            0o644,
            efi_bytes,
        ));
    }
    for (p, mode, data) in files {
        data_bytes += data.len() as u64;
        let mut h = header(&p, tar::EntryType::Regular, mode, data.len() as u64);
        h.set_cksum();
        b.append(&h, &data[..]).expect("file");
    }
    for (p, t) in [("./bin", "usr/bin"), ("./lib", "usr/lib")] {
        let mut h = header(p, tar::EntryType::Symlink, 0o777, 0);
        h.set_link_name(t).expect("link");
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("symlink");
    }
    b.into_inner().expect("finish tar").flush().expect("flush");
    data_bytes
}

/// A layer with an OCI whiteout removing /etc/motd and adding /etc/layer2.
pub fn write_whiteout_layer(path: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    for (p, data) in [("./etc/.wh.motd", &b""[..]), ("./etc/layer2", &b"2\n"[..])] {
        let mut h = header(p, tar::EntryType::Regular, 0o644, data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish");
}

/// Component doubles: kubelet, kubeadm, kubectl scripts, crictl in a .tar.gz,
/// and an agent double. Returns the `--component` arguments.
pub fn write_components(dir: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for name in ["kubelet", "kubeadm", "kubectl", "kubebake-firstboot"] {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho {name}-double \"$@\"\n")).expect("double");
        args.push(format!("{name}={}", p.display()));
    }
    let tgz = dir.join("crictl.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tgz).expect("create"),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    let body = b"#!/bin/sh\necho crictl-double\n";
    let mut h = header("crictl", tar::EntryType::Regular, 0o755, body.len() as u64);
    h.set_cksum();
    b.append(&h, &body[..]).expect("append");
    b.into_inner().expect("tar").finish().expect("gz");
    args.push(format!("crictl={}", tgz.display()));
    args
}

/// `kubebake build` with the usual test arguments; returns the output.
pub fn build(dir: &Path, rootfs: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
    let comps = write_components(dir);
    let mut c = kubebake();
    c.arg("build").arg("-o").arg(out).arg("--json");
    for r in rootfs {
        c.arg("--rootfs").arg(r);
    }
    for a in comps {
        c.arg("--component").arg(a);
    }
    c.args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .current_dir(dir);
    c.output().expect("run kubebake")
}

/// Run a host command, returning (success, stdout+stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().expect("run host tool");
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), s)
}

/// Copy `len` bytes at `off` of `img` into a new file (for fsck tools).
pub fn extract(img: &Path, off: u64, len: u64, dest: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).expect("open image");
    f.seek(SeekFrom::Start(off)).expect("seek");
    let mut out = std::fs::File::create(dest).expect("create part");
    let copied = std::io::copy(&mut f.take(len), &mut out).expect("copy");
    assert_eq!(copied, len, "partition runs past the end of the image");
}

/// Answer every HTTP connection on 127.0.0.1 with `respond` (after reading
/// the request), in the background; returns the base URL.
fn listen(respond: impl Fn(std::net::TcpStream) + Send + 'static) -> String {
    use std::io::Read as _;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            respond(s);
        }
    });
    format!("http://{addr}")
}

/// Serve `body` over plain HTTP to every connection, in the background;
/// returns the base URL (`http://127.0.0.1:PORT`).
pub fn serve(body: &'static [u8]) -> String {
    listen(move |mut s| {
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(body);
    })
}

/// Serve the first 64 KiB of a declared 64 MiB body, then stall with the
/// connection held open (a download in progress, forever).
pub fn serve_stalling() -> String {
    listen(|mut s| {
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 64 << 20);
        let _ = s.write_all(&[7u8; 64 << 10]);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(600));
            drop(s);
        });
    })
}

/// Downloads go straight to the host (no proxy from the environment).
pub fn no_proxy(c: &mut Command) {
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
}

/// Make `path` executable (0755).
pub fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A command running `program` with `like`'s environment and directory (not
/// its arguments): to run `like` under a wrapper, or from another binary.
pub fn command_like(program: impl AsRef<std::ffi::OsStr>, like: &Command) -> Command {
    let mut c = Command::new(program);
    for (k, v) in like.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = like.get_current_dir() {
        c.current_dir(d);
    }
    c
}

/// (first byte, length) of partition `n` from `sgdisk -i`, plus the whole text.
pub fn sgdisk_info(img: &Path, n: u32) -> (u64, u64, String) {
    let (ok, out) = run(kubebake_hosttool::command("sgdisk")
        .arg("-i")
        .arg(n.to_string())
        .arg(img));
    assert!(ok, "sgdisk -i {n}: {out}");
    let num = |key: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {out}"))
    };
    let first = num("First sector: ");
    let last = num("Last sector: ");
    (first * 512, (last + 1 - first) * 512, out)
}

/// `debugfs -R REQ FS`: (succeeded and found, output).
pub fn debugfs(fs: &Path, req: &str) -> (bool, String) {
    let (ok, out) = run(kubebake_hosttool::command("debugfs")
        .arg("-R")
        .arg(req)
        .arg(fs));
    (ok && !out.contains("File not found"), out)
}
