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
use std::fmt::Write as _;
use std::net::IpAddr;

use serde_norway::Value;

use crate::checks;
use crate::cidr::Cidr;
use crate::problem::{index, join, yaml_error, Ctx, Problems};

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

fn mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    (parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit())))
    .then(|| s.to_ascii_lowercase())
}

const ADDRESSING: [&str; 9] = [
    "dhcp4",
    "dhcp6",
    "addresses",
    "gateway4",
    "gateway6",
    "routes",
    "nameservers",
    "mtu",
    "optional",
];

/// Handles one addressing key; false if `key` is not an addressing key.
fn addressing_key(cx: &mut Ctx, a: &mut Addressing, key: &str, v: &Value, p: &str) -> bool {
    let kp = join(p, key);
    match key {
        "dhcp4" => a.dhcp4 = cx.boolean(v, &kp).unwrap_or(false),
        "dhcp6" => a.dhcp6 = cx.boolean(v, &kp).unwrap_or(false),
        "optional" => a.optional = cx.boolean(v, &kp).unwrap_or(false),
        "mtu" => match v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (68..=65535).contains(n))
        {
            Some(n) => a.mtu = Some(n),
            None => cx.err(&kp, "must be a number 68..=65535"),
        },
        "addresses" => {
            for (i, s) in cx.strings(v, &kp).iter().enumerate() {
                match s.parse::<Cidr>() {
                    Ok(c) => a.addresses.push(c),
                    Err(e) => cx.err(&index(&kp, i), format!("`{s}`: {e}")),
                }
            }
        }
        "gateway4" | "gateway6" => {
            if let Some(s) = cx.string(v, &kp) {
                let want_v4 = key == "gateway4";
                match s.parse::<IpAddr>() {
                    Ok(ip) if ip.is_ipv4() == want_v4 => a.routes.push(Route {
                        to: if want_v4 { default_v4() } else { default_v6() },
                        via: ip,
                        metric: None,
                    }),
                    _ => cx.err(
                        &kp,
                        format!("`{s}` is not an IPv{} address", if want_v4 { 4 } else { 6 }),
                    ),
                }
            }
        }
        "routes" => {
            let Some(items) = cx.seq(v, &kp) else {
                return true;
            };
            for (i, item) in items.iter().enumerate() {
                let rp = index(&kp, i);
                if let Some(r) = route(cx, item, &rp) {
                    a.routes.push(r);
                }
            }
        }
        "nameservers" => {
            let Some(m) = cx.mapping(v, &kp) else {
                return true;
            };
            for (nk, nv) in cx.entries(m, &kp) {
                let np = join(&kp, nk);
                match nk {
                    "addresses" => {
                        for (i, s) in cx.strings(nv, &np).iter().enumerate() {
                            match s.parse::<IpAddr>() {
                                Ok(ip) => a.dns.push(ip),
                                Err(_) => {
                                    cx.err(&index(&np, i), format!("`{s}` is not an IP address"))
                                }
                            }
                        }
                    }
                    "search" => {
                        for (i, s) in cx.strings(nv, &np).iter().enumerate() {
                            match checks::hostname(s) {
                                Ok(()) => a.search.push(s.clone()),
                                Err(e) => cx.err(&index(&np, i), e),
                            }
                        }
                    }
                    other => cx.err(&join(&kp, other), "unknown key; allowed: addresses, search"),
                }
            }
        }
        _ => return false,
    }
    true
}

fn default_v4() -> Cidr {
    Cidr {
        addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        prefix: 0,
    }
}

fn default_v6() -> Cidr {
    Cidr {
        addr: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        prefix: 0,
    }
}

