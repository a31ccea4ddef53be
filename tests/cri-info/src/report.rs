//! Shapes the two CRI answers into the JSON object `crictl info` prints.
//!
//! Differences from crictl, on purpose: crictl merges the verbose `info`
//! entries into the top level; here they sit under `"info"`, and the
//! `crictl version` fields sit under `"version"`, so one call answers both.
//! Keys come out sorted (serde_json's map), which keeps the output stable.

use serde_json::{json, Map, Value};

use crate::cri::{StatusResponse, VersionResponse};

/// `{"status": {"conditions": [...]}, "info": {...}, "version": {...}}`.
pub fn crictl_info(version: &VersionResponse, status: &StatusResponse) -> Value {
    let status_json = status.status.as_ref().map(|runtime| {
        let conditions: Vec<Value> = runtime
            .conditions
            .iter()
            .map(|c| {
                json!({
                    "type": c.r#type,
                    "status": c.status,
                    "reason": c.reason,
                    "message": c.message,
                })
            })
            .collect();
        json!({ "conditions": conditions })
    });
    let info: Map<String, Value> = status
        .info
        .iter()
        .map(|(key, text)| (key.clone(), info_value(text)))
        .collect();
    json!({
        "status": status_json,
        "info": info,
        "version": {
            "version": version.version,
            "runtimeName": version.runtime_name,
            "runtimeVersion": version.runtime_version,
            "runtimeApiVersion": version.runtime_api_version,
        },
    })
}

/// containerd sends each verbose entry as JSON text; keep text that is not.
fn info_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::{RuntimeCondition, RuntimeStatus};

    fn condition(kind: &str, ok: bool, reason: &str) -> RuntimeCondition {
        RuntimeCondition {
            r#type: kind.to_owned(),
            status: ok,
            reason: reason.to_owned(),
            message: format!("{kind} message"),
        }
    }

    #[test]
    fn shape_matches_crictl_info() {
        let version = VersionResponse {
            version: "0.1.0".to_owned(),
            runtime_name: "rt".to_owned(),
            runtime_version: "9.9".to_owned(),
            runtime_api_version: "v1".to_owned(),
        };
        let status = StatusResponse {
            status: Some(RuntimeStatus {
                conditions: vec![
                    condition("RuntimeReady", true, ""),
                    condition("NetworkReady", false, "NoCNI"),
                ],
            }),
            info: [
                ("config".to_owned(), r#"{"a":[1,2]}"#.to_owned()),
                ("golang".to_owned(), r#""go1.23""#.to_owned()),
                ("plain".to_owned(), "not json {".to_owned()),
            ]
            .into_iter()
            .collect(),
        };
        let out = crictl_info(&version, &status);
        let conditions = out["status"]["conditions"].as_array().expect("array");
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[0]["type"], "RuntimeReady");
        assert_eq!(conditions[0]["status"], true);
        assert_eq!(conditions[0]["reason"], "");
        assert_eq!(conditions[0]["message"], "RuntimeReady message");
        assert_eq!(conditions[1]["status"], false);
        assert_eq!(conditions[1]["reason"], "NoCNI");
        assert_eq!(out["info"]["config"]["a"][1], 2);
        assert_eq!(out["info"]["golang"], "go1.23");
        assert_eq!(out["info"]["plain"], "not json {");
        assert_eq!(out["version"]["version"], "0.1.0");
        assert_eq!(out["version"]["runtimeName"], "rt");
        assert_eq!(out["version"]["runtimeVersion"], "9.9");
        assert_eq!(out["version"]["runtimeApiVersion"], "v1");
    }

    #[test]
    fn missing_runtime_status_is_null_not_invented() {
        let out = crictl_info(&VersionResponse::default(), &StatusResponse::default());
        assert!(out["status"].is_null());
        assert_eq!(out["info"], json!({}));
    }
}
