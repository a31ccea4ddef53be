//! Walks the `kubernetes:` section: unknown keys are errors, then the
//! cross-field rules run on what parsed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_norway::Value;

use crate::checks;
use crate::cidr::Cidr;
use crate::model::{
    Advertise, Cni, Kubernetes, Pki, Role, Taint, TaintEffect, Vip, DEFAULT_SERVICE_SUBNET,
    FLANNEL_POD_SUBNET,
};
use crate::problem::{index, join, suggest, Ctx};
use crate::secret::Secret;
use crate::version::Version;

const KEYS: [&str; 18] = [
    "role",
    "endpoint",
    "token",
    "token_ttl",
    "ca_cert_hash",
    "certificate_key",
    "pki",
    "advertise",
    "pod_subnet",
    "service_subnet",
    "image_repository",
    "registry_mirrors",
    "node_labels",
    "taints",
    "kubelet_extra_args",
    "cni",
    "vip",
    "kubernetes_version",
];

const PKI_KEYS: [&str; 8] = [
    "ca_crt",
    "ca_key",
    "sa_key",
    "sa_pub",
    "front_proxy_ca_crt",
    "front_proxy_ca_key",
    "etcd_ca_crt",
    "etcd_ca_key",
];

/// Oldest Kubernetes minor the seed supports (kubeadm v1beta3).
pub const MIN_MINOR: u32 = 26;

fn unknown(cx: &mut Ctx, path: &str, key: &str, known: &[&str]) {
    let hint = suggest(key, known)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    cx.err(
        &join(path, key),
        format!("unknown key{hint}; allowed: {}", known.join(", ")),
    );
}

fn cidr(cx: &mut Ctx, v: &Value, p: &str) -> Option<Cidr> {
    let s = cx.string(v, p)?;
    match s.parse::<Cidr>() {
        Ok(c) if c.is_network() => Some(c),
        Ok(c) => {
            cx.err(
                p,
                format!("`{s}` has host bits set; fix: `{}`", c.network()),
            );
            None
        }
        Err(e) => {
            cx.err(p, format!("`{s}`: {e}"));
            None
        }
    }
}

fn checked(
    cx: &mut Ctx,
    v: &Value,
    p: &str,
    check: fn(&str) -> Result<(), String>,
) -> Option<String> {
    let s = cx.string(v, p)?;
    match check(&s) {
        Ok(()) => Some(s),
        Err(e) => {
            cx.err(p, e);
            None
        }
    }
}