fn route(cx: &mut Ctx, v: &Value, p: &str) -> Option<Route> {
    let m = cx.mapping(v, p)?;
    let (mut to, mut via, mut metric) = (None, None, None);
    for (k, val) in cx.entries(m, p) {
        let kp = join(p, k);
        match k {
            "to" => {
                let s = cx.string(val, &kp)?;
                to = if s == "default" {
                    Some(None)
                } else {
                    match s.parse::<Cidr>() {
                        Ok(c) => Some(Some(c)),
                        Err(e) => {
                            cx.err(&kp, format!("`{s}`: {e}"));
                            None
                        }
                    }
                };
            }
            "via" => {
                let s = cx.string(val, &kp)?;
                match s.parse::<IpAddr>() {
                    Ok(ip) => via = Some(ip),
                    Err(_) => cx.err(&kp, format!("`{s}` is not an IP address")),
                }
            }
            "metric" => match val.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => metric = Some(n),
                None => cx.err(&kp, "must be a non-negative number"),
            },
            other => cx.err(
                &kp,
                format!("`{other}`: unknown key; allowed: to, via, metric"),
            ),
        }
    }
    for req in ["to", "via"] {
        if !m.contains_key(req) {
            cx.err(&join(p, req), "missing");
        }
    }
    let via = via?;
    let to = match to? {
        Some(c) => c,
        None if via.is_ipv4() => default_v4(),
        None => default_v6(),
    };
    if to.addr.is_ipv4() != via.is_ipv4() {
        cx.err(p, "`to` and `via` must be the same IP family");
        return None;
    }
    Some(Route { to, via, metric })
}

fn ethernet(cx: &mut Ctx, v: &Value, p: &str, id: &str) -> Option<Ethernet> {
    let m = cx.mapping(v, p)?;
    let mut e = Ethernet::default();
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        match key {
            "match" => {
                let Some(mm) = cx.mapping(val, &kp) else {
                    continue;
                };
                for (mk, mv) in cx.entries(mm, &kp) {
                    let mp = join(&kp, mk);
                    let Some(s) = cx.string(mv, &mp) else {
                        continue;
                    };
                    match mk {
                        "macaddress" => match mac(&s) {
                            Some(m) => e.mac = Some(m),
                            None => {
                                cx.err(&mp, format!("`{s}` is not a MAC like aa:bb:cc:dd:ee:ff"))
                            }
                        },
                        "name" => e.match_name = Some(s),
                        "driver" => e.driver = Some(s),
                        other => cx.err(
                            &mp,
                            format!("`{other}`: unknown key; allowed: macaddress, name, driver"),
                        ),
                    }
                }
            }
            "set-name" => {
                if let Some(s) = cx.string(val, &kp) {
                    match checks::ifname(&s) {
                        Ok(()) => e.set_name = Some(s),
                        Err(err) => cx.err(&kp, err),
                    }
                }
            }
            k if addressing_key(cx, &mut e.addressing, k, val, p) => {}
            other => cx.err(
                &kp,
                format!(
                    "`{other}`: unknown key; allowed: match, set-name, {}",
                    ADDRESSING.join(", ")
                ),
            ),
        }
    }
    let matched = e.mac.is_some() || e.match_name.is_some() || e.driver.is_some();
    if e.set_name.is_some() && e.mac.is_none() {
        cx.err(
            &join(p, "set-name"),
            "needs match.macaddress (renaming by name or driver is ambiguous)",
        );
    }
    if !matched {
        if let Err(err) = checks::ifname(id) {
            cx.err(p, format!("{err}; or add a `match:`"));
        }
    }
    Some(e)
}

