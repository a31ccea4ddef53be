//! Embed overlays/ and firstboot/units/ in the binary with their file modes
//! and symlinks, so `kubebake build` works with no files around.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn walk(root: &Path, rel: &str, top: bool, out: &mut String) {
    let dir = root.join(rel);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let p = root.join(&child);
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.file_type().is_symlink() {
            let t = std::fs::read_link(&p).expect("readlink");
            let _ = writeln!(
                out,
                "    Embedded::Symlink({child:?}, {:?}),",
                t.to_string_lossy()
            );
        } else if md.is_dir() {
            let _ = writeln!(out, "    Embedded::Dir({child:?}),");
            walk(root, &child, false, out);
        } else if !top {
            let mode = if md.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let abs = p.canonicalize().expect("canonicalize");
            let _ = writeln!(
                out,
                "    Embedded::File({child:?}, {mode:#o}, include_bytes!({:?})),",
                abs.display().to_string()
            );
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let repo = manifest.parent().expect("repo root").to_path_buf();
    let mut code = String::from(
        "/// overlays/ tree (top-level files skipped).\npub static OVERLAYS: &[Embedded] = &[\n",
    );
    walk(&repo.join("overlays"), "", true, &mut code);
    code.push_str("];\n/// firstboot/units/ files.\npub static AGENT_UNITS: &[Embedded] = &[\n");
    let units = repo.join("firstboot/units");
    walk(&units, "", false, &mut code);
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("embedded.rs");
    std::fs::write(out, code).expect("write embedded.rs");
    println!("cargo:rerun-if-changed=../overlays");
    println!("cargo:rerun-if-changed=../firstboot/units");
    println!("cargo:rerun-if-changed=../profiles");
    println!("cargo:rerun-if-changed=build.rs");
}
