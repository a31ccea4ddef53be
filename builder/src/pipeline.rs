//! `kubebake build`: resolve → fetch components → base → bake → raw disk →
//! outputs. Every output is written to `OUT.tmp` and renamed only on success.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use ext4w::{Options, Sizing};
use kubebake_disk::Window;
use kubebake_vdisk::{Format, WriteOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bake::{self, Plan};
use crate::cache::{sha256_file, Cache};
use crate::component;
use crate::disk::{self, Ids, MIB};
use crate::output::{self, create_tmp, BuiltRaw, Files, TmpGuard, Writeback, Written};
use crate::profile;
use crate::progress::Progress;
use crate::rootfs::{self, Base};
use crate::{boot, embedded};

/// `kubebake build` inputs.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Shipped profile name or path.
    pub profile: Option<String>,
    /// Output path.
    pub output: Option<PathBuf>,
    /// Output formats (empty: the profile's `output.formats`).
    pub formats: Vec<Format>,
    /// Base tarballs replacing the profile's base.
    pub rootfs: Vec<PathBuf>,
    /// Seed to embed.
    pub seed: Option<PathBuf>,
    /// `--component NAME=PATH_OR_URL`.
    pub components: Vec<String>,
    /// `--set KEY=VALUE`.
    pub sets: Vec<String>,
    /// Compute the image sha256 (for `--json`).
    pub hash: bool,
}

/// `--json` result.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The first output's path.
    pub output: PathBuf,
    /// The disk size in bytes (the raw image's apparent size).
    pub size: u64,
    /// sha256 of the first output (when requested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Profile name.
    pub profile: String,
    /// Target arch.
    pub arch: String,
    /// Whether the image embeds secrets (a seed): then it is written 0600.
    pub secrets: bool,
    /// The first output's mode, e.g. `0600`.
    pub mode: String,
    /// Every file written: path, format, virtual and file size, sha256.
    pub outputs: Vec<Written>,
    /// For an `aws` profile, what `aws ec2 import-snapshot` and
    /// `register-image` need (README.md, "AWS").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<serde_json::Value>,
}

/// What a build request resolves to: the profile and the files to write.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resolved profile.
    pub resolved: profile::Resolved,
    /// The files.
    pub plan: Files,
}

/// SOURCE_DATE_EPOCH if set. Unset, images are still reproducible: baked
/// entries, the superblock and the ESP use 0 (1970; FAT clamps to 1980) and
/// rootfs entries keep their tarball times (they are clamped only when
/// SOURCE_DATE_EPOCH is set). Wall-clock time never enters the image.
pub fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).with_context(|| {
            format!("SOURCE_DATE_EPOCH={v} is not an integer; unset it or fix it")
        }),
        _ => Ok(None),
    }
}

/// sha256 of every input that shapes the image: the namespace for UUID v5.
fn input_hash(
    r: &profile::Resolved,
    base: &Base,
    comps: &[component::Fetched],
    seed: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let mut h = Sha256::new();
    h.update(b"kubebake-image-v1\0");
    h.update(r.canonical.as_bytes());
    match base {
        Base::Tarballs(t) => {
            for p in t {
                h.update(sha256_file(p)?.as_bytes());
            }
        }
        Base::Mmdebstrap(args) => h.update(args.join("\0").as_bytes()),
    }
    for c in comps {
        h.update(c.name.as_bytes());
        h.update(c.sha256.as_bytes());
    }
    if let Some(s) = seed {
        h.update(Sha256::digest(s));
    }
    for e in embedded::OVERLAYS.iter().chain(embedded::AGENT_UNITS) {
        h.update(e.path().as_bytes());
        if let embedded::Embedded::File(_, _, d) = e {
            h.update(Sha256::digest(d));
        }
    }
    Ok(h.finalize().to_vec())
}

fn sizing(r: &profile::Resolved) -> Sizing {
    match r.sizes.root {
        profile::Root::Fixed { bytes } => Sizing::Fixed { bytes },
        profile::Root::Fit {
            headroom_bytes,
            headroom_percent,
        } => Sizing::Fit {
            headroom_bytes,
            headroom_percent,
            extra_inodes: 4096,
        },
    }
}

