//! Walks a `#cloud-config` document: the supported cloud-init keys, warnings
//! for the others, and the `kubernetes:` section (see [`crate::k8s`]).

use base64::Engine as _;
use serde_norway::Value;

use crate::checks;
use crate::cloudinit;
use crate::model::{Command, Ntp, Parsed, Seed, User, WriteFile};
use crate::problem::{index, join, kind, yaml_error, Ctx, Problems};

/// Top-level keys we implement.
pub(crate) const SUPPORTED: [&str; 8] = [
    "hostname",
    "ssh_authorized_keys",
    "users",
    "write_files",
    "ntp",
    "timezone",
    "runcmd",
    "kubernetes",
];

/// The keys of a `users` entry we implement.
const USER_KEYS: [&str; 5] = ["name", "groups", "sudo", "ssh_authorized_keys", "shell"];
/// The keys of a `write_files` entry we implement.
const WRITE_FILE_KEYS: [&str; 6] = [
    "path",
    "content",
    "encoding",
    "permissions",
    "owner",
    "append",
];
/// The keys of `ntp` we implement.
const NTP_KEYS: [&str; 3] = ["enabled", "servers", "pools"];

/// Checks the `#cloud-config` header; returns the problem when missing.
pub(crate) fn header(text: &str, source: &str) -> Result<(), Problems> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("").trim_end();
    if first == "#cloud-config" {
        return Ok(());
    }
    let hint = if first.starts_with("#!") {
        "shell-script user-data is not supported; fix: put the commands under `runcmd:` \
         in a #cloud-config document"
    } else if first.starts_with("## template") {
        "jinja templates are not supported; fix: render the template before writing the seed"
    } else if first.starts_with("#include") || first.starts_with("Content-Type") {
        "#include and MIME multi-part user-data are not supported; fix: one #cloud-config document"
    } else {
        "the first line must be exactly `#cloud-config`; fix: add it as line 1"
    };
    Err(Problems::one(
        source,
        "",
        format!("not a #cloud-config document: {hint}"),
    ))
}

/// Parses YAML text (after the header check) into a generic value.
pub(crate) fn load(text: &str, source: &str) -> Result<Value, Problems> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let v: Value = serde_norway::from_str(text).map_err(|e| yaml_error(source, &e, text))?;
    Ok(v)
}

pub(crate) fn parse(text: &str, source: &str) -> Result<Parsed, Problems> {
    header(text, source)?;
    let doc = load(text, source)?;
    let mut cx = Ctx::new(source, text);
    let seed = walk(&mut cx, &doc);
    if cx.problems.is_empty() {
        Ok(Parsed {
            seed,
            warnings: cx.warnings,
        })
    } else {
        Err(Problems {
            list: cx.problems,
            warnings: cx.warnings,
        })
    }
}

fn walk(cx: &mut Ctx, doc: &Value) -> Seed {
    let mut seed = Seed::default();
    let root = match doc {
        Value::Null => return seed,
        v => match cx.mapping(v, "") {
            Some(m) => m,
            None => return seed,
        },
    };
    for (key, v) in cx.entries(root, "") {
        match key {
            "hostname" => {
                if let Some(h) = cx.string(v, key) {
                    match checks::hostname(&h) {
                        Ok(()) => seed.hostname = Some(h),
                        Err(e) => cx.err(key, e),
                    }
                }
            }
            "ssh_authorized_keys" => seed.ssh_authorized_keys = ssh_keys(cx, v, key),
            "users" => seed.users = users(cx, v),
            "write_files" => seed.write_files = write_files(cx, v),
            "ntp" => seed.ntp = ntp(cx, v),
            "timezone" => {
                if let Some(tz) = cx.string(v, key) {
                    let ok = !tz.is_empty()
                        && !tz.split('/').any(|c| c.is_empty() || c == "..")
                        && tz
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c));
                    if ok {
                        seed.timezone = Some(tz);
                    } else {
                        cx.err(
                            key,
                            format!("`{tz}` is not a tz database name like Europe/Paris or UTC"),
                        );
                    }
                }
            }
            "runcmd" => seed.runcmd = runcmd(cx, v),
            "kubernetes" => seed.kubernetes = crate::k8s::walk(cx, v),
            other => cloudinit::unsupported(cx, "", other, &SUPPORTED, cloudinit::TOP),
        }
    }
    seed
}

