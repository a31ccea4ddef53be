//! kubebake: turns a profile into disk images of immutable Kubernetes nodes.
//!
//! Data flow (one direction): profile → resolve → fetch components → base
//! rootfs stream (tarballs or mmdebstrap) → bake layers → ext4 root streamed
//! into its partition → ESP + GPT → `OUT.tmp` renamed to `OUT`.

pub(crate) mod archive;
pub(crate) mod bake;
pub(crate) mod boot;
pub(crate) mod cache;
pub(crate) mod cli;
pub(crate) mod component;
pub(crate) mod convert;
pub(crate) mod disk;
pub(crate) mod embedded;
pub(crate) mod initrd;
pub(crate) mod inspect;
pub(crate) mod output;
pub(crate) mod pipeline;
pub(crate) mod platform;
pub(crate) mod profile;
pub(crate) mod progress;
pub(crate) mod rootfs;
pub(crate) mod seedcmd;
pub(crate) mod supervise;
pub(crate) mod version;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build(a) => {
            let req = pipeline::Request {
                profile: a.profile,
                output: a.output,
                formats: a.formats,
                rootfs: a.rootfs,
                seed: a.seed,
                components: a.components,
                sets: a.sets,
                hash: a.json,
            };
            return supervised(
                || Ok(pipeline::target(&req)?.plan.tmp_paths()),
                || pipeline::build(&req),
                a.json,
            );
        }
        Command::Convert(a) => {
            let req = convert::Request {
                image: a.image,
                formats: a.formats,
                output: a.output,
                cpus: a.cpus,
                memory_mib: a.memory_mib,
                hash: a.json,
            };
            return supervised(
                || Ok(convert::target(&req)?.tmp_paths()),
                || convert::run(&req),
                a.json,
            );
        }
        Command::Inspect(a) => inspect::run(&a.image, a.json)?,
        Command::Seed(cmd) => return seedcmd::run(cmd),
    }
    Ok(ExitCode::SUCCESS)
}

/// Run a command that writes outputs under the supervisor: in the first
/// process, check the request (`tmp_paths`: the files a dead worker could
/// leave) and run this command again as the worker; in the worker, `work`,
/// its result printed as JSON on stdout with `json`.
fn supervised<T: serde::Serialize>(
    tmp_paths: impl FnOnce() -> Result<Vec<std::path::PathBuf>>,
    work: impl FnOnce() -> Result<T>,
    json: bool,
) -> Result<ExitCode> {
    if supervise::work_dir().is_none() {
        return supervise::build(&tmp_paths()?);
    }
    supervise::die_with_supervisor()?;
    let out = work()?;
    if json {
        println!("{}", serde_json::to_string(&out).context("printing JSON")?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The `kubebake` command: parse the command line, set up logging, run, and
/// print an error on one `error:` line (exit 1; usage errors exit 2).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colour only on a terminal, and never with NO_COLOR (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(|| progress::LogWriter)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBEBAKE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
