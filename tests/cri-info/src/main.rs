//! `kubebake-cri-info`: the `crictl info` equivalent for kubebake's boot tests.
//!
//! The boot tests must show that the container runtime baked into an image
//! answers the Kubernetes CRI inside the booted VM, as `crictl info` would.
//! The real `crictl` cannot be fetched on the build machines (Debian does not
//! package it and the Kubernetes download host is unreachable), so this small
//! program stands in for it. It speaks the real CRI gRPC protocol
//! (`runtime.v1.RuntimeService/Version` and `/Status` with `verbose: true`)
//! over the runtime's unix socket and prints one JSON object shaped like
//! `crictl info`:
//!
//! ```json
//! {"status": {"conditions": [{"type": "RuntimeReady", "status": true, ...}]},
//!  "info": {"config": {...}, "golang": "go1.19.8", ...},
//!  "version": {"runtimeName": "containerd", "runtimeVersion": "1.6.20~ds1", ...}}
//! ```
//!
//! Exit code 0 when both calls succeed; 1 with a one-line error on stderr
//! naming the endpoint otherwise; 2 for usage errors. It is a test tool only
//! and is never shipped in product images. The few protobuf messages it needs
//! are written by hand with `prost` derives, so building it needs no `protoc`.

mod channel;
mod cri;
mod report;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

/// Query a CRI runtime like `crictl info` and print the answer as JSON.
#[derive(Debug, Parser)]
#[command(version, help_expected = true, max_term_width = 80)]
struct Cli {
    /// CRI endpoint: unix:///path/to/socket (a bare absolute path works too)
    #[arg(
        long,
        value_name = "URL",
        default_value = "unix:///run/containerd/containerd.sock"
    )]
    endpoint: String,

    /// Give up after N milliseconds (connect and both calls together)
    #[arg(long, value_name = "N", default_value_t = 5000)]
    timeout_ms: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` joins the context chain with ": "; keep it to one line.
            let line = format!("{err:#}").replace(['\n', '\r'], " ");
            eprintln!("kubebake-cri-info: {line}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let endpoint = &cli.endpoint;
    let json = query(endpoint, Duration::from_millis(cli.timeout_ms))
        .with_context(|| format!("CRI endpoint {endpoint}"))?;
    let text = serde_json::to_string_pretty(&json).context("encoding the JSON answer")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .context("writing the JSON answer to stdout")?;
    Ok(())
}

/// Connects, asks Version and Status, and shapes the `crictl info` JSON.
fn query(endpoint: &str, timeout: Duration) -> Result<serde_json::Value> {
    let socket = channel::socket_path(endpoint)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let calls = async {
            let mut client = cri::RuntimeClient::connect(&socket).await?;
            let version = client.version().await?;
            let status = client.status(true).await?;
            Ok::<_, anyhow::Error>(report::crictl_info(&version, &status))
        };
        match tokio::time::timeout(timeout, calls).await {
            Ok(answer) => answer,
            Err(_elapsed) => Err(anyhow::anyhow!(
                "no answer within {} ms (--timeout-ms)",
                timeout.as_millis()
            )),
        }
    })
}
