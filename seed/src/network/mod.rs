//! `network-config` (NoCloud / netplan v2 subset) → systemd-networkd files.
//!
//! Supported: `ethernets` (by name, or `match: {macaddress, name, driver}`
//! with optional `set-name`), `bonds` (`interfaces`, `parameters: {mode,
//! mii-monitor-interval, lacp-rate, transmit-hash-policy, primary}`), `vlans`
//! (`id`, `link`), and on each interface `dhcp4`, `dhcp6`, `addresses`,
//! `gateway4`, `gateway6`, `routes` (`to`, `via`, `metric`), `nameservers`
//! (`addresses`, `search`), `mtu` and `optional`. Anything else is an error
//! with its path: a network the node silently gets wrong is worse than one
//! that refuses to start.
//!
//! MAC matches use networkd's `PermanentMACAddress=`, so bonds and VLANs that
//! inherit a member's MAC are not matched by the member's file. `.link` files
//! (for `set-name`) are applied by udev; on a running system they take effect
//! after `udevadm trigger` or a reboot.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_norway::Value;

use crate::checks;
use crate::cidr::Cidr;
use crate::problem::{index, join, yaml_error, Ctx, Problems};

mod fields;
mod render;

use fields::{bond, ethernet, vlan};
pub use render::render_networkd;

/// A parsed `network-config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `ethernets`, by id.
    pub ethernets: BTreeMap<String, Ethernet>,
    /// `bonds`, by name.
    pub bonds: BTreeMap<String, Bond>,
    /// `vlans`, by name.
    pub vlans: BTreeMap<String, Vlan>,
}

/// Addressing shared by every interface kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addressing {
    /// `dhcp4`.
    pub dhcp4: bool,
    /// `dhcp6`.
    pub dhcp6: bool,
    /// `addresses` (`192.168.6.11/24`).
    pub addresses: Vec<Cidr>,
    /// `gateway4` / `gateway6` and `routes`.
    pub routes: Vec<Route>,
    /// `nameservers.addresses`.
    pub dns: Vec<IpAddr>,
    /// `nameservers.search`.
    pub search: Vec<String>,
    /// `mtu`.
    pub mtu: Option<u32>,
    /// `optional: true`: boot does not wait for it.
    pub optional: bool,
}

/// A route. `gateway4: X` becomes `{to: 0.0.0.0/0, via: X}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination (`default` = `0.0.0.0/0` or `::/0`).
    pub to: Cidr,
    /// Next hop.
    pub via: IpAddr,
    /// Metric.
    pub metric: Option<u32>,
}

/// An `ethernets` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ethernet {
    /// `match.macaddress` (lowercase, `:`-separated).
    pub mac: Option<String>,
    /// `match.name` (may hold globs like `en*`).
    pub match_name: Option<String>,
    /// `match.driver`.
    pub driver: Option<String>,
    /// `set-name`.
    pub set_name: Option<String>,
    /// Addressing.
    pub addressing: Addressing,
}

/// A `bonds` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bond {
    /// Member ethernet ids.
    pub interfaces: Vec<String>,
    /// `parameters.mode` (e.g. `802.3ad`, `active-backup`).
    pub mode: Option<String>,
    /// `parameters.mii-monitor-interval` in ms.
    pub mii_monitor_interval: Option<u32>,
    /// `parameters.lacp-rate` (`slow` | `fast`).
    pub lacp_rate: Option<String>,
    /// `parameters.transmit-hash-policy`.
    pub transmit_hash_policy: Option<String>,
    /// `parameters.primary` (a member id).
    pub primary: Option<String>,
    /// Addressing.
    pub addressing: Addressing,
}

/// A `vlans` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vlan {
    /// VLAN id 1..=4094.
    pub id: u16,
    /// Parent interface id (an ethernet or a bond).
    pub link: String,
    /// Addressing.
    pub addressing: Addressing,
}

