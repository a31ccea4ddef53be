//! [`Cidr`]: an IP network (`10.244.0.0/16`) or an address with prefix.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// `address/prefix`. [`Cidr::is_network`] tells whether host bits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The address as written.
    pub addr: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub prefix: u8,
}

/// Why a CIDR did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// No `/`.
    #[error("missing /prefix (e.g. 10.244.0.0/16)")]
    NoPrefix,
    /// Bad address part.
    #[error("`{0}` is not an IP address")]
    Addr(String),
    /// Bad prefix part.
    #[error("prefix `{0}` is not 0..=32 (IPv4) or 0..=128 (IPv6)")]
    Prefix(String),
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s.split_once('/').ok_or(CidrError::NoPrefix)?;
        let addr: IpAddr = a.parse().map_err(|_| CidrError::Addr(a.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| CidrError::Prefix(p.to_string()))?;
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    let all: u128 = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    if prefix == 0 {
        0
    } else {
        (all >> (width - prefix)) << (width - prefix) & all
    }
}

impl Cidr {
    /// The network (host bits cleared).
    pub fn network(&self) -> Cidr {
        let (b, w) = bits(self.addr);
        let n = b & mask(self.prefix, w);
        let addr = if w == 32 {
            IpAddr::V4(std::net::Ipv4Addr::from(u32::try_from(n).unwrap_or(0)))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(n))
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    /// True when no host bit is set.
    pub fn is_network(&self) -> bool {
        self.network().addr == self.addr
    }

    /// Whether `ip` lies inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, wa) = bits(self.addr);
        let (b, wb) = bits(ip);
        wa == wb && (a & mask(self.prefix, wa)) == (b & mask(self.prefix, wb))
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let longer = if self.prefix <= other.prefix {
            other
        } else {
            self
        };
        shorter.contains(longer.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().expect("cidr")
    }

    #[test]
    fn overlap_and_contains() {
        assert!(c("10.96.0.0/12").overlaps(&c("10.100.0.0/16")));
        assert!(c("10.100.0.0/16").overlaps(&c("10.96.0.0/12")));
        assert!(!c("10.244.0.0/16").overlaps(&c("10.96.0.0/12")));
        assert!(c("192.168.6.0/24").contains("192.168.6.77".parse().expect("ip")));
        assert!(!c("192.168.6.0/24").contains("192.168.7.1".parse().expect("ip")));
        assert!(c("fd00::/8").contains("fd12::1".parse().expect("ip")));
        assert!(!c("0.0.0.0/0").contains("::1".parse().expect("ip")));
        assert!(c("0.0.0.0/0").contains("8.8.8.8".parse().expect("ip")));
    }

    #[test]
    fn network_bits() {
        assert!(c("10.244.0.0/16").is_network());
        assert!(!c("10.244.1.0/16").is_network());
        assert_eq!(c("10.244.1.7/16").network().to_string(), "10.244.0.0/16");
        assert!(c("1.2.3.4/32").is_network());
        assert_eq!("10.0.0.0".parse::<Cidr>(), Err(CidrError::NoPrefix));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }
}
