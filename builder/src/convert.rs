//! `kubebake convert IMAGE --format … -o OUT`: the build's output writers on
//! an existing raw disk. Converting a kubebake raw disk gives the same bytes
//! as building the format directly (ids come from the disk itself).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use kubebake_vdisk::{Format, RawDisk, VmSpec};
use serde::Serialize;

use crate::output::{self, Files, Written};
use crate::pipeline;
use crate::progress::Progress;

/// `kubebake convert` inputs.
#[derive(Debug, Clone)]
pub struct Request {
    /// The raw disk.
    pub image: PathBuf,
    /// Formats to write.
    pub formats: Vec<Format>,
    /// Output path or stem.
    pub output: PathBuf,
    /// The VM an OVA declares.
    pub cpus: u32,
    /// Its memory in MiB.
    pub memory_mib: u64,
    /// Compute sha256s (for `--json`).
    pub hash: bool,
}

/// `--json` result.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The input image.
    pub image: PathBuf,
    /// Its virtual size.
    pub size: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Every file written.
    pub outputs: Vec<Written>,
}

/// The files a request writes, checked before any work starts.
pub fn target(req: &Request) -> Result<Files> {
    let name = req
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".into());
    let files = Files::new(&name, Some(&req.output), &req.formats);
    check_source(&req.image)?;
    for o in &files.outputs {
        if same_file(&o.path, &req.image) {
            bail!(
                "output {} is the input image; choose another -o",
                o.path.display()
            );
        }
    }
    files.check_dirs()?;
    Ok(files)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The input must be a raw disk: other containers would be converted as if
/// their bytes were a disk.
fn check_source(image: &Path) -> Result<()> {
    let found =
        kubebake_vdisk::detect(image).with_context(|| format!("reading {}", image.display()))?;
    if found != Format::Raw {
        bail!(
            "{} is a {found} image, and convert reads raw disks; make it raw first \
             (qemu-img convert -O raw {} disk.raw)",
            image.display(),
            image.display()
        );
    }
    Ok(())
}

/// Run a conversion.
pub fn run(req: &Request) -> Result<Outcome> {
    use std::os::unix::fs::PermissionsExt as _;
    let started = Instant::now();
    let sde = pipeline::source_date_epoch()?;
    let files = target(req)?;
    let disk = RawDisk::open(&req.image)?;
    // A disk only its owner may read (a kubebake image with a seed) keeps
    // its outputs as private.
    let mode = std::fs::metadata(&req.image)
        .with_context(|| format!("reading {}", req.image.display()))?
        .permissions()
        .mode();
    let secret = mode & 0o077 == 0;
    let name = files.outputs[0]
        .path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let vm = VmSpec {
        name: name.split('.').next().unwrap_or("disk").to_string(),
        description: format!("converted by kubebake from {}", display_name(&req.image)),
        cpus: req.cpus,
        memory_mib: req.memory_mib,
    };
    let opts = pipeline::write_options(&vm, &disk, sde)?;
    let progress = Progress::stderr();
    let outputs = output::write_all(&files, &disk, None, secret, &opts, req.hash, &progress)?;
    progress.finish();
    Ok(Outcome {
        image: req.image.clone(),
        size: disk.size(),
        seconds: started.elapsed().as_secs_f64(),
        outputs,
    })
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
