//! Seeds of the first-boot VM test and their CIDATA volumes (made by
//! `kubebake seed image`). Every case has its own bootstrap token, so a leak
//! on the console is found whichever case it happens in.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The API server endpoint every seed names (nothing listens there: the
/// kubeadm double records it).
pub const ENDPOINT: &str = "192.168.6.10:6443";

/// kubeadm's SPKI hash of `seed/tests/fixtures/pki/ca.crt` (the seed crate
/// pins it against that certificate, so a wrong value fails validation).
pub const CA_HASH: &str = "sha256:a4853df8cab8e1cb0e4856fa816156be2df8895cdd1c7265f572d3777c8f9878";

/// The second NIC's subnet (QEMU user networking); the seeds advertise it.
pub const SECOND_SUBNET: &str = "10.0.3.0/24";

/// Node role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Init,
    Worker,
    ControlPlane,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Init => "init",
            Role::Worker => "worker",
            Role::ControlPlane => "control-plane",
        }
    }

    /// The kubeadm subcommand the agent must run.
    pub fn kubeadm(self) -> &'static str {
        match self {
            Role::Init => "init",
            Role::Worker | Role::ControlPlane => "join",
        }
    }
}

/// One VM case's seed.
#[derive(Clone, Debug)]
pub struct Seed {
    pub role: Role,
    pub hostname: &'static str,
    pub token: &'static str,
    /// The kubeadm double's mode (written by the seed's `write_files`).
    pub mode: &'static str,
}

impl Seed {
    /// sha256 of the token, as the kubeadm double prints it.
    pub fn token_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.token.as_bytes()))
    }
}

/// `key: |` followed by the file's lines indented under it.
fn pem(out: &mut String, key: &str, file: &str) {
    let p = super::common::vm::repo()
        .join("seed/tests/fixtures/pki")
        .join(file);
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    out.push_str(&format!("    {key}: |\n"));
    for l in text.lines() {
        out.push_str(&format!("      {l}\n"));
    }
}

/// The pieces of `pki:` a control-plane seed carries (the cluster's shared
/// CAs and service-account key).
pub fn pki_block() -> String {
    let mut s = String::from("  pki:\n");
    for (k, f) in [
        ("ca_crt", "ca.crt"),
        ("ca_key", "ca.key"),
        ("sa_key", "sa.key"),
        ("sa_pub", "sa.pub"),
        ("front_proxy_ca_crt", "front-proxy-ca.crt"),
        ("front_proxy_ca_key", "front-proxy-ca.key"),
        ("etcd_ca_crt", "etcd-ca.crt"),
        ("etcd_ca_key", "etcd-ca.key"),
    ] {
        pem(&mut s, k, f);
    }
    s
}

/// The `#cloud-config` user-data of `seed`.
pub fn user_data(seed: &Seed, cni_path: &str, double_etc: &str) -> String {
    let mut s = format!(
        "#cloud-config\n\
         hostname: {host}\n\
         write_files:\n  - path: {double_etc}/mode\n    content: \"{mode}\\n\"\n    \
         permissions: '0644'\n\
         kubernetes:\n  role: {role}\n  endpoint: {ENDPOINT}\n  token: {token}\n  \
         ca_cert_hash: {CA_HASH}\n  advertise: {{ cidr: {SECOND_SUBNET} }}\n",
        host = seed.hostname,
        mode = seed.mode,
        role = seed.role.name(),
        token = seed.token,
    );
    if seed.role == Role::Init {
        s.push_str(&format!("  cni: {cni_path}\n"));
    }
    if seed.role != Role::Worker {
        s.push_str(&pki_block());
    }
    s
}

/// Write the seed and its CIDATA image (`kubebake seed image`) into `dir`.
pub fn cidata(seed: &Seed, dir: &Path, name: &str, cni_path: &str, double_etc: &str) -> PathBuf {
    let yaml = dir.join(format!("{name}-user-data"));
    fs::write(&yaml, user_data(seed, cni_path, double_etc)).expect("write seed");
    let img = dir.join(format!("{name}-cidata.img"));
    let out = Command::new(env!("CARGO_BIN_EXE_kubebake"))
        .args(["seed", "image"])
        .arg(&yaml)
        .arg("-o")
        .arg(&img)
        .output()
        .expect("running kubebake seed image");
    assert!(
        out.status.success(),
        "kubebake seed image {}: {}\n{}",
        yaml.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    img
}
