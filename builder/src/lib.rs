//! kubebake: turns a profile into disk images of immutable Kubernetes nodes.
//!
//! Data flow (one direction): profile → resolve → fetch components → base
//! rootfs stream (tarballs or mmdebstrap) → bake layers → ext4 root streamed
//! into its partition → ESP + GPT → `OUT.tmp` renamed to `OUT`.

pub mod bake;
pub mod boot;
pub mod cache;
pub mod cli;
pub mod component;
pub mod disk;
pub mod embedded;
pub mod inspect;
pub mod pipeline;
pub mod profile;
pub mod progress;
pub mod rootfs;
pub mod seedcmd;
