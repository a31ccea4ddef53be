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
        Some(Self::start_with_slow(&[], 25_000))
    }

    /// A private bus on which each of `slow` is activatable but its service
    /// never starts (the `.service` file's `Exec` only sleeps): a call to it
    /// waits `start_timeout_ms` and fails with dbus-daemon's own
    /// `TimedOut: Failed to activate service …`, as on a loaded node where
    /// systemd takes longer than the bus's 25 s to start hostnamed. A test
    /// service that takes the name later (see [`serve_later`]) answers.
    pub fn start_with_slow(slow: &[&str], start_timeout_ms: u32) -> Self {
        kubebake_hosttool::need(&["dbus-daemon", "sleep"]);
        let dir = tempfile::tempdir().expect("tmp");
        let services = dir.path().join("services");
        std::fs::create_dir_all(&services).expect("mkdir services");
        let sleep = kubebake_hosttool::find("sleep").expect("sleep");
        for name in slow {
            std::fs::write(
                services.join(format!("{name}.service")),
                format!(
                    "[D-BUS Service]\nName={name}\nExec={} 600\n",
                    sleep.display()
                ),
            )
            .expect("write .service");
        }
        let conf = dir.path().join("bus.conf");
        std::fs::write(
            &conf,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n\
                 <servicedir>{}</servicedir>\n\
                 <policy context=\"default\">\n    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n\
                 <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n\
                 <limit name=\"service_start_timeout\">{start_timeout_ms}</limit>\n</busconfig>\n",
                dir.path().join("bus").display(),
                services.display()
            ),
        )
        .expect("write bus.conf");
        let mut child = Command::new("dbus-daemon")
            .args(["--print-address", "--nofork"])
            .arg(format!("--config-file={}", conf.display()))
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
        PrivateBus {
            child,
            address,
            _dir: dir,
        }
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

/// The well-known names of the test services.
pub const HOSTNAME1: &str = "org.freedesktop.hostname1";
/// timedate1's name.
pub const TIMEDATE1: &str = "org.freedesktop.timedate1";
/// systemd1's name.
pub const SYSTEMD1: &str = "org.freedesktop.systemd1";

/// Connects one test service (`HOSTNAME1`, `TIMEDATE1` or `SYSTEMD1`).
fn serve_one(address: &str, shared: &Shared, name: &'static str) -> zbus::blocking::Connection {
    let b = zbus::blocking::connection::Builder::address(address)
        .expect("address")
        .name(name)
        .expect("name");
    let b = match name {
        HOSTNAME1 => b
            .serve_at("/org/freedesktop/hostname1", Hostname1(shared.clone()))
            .expect("serve"),
        TIMEDATE1 => b
            .serve_at("/org/freedesktop/timedate1", Timedate1(shared.clone()))
            .expect("serve"),
        SYSTEMD1 => {
            let mut b = b
                .serve_at("/org/freedesktop/systemd1", Manager(shared.clone()))
                .expect("serve");
            for u in UNITS {
                b = b.serve_at(unit_path(u), UnitObj).expect("serve unit");
            }
            b
        }
        other => panic!("no test service {other}"),
    };
    b.build().unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Starts hostname1, timedate1 and systemd1 test services on `address`.
pub fn serve(address: &str, shared: Shared) -> Services {
    serve_names(address, shared, &[HOSTNAME1, TIMEDATE1, SYSTEMD1])
}

/// Starts the test services `names` on `address`.
pub fn serve_names(address: &str, shared: Shared, names: &[&'static str]) -> Services {
    let conns = names
        .iter()
        .map(|n| serve_one(address, &shared, n))
        .collect();
    Services {
        shared,
        _conns: conns,
    }
}

/// Starts the test service `name` on `address` after `delay` (a service
/// that is slow to come up); join the handle to keep it until then.
pub fn serve_later(
    address: &str,
    shared: Shared,
    name: &'static str,
    delay: std::time::Duration,
) -> std::thread::JoinHandle<Services> {
    let address = address.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        serve_names(&address, shared, &[name])
    })
}
