//! The interface kinds of `network-config` and their addressing keys.

use serde_norway::Value;

use super::{Addressing, Bond, Ethernet, Route, Vlan, BOND_MODES};
use crate::checks;
use crate::cidr::Cidr;
use crate::problem::{index, join, Ctx};
use std::net::IpAddr;

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

pub(super) fn ethernet(cx: &mut Ctx, v: &Value, p: &str, id: &str) -> Option<Ethernet> {
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

pub(super) fn bond(cx: &mut Ctx, v: &Value, p: &str) -> Option<Bond> {
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

pub(super) fn vlan(cx: &mut Ctx, v: &Value, p: &str) -> Option<Vlan> {
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