/// The profile and outputs of a build request, checked before any work
/// starts (also what the supervisor needs to know which `OUT.tmp` files to
/// clean up).
pub fn target(req: &Request) -> Result<Target> {
    let r = profile::resolve(req.profile.as_deref(), &req.sets)?;
    let formats = if req.formats.is_empty() {
        &r.profile.output.formats
    } else {
        &req.formats
    };
    let plan = Files::new(&r.name, req.output.as_deref(), formats);
    plan.check(&r)?;
    Ok(Target { resolved: r, plan })
}

/// Everything a build reads, checked and fetched before `OUT.tmp` exists.
struct Inputs {
    seed: Option<Vec<u8>>,
    base: Base,
    lay: disk::Layout,
    comps: Vec<component::Fetched>,
    ids: Ids,
    cmdline: String,
}

fn gather(req: &Request, r: &profile::Resolved) -> Result<Inputs> {
    let overrides = component::parse_overrides(&req.components)?;
    let seed = req
        .seed
        .as_deref()
        .map(crate::seedcmd::for_build)
        .transpose()?;
    let base = rootfs::plan(r, &req.rootfs)?;
    let lay = disk::layout(r);
    let cache = Cache::from_env()?;
    let comps = component::fetch_all(r, &overrides, &cache)?;
    let ids = Ids::derive(&input_hash(r, &base, &comps, seed.as_deref())?);
    let cmdline = boot::cmdline(ids.root_a, r);
    Ok(Inputs {
        seed,
        base,
        lay,
        comps,
        ids,
        cmdline,
    })
}

/// Write the root filesystem, the ESP and the GPT into `file`; returns the
/// disk size.
fn write_image(
    file: &mut File,
    r: &profile::Resolved,
    inp: &Inputs,
    sde: Option<i64>,
    progress: &Progress,
) -> Result<u64> {
    let epoch = sde.unwrap_or(0);
    progress.phase("rootfs", rootfs::input_len(&inp.base));
    let mut opts = Options::new(*inp.ids.root_fs.as_bytes(), epoch);
    opts.label = "root-a".into();
    opts.clamp_times = sde.is_some();
    opts.sizing = sizing(r);
    let window = Window::new(&mut *file, inp.lay.root_offset, None).named("root-a");
    let mut writer = ext4w::Writer::new(window, opts).context("starting the root filesystem")?;
    let plan = Plan {
        profile: r,
        base: &inp.base,
        components: &inp.comps,
        cmdline: &inp.cmdline,
        seed: inp.seed.as_deref(),
        epoch,
    };
    let baked = bake::bake(&mut writer, &plan, progress).map_err(explain_no_space)?;
    progress.phase("ext4", None);
    let summary = writer.finish().map_err(|e| {
        explain_no_space(anyhow::Error::new(e).context("writing the root filesystem"))
    })?;
    tracing::info!(
        entries = baked.entries,
        fs_bytes = summary.size_bytes,
        free_blocks = summary.free_blocks,
        "root filesystem written"
    );
    progress.phase("disk", None);
    let esp = boot::esp_files(r.arch, r, &baked.boot, &inp.cmdline);
    disk::finish(
        file,
        &inp.lay,
        r.arch,
        &inp.ids,
        summary.size_bytes,
        &esp,
        epoch,
    )
}

/// Build the raw disk into `tmp`: 0600 when it embeds the seed's secrets.
fn build_raw(
    r: &profile::Resolved,
    inp: &Inputs,
    tmp: &Path,
    sde: Option<i64>,
    progress: &Progress,
) -> Result<BuiltRaw> {
    let guard = TmpGuard::new(tmp.to_path_buf());
    let mut file = create_tmp(tmp, inp.seed.is_some())?;
    let flushing = Writeback::start(&file);
    let size = write_image(&mut file, r, inp, sde, progress)?;
    drop(flushing);
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    Ok(BuiltRaw { file, size, guard })
}

