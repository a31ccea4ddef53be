//! Running kubeadm: config and PKI placement, `kubeadm init|join`, output
//! classification (transient → retry with bounded backoff; permanent → stop
//! with advice), and the CNI apply after init.
//!
//! Joins always pin the CA through the rendered config; the agent never
//! passes `--discovery-token-unsafe-skip-ca-verification`.

use crate::config::{Backoff, Config};
use crate::redact::redact;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Advice for an expired or unknown bootstrap token.
pub const ADVICE_TOKEN: &str = "token not found or expired: on a control-plane node run `kubeadm token create --print-join-command` and put the new token in the seed";
/// Advice for a CA hash mismatch.
pub const ADVICE_CA_HASH: &str = "the seed's ca_cert_hash does not match the cluster CA: on a control-plane node run `openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt | openssl pkey -pubin -outform der | sha256sum` and set ca_cert_hash: sha256:<hex> in the seed";
/// Advice for a refused version skew.
pub const ADVICE_SKEW: &str = "kubeadm refused the version skew with the cluster: use an image whose Kubernetes version is the cluster's (or one minor newer for upgrades), or set kubernetes_version accordingly";
/// Advice when the uploaded control-plane certificates are gone.
pub const ADVICE_CERT_KEY: &str = "the uploaded control-plane certificates expired (2 h) or the certificate_key is wrong: on a control-plane node run `kubeadm init phase upload-certs --upload-certs` and put the printed key in the seed's certificate_key";
/// Advice when the node already ran kubeadm.
pub const ADVICE_RESET: &str = "this node already has kubeadm state: run `kubeadm reset --force`, remove /var/lib/kubebake/state.json and reboot";

/// What a kubeadm failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Worth retrying (API server not up yet, network blip).
    Transient(String),
    /// Retrying cannot help.
    Permanent {
        /// Short, redacted cause.
        what: String,
        /// What the operator should do.
        advice: String,
    },
}

const TRANSIENT: [&str; 9] = [
    "connection refused",
    "i/o timeout",
    "no route to host",
    "network is unreachable",
    "context deadline exceeded",
    "tls handshake timeout",
    "connection reset by peer",
    "server misbehaving",
    "temporary failure in name resolution",
];

/// Classifies the combined output of a failed kubeadm run.
pub fn classify(output: &str) -> Class {
    let lower = output.to_ascii_lowercase();
    let perm = |what: &str, advice: &str| Class::Permanent {
        what: what.to_string(),
        advice: advice.to_string(),
    };
    if lower.contains("could not find a jws signature") {
        return perm("bootstrap token not found or expired", ADVICE_TOKEN);
    }
    if lower.contains("none of the public keys")
        || (lower.contains("public key") && lower.contains("not pinned"))
        || lower.contains("cluster ca found in cluster-info configmap is invalid")
    {
        return perm("cluster CA does not match ca_cert_hash", ADVICE_CA_HASH);
    }
    if lower.contains("version skew")
        || lower.contains("only supports deploying clusters with the control plane version")
        || (lower.contains("kubelet version") && lower.contains("is not supported"))
        || lower.contains("is higher than the control plane version")
    {
        return perm("version skew refused", ADVICE_SKEW);
    }
    if lower.contains("kubeadm-certs")
        || lower.contains("error downloading certs")
        || lower.contains("error decoding certificate key")
    {
        return perm(
            "cannot download the control-plane certificates",
            ADVICE_CERT_KEY,
        );
    }
    if lower.contains("already exists") {
        return perm("kubeadm state already present", ADVICE_RESET);
    }
    if let Some(t) = TRANSIENT.iter().find(|t| lower.contains(*t)) {
        return Class::Transient((*t).to_string());
    }
    perm(
        "kubeadm failed",
        "read the kubeadm output in `journalctl -u kubebake-firstboot`; fix the seed or the node and reboot",
    )
}

/// The last `n` non-empty lines of `text`, redacted, joined by ` | `.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    redact(&lines[start..].join(" | "))
}

/// A kubeadm run that ended in failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}")]
pub struct Failure {
    /// Short, redacted cause (with the last kubeadm lines).
    pub what: String,
    /// What to do.
    pub advice: String,
}

