//! `kubebake build`: resolve → fetch components → base → bake → raw disk →
//! outputs. Every output is written to `OUT.tmp` and renamed only on success.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ext4w::{Options, Sizing};
use kubebake_disk::Window;
use kubebake_vdisk::Format;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bake::{self, Plan};
use crate::cache::{sha256_file, Cache};
use crate::component;
use crate::disk::{self, Ids, MIB};
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
    /// Image path.
    pub output: PathBuf,
    /// Image size in bytes (apparent; the file is sparse).
    pub size: u64,
    /// sha256 of the image (when requested).
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
    /// The image file's mode, e.g. `0600`.
    pub mode: String,
}

/// One output file of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its format.
    pub format: Format,
    /// Where it goes.
    pub path: PathBuf,
}

/// What a build request resolves to: the profile and the output files.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resolved profile.
    pub resolved: profile::Resolved,
    /// The outputs, in [`Format::ALL`] order.
    pub outputs: Vec<Output>,
}

impl Target {
    /// Every `OUT.tmp` a build may leave (what the supervisor cleans up).
    pub fn tmp_paths(&self) -> Vec<PathBuf> {
        self.outputs.iter().map(|o| tmp_path(&o.path)).collect()
    }
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

/// Deletes `OUT.tmp` unless the build committed.
struct TmpGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn tmp_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
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

/// The profile and outputs of a build request (also what the supervisor
/// needs to know which `OUT.tmp` files to clean up).
pub fn target(req: &Request) -> Result<Target> {
    let r = profile::resolve(req.profile.as_deref(), &req.sets)?;
    let mut formats = if req.formats.is_empty() {
        r.profile.output.formats.clone()
    } else {
        req.formats.clone()
    };
    if formats.is_empty() {
        formats.push(Format::Raw);
    }
    formats.sort();
    formats.dedup();
    if let Some(f) = formats.iter().find(|f| **f != Format::Raw) {
        bail!("--format {f} is not implemented yet; use --format raw (and convert with qemu-img)");
    }
    let path = req
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.raw", r.name)));
    Ok(Target {
        resolved: r,
        outputs: vec![Output {
            format: Format::Raw,
            path,
        }],
    })
}

/// Create `OUT.tmp` afresh: 0600 when the image will hold secrets (a stale
/// file's mode must not carry over, so it is removed first).
fn create_tmp(tmp: &Path, secret: bool) -> Result<File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the stale {}", tmp.display()));
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o666 })
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    if secret {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} 0600", tmp.display()))?;
    }
    Ok(file)
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

/// The raw disk, written and synced at `OUT.tmp` (removed on drop unless
/// committed).
struct RawDisk {
    file: File,
    tmp: PathBuf,
    guard: TmpGuard,
    size: u64,
}

/// Build the raw disk into `tmp`: 0600 when it embeds the seed's secrets.
fn build_raw(
    r: &profile::Resolved,
    inp: &Inputs,
    tmp: PathBuf,
    sde: Option<i64>,
    progress: &Progress,
) -> Result<RawDisk> {
    let guard = TmpGuard {
        path: tmp.clone(),
        armed: true,
    };
    let mut file = create_tmp(&tmp, inp.seed.is_some())?;
    let size = write_image(&mut file, r, inp, sde, progress)?;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    Ok(RawDisk {
        file,
        tmp,
        guard,
        size,
    })
}

/// Write the requested outputs from the raw disk and rename them into place.
fn write_outputs(
    mut raw: RawDisk,
    out: &Output,
    hash: bool,
    progress: &Progress,
) -> Result<(Option<String>, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let sha256 = if hash {
        progress.phase("sha256", Some(raw.size));
        Some(
            hash_file(&mut raw.file, progress)
                .with_context(|| format!("hashing {}", raw.tmp.display()))?,
        )
    } else {
        None
    };
    let mode = raw
        .file
        .metadata()
        .with_context(|| format!("reading {}", raw.tmp.display()))?
        .permissions()
        .mode();
    drop(raw.file);
    std::fs::rename(&raw.tmp, &out.path)
        .with_context(|| format!("renaming {} to {}", raw.tmp.display(), out.path.display()))?;
    raw.guard.armed = false;
    Ok((sha256, mode))
}

/// Run a build (in the worker process when supervised): check and fetch
/// every input, build the raw disk, write the outputs.
pub fn build(req: &Request) -> Result<Outcome> {
    let started = Instant::now();
    let sde = source_date_epoch()?;
    let Target {
        resolved: r,
        outputs,
    } = target(req)?;
    let out = &outputs[0];
    tracing::info!(profile = %r.name, arch = r.arch.as_str(), output = %out.path.display(), "building");
    let inp = gather(req, &r)?;

    // An embedded seed can carry a bootstrap token, private keys, password
    // hashes and write_files content: the image is as secret as the seed.
    let secrets = inp.seed.is_some();
    if secrets {
        tracing::info!(output = %out.path.display(), "the image embeds the seed's secrets (token, keys): written 0600; keep it private");
    }
    let progress = Progress::stderr();
    let raw = build_raw(&r, &inp, tmp_path(&out.path), sde, &progress)?;
    let size = raw.size;
    let (sha256, mode) = write_outputs(raw, out, req.hash, &progress)?;
    progress.finish();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(output = %out.path.display(), size, seconds, "image ready");
    Ok(Outcome {
        output: out.path.clone(),
        size,
        sha256,
        seconds,
        profile: r.name,
        arch: r.arch.as_str().to_string(),
        secrets,
        mode: format!("{:04o}", mode & 0o7777),
    })
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

fn hash_file(f: &mut File, progress: &Progress) -> std::io::Result<String> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        progress.advance(n as u64);
    }
    Ok(hex::encode(h.finalize()))
}
