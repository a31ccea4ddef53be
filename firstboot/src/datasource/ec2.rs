//! EC2 IMDSv2: `PUT /latest/api/token` with
//! `X-aws-ec2-metadata-token-ttl-seconds`, then `GET /latest/user-data` with
//! `X-aws-ec2-metadata-token`. Short timeouts, few attempts; only used when
//! DMI says EC2. 404 on user-data means "no user data".

use super::{DsError, SeedFiles};
use crate::config::Config;
use crate::http::request;
use kubebake_seed::limits::SeedFile;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);
const ATTEMPTS: u32 = 3;

fn token(base: &str) -> Result<String, DsError> {
    let url = format!("{base}/latest/api/token");
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        match request(
            "PUT",
            &url,
            &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
            TIMEOUT,
            4 << 10,
        ) {
            Ok(r) if r.status == 200 => {
                return Ok(String::from_utf8_lossy(&r.body).trim().to_string());
            }
            Ok(r) => {
                last = Some(DsError::Command {
                    cmd: format!("PUT {url}"),
                    why: format!("HTTP {}", r.status),
                })
            }
            Err(e) => last = Some(e.into()),
        }
        std::thread::sleep(Duration::from_millis(200 * u64::from(attempt + 1)));
    }
    Err(last.unwrap_or_else(|| DsError::Command {
        cmd: format!("PUT {url}"),
        why: "no answer".into(),
    }))
}

fn get(base: &str, tok: &str, path: &str, kind: SeedFile) -> Result<Option<Vec<u8>>, DsError> {
    let url = format!("{base}{path}");
    let r = request(
        "GET",
        &url,
        &[("X-aws-ec2-metadata-token", tok)],
        TIMEOUT,
        kind.cap(),
    )
    .map_err(|e| DsError::http(e, kind))?;
    match r.status {
        200 => Ok(Some(r.body)),
        404 => Ok(None),
        s => Err(DsError::Command {
            cmd: format!("GET {url}"),
            why: format!("HTTP {s}"),
        }),
    }
}

/// Reads user-data (and the instance id as meta-data) from IMDSv2.
pub fn fetch(cfg: &Config) -> Result<Option<SeedFiles>, DsError> {
    let base = cfg.imds_url.trim_end_matches('/');
    let tok = token(base)?;
    let Some(user_data) = get(base, &tok, "/latest/user-data", SeedFile::UserData)? else {
        return Ok(None);
    };
    let meta_data = get(
        base,
        &tok,
        "/latest/meta-data/instance-id",
        SeedFile::MetaData,
    )?
    .map(|id| {
        let mut m = b"instance-id: ".to_vec();
        m.extend_from_slice(&id);
        m.push(b'\n');
        m
    });
    Ok(Some(SeedFiles {
        user_data,
        meta_data,
        network_config: None,
        node_overrides: Vec::new(),
        source: "ec2-imdsv2".into(),
    }))
}
