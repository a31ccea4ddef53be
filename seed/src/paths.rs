//! On-image paths that the builder writes and the first-boot agent reads,
//! defined once so the two sides cannot drift apart.
//!
//! All are absolute paths on the node; the builder's writers take them with
//! or without the leading `/`, the agent maps them under its `--root`.

/// The embedded seed directory (`kubebake build --seed`), read-only root.
pub const SEED_DIR: &str = "/usr/lib/kubebake/seed";
/// The embedded seed's `user-data` (inside [`SEED_DIR`]).
pub const SEED_USER_DATA: &str = "/usr/lib/kubebake/seed/user-data";
/// The flannel manifest baked from `overlays/`, applied after `kubeadm init`
/// when the seed says `cni: flannel` (the default).
pub const FLANNEL_MANIFEST: &str = "/usr/lib/kubebake/cni/flannel.yaml";
/// The build manifest (`kubebake inspect` reads it; the agent takes the
/// image's build time from its `built_at`).
pub const BUILD_MANIFEST: &str = "/usr/lib/kubebake/manifest.json";
/// `KEY=VALUE` facts about the build (`BUILT_AT=`, `KUBERNETES_VERSION=`, …).
pub const RELEASE: &str = "/etc/kubebake/release";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_and_consistent() {
        for p in [
            SEED_DIR,
            SEED_USER_DATA,
            FLANNEL_MANIFEST,
            BUILD_MANIFEST,
            RELEASE,
        ] {
            assert!(p.starts_with('/') && !p.ends_with('/'), "{p}");
        }
        assert_eq!(SEED_USER_DATA, format!("{SEED_DIR}/user-data"));
    }
}
