//! [`Version`]: a Kubernetes release number like `1.35.1`.

use std::fmt;
use std::str::FromStr;

/// `MAJOR.MINOR.PATCH`, written with or without a leading `v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major (1).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

/// A version string that is not `1.35.1`-shaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a version like 1.35.1")]
pub struct VersionError(pub String);

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError(s.to_string());
        let t = s.strip_prefix('v').unwrap_or(s);
        let mut it = t.split('.');
        let mut next = || -> Result<u32, VersionError> {
            let p = it.next().ok_or_else(bad)?;
            if p.is_empty()
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let v = Version {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            "1.35.1".parse(),
            Ok(Version {
                major: 1,
                minor: 35,
                patch: 1
            })
        );
        assert_eq!(
            "v1.30.0".parse(),
            Ok(Version {
                major: 1,
                minor: 30,
                patch: 0
            })
        );
        for bad in [
            "1.35",
            "1.35.1.2",
            "1.35.x",
            "",
            "v",
            "1.035.1",
            "1.35.1-rc.0",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
        assert!(
            Version {
                major: 1,
                minor: 31,
                patch: 0
            } > "1.30.9".parse().expect("v")
        );
    }
}
