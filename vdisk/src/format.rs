//! The closed set of output formats.

use std::fmt;
use std::str::FromStr;

/// An output format of `kubebake build --format` / `kubebake convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Raw GPT disk (sparse file).
    #[cfg_attr(feature = "clap", value(name = "raw"))]
    Raw,
    /// qcow2 v3 (Proxmox, OpenStack, libvirt).
    #[cfg_attr(feature = "clap", value(name = "qcow2"))]
    Qcow2,
    /// streamOptimized VMDK (vSphere, VirtualBox).
    #[cfg_attr(feature = "clap", value(name = "vmdk"))]
    Vmdk,
    /// OVA: OVF envelope + manifest + streamOptimized VMDK (vSphere).
    #[cfg_attr(feature = "clap", value(name = "ova"))]
    Ova,
    /// Fixed VHD, size a whole MiB (Azure, Hyper-V).
    #[cfg_attr(feature = "clap", value(name = "vhd"))]
    Vhd,
    /// xz-compressed raw, with a `.bmap` beside it.
    #[cfg_attr(feature = "clap", value(name = "raw.xz"))]
    RawXz,
    /// zstd-compressed raw, with a `.bmap` beside it.
    #[cfg_attr(feature = "clap", value(name = "raw.zst"))]
    RawZst,
}

impl Format {
    /// Every format, in the order outputs are written and listed.
    pub const ALL: [Format; 7] = [
        Format::Raw,
        Format::Qcow2,
        Format::Vmdk,
        Format::Ova,
        Format::Vhd,
        Format::RawXz,
        Format::RawZst,
    ];

    /// The name on the command line and in profiles (`raw.xz`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Ova => "ova",
            Format::Vhd => "vhd",
            Format::RawXz => "raw.xz",
            Format::RawZst => "raw.zst",
        }
    }

    /// The file name extension, without the dot (the same as the name).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// Whether a `.bmap` of the raw disk is written beside this output.
    pub fn has_bmap(self) -> bool {
        matches!(self, Format::Raw | Format::RawXz | Format::RawZst)
    }

    /// The names, comma-separated, for error messages.
    pub fn names() -> String {
        Format::ALL.map(Format::as_str).join(", ")
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`; use one of: {names}", names = Format::names())]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        let e = "qcow".parse::<Format>().expect_err("unknown").to_string();
        assert!(e.contains("`qcow`") && e.contains("raw.zst"), "{e}");
    }
}