fn bond(cx: &mut Ctx, v: &Value, p: &str) -> Option<Bond> {
    let m = cx.mapping(v, p)?;
    let mut b = Bond::default();
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        match key {
            "interfaces" => b.interfaces = cx.strings(val, &kp),
            "parameters" => {
                let Some(pm) = cx.mapping(val, &kp) else {
                    continue;
                };
                for (pk, pv) in cx.entries(pm, &kp) {
                    let pp = join(&kp, pk);
                    match pk {
                        "mode" => {
                            if let Some(s) = cx.string(pv, &pp) {
                                if BOND_MODES.contains(&s.as_str()) {
                                    b.mode = Some(s);
                                } else {
                                    cx.err(&pp, format!("`{s}` is not one of {}", BOND_MODES.join(", ")));
                                }
                            }
                        }
                        "mii-monitor-interval" => match pv.as_u64().and_then(|n| u32::try_from(n).ok()) {
                            Some(n) => b.mii_monitor_interval = Some(n),
                            None => cx.err(&pp, "must be a number of milliseconds"),
                        },
                        "lacp-rate" => {
                            if let Some(s) = cx.string(pv, &pp) {
                                if s == "slow" || s == "fast" {
                                    b.lacp_rate = Some(s);
                                } else {
                                    cx.err(&pp, "must be slow or fast");
                                }
                            }
                        }
                        "transmit-hash-policy" => b.transmit_hash_policy = cx.string(pv, &pp),
                        "primary" => b.primary = cx.string(pv, &pp),
                        other => cx.err(
                            &pp,
                            format!("`{other}`: unknown key; allowed: mode, mii-monitor-interval, lacp-rate, transmit-hash-policy, primary"),
                        ),
                    }
                }
            }
            k if addressing_key(cx, &mut b.addressing, k, val, p) => {}
            other => cx.err(
                &kp,
                format!(
                    "`{other}`: unknown key; allowed: interfaces, parameters, {}",
                    ADDRESSING.join(", ")
                ),
            ),
        }
    }
    if b.interfaces.is_empty() {
        cx.err(
            &join(p, "interfaces"),
            "a bond needs at least one interface",
        );
    }
    Some(b)
}

fn vlan(cx: &mut Ctx, v: &Value, p: &str) -> Option<Vlan> {
    let m = cx.mapping(v, p)?;
    let mut vl = Vlan::default();
    let (mut id, mut link) = (None, None);
    for (key, val) in cx.entries(m, p) {
        let kp = join(p, key);
        match key {
            "id" => match val
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (1..=4094).contains(n))
            {
                Some(n) => id = Some(n),
                None => cx.err(&kp, "must be a VLAN id 1..=4094"),
            },
            "link" => link = cx.string(val, &kp),
            k if addressing_key(cx, &mut vl.addressing, k, val, p) => {}
            other => cx.err(
                &kp,
                format!(
                    "`{other}`: unknown key; allowed: id, link, {}",
                    ADDRESSING.join(", ")
                ),
            ),
        }
    }
    for req in ["id", "link"] {
        if !m.contains_key(req) {
            cx.err(&join(p, req), "missing");
        }
    }
    // An invalid id was reported; keep the entry so `link` is still checked.
    vl.id = id.unwrap_or(0);
    vl.link = link?;
    Some(vl)
}

// ---------------------------------------------------------------- render

const HEADER: &str = "# generated by kubebake from network-config\n";

fn match_section(out: &mut String, id: &str, e: Option<&Ethernet>) {
    out.push_str("[Match]\n");
    match e {
        Some(e) if e.mac.is_some() || e.match_name.is_some() || e.driver.is_some() => {
            if let Some(m) = &e.mac {
                let _ = writeln!(out, "PermanentMACAddress={m}");
            }
            if let Some(n) = &e.match_name {
                let _ = writeln!(out, "Name={n}");
            }
            if let Some(d) = &e.driver {
                let _ = writeln!(out, "Driver={d}");
            }
        }
        _ => {
            let _ = writeln!(out, "Name={id}");
        }
    }
}

fn network_file(id: &str, e: Option<&Ethernet>, a: &Addressing, extra: &[String]) -> String {
    let mut out = String::from(HEADER);
    match_section(&mut out, id, e);
    if a.mtu.is_some() || a.optional {
        out.push_str("\n[Link]\n");
        if let Some(m) = a.mtu {
            let _ = writeln!(out, "MTUBytes={m}");
        }
        if a.optional {
            out.push_str("RequiredForOnline=no\n");
        }
    }
    out.push_str("\n[Network]\n");
    let dhcp = match (a.dhcp4, a.dhcp6) {
        (true, true) => Some("yes"),
        (true, false) => Some("ipv4"),
        (false, true) => Some("ipv6"),
        (false, false) => None,
    };
    if let Some(d) = dhcp {
        let _ = writeln!(out, "DHCP={d}");
    }
    // As netplan: IPv6 link-local by default, none on bond members.
    if extra.iter().any(|l| l.starts_with("Bond=")) {
        out.push_str("LinkLocalAddressing=no\n");
    } else {
        out.push_str("LinkLocalAddressing=ipv6\n");
    }
    for addr in &a.addresses {
        let _ = writeln!(out, "Address={addr}");
    }
    for d in &a.dns {
        let _ = writeln!(out, "DNS={d}");
    }
    if !a.search.is_empty() {
        let _ = writeln!(out, "Domains={}", a.search.join(" "));
    }
    for x in extra {
        out.push_str(x);
        out.push('\n');
    }
    for r in &a.routes {
        out.push_str("\n[Route]\n");
        let _ = writeln!(out, "Destination={}", r.to);
        let _ = writeln!(out, "Gateway={}", r.via);
        if let Some(m) = r.metric {
            let _ = writeln!(out, "Metric={m}");
        }
    }
    out
}

