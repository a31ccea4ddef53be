//! VM boot test, arm64 (QEMU TCG `-M virt` + AAVMF), the same checks as
//! amd64 (issue 4, Acceptance 4). Slow under emulation: runs when `CI=true`
//! or `KUBEBAKE_BOOT_ARM64=1`. See common/vm.rs.

mod common;

use std::time::Duration;

use common::vm::{ci, run, Arch};

#[test]
fn vm_boot_arm64_immutable_node() {
    if !ci() && std::env::var("KUBEBAKE_BOOT_ARM64").as_deref() != Ok("1") {
        eprintln!("\n!!!!!! SKIPPING arm64 VM boot test: set CI=true or KUBEBAKE_BOOT_ARM64=1\n");
        return;
    }
    run(Arch::Arm64, Duration::from_secs(25 * 60));
}
