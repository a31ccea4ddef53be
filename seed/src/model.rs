//! The typed seed: what [`crate::parse`] returns after every check passed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::cidr::Cidr;
use crate::secret::Secret;
use crate::version::Version;

/// A validated `#cloud-config` seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seed {
    /// `hostname`: an RFC 1123 name, lowercase (it becomes the node name).
    pub hostname: Option<String>,
    /// `ssh_authorized_keys` for the default admin user (root if no users).
    pub ssh_authorized_keys: Vec<String>,
    /// `users` (subset: name, groups, sudo, ssh_authorized_keys, shell).
    pub users: Vec<User>,
    /// `write_files`.
    pub write_files: Vec<WriteFile>,
    /// `ntp`.
    pub ntp: Option<Ntp>,
    /// `timezone`, e.g. `Europe/Paris` or `UTC`.
    pub timezone: Option<String>,
    /// `runcmd`, run after init/join succeeded.
    pub runcmd: Vec<Command>,
    /// Our section: how this node joins or creates its cluster.
    pub kubernetes: Option<Kubernetes>,
}

/// One entry of `users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Supplementary groups (list or comma-separated string in YAML).
    pub groups: Vec<String>,
    /// sudoers rules, e.g. `ALL=(ALL) NOPASSWD:ALL`; empty means none.
    pub sudo: Vec<String>,
    /// Keys for `~/.ssh/authorized_keys`.
    pub ssh_authorized_keys: Vec<String>,
    /// Login shell (absolute path).
    pub shell: Option<String>,
}

/// One entry of `write_files`.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteFile {
    /// Absolute path, without `..` components.
    pub path: String,
    /// Decoded content (`encoding: b64` already applied).
    pub content: Vec<u8>,
    /// Mode bits from the octal `permissions` string; default `0o644`.
    pub permissions: u32,
    /// `owner` as `user:group`; default `root:root`.
    pub owner: String,
    /// `append: true` appends instead of replacing.
    pub append: bool,
}

impl fmt::Debug for WriteFile {
    // Content may hold credentials: print only its size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteFile")
            .field("path", &self.path)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .field("permissions", &format_args!("{:#o}", self.permissions))
            .field("owner", &self.owner)
            .field("append", &self.append)
            .finish()
    }
}

/// `ntp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ntp {
    /// `enabled` (default true).
    pub enabled: bool,
    /// NTP servers.
    pub servers: Vec<String>,
    /// NTP pools.
    pub pools: Vec<String>,
}

/// One `runcmd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A string: run with `sh -c`.
    Shell(String),
    /// A list: run directly, no shell.
    Argv(Vec<String>),
}

/// The `kubernetes:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubernetes {
    /// `role`.
    pub role: Role,
    /// `endpoint` (`host:port`): `controlPlaneEndpoint` and join discovery.
    pub endpoint: Option<Endpoint>,
    /// `token` (`[a-z0-9]{6}.[a-z0-9]{16}`).
    pub token: Option<Secret>,
    /// `token_ttl`, a Go duration (`24h`, `1h30m`, `0s` = never expires).
    pub token_ttl: Option<String>,
    /// `ca_cert_hash` (`sha256:<64 hex>`), pinned on every join.
    pub ca_cert_hash: Option<String>,
    /// `certificate_key` (64 hex): decrypts the certs uploaded by
    /// `kubeadm init --upload-certs`, for control-plane joins without `pki`.
    pub certificate_key: Option<Secret>,
    /// `pki`: shared CAs and service-account keys.
    pub pki: Option<Pki>,
    /// `advertise`: which local address is the node IP.
    pub advertise: Option<Advertise>,
    /// `pod_subnet`. Defaults to `10.244.0.0/16` when `cni` is flannel.
    pub pod_subnet: Option<Cidr>,
    /// `service_subnet` (kubeadm default `10.96.0.0/12`).
    pub service_subnet: Option<Cidr>,
    /// `image_repository`.
    pub image_repository: Option<String>,
    /// `registry_mirrors`: registry host → mirror URLs, in order.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// `node_labels`, passed as kubelet `--node-labels`.
    pub node_labels: BTreeMap<String, String>,
    /// `taints`: `None` = kubeadm default (control-plane taint on control
    /// planes), `Some(vec![])` = no taint.
    pub taints: Option<Vec<Taint>>,
    /// `kubelet_extra_args` (flag name without `--` → value).
    pub kubelet_extra_args: BTreeMap<String, String>,
    /// `cni` (default flannel).
    pub cni: Cni,
    /// `vip`: HA endpoint address held by the control planes.
    pub vip: Option<Vip>,
    /// `kubernetes_version` (`1.35.1`); default: the kubeadm binary's.
    pub kubernetes_version: Option<Version>,
}

/// Flannel's default pod network, used when `cni: flannel` and no
/// `pod_subnet` is given.
pub const FLANNEL_POD_SUBNET: &str = "10.244.0.0/16";
/// kubeadm's default service network.
pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";