pub(crate) fn walk(cx: &mut Ctx, v: &Value) -> Option<Kubernetes> {
    const P: &str = "kubernetes";
    let m = cx.mapping(v, P)?;
    let before = cx.problems.len();
    let mut role = None;
    let mut k = Kubernetes {
        role: Role::Worker,
        endpoint: None,
        token: None,
        token_ttl: None,
        ca_cert_hash: None,
        certificate_key: None,
        pki: None,
        advertise: None,
        pod_subnet: None,
        service_subnet: None,
        image_repository: None,
        registry_mirrors: BTreeMap::new(),
        node_labels: BTreeMap::new(),
        taints: None,
        kubelet_extra_args: BTreeMap::new(),
        cni: Cni::Flannel,
        vip: None,
        kubernetes_version: None,
    };
    for (key, val) in cx.entries(m, P) {
        let p = join(P, key);
        match key {
            "role" => {
                if let Some(s) = cx.string(val, &p) {
                    role = match s.as_str() {
                        "init" => Some(Role::Init),
                        "control-plane" => Some(Role::ControlPlane),
                        "worker" => Some(Role::Worker),
                        _ => {
                            cx.err(
                                &p,
                                format!("`{s}` is not one of init, control-plane, worker"),
                            );
                            None
                        }
                    }
                }
            }
            "endpoint" => {
                if let Some(s) = cx.string(val, &p) {
                    match checks::endpoint(&s) {
                        Ok(e) => k.endpoint = Some(e),
                        Err(e) => cx.err(&p, e),
                    }
                }
            }
            "token" => {
                if let Some(s) = cx.string(val, &p) {
                    match checks::token(&s) {
                        Ok(()) => k.token = Some(Secret::new(s)),
                        Err(e) => cx.err(&p, e),
                    }
                }
            }
            "token_ttl" => k.token_ttl = checked(cx, val, &p, checks::go_duration),
            "ca_cert_hash" => k.ca_cert_hash = checked(cx, val, &p, checks::ca_cert_hash),
            "certificate_key" => {
                if let Some(s) = cx.string(val, &p) {
                    match checks::certificate_key(&s) {
                        Ok(()) => k.certificate_key = Some(Secret::new(s.to_ascii_lowercase())),
                        Err(e) => cx.err(&p, e),
                    }
                }
            }
            "pki" => k.pki = pki(cx, val, &p),
            "advertise" => k.advertise = advertise(cx, val, &p),
            "pod_subnet" => k.pod_subnet = cidr(cx, val, &p),
            "service_subnet" => k.service_subnet = cidr(cx, val, &p),
            "image_repository" => {
                k.image_repository = checked(cx, val, &p, checks::image_repository)
            }
            "registry_mirrors" => k.registry_mirrors = mirrors(cx, val, &p),
            "node_labels" => k.node_labels = labels(cx, val, &p),
            "taints" => k.taints = taints(cx, val, &p),
            "kubelet_extra_args" => k.kubelet_extra_args = extra_args(cx, val, &p),
            "cni" => {
                if let Some(s) = cx.string(val, &p) {
                    match s.as_str() {
                        "flannel" => k.cni = Cni::Flannel,
                        "none" => k.cni = Cni::None,
                        path if path.starts_with('/') => match checks::abs_path(path) {
                            Ok(()) => k.cni = Cni::Path(s.clone()),
                            Err(e) => cx.err(&p, e),
                        },
                        _ => cx.err(
                            &p,
                            format!(
                                "`{s}` must be flannel, none, or an absolute path to a manifest"
                            ),
                        ),
                    }
                }
            }
            "vip" => k.vip = vip(cx, val, &p),
            "kubernetes_version" => {
                if let Some(s) = cx.scalar(val, &p) {
                    match s.parse::<Version>() {
                        Ok(v) if v.major == 1 && v.minor >= MIN_MINOR => {
                            k.kubernetes_version = Some(v)
                        }
                        Ok(v) => cx.err(
                            &p,
                            format!(
                                "{v} is not supported: kubebake needs 1.{MIN_MINOR}.0 or newer"
                            ),
                        ),
                        Err(e) => cx.err(&p, format!("{e} (quote it: \"1.35.1\")")),
                    }
                }
            }
            other => unknown(cx, P, other, &KEYS),
        }
    }
    match role {
        Some(r) => k.role = r,
        None if !m.contains_key("role") => cx.err(
            &join(P, "role"),
            "missing; set init, control-plane or worker",
        ),
        None => {}
    }
    if role.is_some() {
        cross_field(cx, &k, m);
    }
    (cx.problems.len() == before).then_some(k)
}

/// Rules between fields; only checks fields that parsed.
fn cross_field(cx: &mut Ctx, k: &Kubernetes, m: &serde_norway::Mapping) {
    const P: &str = "kubernetes";
    let given = |key: &str| m.contains_key(key);
    if matches!(k.role, Role::Worker | Role::ControlPlane) {
        for (key, fix) in [
            (
                "endpoint",
                "the control plane endpoint, e.g. 192.168.6.10:6443",
            ),
            ("token", "`kubeadm token create` on a control plane"),
            (
                "ca_cert_hash",
                "`kubeadm token create --print-join-command` shows it",
            ),
        ] {
            if !given(key) {
                cx.err(
                    &join(P, key),
                    format!("required for role {}; fix: {fix}", k.role),
                );
            }
        }
    }
    if k.role == Role::ControlPlane && k.certificate_key.is_none() && !given("certificate_key") {
        match &k.pki {
            Some(p) if p.is_complete() => {}
            Some(_) => cx.err(
                &join(P, "pki"),
                "a control-plane join needs every pair (sa, front_proxy_ca, etcd_ca) or kubernetes.certificate_key",
            ),
            None if !given("pki") => cx.err(
                &join(P, "pki"),
                "required for role control-plane (the shared CAs), unless kubernetes.certificate_key is set \
                 (from `kubeadm init --upload-certs`, valid 2 hours)",
            ),
            None => {}
        }
    }
    if let (Some(pki), Some(hash)) = (&k.pki, &k.ca_cert_hash) {
        if let Ok(actual) = crate::pem::ca_cert_hash(&pki.ca_crt) {
            if !actual.eq_ignore_ascii_case(hash) {
                cx.err(
                    &join(P, "ca_cert_hash"),
                    format!("does not match kubernetes.pki.ca_crt, whose hash is {actual}; joins would fail"),
                );
            }
        }
    }
    let pod = k.effective_pod_subnet();
    let svc = k
        .service_subnet
        .or_else(|| DEFAULT_SERVICE_SUBNET.parse().ok());
    if let (Some(pod), Some(svc)) = (pod, svc) {
        if pod.overlaps(&svc) {
            let which = if k.service_subnet.is_some() {
                "service_subnet"
            } else {
                "kubeadm's default service subnet"
            };
            cx.err(
                &join(P, "pod_subnet"),
                format!("{pod} overlaps {which} {svc}; pick disjoint networks"),
            );
        }
    }
    if let (Some(pod), Cni::Flannel) = (k.pod_subnet, &k.cni) {
        if pod.to_string() != FLANNEL_POD_SUBNET {
            cx.warn(
                &join(P, "pod_subnet"),
                format!(
                    "flannel's stock manifest uses {FLANNEL_POD_SUBNET}; its net-conf.json Network must be {pod}"
                ),
            );
        }
    }
    if let Some(vip) = &k.vip {
        match &k.endpoint {
            Some(e) if e.host.parse::<IpAddr>().ok() == Some(vip.address) => {}
            Some(e) => cx.err(
                &join(P, "vip.address"),
                format!(
                    "{} is not the endpoint host `{}`; the VIP is what the endpoint points at",
                    vip.address, e.host
                ),
            ),
            None if !given("endpoint") => cx.err(
                &join(P, "endpoint"),
                format!(
                    "required with vip; fix: endpoint: {}",
                    crate::model::Endpoint {
                        host: vip.address.to_string(),
                        port: 6443
                    }
                ),
            ),
            None => {}
        }
    }
}

