//! EC2 IMDSv2 datasource against a local server speaking the real protocol:
//! PUT /latest/api/token needs the TTL header, GETs need the token (401
//! otherwise), 404 when there is no user-data.

use kubebake_firstboot::config::Config;
use kubebake_firstboot::datasource::ec2;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "AQAEAFakeImdsSessionToken==";

/// Serves IMDSv2; records each request line.
fn imds(user_data: Option<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut req = String::new();
            r.read_line(&mut req).expect("line");
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).expect("hdr");
                if h.trim().is_empty() {
                    break;
                }
                headers.push(h.trim().to_ascii_lowercase());
            }
            let parts: Vec<&str> = req.split_whitespace().collect();
            let (method, path) = (parts[0], parts[1]);
            log2.lock().expect("lock").push(format!("{method} {path}"));
            let has = |k: &str| {
                headers
                    .iter()
                    .find(|h| h.starts_with(k))
                    .map(|h| h[k.len()..].trim().to_string())
            };
            let (status, body) = match (method, path) {
                ("PUT", "/latest/api/token") => {
                    match has("x-aws-ec2-metadata-token-ttl-seconds:") {
                        Some(ttl) if ttl.parse::<u32>().is_ok_and(|t| (1..=21600).contains(&t)) => {
                            ("200 OK", TOKEN.to_string())
                        }
                        _ => ("400 Bad Request", String::new()),
                    }
                }
                ("GET", p) => {
                    if has("x-aws-ec2-metadata-token:").as_deref()
                        != Some(&TOKEN.to_ascii_lowercase())
                    {
                        ("401 Unauthorized", String::new())
                    } else if p == "/latest/user-data" {
                        match user_data {
                            Some(u) => ("200 OK", u.to_string()),
                            None => ("404 Not Found", String::new()),
                        }
                    } else if p == "/latest/meta-data/instance-id" {
                        ("200 OK", "i-0123456789abcdef0".to_string())
                    } else {
                        ("404 Not Found", String::new())
                    }
                }
                _ => ("405 Method Not Allowed", String::new()),
            };
            let mut s = s;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, log)
}

fn cfg(url: &str) -> Config {
    let mut c = Config::from_env(Some(std::env::temp_dir()));
    c.imds_url = url.to_string();
    c
}

#[test]
fn token_then_user_data() {
    let (url, log) = imds(Some("#cloud-config\nhostname: ec2-node\n"));
    let s = ec2::fetch(&cfg(&url)).expect("fetch").expect("user-data");
    assert_eq!(s.user_data, b"#cloud-config\nhostname: ec2-node\n");
    assert_eq!(
        s.meta_data.as_deref(),
        Some(&b"instance-id: i-0123456789abcdef0\n"[..])
    );
    assert_eq!(s.source, "ec2-imdsv2");
    let log = log.lock().expect("lock").clone();
    assert_eq!(log[0], "PUT /latest/api/token");
    assert_eq!(log[1], "GET /latest/user-data");
}

#[test]
fn server_refuses_get_without_token() {
    // the oracle itself: a plain IMDSv1 GET is refused
    let (url, _log) = imds(Some("x"));
    let r = kubebake_firstboot::http::request(
        "GET",
        &format!("{url}/latest/user-data"),
        &[],
        std::time::Duration::from_secs(2),
        1 << 20,
    )
    .expect("get");
    assert_eq!(r.status, 401);
}

/// Defect 16: an oversized user-data is refused after reading the cap,
/// with the cap in the message.
#[test]
fn oversized_user_data_is_refused() {
    let big: &'static str = Box::leak(
        format!("#cloud-config\nruncmd: [\"{}\"]\n", "a".repeat(3 << 20)).into_boxed_str(),
    );
    let (url, _log) = imds(Some(big));
    let e = ec2::fetch(&cfg(&url)).expect_err("3 MiB of user-data");
    let msg = e.to_string();
    assert!(
        msg.contains("/latest/user-data")
            && msg.contains("larger than 1 MiB, the cap for user-data"),
        "{msg}"
    );
}

#[test]
fn no_user_data_is_none() {
    let (url, _log) = imds(None);
    assert!(ec2::fetch(&cfg(&url)).expect("fetch").is_none());
}

#[test]
fn unreachable_imds_fails_fast() {
    // a closed port: errors out quickly instead of hanging
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    drop(l);
    let t = std::time::Instant::now();
    assert!(ec2::fetch(&cfg(&url)).is_err());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}
