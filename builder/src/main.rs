//! `kubebake` binary: parse, dispatch, print errors on one line.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use kubebake::cli::{Cli, Command};
use kubebake::{inspect, pipeline};

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build(a) => {
            let req = pipeline::Request {
                profile: a.profile,
                output: a.output,
                format: a.format,
                rootfs: a.rootfs,
                seed: a.seed,
                components: a.components,
                sets: a.sets,
                hash: a.json,
            };
            let out = pipeline::build(&req)?;
            if a.json {
                println!("{}", serde_json::to_string(&out).context("printing JSON")?);
            }
        }
        Command::Inspect(a) => {
            let r = inspect::inspect(&a.image)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).context("printing JSON")?
                );
            } else {
                print!("{}", inspect::render(&r));
            }
        }
        Command::Seed(cmd) => return kubebake::seedcmd::run(cmd),
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
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
