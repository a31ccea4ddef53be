//! `kubebake-firstboot-test-hooks`: the agent with a crash hook, built only
//! with the `test-hooks` feature (the crate's own tests enable it), never
//! baked into an image. `KUBEBAKE_TEST_CRASH_AFTER=<phase>` makes it exit
//! with code 99 right after that phase was persisted, like a power cut.

use kubebake_firstboot::state::Phase;

fn crash_after(phase: Phase) {
    if std::env::var("KUBEBAKE_TEST_CRASH_AFTER").as_deref() == Ok(phase.name()) {
        std::process::exit(99);
    }
}

fn main() {
    kubebake_firstboot::cli::main(Some(crash_after))
}
