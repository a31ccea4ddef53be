//! The kubebake seed: the `#cloud-config` schema shared by the builder
//! (`kubebake seed validate|render|image`) and the first-boot agent
//! (`kubebake-firstboot`).
//!
//! # What it does
//! * [`parse`] reads a `#cloud-config` document strictly and returns a typed
//!   [`Seed`] plus warnings, or **every** [`Problem`] at once, each with its
//!   YAML path and line (`user-data: line 4: kubernetes.token: must match …`).
//!   - Supported cloud-init keys: `hostname`, `ssh_authorized_keys`, `users`
//!     (name, groups, sudo, ssh_authorized_keys, shell), `write_files`
//!     (path, content, encoding text/plain|b64|gzip|gz+b64, permissions, owner, append),
//!     `ntp` (enabled, servers, pools), `timezone`, `runcmd`.
//!   - Any other cloud-init key (top level, or inside users/write_files/ntp)
//!     is a warning: `unsupported cloud-init key `bootcmd`, ignored`; a key
//!     that cloud-init does not know either (`hostnme`) is an error with a
//!     "did you mean".
//!   - Unknown keys under `kubernetes:` are errors (with a "did you mean").
//!   - Cross-field rules: joins (worker, control-plane) need `endpoint`,
//!     `token` and `ca_cert_hash`; a control-plane join needs a complete
//!     `pki` or a `certificate_key`; `init` may carry `pki` or let kubeadm
//!     generate its own; pod and service subnets must not overlap (the
//!     default service subnet 10.96.0.0/12 counts); a `vip` must be the
//!     `endpoint` host; labels must be self-assignable by the kubelet.
//! * [`merge_override`] merges `nodes/<mac>.yaml` over a seed (one image, a
//!   fleet of nodes); [`node_override_name`] spells the file name.
//! * [`kubeadm::render`] writes the exact kubeadm config the agent uses
//!   (v1beta4 for kubeadm ≥ 1.31, v1beta3 for 1.26–1.30).
//! * [`network`] parses `network-config` v2 and renders systemd-networkd files.
//! * [`containerd::hosts_toml`] turns `registry_mirrors` into `hosts.toml`.
//! * [`cidata`] builds a NoCloud `CIDATA` FAT volume.
//! * [`limits`]: size caps on the seed's files (user-data 1 MiB, meta-data,
//!   network-config and each `nodes/<mac>.yaml` 64 KiB), read with
//!   [`limits::read_capped`].
//! * [`paths`]: the on-image paths builder and agent share (embedded seed,
//!   flannel manifest, build manifest).
//!
//! # For consumers (the agent)
//! * Place [`Pki::files`] in `/etc/kubernetes/pki` before `kubeadm init`
//!   *and* before a control-plane join (keys 0600, the rest 0644).
//! * `init` with `certificate_key`: run `kubeadm init --upload-certs`, the
//!   rendered InitConfiguration carries the key.
//! * [`containerd::hosts_toml`] needs containerd's CRI registry
//!   `config_path = "/etc/containerd/certs.d"` (baked config).
//! * `cni: flannel` with no `pod_subnet` renders `10.244.0.0/16`
//!   ([`Kubernetes::effective_pod_subnet`]).
//! * An iso9660 CIDATA for tests: [`cidata::iso9660_command`]
//!   (`SOURCE_DATE_EPOCH=0 xorriso -as mkisofs -o OUT -V CIDATA -J -R DIR`).
//!
//! # Secrets
//! Tokens, private keys and the certificate key are [`Secret`]s: `Debug` and
//! `Display` print `<redacted>`, and no error message quotes them (a bad
//! token is described by its shape: "got 6+15 chars").
//!
//! # YAML crate
//! `serde_norway` (0.9.x): a maintained fork of the archived `serde_yaml`
//! with the same API (libyaml-based, YAML 1.1 scalars as cloud-init reads
//! them). `serde_yml` was rejected: crates.io marks it deprecated and
//! unmaintained. Documents are read into a generic `Value` and walked by
//! hand, so that every problem is reported at once with its path instead of
//! serde's first-error-wins.

mod checks;
mod cidr;
mod cloudinit;
mod k8s;
mod locate;
mod merge;
mod model;
mod pem;
mod problem;
mod secret;
mod userdata;
mod version;

pub mod cidata;
pub mod containerd;
pub mod kubeadm;
pub mod limits;
pub mod network;
pub mod paths;

pub use checks::CA_HASH_COMMAND;
pub use cidr::{Cidr, CidrError};
pub use merge::{merge_override, node_override_name};
pub use model::{
    Advertise, Cni, Command, Endpoint, Kubernetes, Ntp, Parsed, Pki, PkiFile, Role, Seed, Taint,
    TaintEffect, User, Vip, WriteFile, DEFAULT_SERVICE_SUBNET, FLANNEL_POD_SUBNET,
};
pub use pem::{ca_cert_hash, validity as cert_validity};
pub use problem::{Problem, Problems};
pub use secret::Secret;
pub use version::{Version, VersionError};

/// Parses and validates a `#cloud-config` seed. `source` names the text in
/// messages (`user-data`, `/boot/firmware/user-data`, …).
///
/// The first line must be `#cloud-config`. Returns every problem found.
pub fn parse(text: &str, source: &str) -> Result<Parsed, Problems> {
    userdata::parse(text, source)
}
