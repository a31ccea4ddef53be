//! VM boot test, amd64 (QEMU TCG q35 + OVMF): an image built by
//! `kubebake build` from the cached Debian trixie test rootfs boots into an
//! immutable kubeadm node (issue 4, Acceptance 3). See common/vm.rs.

mod common;

use common::node::run;
use common::vm::{boot_timeout, Arch};

#[test]
fn vm_boot_amd64_immutable_node() {
    run(Arch::Amd64, boot_timeout(Arch::Amd64));
}