fn pki(cx: &mut Ctx, v: &Value, p: &str) -> Option<Pki> {
    let m = cx.mapping(v, p)?;
    let before = cx.problems.len();
    let mut got: BTreeMap<&str, String> = BTreeMap::new();
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        if !PKI_KEYS.contains(&key) {
            unknown(cx, p, key, &PKI_KEYS);
            continue;
        }
        let Some(s) = cx.string(val, &kp) else {
            continue;
        };
        let check = if key.ends_with("_crt") {
            crate::pem::ca_cert_hash(&s).map(|_| ())
        } else if key == "sa_pub" {
            crate::pem::decode(&s, &["PUBLIC KEY", "RSA PUBLIC KEY"]).map(|_| ())
        } else {
            crate::pem::decode(&s, &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
                .map(|_| ())
        };
        match check {
            Ok(()) => {
                got.insert(key, s);
            }
            Err(e) => cx.err(&kp, e),
        }
    }
    for key in ["ca_crt", "ca_key"] {
        if !m.contains_key(key) {
            cx.err(&join(p, key), "required when pki is given");
        }
    }
    for (a, b) in [
        ("sa_key", "sa_pub"),
        ("front_proxy_ca_crt", "front_proxy_ca_key"),
        ("etcd_ca_crt", "etcd_ca_key"),
    ] {
        if m.contains_key(a) != m.contains_key(b) {
            let missing = if m.contains_key(a) { b } else { a };
            cx.err(
                &join(p, missing),
                format!(
                    "required together with {}",
                    if missing == a { b } else { a }
                ),
            );
        }
    }
    if cx.problems.len() != before {
        return None;
    }
    let mut take = |k: &str| got.remove(k);
    Some(Pki {
        ca_crt: take("ca_crt")?,
        ca_key: Secret::new(take("ca_key")?),
        sa_key: take("sa_key").map(Secret::new),
        sa_pub: take("sa_pub"),
        front_proxy_ca_crt: take("front_proxy_ca_crt"),
        front_proxy_ca_key: take("front_proxy_ca_key").map(Secret::new),
        etcd_ca_crt: take("etcd_ca_crt"),
        etcd_ca_key: take("etcd_ca_key").map(Secret::new),
    })
}

fn advertise(cx: &mut Ctx, v: &Value, p: &str) -> Option<Advertise> {
    let m = cx.mapping(v, p)?;
    let mut out = Vec::new();
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        match key {
            "interface" => {
                if let Some(s) = checked(cx, val, &kp, checks::ifname) {
                    out.push(Advertise::Interface(s));
                }
            }
            "cidr" => {
                if let Some(s) = cx.string(val, &kp) {
                    match s.parse::<Cidr>() {
                        Ok(c) => out.push(Advertise::Cidr(c.network())),
                        Err(e) => cx.err(&kp, format!("`{s}`: {e}")),
                    }
                }
            }
            other => unknown(cx, p, other, &["interface", "cidr"]),
        }
    }
    if m.len() != 1 {
        cx.err(p, "give exactly one of `interface` or `cidr`");
        return None;
    }
    out.pop()
}