fn ssh_keys(cx: &mut Ctx, v: &Value, path: &str) -> Vec<String> {
    let keys = cx.strings(v, path);
    let mut out = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        match checks::ssh_key(&k) {
            Ok(()) => out.push(k),
            Err(e) => cx.err(&index(path, i), e),
        }
    }
    out
}

fn users(cx: &mut Ctx, v: &Value) -> Vec<User> {
    let Some(items) = cx.seq(v, "users") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index("users", i);
        if item.as_str() == Some("default") {
            cx.warn(
                &p,
                "`default` user: this image has no distro default user, ignored",
            );
            continue;
        }
        let Some(m) = cx.mapping(item, &p) else {
            continue;
        };
        let mut u = User::default();
        let mut has_name = false;
        for (key, val) in cx.entries(m, &p) {
            let kp = join(&p, key);
            match key {
                "name" => {
                    if let Some(n) = cx.string(val, &kp) {
                        match checks::username(&n) {
                            Ok(()) => {
                                u.name = n;
                                has_name = true;
                            }
                            Err(e) => cx.err(&kp, e),
                        }
                    }
                }
                "groups" => {
                    u.groups = match val {
                        Value::String(s) => s
                            .split(',')
                            .map(str::trim)
                            .filter(|g| !g.is_empty())
                            .map(String::from)
                            .collect(),
                        other => cx.strings(other, &kp),
                    }
                }
                "sudo" => {
                    u.sudo = match val {
                        Value::Bool(false) | Value::Null => Vec::new(),
                        Value::String(s) => vec![s.clone()],
                        Value::Sequence(_) => cx.strings(val, &kp),
                        other => {
                            cx.err(
                                &kp,
                                format!(
                                    "expected a sudoers rule string, a list or false, got {}",
                                    kind(other)
                                ),
                            );
                            Vec::new()
                        }
                    }
                }
                "ssh_authorized_keys" => u.ssh_authorized_keys = ssh_keys(cx, val, &kp),
                "shell" => {
                    if let Some(s) = cx.string(val, &kp) {
                        match checks::abs_path(&s) {
                            Ok(()) => u.shell = Some(s),
                            Err(e) => cx.err(&kp, e),
                        }
                    }
                }
                other => cloudinit::unsupported(cx, &p, other, &USER_KEYS, cloudinit::USER),
            }
        }
        if has_name {
            out.push(u);
        } else if !m.contains_key("name") {
            cx.err(&p, "missing `name`");
        }
    }
    out
}

