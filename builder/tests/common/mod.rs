//! Shared helpers for the builder's integration tests.
//!
//! `vm`: the VM tests' machinery (build an image from the cached test rootfs,
//! boot it in QEMU TCG with OVMF/AAVMF, read `BOOTTEST key=value` lines from
//! the checker's report channel). `node`: the boot test proper (checker
//! layer, seed, checks, `run`).
#![allow(dead_code)]

pub mod node;
pub mod vm;