impl Kubernetes {
    /// The pod subnet to render: the seed's, or flannel's default.
    pub fn effective_pod_subnet(&self) -> Option<Cidr> {
        match (&self.pod_subnet, &self.cni) {
            (Some(c), _) => Some(*c),
            (None, Cni::Flannel) => FLANNEL_POD_SUBNET.parse().ok(),
            (None, _) => None,
        }
    }
}

/// `kubernetes.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `init`: the first control plane (`kubeadm init`).
    Init,
    /// `control-plane`: `kubeadm join --control-plane`.
    ControlPlane,
    /// `worker`: `kubeadm join`.
    Worker,
}

impl Role {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Init => "init",
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `host:port` (IPv6 hosts in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// DNS name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `kubernetes.pki`: the files kubeadm shares between control planes.
///
/// `ca_crt`/`ca_key` are required; the other pairs are all-or-nothing.
/// A control-plane join needs every pair (or `certificate_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    /// `ca_crt` (PEM).
    pub ca_crt: String,
    /// `ca_key` (PEM).
    pub ca_key: Secret,
    /// `sa_key` (PEM).
    pub sa_key: Option<Secret>,
    /// `sa_pub` (PEM).
    pub sa_pub: Option<String>,
    /// `front_proxy_ca_crt` (PEM).
    pub front_proxy_ca_crt: Option<String>,
    /// `front_proxy_ca_key` (PEM).
    pub front_proxy_ca_key: Option<Secret>,
    /// `etcd_ca_crt` (PEM).
    pub etcd_ca_crt: Option<String>,
    /// `etcd_ca_key` (PEM).
    pub etcd_ca_key: Option<Secret>,
}

/// A file of [`Pki::files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiFile<'a> {
    /// Path relative to `/etc/kubernetes/pki`, e.g. `etcd/ca.key`.
    pub path: &'static str,
    /// Contents; a private key when `secret`.
    pub contents: &'a str,
    /// Private key: write 0600. Certificates and public keys: 0644.
    pub secret: bool,
}

impl Pki {
    /// Whether every pair a control-plane join needs is present.
    pub fn is_complete(&self) -> bool {
        self.sa_key.is_some() && self.front_proxy_ca_crt.is_some() && self.etcd_ca_crt.is_some()
    }

    /// The files to place under `/etc/kubernetes/pki` (kubeadm's names).
    pub fn files(&self) -> Vec<PkiFile<'_>> {
        let mut out = vec![
            PkiFile {
                path: "ca.crt",
                contents: &self.ca_crt,
                secret: false,
            },
            PkiFile {
                path: "ca.key",
                contents: self.ca_key.expose(),
                secret: true,
            },
        ];
        let pairs: [(&'static str, Option<&String>, &'static str, Option<&Secret>); 3] = [
            (
                "sa.pub",
                self.sa_pub.as_ref(),
                "sa.key",
                self.sa_key.as_ref(),
            ),
            (
                "front-proxy-ca.crt",
                self.front_proxy_ca_crt.as_ref(),
                "front-proxy-ca.key",
                self.front_proxy_ca_key.as_ref(),
            ),
            (
                "etcd/ca.crt",
                self.etcd_ca_crt.as_ref(),
                "etcd/ca.key",
                self.etcd_ca_key.as_ref(),
            ),
        ];
        for (pub_path, public, key_path, key) in pairs {
            if let (Some(public), Some(key)) = (public, key) {
                out.push(PkiFile {
                    path: pub_path,
                    contents: public,
                    secret: false,
                });
                out.push(PkiFile {
                    path: key_path,
                    contents: key.expose(),
                    secret: true,
                });
            }
        }
        out
    }
}

/// `kubernetes.advertise`: exactly one of `interface` or `cidr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertise {
    /// The first IPv4 (else IPv6) global address of this interface.
    Interface(String),
    /// The first local address inside this network.
    Cidr(Cidr),
}

/// One `kubernetes.taints` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Label-style key.
    pub key: String,
    /// Optional value.
    pub value: Option<String>,
    /// Effect.
    pub effect: TaintEffect,
}

/// Taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaintEffect {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
}

impl TaintEffect {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// `kubernetes.cni`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cni {
    /// `flannel`: the manifest baked into the image (default).
    #[default]
    Flannel,
    /// `none`: install nothing (bring your own).
    None,
    /// An absolute path to a manifest on the node.
    Path(String),
}

/// `kubernetes.vip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// The virtual IP (must be the `endpoint` host).
    pub address: IpAddr,
    /// Interface that carries it.
    pub interface: String,
}

/// Result of [`crate::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The validated seed.
    pub seed: Seed,
    /// Unsupported cloud-init keys and other non-fatal remarks.
    pub warnings: Vec<String>,
}
