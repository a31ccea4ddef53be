//! The first-boot agent: `--component kubebake-firstboot=PATH`, or the one
//! cargo built into the same target dir as the running `kubebake`, for the
//! profile's arch: `target/<profile>/` for the host's arch (beside kubebake),
//! `target/<triple>/<profile>/` for another (`cargo build --target`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{arch, local, Fetched, Override, AGENT};
use crate::profile::{Arch, Resolved};

/// Where to look, given the running kubebake at `exe`, and how to build it.
fn candidates(exe: &Path, arch: Arch) -> (Vec<PathBuf>, String) {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let cargo_dir = matches!(profile, "release" | "debug");
    // kubebake itself may be a `--target` build: target/<triple>/<profile>.
    let target = dir.parent().map(|t| {
        let cross = t
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == Arch::Amd64.triple() || n == Arch::Arm64.triple());
        match (cross, t.parent()) {
            (true, Some(up)) => up.to_path_buf(),
            _ => t.to_path_buf(),
        }
    });
    let release = if profile == "release" {
        " --release"
    } else {
        ""
    };
    let mut paths = Vec::new();
    if Arch::host() == Some(arch) {
        paths.push(dir.join(AGENT));
    }
    if let (true, Some(t)) = (cargo_dir, &target) {
        paths.push(t.join(arch.triple()).join(profile).join(AGENT));
    }
    let fix = if Arch::host() == Some(arch) && cargo_dir {
        format!("build it with the same profile as kubebake: `cargo build{release} -p {AGENT}`")
    } else if Arch::host() == Some(arch) {
        format!("install {AGENT} beside kubebake")
    } else {
        format!(
            "build it for {} (`cargo build{release} -p {AGENT} --target {}`, or `ci/cross-agent {}`, \
             which prints the directory it is in)",
            arch.as_str(),
            arch.triple(),
            arch.as_str()
        )
    };
    paths.dedup();
    (paths, fix)
}

/// The agent to bake, checked for the profile's arch.
pub(super) fn locate(r: &Resolved, ov: Option<&Override>) -> Result<Fetched> {
    match ov {
        Some(Override::File(p)) => {
            arch::check(AGENT, p, &format!("--component {AGENT}={}", p.display()), r)?;
            return local(AGENT, p);
        }
        Some(Override::Url { .. }) => bail!(
            "--component {AGENT}=URL is not supported; build the agent for the target and pass \
             --component {AGENT}=/path/to/{AGENT}"
        ),
        None => {}
    }
    let exe = std::env::current_exe().context("locating the running kubebake binary")?;
    let (paths, fix) = candidates(&exe, r.arch);
    let Some(p) = paths.iter().find(|p| p.is_file()) else {
        let looked: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let looked = if looked.is_empty() {
            String::new()
        } else {
            format!(" (looked for {})", looked.join(", "))
        };
        bail!(
            "no {AGENT} for {}{looked}: {fix}, or pass --component {AGENT}=PATH",
            r.arch.as_str()
        );
    };
    arch::check(AGENT, p, &format!("{AGENT} {}", p.display()), r)?;
    let mut f = local(AGENT, p)?;
    f.version = env!("CARGO_PKG_VERSION").to_string();
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_target_dir_for_every_arch() {
        let host = Arch::host().expect("an amd64 or arm64 host");
        let other = match host {
            Arch::Amd64 => Arch::Arm64,
            Arch::Arm64 => Arch::Amd64,
        };
        let exe = Path::new("/src/target/release/kubebake");
        let (p, fix) = candidates(exe, host);
        assert_eq!(p[0], Path::new("/src/target/release/kubebake-firstboot"));
        assert!(
            fix.contains("cargo build --release -p kubebake-firstboot"),
            "{fix}"
        );
        let (p, fix) = candidates(exe, other);
        assert_eq!(
            p,
            [Path::new("/src/target")
                .join(other.triple())
                .join("release/kubebake-firstboot")]
        );
        assert!(
            fix.contains(&format!("--target {}", other.triple())),
            "{fix}"
        );
        // a debug kubebake looks in debug dirs and says so
        let (p, fix) = candidates(Path::new("/src/target/debug/kubebake"), host);
        assert_eq!(p[0], Path::new("/src/target/debug/kubebake-firstboot"));
        assert!(fix.contains("`cargo build -p kubebake-firstboot`"), "{fix}");
        // kubebake built with --target: the same target root
        let exe = Path::new("/src/target")
            .join(host.triple())
            .join("release/kubebake");
        let (p, _) = candidates(&exe, other);
        assert_eq!(
            p,
            [Path::new("/src/target")
                .join(other.triple())
                .join("release/kubebake-firstboot")]
        );
        // installed: only beside it
        let (p, fix) = candidates(Path::new("/usr/bin/kubebake"), host);
        assert_eq!(p, [Path::new("/usr/bin/kubebake-firstboot")]);
        assert!(fix.contains("install"), "{fix}");
        assert!(candidates(Path::new("/usr/bin/kubebake"), other)
            .0
            .is_empty());
    }
}
