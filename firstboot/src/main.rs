//! `kubebake-firstboot`: the first-boot agent binary (`run` | `status`).

fn main() {
    kubebake_firstboot::cli::main(None)
}
