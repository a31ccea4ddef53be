//! Local interfaces and the choice of the advertise address (multi-NIC
//! nodes): the first IPv4 (else global IPv6) address on the named interface
//! or inside the given CIDR. Addresses come from `ip -j addr show`.

use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Kernel name (`eth0`, `enp1s0`).
    pub name: String,
    /// MAC address, lower case, when it has one.
    pub mac: Option<String>,
    /// Addresses with prefix length.
    pub addrs: Vec<(IpAddr, u8)>,
}

/// What the seed asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// An interface by name.
    Interface(String),
    /// A network.
    Cidr(IpAddr, u8),
    /// No preference: the first global address on a non-loopback interface.
    Default,
}

/// Network errors.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Running `ip` failed.
    #[error("ip -j addr show: {0}")]
    Command(String),
    /// Its output did not parse.
    #[error("ip -j addr show: bad JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// No address matched.
    #[error("{0}")]
    NoMatch(String),
}

#[derive(Deserialize)]
struct JsonIface {
    ifname: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    link_type: Option<String>,
    #[serde(default)]
    addr_info: Vec<JsonAddr>,
}

#[derive(Deserialize)]
struct JsonAddr {
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    prefixlen: Option<u8>,
    #[serde(default)]
    scope: Option<String>,
}

/// Parses `ip -j addr show` output.
pub fn parse_ip_json(json: &str) -> Result<Vec<Iface>, NetError> {
    let raw: Vec<JsonIface> = serde_json::from_str(json)?;
    Ok(raw
        .into_iter()
        .map(|i| Iface {
            mac: i
                .address
                .filter(|_| i.link_type.as_deref() != Some("loopback"))
                .map(|m| m.to_ascii_lowercase()),
            addrs: i
                .addr_info
                .iter()
                .filter(|a| a.scope.as_deref() != Some("link"))
                .filter_map(|a| Some((a.local.as_deref()?.parse().ok()?, a.prefixlen.unwrap_or(0))))
                .collect(),
            name: i.ifname,
        })
        .collect())
}

