//! Shared test helpers: host-tool gating, the doubles directory, a private
//! `dbus-daemon` and test services implementing the parts of hostname1,
//! timedate1 and systemd1 the agent calls (real D-Bus, no mocked traits).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use zbus::zvariant::OwnedObjectPath;

/// `tests/doubles` of the workspace.
pub fn doubles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/doubles")
}

/// A bin dir with kubeadm/kubelet/kubectl/vmware-rpctool pointing at the doubles.
pub fn double_bin(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    for (name, double) in [
        ("kubeadm", "kubeadm-double"),
        ("kubelet", "kubelet-double"),
        ("kubectl", "kubectl-double"),
        ("vmware-rpctool", "vmware-rpctool-double"),
    ] {
        let _ = std::fs::remove_file(bin.join(name));
        std::os::unix::fs::symlink(doubles().join(double), bin.join(name)).expect("symlink");
    }
    bin
}

/// PATH with `bin` first.
pub fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A private `dbus-daemon`, killed on drop.
pub struct PrivateBus {
    child: Child,
    /// Its address.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl PrivateBus {
    /// Starts `dbus-daemon --session --print-address --nofork` on a private socket.
    pub fn start() -> Option<Self> {
        kubebake_hosttool::need(&["dbus-daemon"]);
        let dir = tempfile::tempdir().expect("tmp");
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--print-address", "--nofork"])
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn dbus-daemon");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read address");
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed {address:?}"
        );
        Some(PrivateBus {
            child,
            address,
            _dir: dir,
        })
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test services saw and what they answer.
#[derive(Clone, Default)]
pub struct Shared {
    /// hostname1 StaticHostname.
    pub hostname: Arc<Mutex<String>>,
    /// timedate1 timezone.
    pub timezone: Arc<Mutex<String>>,
    /// timedate1 NTPSynchronized.
    pub ntp: Arc<AtomicBool>,
    /// timedate1 NTP (enabled); the default `false` means enabled here.
    pub ntp_disabled: Arc<AtomicBool>,
    /// systemd1 RestartUnit/StartUnit calls: (method, unit, mode).
    pub jobs: Arc<Mutex<Vec<(String, String, String)>>>,
}

struct Hostname1(Shared);

#[zbus::interface(name = "org.freedesktop.hostname1")]
impl Hostname1 {
    fn set_static_hostname(&mut self, hostname: &str, _interactive: bool) -> zbus::fdo::Result<()> {
        if hostname.is_empty() || hostname.len() > 64 {
            return Err(zbus::fdo::Error::InvalidArgs(
                "Invalid static hostname".into(),
            ));
        }
        *self.0.hostname.lock().expect("lock") = hostname.to_string();
        Ok(())
    }
    #[zbus(property)]
    fn static_hostname(&self) -> String {
        self.0.hostname.lock().expect("lock").clone()
    }
}

struct Timedate1(Shared);

#[zbus::interface(name = "org.freedesktop.timedate1")]
impl Timedate1 {
    fn set_timezone(&mut self, timezone: &str, _interactive: bool) -> zbus::fdo::Result<()> {
        if !timezone.contains('/') && timezone != "UTC" {
            return Err(zbus::fdo::Error::InvalidArgs(format!(
                "Invalid or not installed time zone '{timezone}'"
            )));
        }
        *self.0.timezone.lock().expect("lock") = timezone.to_string();
        Ok(())
    }
    #[zbus(property, name = "NTPSynchronized")]
    fn ntp_synchronized(&self) -> bool {
        self.0.ntp.load(Ordering::SeqCst)
    }
    #[zbus(property, name = "NTP")]
    fn ntp(&self) -> bool {
        !self.0.ntp_disabled.load(Ordering::SeqCst)
    }
}

struct Manager(Shared);

fn unit_path(name: &str) -> OwnedObjectPath {
    let mut p = String::from("/org/freedesktop/systemd1/unit/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(char::from(b));
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    OwnedObjectPath::try_from(p).expect("path")
}

/// Units the fake systemd knows (all `active`).
pub const UNITS: [&str; 4] = [
    "containerd.service",
    "systemd-networkd.service",
    "systemd-timesyncd.service",
    "kubelet.service",
];

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl Manager {
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        self.job("RestartUnit", name, mode)
    }
    fn start_unit(&self, name: &str, mode: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        self.job("StartUnit", name, mode)
    }
    fn get_unit(&self, name: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        if UNITS.contains(&name) {
            Ok(unit_path(name))
        } else {
            Err(zbus::fdo::Error::Failed(format!("Unit {name} not loaded.")))
        }
    }
}

impl Manager {
    fn job(&self, method: &str, name: &str, mode: &str) -> zbus::fdo::Result<OwnedObjectPath> {
        if !UNITS.contains(&name) {
            return Err(zbus::fdo::Error::Failed(format!("Unit {name} not found.")));
        }
        let mut jobs = self.0.jobs.lock().expect("lock");
        jobs.push((method.into(), name.into(), mode.into()));
        OwnedObjectPath::try_from(format!("/org/freedesktop/systemd1/job/{}", jobs.len()))
            .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
    }
}

struct UnitObj;

#[zbus::interface(name = "org.freedesktop.systemd1.Unit")]
impl UnitObj {
    #[zbus(property)]
    fn active_state(&self) -> String {
        "active".into()
    }
}

/// The three test services, connected to a bus; dropped with the connections.
pub struct Services {
    /// Their shared state.
    pub shared: Shared,
    _conns: Vec<zbus::blocking::Connection>,
}

/// Starts hostname1, timedate1 and systemd1 test services on `address`.
pub fn serve(address: &str, shared: Shared) -> Services {
    let b = || zbus::blocking::connection::Builder::address(address).expect("address");
    let h = b()
        .name("org.freedesktop.hostname1")
        .expect("name")
        .serve_at("/org/freedesktop/hostname1", Hostname1(shared.clone()))
        .expect("serve")
        .build()
        .expect("hostname1");
    let t = b()
        .name("org.freedesktop.timedate1")
        .expect("name")
        .serve_at("/org/freedesktop/timedate1", Timedate1(shared.clone()))
        .expect("serve")
        .build()
        .expect("timedate1");
    let mut s = b()
        .name("org.freedesktop.systemd1")
        .expect("name")
        .serve_at("/org/freedesktop/systemd1", Manager(shared.clone()))
        .expect("serve");
    for u in UNITS {
        s = s.serve_at(unit_path(u), UnitObj).expect("serve unit");
    }
    let s = s.build().expect("systemd1");
    Services {
        shared,
        _conns: vec![h, t, s],
    }
}
