//! VM boot test, amd64 (QEMU TCG q35 + OVMF): an image built by
//! `kubebake build` from the cached Debian trixie test rootfs boots into an
//! immutable kubeadm node (issue 4, Acceptance 3). See common/vm.rs.

mod common;

use std::time::Duration;

use common::vm::{run, Arch};

#[test]
fn vm_boot_amd64_immutable_node() {
    run(Arch::Amd64, Duration::from_secs(12 * 60));
}
