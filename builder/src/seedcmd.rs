//! `kubebake seed …`: validate a seed, print the kubeadm config the agent
//! would write, and build a NoCloud CIDATA image for VMs.

use std::fs;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use kubebake_seed::limits::{read_capped, SeedFile};
use kubebake_seed::{cidata, kubeadm, network, Parsed, Problems};

/// Kubernetes version assumed for `seed render` without `--kubeadm-version`.
pub const DEFAULT_KUBEADM_VERSION: &str = "1.35.1";

/// Seed subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SeedCmd {
    /// Check a seed strictly; print every problem and exit 1 if any
    Validate {
        /// The seed (#cloud-config user-data)
        file: PathBuf,
        /// Also check this network-config (NoCloud v2)
        #[arg(long, value_name = "F")]
        network_config: Option<PathBuf>,
        /// Merge nodes/<MAC>.yaml from beside FILE first
        #[arg(long, value_name = "MAC")]
        mac: Option<String>,
    },
    /// Print the kubeadm config the first-boot agent would write
    Render {
        /// The seed (#cloud-config user-data)
        file: PathBuf,
        /// kubeadm version on the node
        #[arg(long, value_name = "V", default_value = DEFAULT_KUBEADM_VERSION)]
        kubeadm_version: String,
        /// Node name (default: the seed's hostname)
        #[arg(long, value_name = "NAME")]
        node_name: Option<String>,
        /// Node IP to advertise (kubelet node-ip)
        #[arg(long, value_name = "IP")]
        advertise_address: Option<IpAddr>,
        /// Merge nodes/<MAC>.yaml from beside FILE first
        #[arg(long, value_name = "MAC")]
        mac: Option<String>,
    },
    /// Write a NoCloud CIDATA FAT image (user-data, meta-data, network-config)
    Image {
        /// The seed (#cloud-config user-data)
        file: PathBuf,
        /// network-config file to include (NoCloud v2)
        #[arg(long, value_name = "F")]
        network_config: Option<PathBuf>,
        /// meta-data file (default: derived from the seed)
        #[arg(long, value_name = "F")]
        meta_data: Option<PathBuf>,
        /// Output image
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
}

/// Runs a seed subcommand. Problems in the seed give exit code 1.
pub fn run(cmd: SeedCmd) -> Result<ExitCode> {
    match cmd {
        SeedCmd::Validate {
            file,
            network_config,
            mac,
        } => validate(&file, network_config.as_deref(), mac.as_deref()),
        SeedCmd::Render {
            file,
            kubeadm_version,
            node_name,
            advertise_address,
            mac,
        } => render(
            &file,
            &kubeadm_version,
            node_name,
            advertise_address,
            mac.as_deref(),
        ),
        SeedCmd::Image {
            file,
            network_config,
            meta_data,
            output,
        } => image(
            &file,
            network_config.as_deref(),
            meta_data.as_deref(),
            &output,
        ),
    }
}

/// Reads a seed file as text, refusing it past its cap (`kind`) without
/// reading the rest.
fn read(path: &Path, kind: SeedFile) -> Result<String> {
    let bytes = fs::File::open(path)
        .and_then(|f| read_capped(f, kind))
        .with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {}); fix: save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The seed text, with `nodes/<mac>.yaml` merged over it when asked.
fn seed_text(file: &Path, mac: Option<&str>) -> Result<(String, String, bool)> {
    let text = read(file, SeedFile::UserData)?;
    let source = file.display().to_string();
    let Some(mac) = mac else {
        return Ok((text, source, false));
    };
    let Some(name) = kubebake_seed::node_override_name(mac) else {
        bail!("--mac {mac}: not a MAC address like aa:bb:cc:dd:ee:ff");
    };
    let path = file.parent().unwrap_or(Path::new(".")).join(&name);
    if !path.exists() {
        tracing::info!("no {} beside the seed; using the seed alone", name);
        return Ok((text, source, false));
    }
    let over = read(&path, SeedFile::NodeOverride)?;
    let over_source = path.display().to_string();
    match kubebake_seed::merge_override(&text, &source, &over, &over_source) {
        Ok(merged) => Ok((merged, format!("{source} + {over_source}"), true)),
        Err(problems) => {
            report(&problems);
            bail!("cannot merge {over_source} over {source}");
        }
    }
}

/// Prints warnings, then every problem, each on its own line on stderr.
fn report(problems: &Problems) {
    for w in &problems.warnings {
        eprintln!("warning: {w}");
    }
    for p in &problems.list {
        eprintln!("error: {p}");
    }
}

