//! The command line of `kubebake-firstboot` (`run` | `status`), shared by
//! the agent binary and its test-only twin `kubebake-firstboot-test-hooks`
//! (feature `test-hooks`), which alone can stop after a phase.

use crate::agent::{self, AfterPhase};
use crate::{config::Config, status};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// First-boot agent of kubebake nodes: finds the seed and inits or joins
/// the Kubernetes cluster.
#[derive(Parser)]
#[command(version, help_expected = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Filesystem root prefix for every path (tests); default /
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run (or resume) first boot; does nothing once finished
    Run,
    /// Show phases, timings, the last error and advice
    Status {
        /// Print the status document as JSON
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line and exits; `after_phase` is called after each
/// phase is persisted (test builds only).
pub fn main(after_phase: Option<AfterPhase>) -> ! {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBEBAKE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .without_time()
        .with_ansi(false)
        .init();
    let cli = Cli::parse();
    let cfg = Config::from_env(cli.root);
    let code = match real_main(&cfg, cli.cmd, after_phase) {
        Ok(c) => c,
        Err(e) => {
            // Display, not Debug; redacted like everything else we print
            eprintln!(
                "kubebake-firstboot: {}",
                crate::redact::redact(&format!("{e:#}"))
            );
            1
        }
    };
    std::process::exit(code);
}

fn real_main(cfg: &Config, cmd: Cmd, after_phase: Option<AfterPhase>) -> anyhow::Result<i32> {
    match cmd {
        Cmd::Run => agent::run_with(cfg, after_phase),
        Cmd::Status { json } => {
            let st = status::load(cfg)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&st).context("serialising status")?
                );
            } else {
                print!("{}", st.human());
            }
            Ok(if st.state.last_error.is_some() { 1 } else { 0 })
        }
    }
}
