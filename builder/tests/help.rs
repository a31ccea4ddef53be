//! Every command's --help fits in 80 columns and documents every flag.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_kubebake"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", "200")
        .output()
        .expect("run kubebake");
    assert!(o.status.success(), "{args:?} --help failed");
    String::from_utf8(o.stdout).expect("utf8")
}

#[test]
fn help_fits_80_columns_everywhere() {
    let mut seen = 0;
    for cmd in [
        &[][..],
        &["build"],
        &["inspect"],
        &["seed"],
        &["seed", "validate"],
        &["seed", "render"],
        &["seed", "image"],
    ] {
        let text = help(cmd);
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{cmd:?} --help line over 80 columns: {line:?}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 7);
    let build = help(&["build"]);
    for flag in [
        "--output",
        "--format",
        "--rootfs",
        "--seed",
        "--component",
        "--set",
        "--json",
    ] {
        assert!(build.contains(flag), "build --help lacks {flag}");
    }
}
