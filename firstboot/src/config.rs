//! Agent configuration: the filesystem root prefix and the knobs tests turn.
//!
//! On a node every value is the default. Tests point `root` at a fixture
//! tree and shorten timeouts through `KUBEBAKE_*` environment variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bounded exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Total attempts, first included.
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub base: Duration,
    /// Upper bound of one delay.
    pub max: Duration,
}

impl Backoff {
    /// Delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Everything the agent needs to know about where things live.
#[derive(Debug, Clone)]
pub struct Config {
    /// Prefix for every absolute path the agent reads or writes (`/` on a node).
    pub root: PathBuf,
    /// Directories where the boot/ESP partition may be mounted.
    pub boot_dirs: Vec<String>,
    /// Base URL of the EC2 instance metadata service.
    pub imds_url: String,
    /// Whether the agent may call `mount` (off in tests).
    pub mount: bool,
    /// Retry policy for transient `kubeadm` failures.
    pub kubeadm_retry: Backoff,
    /// How long to wait for timedate1 `NTPSynchronized`.
    pub ntp_timeout: Duration,
    /// How long to wait for the advertise address to appear.
    pub address_timeout: Duration,
    /// Bound on the wait for a D-Bus service that is slow to start.
    pub dbus_wait: Duration,
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

impl Config {
    /// Defaults for a real node, with `KUBEBAKE_*` environment overrides.
    pub fn from_env(root: Option<PathBuf>) -> Self {
        let root = root
            .or_else(|| std::env::var_os("KUBEBAKE_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let boot_dirs = std::env::var("KUBEBAKE_BOOT_DIRS")
            .map(|v| {
                v.split(':')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_else(|_| {
                ["/boot/firmware", "/boot/efi", "/efi", "/boot"]
                    .map(String::from)
                    .to_vec()
            });
        Config {
            root,
            boot_dirs,
            imds_url: std::env::var("KUBEBAKE_IMDS_URL")
                .unwrap_or_else(|_| "http://169.254.169.254".to_string()),
            mount: std::env::var("KUBEBAKE_NO_MOUNT").is_err(),
            kubeadm_retry: Backoff {
                attempts: std::env::var("KUBEBAKE_RETRY_ATTEMPTS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(8),
                base: env_ms("KUBEBAKE_RETRY_BASE_MS", 5_000),
                max: env_ms("KUBEBAKE_RETRY_MAX_MS", 60_000),
            },
            ntp_timeout: env_ms("KUBEBAKE_NTP_TIMEOUT_MS", 120_000),
            address_timeout: env_ms("KUBEBAKE_ADDRESS_TIMEOUT_MS", 60_000),
            dbus_wait: env_ms(
                "KUBEBAKE_DBUS_WAIT_MS",
                crate::state::ms(crate::systemd::ACTIVATION_WAIT),
            ),
        }
    }

    /// Maps an absolute node path (`/etc/x`) under the root prefix.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        let rel = abs.strip_prefix("/").unwrap_or(abs);
        self.root.join(rel)
    }

    /// STATE directory of the agent (`/var/lib/kubebake`).
    pub fn state_dir(&self) -> PathBuf {
        self.path("/var/lib/kubebake")
    }

    /// Runtime directory (`/run/kubebake`).
    pub fn run_dir(&self) -> PathBuf {
        self.path("/run/kubebake")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            attempts: 5,
            base: Duration::from_millis(10),
            max: Duration::from_millis(35),
        };
        let d: Vec<u128> = (1..=4).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(d, vec![10, 20, 35, 35]);
        assert_eq!(b.delay(200), Duration::from_millis(35));
    }

    #[test]
    fn path_is_prefixed() {
        let mut c = Config::from_env(Some(PathBuf::from("/tmp/r")));
        assert_eq!(c.path("/etc/hosts"), PathBuf::from("/tmp/r/etc/hosts"));
        c.root = PathBuf::from("/");
        assert_eq!(c.path("/etc/hosts"), PathBuf::from("/etc/hosts"));
    }
}
