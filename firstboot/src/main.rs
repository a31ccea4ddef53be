//! `kubebake-firstboot` binary (placeholder while modules land).
fn main() {}