/// Result of [`run_with_retry`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Attempts made.
    pub attempts: u32,
    /// Time spent sleeping between attempts.
    pub waited: Duration,
}

/// One attempt's outcome reported to the caller (for console lines).
#[derive(Debug, Clone)]
pub struct AttemptNote {
    /// 1-based attempt number.
    pub attempt: u32,
    /// Redacted reason.
    pub reason: String,
    /// Delay before the next attempt.
    pub delay: Duration,
}

fn run_once(prog: &str, args: &[String]) -> Result<(bool, String), Failure> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| Failure {
            what: format!("cannot run {prog}: {e}"),
            advice: format!("check that {prog} is installed and executable"),
        })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    for l in text.lines() {
        tracing::info!("{prog}: {}", redact(l));
    }
    Ok((out.status.success(), text))
}

/// Runs `prog args` until success, a permanent failure or the attempts run
/// out. `before_retry` runs before each retry (e.g. `kubeadm reset`).
pub fn run_with_retry(
    prog: &str,
    args: &[String],
    backoff: Backoff,
    mut note: impl FnMut(&AttemptNote),
    mut before_retry: impl FnMut(),
) -> Result<RunReport, Failure> {
    let mut waited = Duration::ZERO;
    let attempts = backoff.attempts.max(1);
    for attempt in 1..=attempts {
        let (ok, text) = run_once(prog, args)?;
        if ok {
            return Ok(RunReport {
                attempts: attempt,
                waited,
            });
        }
        match classify(&text) {
            Class::Permanent { what, advice } => {
                return Err(Failure {
                    what: format!("{what}: {}", tail(&text, 2)),
                    advice,
                })
            }
            Class::Transient(reason) if attempt < attempts => {
                let delay = backoff.delay(attempt);
                note(&AttemptNote {
                    attempt,
                    reason: reason.clone(),
                    delay,
                });
                let t = Instant::now();
                std::thread::sleep(delay);
                waited += t.elapsed();
                before_retry();
            }
            Class::Transient(reason) => {
                return Err(Failure {
                    what: format!("{reason} after {attempts} attempts: {}", tail(&text, 2)),
                    advice: "the API server stayed unreachable: check the endpoint in the seed, the network path and that the control plane is up".into(),
                })
            }
        }
    }
    Err(Failure {
        what: "no attempt made".into(),
        advice: String::new(),
    })
}