/// Run a build (in the worker process when supervised): check and fetch
/// every input, build the raw disk, write the outputs.
pub fn build(req: &Request) -> Result<Outcome> {
    let started = Instant::now();
    let sde = source_date_epoch()?;
    let Target { resolved: r, plan } = target(req)?;
    let first = plan.outputs[0].path.clone();
    tracing::info!(profile = %r.name, arch = r.arch.as_str(), output = %first.display(), "building");
    let inp = gather(req, &r)?;

    // An embedded seed can carry a bootstrap token, private keys, password
    // hashes and write_files content: the image is as secret as the seed.
    let secrets = inp.seed.is_some();
    if secrets {
        tracing::info!(output = %first.display(), "the image embeds the seed's secrets (token, keys): written 0600; keep it private");
    }
    let progress = Progress::stderr();
    let raw = build_raw(&r, &inp, &plan.raw_tmp, sde, &progress)?;
    let size = raw.size;
    let disk = raw_disk(&raw, &plan.raw_tmp)?;
    let opts = write_options(&r.vm, &disk, sde)?;
    let outputs = output::write_all(&plan, &disk, Some(raw), secrets, &opts, req.hash, &progress)?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    for o in &outputs {
        tracing::info!(output = %o.path.display(), format = %o.format, size = o.file_size, "written");
    }
    tracing::info!(size, seconds, "image ready");
    let main = &outputs[0];
    let aws = aws_values(&r, &outputs, size);
    Ok(Outcome {
        output: main.path.clone(),
        size,
        sha256: main.sha256.clone(),
        seconds,
        profile: r.name,
        arch: r.arch.as_str().to_string(),
        secrets,
        mode: main.mode.clone(),
        outputs,
        aws,
    })
}

/// The register-image values, plus what import-snapshot takes: the raw
/// file (`--disk-container Format=RAW`) and the smallest EBS volume in GiB
/// that holds the disk.
fn aws_values(r: &profile::Resolved, outputs: &[Written], size: u64) -> Option<serde_json::Value> {
    let mut v = crate::platform::aws_register_values(r)?;
    v["disk_container_format"] = "RAW".into();
    v["volume_size_gib"] = size.div_ceil(1 << 30).into();
    if let Some(raw) = outputs.iter().find(|o| o.format == "raw") {
        v["image"] = raw.path.display().to_string().into();
    }
    Some(v)
}

/// The built raw disk as the writers read it.
fn raw_disk(raw: &BuiltRaw, path: &Path) -> Result<kubebake_vdisk::RawDisk> {
    let f = raw
        .file
        .try_clone()
        .with_context(|| format!("reopening {}", path.display()))?;
    Ok(kubebake_vdisk::RawDisk::from_file(f, path)?)
}

/// The writers' options for this disk (`build` and `convert` alike, so
/// that converting a kubebake raw disk gives the bytes a build would).
pub fn write_options(
    vm: &kubebake_vdisk::VmSpec,
    disk: &kubebake_vdisk::RawDisk,
    sde: Option<i64>,
) -> Result<WriteOptions> {
    Ok(WriteOptions {
        identity: kubebake_vdisk::identity(disk)?,
        epoch: sde.unwrap_or(0),
        threads: threads(),
        vm: vm.clone(),
    })
}

/// Compression threads: the CPUs this process may use.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A full fixed-size root gets a one-line cause and fix.
fn explain_no_space(e: anyhow::Error) -> anyhow::Error {
    for cause in e.chain() {
        if let Some(ext4w::Error::NoSpace {
            needed, available, ..
        }) = cause.downcast_ref::<ext4w::Error>()
        {
            return anyhow::anyhow!(
                "root filesystem does not fit: it needs more than {} MiB but disk.root_size_mib \
                 gives {} MiB; raise disk.root_size_mib or remove it to size automatically",
                needed.div_ceil(MIB),
                available / MIB
            );
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(path: &str, format: &str) -> Written {
        Written {
            path: path.into(),
            format: format.into(),
            virtual_size: 0,
            file_size: 0,
            sha256: None,
            mode: "0644".into(),
        }
    }

    #[test]
    fn aws_json_has_what_import_snapshot_and_register_image_take() {
        let r = profile::resolve(Some("aws-arm64"), &[]).expect("aws-arm64");
        let outs = [written("n.raw", "raw"), written("n.raw.bmap", "bmap")];
        let v = aws_values(&r, &outs, (3 << 30) + 1).expect("aws");
        assert_eq!(v["architecture"], "arm64");
        assert_eq!(v["boot_mode"], "uefi");
        assert_eq!(v["imds_support"], "v2.0");
        assert_eq!(v["ena_support"], true);
        assert_eq!(v["disk_container_format"], "RAW");
        assert_eq!(v["volume_size_gib"], 4);
        assert_eq!(v["image"], "n.raw");
        let g = profile::resolve(Some("generic-amd64"), &[]).expect("generic");
        assert!(aws_values(&g, &outs, 1).is_none());
    }
}
