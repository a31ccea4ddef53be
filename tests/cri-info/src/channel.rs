//! HTTP/2 over a unix socket, as a `tower` service tonic's generic client
//! can drive. tonic's own `transport::Channel` is left out on purpose: it
//! drags in TCP, load balancing and TLS machinery this tool never uses.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{bail, Context, Result};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Turns `unix:///run/x.sock` (or a bare absolute path) into the socket path.
pub fn socket_path(endpoint: &str) -> Result<PathBuf> {
    let path = if let Some(rest) = endpoint.strip_prefix("unix://") {
        rest
    } else if endpoint.contains("://") {
        bail!("only unix:// endpoints are supported");
    } else {
        endpoint
    };
    if !path.starts_with('/') {
        bail!("the socket path must be absolute (unix:///path/to/socket)");
    }
    Ok(PathBuf::from(path))
}

/// One HTTP/2 connection to a unix socket.
#[derive(Clone, Debug)]
pub struct UnixH2 {
    sender: SendRequest<tonic::body::Body>,
}

impl UnixH2 {
    /// Connects to `socket` and performs the HTTP/2 handshake. The connection
    /// task runs on the current tokio runtime until the runtime is dropped.
    pub async fn connect(socket: &Path) -> Result<Self> {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .with_context(|| format!("connecting to {}", socket.display()))?;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .with_context(|| format!("HTTP/2 handshake on {}", socket.display()))?;
        tokio::spawn(async move {
            // A broken connection also fails the pending request, which
            // reports it; nothing more to do with the error here.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>> + Send>>;

impl tower_service::Service<http::Request<tonic::body::Body>> for UnixH2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<hyper::Result<()>> {
        self.sender.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.sender.send_request(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_url_gives_the_path() {
        let path = socket_path("unix:///run/containerd/containerd.sock").expect("valid");
        assert_eq!(path, PathBuf::from("/run/containerd/containerd.sock"));
    }

    #[test]
    fn bare_absolute_path_is_accepted() {
        let path = socket_path("/tmp/x.sock").expect("valid");
        assert_eq!(path, PathBuf::from("/tmp/x.sock"));
    }

    #[test]
    fn other_schemes_and_relative_paths_are_refused() {
        for bad in [
            "tcp://127.0.0.1:1234",
            "npipe:////./pipe/x",
            "unix://x.sock",
            "x.sock",
        ] {
            assert!(socket_path(bad).is_err(), "{bad} must be refused");
        }
    }
}
