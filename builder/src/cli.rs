//! Command line (clap derive). Every flag is documented; help fits 80 columns.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Build immutable Kubernetes node disk images from a profile.
#[derive(Debug, Parser)]
#[command(name = "kubebake", version, help_expected = true, max_term_width = 80)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a disk image from a profile.
    Build(BuildArgs),
    /// Show partitions, filesystems, cmdline and baked components of an image.
    #[command(
        after_help = "Exit status: 0 when the partition table can be read; damage \
        found is then\nreported as `warning:` lines on stderr and in --json's `warnings`. \
        1 when the\nimage cannot be read (not a file or block device, no usable table)."
    )]
    Inspect(InspectArgs),
    /// Write other formats (qcow2, vmdk, ova, vhd, raw.xz, raw.zst) from an
    /// existing raw disk image, kubebake's or another tool's.
    Convert(ConvertArgs),
    /// Validate, render or package a node seed (#cloud-config).
    #[command(subcommand)]
    Seed(crate::seedcmd::SeedCmd),
}

/// `kubebake build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Shipped profile name (generic-amd64, generic-arm64) or a .toml path.
    #[arg(value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Output path [default: <profile name>.<format>]. With several
    /// formats, OUT minus its format extension (x.raw, or x) is the stem
    /// each adds its extension to; another extension (node.img) names the
    /// first format's file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output formats, comma-separated or repeated [default: the profile's
    /// output.formats].
    #[arg(long = "format", value_name = "FORMAT", value_delimiter = ',')]
    pub formats: Vec<kubebake_vdisk::Format>,
    /// Base rootfs tarball (plain/gz/xz/zst) replacing the profile's base;
    /// repeat to layer (later wins, OCI whiteouts honoured).
    #[arg(long, value_name = "TARBALL")]
    pub rootfs: Vec<PathBuf>,
    /// Seed (#cloud-config user-data) to embed; validated first.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Replace a pinned component: NAME=PATH (local file, offline builds)
    /// or NAME=URL[#sha256=HEX]. Names: kubelet kubeadm kubectl crictl
    /// cni-plugins kubebake-firstboot.
    #[arg(long = "component", value_name = "NAME=PATH_OR_URL")]
    pub components: Vec<String>,
    /// Override a profile value, e.g. disk.root_size_mib=2048 (TOML value
    /// syntax; anything else is a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Print a JSON summary on stdout (output, size, sha256, seconds).
    #[arg(long)]
    pub json: bool,
}

/// `kubebake convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Raw disk image to read (its holes are skipped, not read).
    #[arg(value_name = "IMAGE")]
    pub image: std::path::PathBuf,
    /// Output formats, comma-separated or repeated.
    #[arg(
        long = "format",
        value_name = "FORMAT",
        value_delimiter = ',',
        required = true
    )]
    pub formats: Vec<kubebake_vdisk::Format>,
    /// Output path. With several formats, OUT minus its format extension
    /// (x.raw, or x) is the stem each adds its extension to; another
    /// extension (node.img) names the first format's file.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// Virtual CPUs an OVA declares.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=768))]
    pub cpus: u32,
    /// Memory (MiB) an OVA declares.
    #[arg(long, value_name = "MIB", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(256..=25165824))]
    pub memory_mib: u64,
    /// Print a JSON summary on stdout (every output with its sha256).
    #[arg(long)]
    pub json: bool,
}

/// `kubebake inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Disk image to read: raw, qcow2, vmdk, vhd or ova.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
