//! What the first-boot agent and the kubeadm/kubectl doubles print:
//! `kubebake: phase=<p> result=<r> <detail>` lines (the agent's journal) and
//! `kubeadm-double: key=value` records (argv, config with tokens hashed, the
//! uptime of each call), as the checker copies them onto its report channel.

/// One `kubebake: phase=… result=…` line.
#[derive(Debug, Clone)]
pub struct PhaseLine {
    pub phase: String,
    pub result: String,
    pub detail: String,
}

/// Text after `marker` on every serial line containing it (a console line
/// can be preceded by kernel output on the same line).
pub fn after<'a>(serial: &'a str, marker: &str) -> Vec<&'a str> {
    serial
        .lines()
        .filter_map(|l| {
            let l = l.trim_end_matches('\r');
            l.find(marker).map(|i| &l[i + marker.len()..])
        })
        .collect()
}

/// Every agent phase line, in order.
pub fn phases(serial: &str) -> Vec<PhaseLine> {
    after(serial, "kubebake: phase=")
        .into_iter()
        .filter_map(|rest| {
            let (phase, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let rest = rest.strip_prefix("result=")?;
            let (result, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(PhaseLine {
                phase: phase.to_string(),
                result: result.to_string(),
                detail: detail.to_string(),
            })
        })
        .collect()
}

/// Values of `kubeadm-double: KEY=…` (or another double's prefix) records.
pub fn records<'a>(serial: &'a str, prefix: &str, key: &str) -> Vec<&'a str> {
    after(serial, &format!("{prefix}: {key}="))
}

/// `/proc/uptime` (seconds) when the kubeadm double was first called for
/// init/join on the boot `boot_id`.
pub fn kubeadm_called(records: &str, boot_id: &str) -> Option<f64> {
    self::records(records, "kubeadm-double", "called boot_id")
        .into_iter()
        .find_map(|r| {
            let (id, rest) = r.split_once(' ')?;
            let up = rest.strip_prefix("uptime=")?;
            (id == boot_id).then(|| up.trim().parse().ok()).flatten()
        })
}

/// Standard base64 (with padding), as `base64 -w0` writes it.
pub fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        if c == b'=' {
            break;
        }
        let v = ALPHA
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {c:?} in {s:?}"));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The configs the kubeadm double recorded (tokens and certificate keys
/// already replaced by their sha256), in call order.
pub fn kubeadm_configs(serial: &str) -> Vec<String> {
    records(serial, "kubeadm-double", "config-b64")
        .into_iter()
        .map(|b| String::from_utf8(base64_decode(b)).expect("config is UTF-8"))
        .collect()
}

/// The value of `key:` on the first line of `yaml` where it appears (a
/// plain scan: the rendered kubeadm config is block-style YAML).
pub fn yaml_value<'a>(yaml: &'a str, key: &str) -> Option<&'a str> {
    yaml.lines().find_map(|l| {
        let t = l.trim_start().trim_start_matches("- ");
        t.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().trim_matches('"'))
    })
}

#[test]
fn base64_round_trip_against_known_vectors() {
    assert_eq!(base64_decode("aGVsbG8K"), b"hello\n");
    assert_eq!(base64_decode("Zm9vYmFy"), b"foobar");
    assert_eq!(base64_decode("Zm9vYg=="), b"foob");
}

#[test]
fn kubeadm_called_picks_the_boot() {
    let r = "kubeadm-double: called boot_id=aaa uptime=12.50\n\
             kubeadm-double: called boot_id=bbb uptime=30.25\n\
             kubeadm-double: called boot_id=bbb uptime=90.00\n";
    assert_eq!(kubeadm_called(r, "bbb"), Some(30.25));
    assert_eq!(kubeadm_called(r, "aaa"), Some(12.5));
    assert_eq!(kubeadm_called(r, "ccc"), None);
}

#[test]
fn phase_lines_after_kernel_noise() {
    let s = "[  5.1] x kubebake: phase=kubeadm result=retry attempt=1 reason=\"x\"\r\n\
             kubebake: phase=done result=ok\n";
    let p = phases(s);
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].phase.as_str(), p[0].result.as_str()),
        ("kubeadm", "retry")
    );
    assert!(p[0].detail.starts_with("attempt=1"));
    assert_eq!((p[1].phase.as_str(), p[1].detail.as_str()), ("done", ""));
}