const BOND_MODES: [&str; 7] = [
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

/// Parses `network-config` text (v2; with or without a top `network:` key).
pub fn parse(text: &str, source: &str) -> Result<NetworkConfig, Problems> {
    let doc: Value = serde_norway::from_str(text).map_err(|e| yaml_error(source, &e, text))?;
    let mut cx = Ctx::new(source, text);
    let cfg = walk(&mut cx, &doc);
    if cx.problems.is_empty() {
        Ok(cfg)
    } else {
        Err(Problems {
            list: cx.problems,
            warnings: cx.warnings,
        })
    }
}

fn walk(cx: &mut Ctx, doc: &Value) -> NetworkConfig {
    let mut cfg = NetworkConfig::default();
    let (root, base) = match doc {
        Value::Mapping(m) if m.contains_key("network") => (&doc["network"], "network"),
        _ => (doc, ""),
    };
    let Some(m) = cx.mapping(root, base) else {
        return cfg;
    };
    match m.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
        Some(_) => cx.err(
            &join(base, "version"),
            "only network-config version 2 is supported",
        ),
        None => cx.err(&join(base, "version"), "missing; add `version: 2`"),
    }
    for (key, v) in cx.entries(m, base) {
        let p = join(base, key);
        match key {
            "version" => {}
            "renderer" => cx.warn(
                &p,
                "ignored: kubebake always renders systemd-networkd files",
            ),
            "ethernets" => {
                let Some(em) = cx.mapping(v, &p) else {
                    continue;
                };
                for (id, ev) in cx.entries(em, &p) {
                    let ip = join(&p, id);
                    if let Some(e) = ethernet(cx, ev, &ip, id) {
                        cfg.ethernets.insert(id.to_string(), e);
                    }
                }
            }
            "bonds" => {
                let Some(bm) = cx.mapping(v, &p) else {
                    continue;
                };
                for (id, bv) in cx.entries(bm, &p) {
                    let ip = join(&p, id);
                    if let Err(e) = checks::ifname(id) {
                        cx.err(&ip, e);
                    }
                    if let Some(b) = bond(cx, bv, &ip) {
                        cfg.bonds.insert(id.to_string(), b);
                    }
                }
            }
            "vlans" => {
                let Some(vm) = cx.mapping(v, &p) else {
                    continue;
                };
                for (id, vv) in cx.entries(vm, &p) {
                    let ip = join(&p, id);
                    if let Err(e) = checks::ifname(id) {
                        cx.err(&ip, e);
                    }
                    if let Some(vl) = vlan(cx, vv, &ip) {
                        cfg.vlans.insert(id.to_string(), vl);
                    }
                }
            }
            other => cx.err(
                &p,
                format!("`{other}` is not supported (ethernets, bonds, vlans)"),
            ),
        }
    }
    references(cx, &cfg, base);
    cfg
}

fn references(cx: &mut Ctx, cfg: &NetworkConfig, base: &str) {
    let mut member_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, b) in &cfg.bonds {
        let p = join(&join(base, "bonds"), name);
        for (i, m) in b.interfaces.iter().enumerate() {
            match cfg.ethernets.get(m) {
                None => cx.err(
                    &index(&join(&p, "interfaces"), i),
                    format!("`{m}` is not defined under ethernets"),
                ),
                Some(e) if e.addressing != Addressing::default() => cx.err(
                    &join(&join(&join(base, "ethernets"), m), "addresses"),
                    format!("`{m}` is a member of bond `{name}`; put its addressing on the bond"),
                ),
                Some(_) => {}
            }
            if let Some(other) = member_of.insert(m, name) {
                cx.err(&p, format!("`{m}` is already a member of bond `{other}`"));
            }
        }
        if let Some(primary) = &b.primary {
            if !b.interfaces.contains(primary) {
                cx.err(
                    &join(&p, "parameters.primary"),
                    format!("`{primary}` is not one of the bond's interfaces"),
                );
            }
        }
    }
    for (name, v) in &cfg.vlans {
        if !cfg.ethernets.contains_key(&v.link) && !cfg.bonds.contains_key(&v.link) {
            cx.err(
                &join(&join(&join(base, "vlans"), name), "link"),
                format!("`{}` is not defined under ethernets or bonds", v.link),
            );
        }
    }
    let mut names = BTreeMap::new();
    for id in cfg
        .ethernets
        .keys()
        .chain(cfg.bonds.keys())
        .chain(cfg.vlans.keys())
    {
        if names.insert(id.as_str(), ()).is_some() {
            cx.err(base, format!("interface id `{id}` is defined twice"));
        }
    }
}

#[cfg(test)]
mod tests;
