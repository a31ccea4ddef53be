//! Helpers shared by the integration tests: running host tools with their
//! output captured (a missing tool fails the test: `kubebake_hosttool::need`).
#![allow(dead_code)]

use std::path::Path;

/// Run a tool, return (exit success, stdout, stderr).
pub fn run(tool: &str, args: &[&str]) -> (bool, String, String) {
    let out = kubebake_hosttool::command(tool)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run a tool that must succeed; return its stdout.
pub fn ok(tool: &str, args: &[&str]) -> String {
    let (good, out, err) = run(tool, args);
    assert!(good, "{tool} {args:?} failed:\n{out}\n{err}");
    out
}

/// Run a tool that must succeed; return its raw stdout bytes.
pub fn ok_bytes(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = kubebake_hosttool::command(tool)
        .args(args)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Path as &str for command lines.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
