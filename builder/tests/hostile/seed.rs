//! Hostile seed inputs (issue 9, defects 14, 16, 17): each through
//! `kubebake seed validate` (problems as `error:` lines, exit 1) and
//! `kubebake build --seed` (one `error:` line, nothing at the output path).
//! The message names the file, the key and the line.

use std::path::Path;

use crate::harness::{assert_refused, run, Expect, Work};

const WORKER: &str =
    "kubernetes:\n  role: worker\n  endpoint: 10.0.0.1:6443\n  token: abcdef.0123456789abcdef\n";
const HASH: &str = "sha256:8d1f4e0c2b7a9d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6";

/// One bad seed and what its error must name (besides the file).
struct Case {
    name: &'static str,
    user_data: String,
    names: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            // defect 14: a typo is no cloud-init key: an error, not a warning
            name: "typo-key",
            user_data: "#cloud-config\nhostnme: worker-1\n".into(),
            names: &["line 2", "hostnme", "did you mean `hostname`?"],
        },
        Case {
            // defect 17: a tab in the indentation
            name: "tab",
            user_data: format!(
                "#cloud-config\nhostname: w1\n{}",
                WORKER.replace("  token", "\ttoken")
            ),
            names: &["line 6", "indented with a tab", "spaces"],
        },
        Case {
            // defect 17: the duplicate's own line, not the mapping's start
            name: "duplicate-key",
            user_data: format!("#cloud-config\n{WORKER}  role: init\n"),
            names: &[
                "line 6",
                "kubernetes.role",
                "duplicate key (first at line 3)",
            ],
        },
        Case {
            // defect 17: a 64-character hash with a non-hex character
            name: "hash-not-hex",
            user_data: format!(
                "#cloud-config\n{WORKER}  ca_cert_hash: {}\n",
                HASH.replacen('d', "z", 1)
            ),
            names: &[
                "line 6",
                "kubernetes.ca_cert_hash",
                "character 2 after `sha256:` is 'z'",
                "openssl pkey -pubin",
            ],
        },
    ]
}

fn seed_in(work: &Work, case: &str, text: &[u8]) -> std::path::PathBuf {
    let p = work.join(&format!("{case}.yaml"));
    std::fs::write(&p, text).expect("write seed");
    p
}

fn validate(work: &Work, seed: &Path, extra: &[&str]) -> crate::harness::Run {
    let mut args = vec!["seed", "validate", seed.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    run(work.kubebake(&args))
}

fn build(work: &Work, seed: &Path) -> (crate::harness::Run, std::path::PathBuf) {
    let out = work.join("node.raw");
    let r = run(work.kubebake(&[
        "build",
        "--seed",
        seed.to_str().expect("utf-8 path"),
        "-o",
        out.to_str().expect("utf-8 path"),
    ]));
    (r, out)
}

#[test]
fn bad_seeds_are_refused_naming_file_key_and_line() {
    for c in cases() {
        let work = Work::new();
        let seed = seed_in(&work, c.name, c.user_data.as_bytes());
        let file = seed.display().to_string();
        let mut names: Vec<&str> = vec![&file];
        names.extend_from_slice(c.names);
        let want = Expect {
            code: 1,
            names: &names,
            out: None,
            rss_mib: None,
        };
        let r = validate(&work, &seed, &[]);
        assert_refused(&format!("{} (seed validate)", c.name), &r, &want, &work);
        let (r, out) = build(&work, &seed);
        let want = Expect {
            out: Some(&out),
            ..want
        };
        assert_refused(&format!("{} (build --seed)", c.name), &r, &want, &work);
    }
}

/// Defect 14: warnings are shown when there are errors too.
#[test]
fn warnings_are_shown_beside_errors() {
    let work = Work::new();
    let seed = seed_in(
        &work,
        "mixed",
        b"#cloud-config\nbootcmd: [echo hi]\nhostnme: worker-1\n",
    );
    for (what, r) in [
        ("seed validate", validate(&work, &seed, &[])),
        ("build --seed", build(&work, &seed).0),
    ] {
        assert_eq!(r.code, Some(1), "{what}: {}", r.stderr);
        let warnings = r.warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("line 2") && w.contains("unsupported cloud-init key `bootcmd`")),
            "{what}: no bootcmd warning:\n{}",
            r.stderr
        );
        assert!(r.errors()[0].contains("hostnme"), "{what}: {}", r.stderr);
    }
    // A key cloud-init knows stays a warning: the seed is valid.
    let ok = seed_in(
        &work,
        "ok",
        b"#cloud-config\nhostname: w1\npackages: [htop]\n",
    );
    let r = validate(&work, &ok, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.warnings()[0].contains("`packages`"), "{}", r.stderr);
}

/// Defect 16: a 55 MB user-data (or an oversized network-config) is
/// refused after reading at most its cap, not loaded whole.
#[test]
fn oversized_seed_files_are_refused_with_little_memory() {
    let work = Work::new();
    let mut big = b"#cloud-config\nwrite_files:\n  - path: /big\n    content: ".to_vec();
    big.resize(55 << 20, b'a');
    big.push(b'\n');
    let seed = seed_in(&work, "big", &big);
    let file = seed.display().to_string();
    let names = [file.as_str(), "larger than 1 MiB, the cap for user-data"];
    let want = Expect {
        code: 1,
        names: &names,
        out: None,
        rss_mib: Some(48),
    };
    assert_refused(
        "55 MB user-data (seed validate)",
        &validate(&work, &seed, &[]),
        &want,
        &work,
    );
    let r = run(work.kubebake(&["seed", "render", &file]));
    assert_refused("55 MB user-data (seed render)", &r, &want, &work);
    let img = work.join("seed.img");
    let r = run(work.kubebake(&["seed", "image", &file, "-o", img.to_str().expect("path")]));
    let want_img = Expect {
        out: Some(&img),
        ..want
    };
    assert_refused("55 MB user-data (seed image)", &r, &want_img, &work);
    let (r, out) = build(&work, &seed);
    let want_build = Expect {
        out: Some(&out),
        ..want
    };
    assert_refused("55 MB user-data (build --seed)", &r, &want_build, &work);

    let small = seed_in(&work, "small", b"#cloud-config\nhostname: w1\n");
    let net = work.join("network-config");
    std::fs::write(&net, vec![b'#'; 65 << 10]).expect("write");
    let net_file = net.display().to_string();
    let names = [
        net_file.as_str(),
        "larger than 64 KiB, the cap for network-config",
    ];
    let want = Expect {
        code: 1,
        names: &names,
        out: None,
        rss_mib: Some(48),
    };
    let r = validate(&work, &small, &["--network-config", &net_file]);
    assert_refused("65 KiB network-config", &r, &want, &work);
}

#[test]
fn non_utf8_seed_names_the_file() {
    let work = Work::new();
    let seed = seed_in(&work, "latin1", b"#cloud-config\nhostname: caf\xe9\n");
    let file = seed.display().to_string();
    let names = [file.as_str(), "not UTF-8", "offset 27"];
    let want = Expect {
        code: 1,
        names: &names,
        out: None,
        rss_mib: None,
    };
    assert_refused("latin-1 seed", &validate(&work, &seed, &[]), &want, &work);
}
