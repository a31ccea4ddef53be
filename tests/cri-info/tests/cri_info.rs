//! Runs the built `kubebake-cri-info` against a real containerd started in a
//! private directory (its own root, state and sockets, never the host's
//! /run/containerd), and against sockets where nothing answers.

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kubebake-cri-info");

fn run_info(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running kubebake-cri-info")
}

/// The host's containerd; missing, the test fails (whoever runs it).
fn containerd() -> PathBuf {
    kubebake_hosttool::need(&["containerd"]);
    kubebake_hosttool::find("containerd").expect("checked by need")
}

/// A containerd process in a private temp dir, killed on drop (also on
/// panic), before the directory itself is removed.
struct Containerd {
    child: Child,
    socket: PathBuf,
    root: PathBuf,
    log: PathBuf,
    /// Removed after `drop` has killed the daemon (fields drop last).
    _dir: tempfile::TempDir,
}

impl Containerd {
    fn start(binary: &Path) -> Self {
        // Short prefix: the socket path must fit sun_path (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("cri")
            .tempdir()
            .expect("temp dir");
        let base = dir.path();
        let socket = base.join("containerd.sock");
        let root = base.join("root");
        let log = base.join("containerd.log");
        // Every path containerd would write outside `root`/`state` by
        // default (/opt/containerd, /etc/cni/net.d) points into the temp dir.
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{base}/state"

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base}/opt"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{base}/cni-bin"
  conf_dir = "{base}/cni-conf"
"#,
            root = root.display(),
            base = base.display(),
            socket = socket.display(),
        );
        let config_path = base.join("config.toml");
        fs::write(&config_path, config).expect("writing containerd config");
        let log_file = fs::File::create(&log).expect("creating containerd log");
        let child = Command::new(binary)
            .arg("--config")
            .arg(&config_path)
            .current_dir(base)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .spawn()
            .expect("spawning containerd");
        let mut daemon = Self {
            child,
            socket,
            root,
            log,
            _dir: dir,
        };
        daemon.wait_for_socket(Duration::from_secs(30));
        daemon
    }

    fn wait_for_socket(&mut self, limit: Duration) {
        let start = Instant::now();
        while !self.socket.exists() {
            if let Some(status) = self.child.try_wait().expect("polling containerd") {
                panic!("containerd exited early ({status}); log:\n{}", self.log());
            }
            assert!(
                start.elapsed() < limit,
                "containerd made no socket within {limit:?}; log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Third word of `containerd --version`
/// ("containerd github.com/containerd/containerd 1.6.20~ds1 <revision>").
fn containerd_version(binary: &Path) -> String {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .expect("containerd --version");
    assert!(out.status.success(), "containerd --version failed: {out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8 version");
    text.split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("unexpected containerd --version output: {text:?}"))
        .to_owned()
}

fn assert_one_line_error_naming(out: &Output, endpoint: &str) -> String {
    assert_eq!(out.status.code(), Some(1), "exit code: {out:?}");
    assert!(out.stdout.is_empty(), "stdout must stay empty: {out:?}");
    let stderr = String::from_utf8(out.stderr.clone()).expect("utf-8 stderr");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(
        stderr.contains(endpoint),
        "{endpoint} not named: {stderr:?}"
    );
    stderr
}

#[test]
fn answers_like_crictl_info_against_real_containerd() {
    let binary = containerd();
    let expected_version = containerd_version(&binary);
    let daemon = Containerd::start(&binary);
    let endpoint = daemon.endpoint();

    // The CRI service finishes initialising after the socket appears and
    // answers "server is not initialized yet" until then: retry for a while.
    let start = Instant::now();
    let out = loop {
        let out = run_info(&["--endpoint", &endpoint, "--timeout-ms", "5000"]);
        if out.status.success() || start.elapsed() > Duration::from_secs(30) {
            break out;
        }
        sleep(Duration::from_millis(200));
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {stderr}\ncontainerd log:\n{}",
        out.status.code(),
        daemon.log()
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    let conditions = json["status"]["conditions"]
        .as_array()
        .unwrap_or_else(|| panic!("no status.conditions: {json:#}"));
    let ready = conditions
        .iter()
        .find(|c| c["type"] == "RuntimeReady")
        .unwrap_or_else(|| panic!("no RuntimeReady condition: {json:#}"));
    assert_eq!(ready["status"], true, "runtime not ready: {json:#}");
    assert!(
        conditions.iter().any(|c| c["type"] == "NetworkReady"),
        "containerd always reports NetworkReady: {json:#}"
    );

    let version = &json["version"];
    assert_eq!(version["runtimeName"], "containerd", "{json:#}");
    assert_eq!(version["runtimeVersion"], expected_version.as_str());
    assert_eq!(version["runtimeApiVersion"], "v1", "{json:#}");

    // The verbose info really comes from this private instance: its config
    // names our root dir, and the values were parsed from JSON text.
    assert_eq!(
        json["info"]["config"]["containerdRootDir"],
        daemon.root.display().to_string(),
        "{json:#}"
    );
    let golang = json["info"]["golang"].as_str().unwrap_or_default();
    assert!(golang.starts_with("go"), "info.golang: {json:#}");
}

#[test]
fn refused_socket_fails_naming_the_endpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stale.sock");
    // Bind and close: the socket file stays, nobody listens (ECONNREFUSED).
    drop(UnixListener::bind(&path).expect("bind"));
    let endpoint = format!("unix://{}", path.display());
    let out = run_info(&["--endpoint", &endpoint]);
    let stderr = assert_one_line_error_naming(&out, &endpoint);
    assert!(stderr.contains("refused"), "{stderr}");
}

#[test]
fn missing_socket_fails_naming_the_endpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let endpoint = format!("unix://{}", dir.path().join("absent.sock").display());
    let out = run_info(&["--endpoint", &endpoint]);
    assert_one_line_error_naming(&out, &endpoint);
}

#[test]
fn silent_listener_times_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("silent.sock");
    // Bound and listening, never accepted: the kernel queues the connection
    // but no HTTP/2 answer ever comes.
    let _listener = UnixListener::bind(&path).expect("bind");
    let endpoint = format!("unix://{}", path.display());
    let start = Instant::now();
    let out = run_info(&["--endpoint", &endpoint, "--timeout-ms", "300"]);
    let stderr = assert_one_line_error_naming(&out, &endpoint);
    assert!(stderr.contains("300 ms"), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10), "{stderr}");
}

#[test]
fn non_unix_endpoint_is_refused() {
    let out = run_info(&["--endpoint", "tcp://127.0.0.1:1"]);
    assert_one_line_error_naming(&out, "tcp://127.0.0.1:1");
}

#[test]
fn bad_flag_value_is_a_usage_error() {
    let out = run_info(&["--timeout-ms", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn help_fits_80_columns() {
    let out = run_info(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).expect("utf-8 help");
    assert!(help.contains("--endpoint") && help.contains("--timeout-ms"));
    for line in help.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line:?}");
    }
}
