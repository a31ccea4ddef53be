//! The slice of the CRI `runtime.v1` API this tool calls, written by hand.
//!
//! Field names and tags follow `runtime.v1` `api.proto` of
//! kubernetes/cri-api (`VersionRequest`, `VersionResponse`, `StatusRequest`,
//! `StatusResponse`, `RuntimeStatus`, `RuntimeCondition`). Fields this tool
//! does not read (`runtime_handlers`, `features`) are left out; protobuf
//! decoders skip unknown fields, so newer runtimes still decode.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use http::uri::PathAndQuery;
use http::Uri;

use crate::channel::UnixH2;

/// What the kubelet sends as its CRI client version.
const CLIENT_VERSION: &str = "0.1.0";

const VERSION_METHOD: &str = "/runtime.v1.RuntimeService/Version";
const STATUS_METHOD: &str = "/runtime.v1.RuntimeService/Status";

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    /// Version of the kubelet runtime API.
    #[prost(string, tag = "1")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    /// Version of the kubelet runtime API.
    #[prost(string, tag = "1")]
    pub version: String,
    /// Name of the container runtime.
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    /// Version of the container runtime.
    #[prost(string, tag = "3")]
    pub runtime_version: String,
    /// API version of the container runtime.
    #[prost(string, tag = "4")]
    pub runtime_api_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {
    /// Ask for extra runtime information (the `info` map).
    #[prost(bool, tag = "1")]
    pub verbose: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeCondition {
    /// Condition type, e.g. `RuntimeReady` or `NetworkReady`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// Whether the condition holds.
    #[prost(bool, tag = "2")]
    pub status: bool,
    /// Machine-readable reason for the last transition.
    #[prost(string, tag = "3")]
    pub reason: String,
    /// Human-readable message for the last transition.
    #[prost(string, tag = "4")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RuntimeStatus {
    /// Every condition the runtime reports.
    #[prost(message, repeated, tag = "1")]
    pub conditions: Vec<RuntimeCondition>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    /// Status of the runtime.
    #[prost(message, optional, tag = "1")]
    pub status: Option<RuntimeStatus>,
    /// Extra information (verbose only); values are usually JSON text.
    #[prost(btree_map = "string, string", tag = "2")]
    pub info: BTreeMap<String, String>,
}

/// A `runtime.v1.RuntimeService` client on one unix-socket connection.
pub struct RuntimeClient {
    grpc: tonic::client::Grpc<UnixH2>,
}

impl RuntimeClient {
    pub async fn connect(socket: &Path) -> Result<Self> {
        let channel = UnixH2::connect(socket).await?;
        // The authority is not routed anywhere on a unix socket; gRPC-Go
        // servers accept any, and crictl also sends "localhost".
        let origin = Uri::from_static("http://localhost");
        Ok(Self {
            grpc: tonic::client::Grpc::with_origin(channel, origin),
        })
    }

    /// `RuntimeService/Version`.
    pub async fn version(&mut self) -> Result<VersionResponse> {
        let request = VersionRequest {
            version: CLIENT_VERSION.to_owned(),
        };
        self.unary(VERSION_METHOD, request).await
    }

    /// `RuntimeService/Status`.
    pub async fn status(&mut self, verbose: bool) -> Result<StatusResponse> {
        self.unary(STATUS_METHOD, StatusRequest { verbose }).await
    }

    async fn unary<Req, Resp>(&mut self, method: &'static str, request: Req) -> Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let call = &method[1..];
        self.grpc
            .ready()
            .await
            .with_context(|| format!("waiting for the connection before {call}"))?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let path = PathAndQuery::from_static(method);
        let response = self
            .grpc
            .unary(tonic::Request::new(request), path, codec)
            .await
            .map_err(|status| {
                anyhow!(
                    "{call} failed: gRPC status {:?}: {}",
                    status.code(),
                    status.message()
                )
            })?;
        Ok(response.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Hand-encoded protobuf bytes (tag = field << 3 | wire type) checked
    /// against the derives, so a wrong tag or type shows up here too.
    #[test]
    fn status_response_decodes_from_wire_bytes() {
        let mut condition = vec![0x0a, 12];
        condition.extend_from_slice(b"RuntimeReady");
        condition.extend_from_slice(&[0x10, 0x01]); // status = true
        condition.extend_from_slice(&[0x22, 2]);
        condition.extend_from_slice(b"ok");
        let mut status = vec![0x0a, u8::try_from(condition.len()).expect("short")];
        status.extend_from_slice(&condition);
        let mut entry = vec![0x0a, 6];
        entry.extend_from_slice(b"golang");
        entry.extend_from_slice(&[0x12, 6]);
        entry.extend_from_slice(b"\"go1\"");
        entry.push(b' ');
        let mut wire = vec![0x0a, u8::try_from(status.len()).expect("short")];
        wire.extend_from_slice(&status);
        wire.extend_from_slice(&[0x12, u8::try_from(entry.len()).expect("short")]);
        wire.extend_from_slice(&entry);
        // An unknown field 3 (runtime_handlers) must be skipped.
        wire.extend_from_slice(&[0x1a, 0x02, 0x0a, 0x00]);

        let decoded = StatusResponse::decode(wire.as_slice()).expect("decodes");
        let conditions = decoded.status.expect("status present").conditions;
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].r#type, "RuntimeReady");
        assert!(conditions[0].status);
        assert_eq!(conditions[0].reason, "");
        assert_eq!(conditions[0].message, "ok");
        assert_eq!(
            decoded.info.get("golang").map(String::as_str),
            Some("\"go1\" ")
        );
    }

    #[test]
    fn requests_encode_to_wire_bytes() {
        let verbose = StatusRequest { verbose: true }.encode_to_vec();
        assert_eq!(verbose, [0x08, 0x01]);
        let version = VersionRequest {
            version: "0.1.0".to_owned(),
        }
        .encode_to_vec();
        assert_eq!(version, b"\x0a\x050.1.0");
    }
}