/// Parses a seed, printing its warnings and problems on stderr. A merged
/// document has no lines the user wrote, so its problems carry none.
fn parse_reporting(text: &str, source: &str, merged: bool) -> Option<Parsed> {
    match kubebake_seed::parse(text, source) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("warning: {w}");
            }
            Some(parsed)
        }
        Err(problems) => {
            report(&if merged {
                problems.without_lines()
            } else {
                problems
            });
            None
        }
    }
}

fn check_network(path: &Path) -> Result<Option<String>> {
    let text = read(path, SeedFile::NetworkConfig)?;
    match network::parse(&text, &path.display().to_string()) {
        Ok(_) => Ok(Some(text)),
        Err(problems) => {
            report(&problems);
            Ok(None)
        }
    }
}

/// `kubebake build --seed FILE`: the seed's bytes once it is valid. Its
/// warnings are printed; its problems make one error naming each of them.
pub fn for_build(path: &Path) -> Result<Vec<u8>> {
    let text = read(path, SeedFile::UserData).context("--seed")?;
    let problems = match kubebake_seed::parse(&text, &path.display().to_string()) {
        Ok(parsed) => {
            for w in &parsed.warnings {
                eprintln!("warning: {w}");
            }
            return Ok(text.into_bytes());
        }
        Err(problems) => problems,
    };
    for w in &problems.warnings {
        eprintln!("warning: {w}");
    }
    let list: Vec<String> = problems.list.iter().map(ToString::to_string).collect();
    bail!(
        "seed is invalid ({} problem(s)): {}; fix them (kubebake seed validate {})",
        list.len(),
        list.join("; "),
        path.display()
    )
}

fn validate(file: &Path, network_config: Option<&Path>, mac: Option<&str>) -> Result<ExitCode> {
    let (text, source, merged) = seed_text(file, mac)?;
    let seed_ok = parse_reporting(&text, &source, merged);
    let net_ok = match network_config {
        Some(p) => check_network(p)?.is_some(),
        None => true,
    };
    match seed_ok {
        Some(parsed) if net_ok => {
            let role = parsed
                .seed
                .kubernetes
                .as_ref()
                .map_or("none".to_string(), |k| k.role.to_string());
            println!(
                "{source}: ok (role {role}, {} warning(s))",
                parsed.warnings.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        _ => Ok(ExitCode::from(1)),
    }
}

fn render(
    file: &Path,
    kubeadm_version: &str,
    node_name: Option<String>,
    advertise_address: Option<IpAddr>,
    mac: Option<&str>,
) -> Result<ExitCode> {
    let version: kubebake_seed::Version = kubeadm_version
        .parse()
        .with_context(|| format!("--kubeadm-version {kubeadm_version}"))?;
    let (text, source, merged) = seed_text(file, mac)?;
    let Some(parsed) = parse_reporting(&text, &source, merged) else {
        return Ok(ExitCode::from(1));
    };
    let Some(k) = parsed.seed.kubernetes.as_ref() else {
        bail!("{source}: no kubernetes: section, nothing to render");
    };
    let Some(name) = node_name.or(parsed.seed.hostname.clone()) else {
        bail!("{source}: no hostname in the seed; pass --node-name");
    };
    let mut facts = kubeadm::NodeFacts::new(name, version);
    facts.advertise_address = advertise_address;
    let yaml = kubeadm::render(k, &facts).with_context(|| format!("rendering {source}"))?;
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes())
        .context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn image(
    file: &Path,
    network_config: Option<&Path>,
    meta_data: Option<&Path>,
    output: &Path,
) -> Result<ExitCode> {
    let user_data = read(file, SeedFile::UserData)?;
    let Some(parsed) = parse_reporting(&user_data, &file.display().to_string(), false) else {
        return Ok(ExitCode::from(1));
    };
    let net = match network_config {
        Some(p) => match check_network(p)? {
            Some(t) => Some(t),
            None => return Ok(ExitCode::from(1)),
        },
        None => None,
    };
    let meta = match meta_data {
        Some(p) => {
            let m = read(p, SeedFile::MetaData)?;
            if !m
                .lines()
                .any(|l| l.trim_start().starts_with("instance-id:"))
            {
                bail!("{}: meta-data needs an `instance-id:` line", p.display());
            }
            m
        }
        None => cidata::meta_data(
            &cidata::instance_id(&user_data),
            parsed.seed.hostname.as_deref(),
        ),
    };
    let files = cidata::files(&user_data, &meta, net.as_deref());
    let img = cidata::fat_image(&files).context("building the CIDATA image")?;
    write_atomic(output, &img)?;
    eprintln!(
        "wrote {} ({} bytes, label {})",
        output.display(),
        img.len(),
        cidata::LABEL
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `OUT.tmp` (mode 0600: the seed holds secrets) and renames it.
fn write_atomic(output: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = output.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| -> Result<()> {
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(data)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, output)
            .with_context(|| format!("renaming {} to {}", tmp.display(), output.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
