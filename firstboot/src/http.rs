//! A minimal blocking HTTP/1.1 client over `TcpStream` for link-local
//! metadata services (IMDS) and `http://` seeds: no TLS, short timeouts,
//! `Connection: close`, Content-Length or chunked bodies.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// HTTP client errors.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host[:port]/path`.
    #[error("unsupported URL {0}")]
    Url(String),
    /// Connecting or exchanging data failed.
    #[error("{url}: {source}")]
    Io {
        /// URL concerned.
        url: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The body is larger than the caller's cap (only that much was read).
    #[error("{url}: response body larger than {max} bytes")]
    TooLarge {
        /// URL concerned.
        url: String,
        /// The cap, bytes.
        max: u64,
    },
    /// The response could not be parsed.
    #[error("{url}: malformed response: {why}")]
    Malformed {
        /// URL concerned.
        url: String,
        /// What was wrong.
        why: String,
    },
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::Url(url.to_string()))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if hostport.is_empty() {
        return Err(HttpError::Url(url.to_string()));
    }
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    Ok((hostport, path.to_string()))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = body.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&body[..nl]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        body = &body[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Room for the status line and headers beside the body cap.
const HEAD_MAX: u64 = 64 << 10;

/// Sends one request and reads the response, whose body may hold at most
/// `max_body` bytes: no more than that (plus the headers) is ever read.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    max_body: u64,
) -> Result<Response, HttpError> {
    let (hostport, path) = split_url(url)?;
    let ioe = |source| HttpError::Io {
        url: url.to_string(),
        source,
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(ioe)?
        .next()
        .ok_or_else(|| HttpError::Url(url.to_string()))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(ioe)?;
    s.set_read_timeout(Some(timeout)).map_err(ioe)?;
    s.set_write_timeout(Some(timeout)).map_err(ioe)?;
    let host = hostport.trim_end_matches(":80");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "PUT" || method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(ioe)?;
    let mut raw = Vec::new();
    let limit = max_body.saturating_add(HEAD_MAX);
    s.take(limit).read_to_end(&mut raw).map_err(ioe)?;
    let too_large = || HttpError::TooLarge {
        url: url.to_string(),
        max: max_body,
    };
    let r = match parse_response(url, &raw) {
        // a cut-off response fails to parse: say why it was cut
        Err(_) if raw.len() as u64 >= limit => return Err(too_large()),
        r => r?,
    };
    if r.body.len() as u64 > max_body || raw.len() as u64 >= limit {
        return Err(too_large());
    }
    Ok(r)
}

fn parse_response(url: &str, raw: &[u8]) -> Result<Response, HttpError> {
    let bad = |why: &str| HttpError::Malformed {
        url: url.to_string(),
        why: why.to_string(),
    };
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("non-UTF-8 headers"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<usize>().ok();
            }
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(n) = length {
        body.get(..n).ok_or_else(|| bad("short body"))?.to_vec()
    } else {
        body.to_vec()
    };
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked() {
        let r =
            parse_response("u", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").expect("ok");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        let r = parse_response(
            "u",
            b"HTTP/1.1 404 NF\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .expect("ok");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
        assert!(parse_response("u", b"garbage").is_err());
    }

    #[test]
    fn url_forms() {
        assert_eq!(
            split_url("http://169.254.169.254/latest").expect("u"),
            ("169.254.169.254:80".to_string(), "/latest".to_string())
        );
        assert!(split_url("https://x/").is_err());
    }
}