/// Arguments of the kubeadm call for a role. Never includes
/// `--discovery-token-unsafe-skip-ca-verification`.
pub fn args(init: bool, config: &Path, upload_certs: bool) -> Vec<String> {
    let mut v = vec![
        if init { "init" } else { "join" }.to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    if init && upload_certs {
        v.push("--upload-certs".into());
    }
    v
}

/// Writes the kubeadm config (0600) on STATE; returns its path.
pub fn write_config(cfg: &Config, yaml: &str) -> Result<PathBuf, crate::state::StateError> {
    let p = cfg.state_dir().join("kubeadm.yaml");
    crate::state::write_atomic(&p, yaml.as_bytes(), 0o600)?;
    Ok(p)
}

/// One PKI file to place under `/etc/kubernetes/pki`.
#[derive(Debug, Clone)]
pub struct PkiFile {
    /// Relative path (`ca.crt`, `etcd/ca.key`).
    pub path: String,
    /// PEM contents.
    pub contents: String,
    /// Private key (0600) or public (0644).
    pub secret: bool,
}

/// Places the shared PKI before `kubeadm init` / control-plane join.
pub fn place_pki(cfg: &Config, files: &[PkiFile]) -> Result<(), crate::state::StateError> {
    let dir = cfg.path("/etc/kubernetes/pki");
    for f in files {
        let mode = if f.secret { 0o600 } else { 0o644 };
        crate::state::write_atomic(&dir.join(&f.path), f.contents.as_bytes(), mode)?;
    }
    Ok(())
}

/// Whether a previous, interrupted kubeadm run left state behind.
pub fn has_leftover_state(cfg: &Config) -> bool {
    [
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "/etc/kubernetes/admin.conf",
    ]
    .iter()
    .any(|p| cfg.path(p).exists())
}

/// Whether a worker's `kubeadm join` ran to its end: the kubelet finished
/// its TLS bootstrap (`kubelet.conf` exists) and kubeadm removed the
/// bootstrap kubeconfig, which is the last thing a worker join does.
pub fn worker_join_completed(cfg: &Config) -> bool {
    cfg.path("/etc/kubernetes/kubelet.conf").is_file()
        && !cfg.path("/etc/kubernetes/bootstrap-kubelet.conf").exists()
}

/// `kubeadm reset --force` (used before retrying an interrupted run).
pub fn reset() {
    match Command::new("kubeadm").args(["reset", "--force"]).output() {
        Ok(o) if o.status.success() => tracing::info!("kubeadm reset done"),
        Ok(o) => tracing::warn!(
            "kubeadm reset: {}",
            tail(&String::from_utf8_lossy(&o.stderr), 2)
        ),
        Err(e) => tracing::warn!("kubeadm reset: {e}"),
    }
}

/// Arguments of the CNI apply.
pub fn cni_args(cfg: &Config, manifest: &Path) -> Vec<String> {
    vec![
        "--kubeconfig".into(),
        cfg.path("/etc/kubernetes/admin.conf").display().to_string(),
        "apply".into(),
        "-f".into(),
        manifest.display().to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_hash_advice_is_the_validators_command() {
        // one recipe for agent and validator (checked against openssl in
        // seed/tests/ca_hash.rs)
        assert!(
            ADVICE_CA_HASH.contains(kubebake_seed::CA_HASH_COMMAND),
            "{ADVICE_CA_HASH}"
        );
    }

    const JWS: &str = "[preflight] Running pre-flight checks\nerror execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"abcdef\"\nTo see the stack trace of this error execute with --v=5 or higher\n";

    #[test]
    fn classifies_real_messages() {
        match classify(JWS) {
            Class::Permanent { advice, .. } => assert_eq!(advice, ADVICE_TOKEN),
            c => panic!("{c:?}"),
        }
        let refused = "error execution phase preflight: couldn't validate the identity of the API Server: Get \"https://192.168.6.11:6443/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": dial tcp 192.168.6.11:6443: connect: connection refused";
        assert_eq!(
            classify(refused),
            Class::Transient("connection refused".into())
        );
        let timeout = "dial tcp 10.0.0.1:6443: i/o timeout";
        assert_eq!(classify(timeout), Class::Transient("i/o timeout".into()));
        assert_eq!(
            classify("connect: no route to host"),
            Class::Transient("no route to host".into())
        );
        let hash = "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"sha256:0011\" are pinned";
        assert!(
            matches!(classify(hash), Class::Permanent { advice, .. } if advice == ADVICE_CA_HASH)
        );
        let skew = "error execution phase preflight: this version of kubeadm only supports deploying clusters with the control plane version >= 1.34.0. Current version: v1.32.0";
        assert!(matches!(classify(skew), Class::Permanent { advice, .. } if advice == ADVICE_SKEW));
        let certs = "error execution phase control-plane-prepare/download-certs: error downloading certs: error downloading the secret: secrets \"kubeadm-certs\" not found";
        assert!(
            matches!(classify(certs), Class::Permanent { advice, .. } if advice == ADVICE_CERT_KEY)
        );
        assert!(matches!(classify("something odd"), Class::Permanent { .. }));
    }

    #[test]
    fn tail_is_redacted() {
        let t = tail("a\nuse token abcdef.0123456789abcdef\n\n", 2);
        assert_eq!(t, "a | use token <redacted>");
    }

    #[test]
    fn never_skips_ca_verification() {
        for init in [true, false] {
            for up in [true, false] {
                let a = args(init, Path::new("/var/lib/kubebake/kubeadm.yaml"), up);
                assert!(!a.iter().any(|x| x.contains("unsafe-skip")));
                assert_eq!(a[1], "--config");
            }
        }
        assert_eq!(
            args(true, Path::new("/c"), true).last().map(String::as_str),
            Some("--upload-certs")
        );
        assert_eq!(args(false, Path::new("/c"), true)[0], "join");
    }
}
