//! Shared helpers for the builder's integration tests.
//!
//! `vm`: the VM boot tests (build an image from the cached test rootfs, boot
//! it in QEMU TCG with OVMF/AAVMF, read `BOOTTEST key=value` lines from the
//! serial console).
#![allow(dead_code)]

pub mod vm;