fn mirrors(cx: &mut Ctx, v: &Value, p: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let Some(m) = cx.mapping(v, p) else {
        return out;
    };
    for (reg, val) in cx.entries(m, p) {
        let kp = join(p, reg);
        if let Err(e) = checks::registry_host(reg) {
            cx.err(&kp, e);
            continue;
        }
        let urls = cx.strings(val, &kp);
        if urls.is_empty() && matches!(val, Value::Sequence(_)) {
            cx.err(&kp, "give at least one mirror URL");
        }
        for (i, u) in urls.iter().enumerate() {
            if let Err(e) = checks::url(u) {
                cx.err(&index(&kp, i), e);
            }
        }
        out.insert(reg.to_string(), urls);
    }
    out
}

fn labels(cx: &mut Ctx, v: &Value, p: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(m) = cx.mapping(v, p) else {
        return out;
    };
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        if let Err(e) = checks::label_key(key).and_then(|()| checks::self_assignable_label(key)) {
            cx.err(&kp, e);
            continue;
        }
        if let Some(s) = cx.scalar(val, &kp) {
            match checks::label_value(&s) {
                Ok(()) => {
                    out.insert(key.to_string(), s);
                }
                Err(e) => cx.err(&kp, e),
            }
        }
    }
    out
}

fn taints(cx: &mut Ctx, v: &Value, p: &str) -> Option<Vec<Taint>> {
    let items = cx.seq(v, p)?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = index(p, i);
        let Some(m) = cx.mapping(item, &ip) else {
            continue;
        };
        let (mut key, mut value, mut effect) = (None, None, None);
        for (k, val) in cx.entries(m, &ip) {
            let kp = join(&ip, k);
            match k {
                "key" => key = checked(cx, val, &kp, checks::label_key),
                "value" => value = checked(cx, val, &kp, checks::label_value),
                "effect" => {
                    if let Some(s) = cx.string(val, &kp) {
                        effect = match s.as_str() {
                            "NoSchedule" => Some(TaintEffect::NoSchedule),
                            "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
                            "NoExecute" => Some(TaintEffect::NoExecute),
                            _ => {
                                cx.err(
                                    &kp,
                                    format!(
                                        "`{s}` is not NoSchedule, PreferNoSchedule or NoExecute"
                                    ),
                                );
                                None
                            }
                        }
                    }
                }
                other => unknown(cx, &ip, other, &["key", "value", "effect"]),
            }
        }
        for req in ["key", "effect"] {
            if !m.contains_key(req) {
                cx.err(&join(&ip, req), "missing");
            }
        }
        if let (Some(key), Some(effect)) = (key, effect) {
            out.push(Taint { key, value, effect });
        }
    }
    Some(out)
}

fn extra_args(cx: &mut Ctx, v: &Value, p: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(m) = cx.mapping(v, p) else {
        return out;
    };
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        if key.starts_with('-') {
            cx.err(
                &kp,
                format!(
                    "write flag names without dashes; fix: `{}`",
                    key.trim_start_matches('-')
                ),
            );
            continue;
        }
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            cx.err(&kp, "flag names are lowercase letters, digits and `-`");
            continue;
        }
        let owned = match key {
            "node-ip" => Some("kubernetes.advertise"),
            "node-labels" => Some("kubernetes.node_labels"),
            "register-with-taints" => Some("kubernetes.taints"),
            "hostname-override" => Some("hostname"),
            "cgroup-driver" => Some("nothing: kubebake sets systemd everywhere"),
            _ => None,
        };
        if let Some(o) = owned {
            cx.err(&kp, format!("set by kubebake; use {o}"));
            continue;
        }
        if let Some(s) = cx.scalar(val, &kp) {
            out.insert(key.to_string(), s);
        }
    }
    out
}

fn vip(cx: &mut Ctx, v: &Value, p: &str) -> Option<Vip> {
    let m = cx.mapping(v, p)?;
    let (mut address, mut interface) = (None, None);
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        match key {
            "address" => {
                if let Some(s) = cx.string(val, &kp) {
                    match s.parse::<IpAddr>() {
                        Ok(a) => address = Some(a),
                        Err(_) => cx.err(&kp, format!("`{s}` is not an IP address")),
                    }
                }
            }
            "interface" => interface = checked(cx, val, &kp, checks::ifname),
            other => unknown(cx, p, other, &["address", "interface"]),
        }
    }
    for req in ["address", "interface"] {
        if !m.contains_key(req) {
            cx.err(&join(p, req), "missing");
        }
    }
    Some(Vip {
        address: address?,
        interface: interface?,
    })
}
