//! Bad output requests (issue 10): an unknown format, a format the profile
//! cannot use, an output directory that does not exist, a non-raw input to
//! `convert` are one-line errors before any work starts; a write that fails
//! after some outputs were made leaves none of them.

use crate::harness::{self, assert_refused, Expect, Work};
use crate::profile::{build, offline, refused, setup};

#[test]
fn unknown_format_is_a_usage_error() {
    let (work, args) = setup("amd64", &[]);
    let run = harness::run(build(&work, &args, &["--format", "raw,qcow"]));
    let out = work.join("o.raw");
    let want = Expect {
        code: 2,
        names: &["qcow", "--format"],
        out: Some(&out),
        rss_mib: None,
    };
    assert_refused("--format qcow", &run, &want, &work);
    assert!(
        run.stderr.contains("raw.zst"),
        "lists the formats: {}",
        run.stderr
    );
}

#[test]
fn unknown_format_in_a_profile_names_the_file_and_key() {
    let (work, args) = setup("amd64", &[]);
    std::fs::write(
        work.join("p.toml"),
        "extends = \"generic-amd64\"\nname = \"p\"\n[output]\nformats = [\"raw\", \"qcow\"]\n",
    )
    .expect("profile");
    let mut all = vec!["p.toml".to_string()];
    all.extend(args);
    refused(
        "output.formats = qcow",
        &work,
        build(&work, &all, &[]),
        &["p.toml", "qcow", "raw.zst"],
        None,
    );
}

#[test]
fn ova_of_an_arm64_profile_is_refused_before_work() {
    let (work, args) = setup("arm64", &[]);
    let mut all = vec!["generic-arm64".to_string()];
    all.extend(args);
    refused(
        "arm64 ova",
        &work,
        build(&work, &all, &["--format", "raw,ova"]),
        &["ova", "arm64", "generic-arm64"],
        None,
    );
}

#[test]
fn output_in_a_missing_directory_is_refused_before_work() {
    let (work, args) = setup("amd64", &[]);
    let mut all = vec!["build", "-o", "no/such/dir/n.qcow2", "--format", "qcow2"];
    all.extend(args.iter().map(String::as_str));
    let mut c = work.kubebake(&all);
    offline(&mut c);
    c.env("KUBEBAKE_LOG", "info");
    let run = refused(
        "-o in a missing dir",
        &work,
        c,
        &["no/such/dir", "does not exist"],
        None,
    );
    assert!(
        !run.stderr.contains("building"),
        "work started: {}",
        run.stderr
    );
}

#[test]
fn a_failed_output_leaves_none_of_the_outputs() {
    let (work, args) = setup("amd64", &[]);
    // The VHD's temporary name is taken by a directory: the raw disk and
    // the qcow2 are written first, then the VHD fails.
    std::fs::create_dir_all(work.join("o.vhd.tmp/x")).expect("mkdir");
    let run = refused(
        "vhd write fails",
        &work,
        build(&work, &args, &["--format", "raw,qcow2,vhd"]),
        &["o.vhd.tmp"],
        None,
    );
    for left in [
        "o.qcow2",
        "o.qcow2.tmp",
        "o.raw.bmap",
        "o.raw.bmap.tmp",
        "o.vhd",
    ] {
        assert!(
            !work.join(left).exists(),
            "{left} left behind: {}",
            run.stderr
        );
    }
}

#[test]
fn convert_refuses_an_image_that_is_not_raw() {
    let work = Work::new();
    let q = work.join("in.qcow2");
    let (ok, out) = crate::support::run(
        kubebake_hosttool::command("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&q)
            .arg("64M"),
    );
    assert!(ok, "{out}");
    let run =
        harness::run(work.kubebake(&["convert", "in.qcow2", "--format", "vhd", "-o", "o.vhd"]));
    let out = work.join("o.vhd");
    let want = Expect {
        code: 1,
        names: &["in.qcow2", "qcow2", "raw"],
        out: Some(&out),
        rss_mib: None,
    };
    assert_refused("convert qcow2", &run, &want, &work);
}