fn write_files(cx: &mut Ctx, v: &Value) -> Vec<WriteFile> {
    let Some(items) = cx.seq(v, "write_files") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index("write_files", i);
        let Some(m) = cx.mapping(item, &p) else {
            continue;
        };
        let mut path = None;
        let mut content: Option<String> = None;
        let mut encoding = String::from("text/plain");
        let mut permissions = 0o644;
        let mut owner = String::from("root:root");
        let mut append = false;
        let before = cx.problems.len();
        for (key, val) in cx.entries(m, &p) {
            let kp = join(&p, key);
            match key {
                "path" => {
                    if let Some(s) = cx.string(val, &kp) {
                        match checks::abs_path(&s) {
                            Ok(()) => path = Some(s),
                            Err(e) => cx.err(&kp, e),
                        }
                    }
                }
                "content" => content = cx.string(val, &kp),
                "encoding" => {
                    if let Some(s) = cx.string(val, &kp) {
                        encoding = s;
                    }
                }
                "permissions" => match val {
                    Value::String(s) => {
                        let digits = s.strip_prefix("0o").unwrap_or(s);
                        match u32::from_str_radix(digits, 8) {
                            Ok(m) if m <= 0o7777 && !digits.is_empty() => permissions = m,
                            _ => cx.err(&kp, format!("`{s}` is not an octal mode like '0644'")),
                        }
                    }
                    other => cx.err(
                        &kp,
                        format!(
                            "expected an octal string, got {}; fix: quote it, e.g. '0644'",
                            kind(other)
                        ),
                    ),
                },
                "owner" => {
                    if let Some(s) = cx.string(val, &kp) {
                        owner = s;
                    }
                }
                "append" => append = cx.boolean(val, &kp).unwrap_or(false),
                other => {
                    cloudinit::unsupported(cx, &p, other, &WRITE_FILE_KEYS, cloudinit::WRITE_FILE)
                }
            }
        }
        if path.is_none() && !m.contains_key("path") {
            cx.err(&p, "missing `path`");
        }
        let bytes = match Encoding::parse(&encoding) {
            Some(enc) => content.and_then(|c| match enc.decode(c) {
                Ok(b) => Some(b),
                Err(why) => {
                    cx.err(&join(&p, "content"), why);
                    None
                }
            }),
            None => {
                cx.err(
                    &join(&p, "encoding"),
                    format!("`{encoding}` is not supported; use text/plain, b64, gzip or gz+b64"),
                );
                None
            }
        };
        if cx.problems.len() == before {
            if let Some(path) = path {
                out.push(WriteFile {
                    path,
                    content: bytes.unwrap_or_default(),
                    permissions,
                    owner,
                    append,
                });
            }
        }
    }
    out
}

fn ntp(cx: &mut Ctx, v: &Value) -> Option<Ntp> {
    let m = cx.mapping(v, "ntp")?;
    let mut n = Ntp {
        enabled: true,
        servers: Vec::new(),
        pools: Vec::new(),
    };
    for (key, val) in cx.entries(m, "ntp") {
        let kp = join("ntp", key);
        match key {
            "enabled" => n.enabled = cx.boolean(val, &kp).unwrap_or(true),
            "servers" => n.servers = cx.strings(val, &kp),
            "pools" => n.pools = cx.strings(val, &kp),
            other => cloudinit::unsupported(cx, "ntp", other, &NTP_KEYS, cloudinit::NTP),
        }
    }
    Some(n)
}

fn runcmd(cx: &mut Ctx, v: &Value) -> Vec<Command> {
    let Some(items) = cx.seq(v, "runcmd") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index("runcmd", i);
        match item {
            Value::String(s) => out.push(Command::Shell(s.clone())),
            Value::Sequence(_) => {
                let argv = cx.strings(item, &p);
                if argv.is_empty() {
                    cx.err(&p, "empty command");
                } else {
                    out.push(Command::Argv(argv));
                }
            }
            other => cx.err(
                &p,
                format!(
                    "expected a string or a list of strings, got {}",
                    kind(other)
                ),
            ),
        }
    }
    out
}

/// A `write_files` `encoding`, as cloud-init names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Plain,
    Base64,
    Gzip,
    GzipBase64,
}

impl Encoding {
    fn parse(s: &str) -> Option<Encoding> {
        Some(match s {
            "text/plain" => Encoding::Plain,
            "b64" | "base64" => Encoding::Base64,
            "gz" | "gzip" => Encoding::Gzip,
            "gz+b64" | "gz+base64" | "gzip+b64" | "gzip+base64" => Encoding::GzipBase64,
            _ => return None,
        })
    }

    /// Decodes `content`; the error says what is wrong with it.
    fn decode(self, content: String) -> Result<Vec<u8>, &'static str> {
        let b64 = |c: &str| {
            let clean: String = c.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| "is not valid base64")
        };
        let gunzip = |data: &[u8]| {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out)
                .map(|_| out)
                .map_err(|_| "is not valid gzip data")
        };
        match self {
            Encoding::Plain => Ok(content.into_bytes()),
            Encoding::Base64 => b64(&content),
            // YAML cannot carry raw gzip bytes, but a `!!binary` value or a
            // Latin-1 string can; take the string's bytes as they are.
            Encoding::Gzip => gunzip(content.as_bytes()),
            Encoding::GzipBase64 => gunzip(&b64(&content)?),
        }
    }
}