/// Lists the interfaces of this node: `ip -j addr show`, or `/proc` and
/// `/sys` when iproute2 is not installed.
pub fn list() -> Result<Vec<Iface>, NetError> {
    let out = match Command::new("ip").args(["-j", "addr", "show"]).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(list_from_proc(Path::new("/")))
        }
        Err(e) => return Err(NetError::Command(e.to_string())),
    };
    if !out.status.success() {
        return Err(NetError::Command(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    parse_ip_json(&String::from_utf8_lossy(&out.stdout))
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_default()
}

/// Local IPv4 addresses from `/proc/net/fib_trie` (`/32 host LOCAL` leaves).
fn fib_locals(fib: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for l in fib.lines() {
        let t = l.trim();
        if let Some(ip) = t.strip_prefix("|-- ") {
            last = ip.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// Interfaces from `/proc/net/{fib_trie,route,if_inet6}` and
/// `/sys/class/net/*/address` under `root` (fallback without iproute2).
pub fn list_from_proc(root: &Path) -> Vec<Iface> {
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(root.join("sys/class/net"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for n in names {
        let mac = read(root, &format!("sys/class/net/{n}/address"))
            .trim()
            .to_ascii_lowercase();
        ifaces.push(Iface {
            mac: (!mac.is_empty() && n != "lo").then_some(mac),
            name: n,
            addrs: Vec::new(),
        });
    }
    // (iface, dest, mask) from the routing table, hex in host (little-endian) order
    let routes: Vec<(String, u32, u32)> = read(root, "proc/net/route")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let hex = |s: &str| {
                u32::from_str_radix(s, 16)
                    .ok()
                    .map(|v| u32::from_be_bytes(v.to_ne_bytes()))
            };
            Some((f.first()?.to_string(), hex(f.get(1)?)?, hex(f.get(7)?)?))
        })
        .collect();
    let mut push = |name: &str, ip: IpAddr, prefix: u8| {
        if let Some(i) = ifaces.iter_mut().find(|i| i.name == name) {
            if !i.addrs.iter().any(|(a, _)| *a == ip) {
                i.addrs.push((ip, prefix));
            }
        }
    };
    for ip in fib_locals(&read(root, "proc/net/fib_trie")) {
        let a = u32::from(ip);
        let best = routes
            .iter()
            .filter(|(_, d, m)| *m != 0 && a & m == *d)
            .max_by_key(|(_, _, m)| m.count_ones());
        match best {
            Some((name, _, m)) => push(
                name,
                IpAddr::V4(ip),
                u8::try_from(m.count_ones()).unwrap_or(32),
            ),
            None if ip.is_loopback() => push("lo", IpAddr::V4(ip), 8),
            None => {}
        }
    }
    for l in read(root, "proc/net/if_inet6").lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 || f[3] == "20" {
            continue; // link-local scope
        }
        if let (Ok(a), Ok(p)) = (u128::from_str_radix(f[0], 16), u8::from_str_radix(f[2], 16)) {
            push(f[5], IpAddr::V6(Ipv6Addr::from(a)), p);
        }
    }
    ifaces
}

/// Whether `ip` is inside `net/prefix`.
pub fn cidr_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = u32::from(prefix.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = u32::from(prefix.min(128));
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn first_pref_v4(addrs: impl Iterator<Item = IpAddr> + Clone) -> Option<IpAddr> {
    addrs
        .clone()
        .find(IpAddr::is_ipv4)
        .or_else(|| addrs.into_iter().find(|a| a.is_ipv6()))
}

fn describe(ifaces: &[Iface]) -> String {
    let v: Vec<String> = ifaces
        .iter()
        .map(|i| {
            let a: Vec<String> = i.addrs.iter().map(|(ip, p)| format!("{ip}/{p}")).collect();
            format!(
                "{}={}",
                i.name,
                if a.is_empty() {
                    "-".into()
                } else {
                    a.join(",")
                }
            )
        })
        .collect();
    v.join(" ")
}

/// Chooses the advertise address.
pub fn choose(want: &Want, ifaces: &[Iface]) -> Result<IpAddr, NetError> {
    let found = match want {
        Want::Interface(name) => ifaces
            .iter()
            .find(|i| &i.name == name)
            .and_then(|i| first_pref_v4(i.addrs.iter().map(|(a, _)| *a))),
        Want::Cidr(net, p) => first_pref_v4(
            ifaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|(a, _)| *a))
                .filter(|a| cidr_contains(*net, *p, *a)),
        ),
        Want::Default => first_pref_v4(
            ifaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|(a, _)| *a))
                .filter(|a| !a.is_loopback()),
        ),
    };
    found.ok_or_else(|| {
        let what = match want {
            Want::Interface(n) => format!("no address on interface {n}"),
            Want::Cidr(n, p) => format!("no local address in {n}/{p}"),
            Want::Default => "no global address on any interface".into(),
        };
        NetError::NoMatch(format!(
            "{what}; this node has: {}. Fix kubernetes.advertise in the seed or the network-config",
            describe(ifaces)
        ))
    })
}

/// Waits up to `timeout` for the wanted address (DHCP may still be running);
/// returns it and the time waited.
pub fn wait_for(want: &Want, timeout: Duration) -> Result<(IpAddr, Duration), NetError> {
    let start = Instant::now();
    loop {
        let r = list().and_then(|l| choose(want, &l));
        match r {
            Ok(ip) => return Ok((ip, start.elapsed())),
            Err(e) if start.elapsed() >= timeout => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// MAC addresses of the physical-looking interfaces.
pub fn macs(ifaces: &[Iface]) -> Vec<String> {
    ifaces
        .iter()
        .filter_map(|i| i.mac.clone())
        .filter(|m| m != "00:00:00:00:00:00")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_NICS: &str = r#"[
 {"ifindex":1,"ifname":"lo","link_type":"loopback","address":"00:00:00:00:00:00",
  "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
 {"ifindex":2,"ifname":"eth0","link_type":"ether","address":"52:54:00:12:34:56",
  "addr_info":[{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},
               {"family":"inet","local":"10.0.2.15","prefixlen":24,"scope":"global"}]},
 {"ifindex":3,"ifname":"eth1","link_type":"ether","address":"52:54:00:AB:CD:EF",
  "addr_info":[{"family":"inet6","local":"fd00::5","prefixlen":64,"scope":"global"},
               {"family":"inet","local":"192.168.6.21","prefixlen":24,"scope":"global"}]}
]"#;

    #[test]
    fn picks_second_nic_by_name_or_cidr() {
        let l = parse_ip_json(TWO_NICS).expect("parse");
        assert_eq!(l.len(), 3);
        let ip: IpAddr = "192.168.6.21".parse().expect("ip");
        assert_eq!(choose(&Want::Interface("eth1".into()), &l).expect("if"), ip);
        let net: IpAddr = "192.168.6.0".parse().expect("ip");
        assert_eq!(choose(&Want::Cidr(net, 24), &l).expect("cidr"), ip);
        assert_eq!(
            choose(&Want::Default, &l).expect("default"),
            "10.0.2.15".parse::<IpAddr>().expect("ip")
        );
        let v6: IpAddr = "fd00::".parse().expect("ip");
        assert_eq!(
            choose(&Want::Cidr(v6, 64), &l).expect("v6"),
            "fd00::5".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn no_match_lists_what_exists() {
        let l = parse_ip_json(TWO_NICS).expect("parse");
        let e = choose(&Want::Interface("eth9".into()), &l).expect_err("none");
        let m = e.to_string();
        assert!(
            m.contains("eth9") && m.contains("eth1=") && m.contains("192.168.6.21/24"),
            "{m}"
        );
        let net: IpAddr = "172.16.0.0".parse().expect("ip");
        assert!(choose(&Want::Cidr(net, 12), &l).is_err());
    }

    #[test]
    fn macs_skip_loopback_and_lowercase() {
        let l = parse_ip_json(TWO_NICS).expect("parse");
        assert_eq!(macs(&l), vec!["52:54:00:12:34:56", "52:54:00:ab:cd:ef"]);
    }

    #[test]
    fn proc_fallback_two_nics() {
        let d = tempfile::tempdir().expect("tmp");
        let w = |p: &str, c: &str| {
            let f = d.path().join(p);
            std::fs::create_dir_all(f.parent().expect("p")).expect("mk");
            std::fs::write(f, c).expect("w");
        };
        w("sys/class/net/lo/address", "00:00:00:00:00:00\n");
        w("sys/class/net/eth0/address", "52:54:00:12:34:56\n");
        w("sys/class/net/eth1/address", "52:54:00:AB:CD:EF\n");
        w(
            "proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t0202000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n\
             eth1\t0006A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n",
        );
        w(
            "proc/net/fib_trie",
            "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 10.0.2.0/24 2 0 2\n        |-- 10.0.2.15\n           /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 192.168.6.21\n        /32 host LOCAL\n        |-- 192.168.6.255\n           /32 link BROADCAST\nLocal:\n     |-- 192.168.6.21\n        /32 host LOCAL\n",
        );
        w(
            "proc/net/if_inet6",
            "fe800000000000000000000000000001 02 40 20 80     eth0\nfd000000000000000000000000000005 03 40 00 80     eth1\n",
        );
        let l = list_from_proc(d.path());
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let by = |n: &str| l.iter().find(|i| i.name == n).expect("iface").clone();
        assert_eq!(by("eth0").addrs, vec![(ip("10.0.2.15"), 24)]);
        assert_eq!(
            by("eth1").addrs,
            vec![(ip("192.168.6.21"), 24), (ip("fd00::5"), 64)]
        );
        assert_eq!(by("lo").addrs, vec![(ip("127.0.0.1"), 8)]);
        assert_eq!(
            choose(&Want::Interface("eth1".into()), &l).expect("eth1"),
            ip("192.168.6.21")
        );
        assert_eq!(macs(&l), vec!["52:54:00:12:34:56", "52:54:00:ab:cd:ef"]);
    }

    #[test]
    fn proc_fallback_matches_ip_on_this_host() {
        // the oracle is iproute2 itself: every IPv4 it reports is found
        let Ok(o) = Command::new("ip").args(["-j", "addr", "show"]).output() else {
            return;
        };
        let from_ip = parse_ip_json(&String::from_utf8_lossy(&o.stdout)).expect("json");
        let from_proc = list_from_proc(Path::new("/"));
        for i in &from_ip {
            for (a, p) in i.addrs.iter().filter(|(a, _)| a.is_ipv4()) {
                let f = from_proc
                    .iter()
                    .find(|x| x.name == i.name)
                    .expect("iface in /sys");
                assert!(
                    f.addrs.contains(&(*a, *p)),
                    "{} {a}/{p} missing in {:?}",
                    i.name,
                    f.addrs
                );
            }
        }
    }

    #[test]
    fn cidr_math() {
        let n: IpAddr = "10.0.0.0".parse().expect("ip");
        assert!(cidr_contains(n, 8, "10.255.1.1".parse().expect("ip")));
        assert!(!cidr_contains(n, 8, "11.0.0.1".parse().expect("ip")));
        assert!(cidr_contains(n, 0, "1.2.3.4".parse().expect("ip")));
        assert!(!cidr_contains(n, 8, "::1".parse().expect("ip")));
    }
}