/// The interface name an id stands for (what bonds and VLANs refer to in
/// networkd's `Bond=`/`VLAN=` is the netdev name, which is the id).
fn render_bond_netdev(name: &str, b: &Bond) -> String {
    let mut out = format!("{HEADER}[NetDev]\nName={name}\nKind=bond\n");
    let mut params = String::new();
    if let Some(m) = &b.mode {
        let _ = writeln!(params, "Mode={m}");
    }
    if let Some(ms) = b.mii_monitor_interval {
        let _ = writeln!(params, "MIIMonitorSec={ms}ms");
    }
    if let Some(r) = &b.lacp_rate {
        let _ = writeln!(params, "LACPTransmitRate={r}");
    }
    if let Some(t) = &b.transmit_hash_policy {
        let _ = writeln!(params, "TransmitHashPolicy={t}");
    }
    if !params.is_empty() {
        out.push_str("\n[Bond]\n");
        out.push_str(&params);
    }
    out
}

/// networkd files, as `(file name, contents)` sorted by name:
/// `10-kubebake-<id>.link` (set-name), `15-kubebake-<id>.netdev` (bonds,
/// VLANs) and `20-kubebake-<id>.network`. Install them in
/// `/etc/systemd/network/`.
pub fn render_networkd(cfg: &NetworkConfig) -> Vec<(String, String)> {
    let mut files = BTreeMap::new();
    // Which netdevs each interface carries.
    let mut extra: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, b) in &cfg.bonds {
        for m in &b.interfaces {
            let lines = extra.entry(m.as_str()).or_default();
            lines.push(format!("Bond={name}"));
            if b.primary.as_deref() == Some(m.as_str()) {
                lines.push("PrimarySlave=true".to_string());
            }
        }
        files.insert(
            format!("15-kubebake-{name}.netdev"),
            render_bond_netdev(name, b),
        );
    }
    for (name, v) in &cfg.vlans {
        extra
            .entry(v.link.as_str())
            .or_default()
            .push(format!("VLAN={name}"));
        files.insert(
            format!("15-kubebake-{name}.netdev"),
            format!(
                "{HEADER}[NetDev]\nName={name}\nKind=vlan\n\n[VLAN]\nId={}\n",
                v.id
            ),
        );
    }
    for (id, e) in &cfg.ethernets {
        if let (Some(mac), Some(new)) = (&e.mac, &e.set_name) {
            files.insert(
                format!("10-kubebake-{id}.link"),
                format!("{HEADER}[Match]\nPermanentMACAddress={mac}\n\n[Link]\nName={new}\n"),
            );
        }
        let lines = extra.get(id.as_str()).cloned().unwrap_or_default();
        files.insert(
            format!("20-kubebake-{id}.network"),
            network_file(id, Some(e), &e.addressing, &lines),
        );
    }
    for (name, b) in &cfg.bonds {
        let lines = extra.get(name.as_str()).cloned().unwrap_or_default();
        files.insert(
            format!("20-kubebake-{name}.network"),
            network_file(name, None, &b.addressing, &lines),
        );
    }
    for (name, v) in &cfg.vlans {
        let lines = extra.get(name.as_str()).cloned().unwrap_or_default();
        files.insert(
            format!("20-kubebake-{name}.network"),
            network_file(name, None, &v.addressing, &lines),
        );
    }
    files.into_iter().collect()
}

#[cfg(test)]
mod tests;
