//! `kubebake` binary: everything lives in the library's [`kubebake::main`].

fn main() -> std::process::ExitCode {
    kubebake::main()
}
