//! Host settings from the seed: hostname (hostname1), users and SSH keys
//! (`useradd`), `write_files`, timezone (timedate1), NTP servers
//! (timesyncd drop-in), systemd-networkd files, and registry mirrors
//! (containerd `hosts.toml`, then containerd restarted through systemd1).
//!
//! File contents may be secret: only paths are ever logged.

use crate::config::Config;
use crate::state::write_atomic;
use crate::systemd::{Bus, Service};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A user to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSpec {
    /// Login.
    pub name: String,
    /// Supplementary groups.
    pub groups: Vec<String>,
    /// sudoers rules.
    pub sudo: Vec<String>,
    /// authorized_keys lines.
    pub keys: Vec<String>,
    /// Login shell.
    pub shell: Option<String>,
}

/// A file to write.
#[derive(Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Absolute path on the node.
    pub path: String,
    /// Decoded content.
    pub content: Vec<u8>,
    /// Mode bits.
    pub mode: u32,
    /// `user:group`.
    pub owner: String,
    /// Append instead of replace.
    pub append: bool,
}

impl std::fmt::Debug for FileSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileSpec({} {:o} {} bytes)",
            self.path,
            self.mode,
            self.content.len()
        )
    }
}

/// Everything the host phase applies.
#[derive(Debug, Clone, Default)]
pub struct HostPlan {
    /// Static hostname.
    pub hostname: Option<String>,
    /// Users to create.
    pub users: Vec<UserSpec>,
    /// Top-level `ssh_authorized_keys` (first user, else root).
    pub default_keys: Vec<String>,
    /// Files.
    pub files: Vec<FileSpec>,
    /// Timezone.
    pub timezone: Option<String>,
    /// NTP servers and pools (`None`: leave timesyncd alone).
    pub ntp: Option<Vec<String>>,
    /// systemd-networkd files: (file name, contents).
    pub network_files: Vec<(String, String)>,
    /// containerd `hosts.toml` files: (absolute path, contents).
    pub mirrors: Vec<(String, String)>,
}

/// Host phase errors.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Writing a file failed.
    #[error(transparent)]
    Write(#[from] crate::state::StateError),
    /// I/O elsewhere.
    #[error("{path}: {source}")]
    Io {
        /// Path concerned.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A command failed.
    #[error("{cmd}: {why}")]
    Command {
        /// Command.
        cmd: String,
        /// Why.
        why: String,
    },
    /// D-Bus failed.
    #[error(transparent)]
    Bus(#[from] crate::systemd::BusError),
    /// A unit did not come back.
    #[error("{unit} is {state} after restart; see `journalctl -u {unit}`")]
    Unit {
        /// Unit.
        unit: String,
        /// Its state.
        state: String,
    },
}

/// `(uid, gid, home)` of a user from `<root>/etc/passwd`.
pub fn passwd_entry(cfg: &Config, name: &str) -> Option<(u32, u32, String)> {
    let t = std::fs::read_to_string(cfg.path("/etc/passwd")).ok()?;
    t.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_string())))?
    })
}

/// gid of a group from `<root>/etc/group`.
pub fn group_gid(cfg: &Config, name: &str) -> Option<u32> {
    let t = std::fs::read_to_string(cfg.path("/etc/group")).ok()?;
    t.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| f[2].parse().ok())?
    })
}

/// `useradd` arguments for a user.
pub fn useradd_args(u: &UserSpec) -> Vec<String> {
    let mut a = vec!["--create-home".to_string()];
    if let Some(s) = &u.shell {
        a.push("--shell".into());
        a.push(s.clone());
    }
    if !u.groups.is_empty() {
        a.push("--groups".into());
        a.push(u.groups.join(","));
    }
    a.push(u.name.clone());
    a
}

fn run(prog: &str, args: &[String]) -> Result<(), HostError> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| HostError::Command {
            cmd: prog.to_string(),
            why: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HostError::Command {
            cmd: format!("{prog} {}", args.join(" ")),
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), HostError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| HostError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `dir` (and its parents) with `mode`, owned by `uid:gid`.
fn owned_dir(dir: &Path, mode: u32, uid: u32, gid: u32) -> Result<(), HostError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)))
        .map_err(|source| HostError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    chown(dir, uid, gid)
}

fn add_keys(cfg: &Config, user: &str, keys: &[String]) -> Result<(), HostError> {
    if keys.is_empty() {
        return Ok(());
    }
    let (uid, gid, home) = passwd_entry(cfg, user).ok_or_else(|| HostError::Command {
        cmd: format!("authorized_keys for {user}"),
        why: "user not in /etc/passwd".into(),
    })?;
    let ssh = cfg.path(&home).join(".ssh");
    let file = ssh.join("authorized_keys");
    let mut content = std::fs::read_to_string(&file).unwrap_or_default();
    for k in keys {
        if !content.lines().any(|l| l.trim() == k.trim()) {
            if !content.is_empty() && !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(k.trim());
            content.push('\n');
        }
    }
    owned_dir(&ssh, 0o700, uid, gid)?;
    write_atomic(&file, content.as_bytes(), 0o600)?;
    chown(&file, uid, gid)
}

/// Creates a user (when missing), its sudoers rule and keys.
pub fn apply_user(cfg: &Config, u: &UserSpec) -> Result<(), HostError> {
    match passwd_entry(cfg, &u.name) {
        None => run("useradd", &useradd_args(u))?,
        // A run cut short after useradd wrote /etc/passwd but before the
        // home existed (or a home lost since): finish the user on retry.
        Some((uid, gid, home)) => {
            let dir = cfg.path(&home);
            if !dir.exists() {
                owned_dir(&dir, 0o750, uid, gid)?;
            }
        }
    }
    if !u.sudo.is_empty() {
        let body: String = u.sudo.iter().map(|r| format!("{} {r}\n", u.name)).collect();
        write_atomic(
            &cfg.path(format!("/etc/sudoers.d/90-kubebake-{}", u.name)),
            body.as_bytes(),
            0o440,
        )?;
    }
    add_keys(cfg, &u.name, &u.keys)
}

/// Writes one `write_files` entry.
pub fn write_file(cfg: &Config, f: &FileSpec) -> Result<(), HostError> {
    let p = cfg.path(&f.path);
    let data = if f.append {
        let mut old = std::fs::read(&p).unwrap_or_default();
        old.extend_from_slice(&f.content);
        old
    } else {
        f.content.clone()
    };
    write_atomic(&p, &data, f.mode)?;
    let (user, group) = f
        .owner
        .split_once(':')
        .unwrap_or((f.owner.as_str(), f.owner.as_str()));
    if user != "root" || group != "root" {
        let uid = passwd_entry(cfg, user).map(|e| e.0);
        let gid = group_gid(cfg, group).or_else(|| passwd_entry(cfg, user).map(|e| e.1));
        match (uid, gid) {
            (Some(u), Some(g)) => chown(&p, u, g)?,
            _ => {
                return Err(HostError::Command {
                    cmd: format!("chown {} {}", f.owner, f.path),
                    why: "unknown user or group".into(),
                })
            }
        }
    }
    Ok(())
}

fn restart(bus: Option<&Bus>, unit: &str, notes: &mut Vec<String>) -> Result<(), HostError> {
    match bus {
        Some(b) => {
            let s = b.restart_and_wait(unit, Duration::from_secs(30))?;
            if s != "active" {
                return Err(HostError::Unit {
                    unit: unit.to_string(),
                    state: s,
                });
            }
            notes.push(format!("restarted {unit}"));
        }
        None => notes.push(format!("no D-Bus: {unit} not restarted")),
    }
    Ok(())
}

/// Writes `/etc/hostname` in place (it may be a bind-mounted file) and the
/// kernel hostname.
fn hostname_in_place(cfg: &Config, h: &str) -> Result<(), HostError> {
    for (path, data) in [
        (cfg.path("/etc/hostname"), format!("{h}\n")),
        (cfg.path("/proc/sys/kernel/hostname"), h.to_string()),
    ] {
        std::fs::write(&path, data).map_err(|source| HostError::Io { path, source })?;
    }
    Ok(())
}

/// Applies the plan. Returns short notes for the console line.
pub fn apply(cfg: &Config, bus: Option<&Bus>, plan: &HostPlan) -> Result<Vec<String>, HostError> {
    let mut notes = Vec::new();
    // Every activated service the plan needs answers before anything is
    // changed: one that never starts fails the phase with nothing applied.
    if let Some(b) = bus {
        if plan.hostname.is_some() {
            b.wait_ready(Service::Hostname1)?;
        }
        if plan.timezone.is_some() {
            b.wait_ready(Service::Timedate1)?;
        }
    }
    if let Some(h) = &plan.hostname {
        match bus {
            Some(b) => match b.set_static_hostname(h) {
                Ok(()) => {}
                // An image whose /etc is read-only with /etc/hostname
                // bind-mounted from elsewhere (kubebake images overlay /etc
                // instead): hostnamed's atomic rename cannot replace it, so
                // write it in place and set the kernel's name.
                Err(e) if e.to_string().contains("ReadOnlyFilesystem") => {
                    hostname_in_place(cfg, h)?
                }
                Err(e) => return Err(e.into()),
            },
            None => write_atomic(
                &cfg.path("/etc/hostname"),
                format!("{h}\n").as_bytes(),
                0o644,
            )?,
        }
        notes.push(format!("hostname={h}"));
    }
    for u in &plan.users {
        apply_user(cfg, u)?;
    }
    if !plan.users.is_empty() {
        notes.push(format!("users={}", plan.users.len()));
    }
    let key_owner = plan.users.first().map_or("root", |u| u.name.as_str());
    add_keys(cfg, key_owner, &plan.default_keys)?;
    for f in &plan.files {
        write_file(cfg, f)?;
    }
    if !plan.files.is_empty() {
        notes.push(format!("files={}", plan.files.len()));
    }
    if let Some(tz) = &plan.timezone {
        match bus {
            Some(b) => b.set_timezone(tz)?,
            None => {
                let l = cfg.path("/etc/localtime");
                let _ = std::fs::remove_file(&l);
                std::os::unix::fs::symlink(format!("/usr/share/zoneinfo/{tz}"), &l)
                    .map_err(|source| HostError::Io { path: l, source })?;
            }
        }
        notes.push(format!("timezone={tz}"));
    }
    if let Some(servers) = &plan.ntp {
        let body = format!("[Time]\nNTP={}\n", servers.join(" "));
        write_atomic(
            &cfg.path("/etc/systemd/timesyncd.conf.d/50-kubebake.conf"),
            body.as_bytes(),
            0o644,
        )?;
        restart(bus, "systemd-timesyncd.service", &mut notes)?;
    }
    if !plan.network_files.is_empty() {
        for (name, body) in &plan.network_files {
            write_atomic(
                &cfg.path("/etc/systemd/network").join(name),
                body.as_bytes(),
                0o644,
            )?;
        }
        notes.push(format!("network-files={}", plan.network_files.len()));
        restart(bus, "systemd-networkd.service", &mut notes)?;
    }
    if !plan.mirrors.is_empty() {
        for (path, body) in &plan.mirrors {
            write_atomic(&cfg.path(path), body.as_bytes(), 0o644)?;
        }
        notes.push(format!("mirrors={}", plan.mirrors.len()));
        restart(bus, "containerd.service", &mut notes)?;
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn cfg() -> (tempfile::TempDir, Config) {
        let d = tempfile::tempdir().expect("tmp");
        let uid = std::fs::metadata(d.path())
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .expect("m");
        let gid = std::fs::metadata(d.path())
            .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
            .expect("m");
        std::fs::create_dir_all(d.path().join("etc")).expect("mk");
        std::fs::write(
            d.path().join("etc/passwd"),
            format!("root:x:0:0:root:/root:/bin/bash\nme:x:{uid}:{gid}::/home/me:/bin/sh\n"),
        )
        .expect("w");
        std::fs::write(
            d.path().join("etc/group"),
            format!("root:x:0:\nme:x:{gid}:\n"),
        )
        .expect("w");
        let c = Config::from_env(Some(d.path().to_path_buf()));
        (d, c)
    }

    #[test]
    fn files_keys_mirrors_without_bus() {
        let (d, c) = cfg();
        let plan = HostPlan {
            hostname: Some("node-1".into()),
            users: vec![UserSpec {
                name: "me".into(),
                sudo: vec!["ALL=(ALL) NOPASSWD:ALL".into()],
                keys: vec!["ssh-ed25519 AAAA me@x".into()],
                ..Default::default()
            }],
            default_keys: vec!["ssh-ed25519 BBBB ops@x".into()],
            files: vec![FileSpec {
                path: "/etc/kubeadm-double/mode".into(),
                content: b"jws\n".to_vec(),
                mode: 0o600,
                owner: "me:me".into(),
                append: false,
            }],
            timezone: None,
            ntp: None,
            network_files: vec![],
            mirrors: vec![(
                "/etc/containerd/certs.d/docker.io/hosts.toml".into(),
                "server = \"https://registry-1.docker.io\"\n".into(),
            )],
        };
        let notes = apply(&c, None, &plan).expect("apply");
        assert!(notes.iter().any(|n| n == "hostname=node-1"));
        assert!(notes
            .iter()
            .any(|n| n.contains("containerd.service not restarted")));
        assert_eq!(
            std::fs::read_to_string(d.path().join("etc/hostname")).expect("r"),
            "node-1\n"
        );
        let f = d.path().join("etc/kubeadm-double/mode");
        assert_eq!(std::fs::read(&f).expect("r"), b"jws\n");
        assert_eq!(
            std::fs::metadata(&f).expect("m").permissions().mode() & 0o777,
            0o600
        );
        let keys =
            std::fs::read_to_string(d.path().join("home/me/.ssh/authorized_keys")).expect("keys");
        assert_eq!(keys, "ssh-ed25519 AAAA me@x\nssh-ed25519 BBBB ops@x\n");
        let sudo =
            std::fs::read_to_string(d.path().join("etc/sudoers.d/90-kubebake-me")).expect("sudo");
        assert_eq!(sudo, "me ALL=(ALL) NOPASSWD:ALL\n");
        assert!(d
            .path()
            .join("etc/containerd/certs.d/docker.io/hosts.toml")
            .exists());
        // idempotent: a second run does not duplicate keys
        apply(&c, None, &plan).expect("again");
        let keys2 =
            std::fs::read_to_string(d.path().join("home/me/.ssh/authorized_keys")).expect("keys");
        assert_eq!(keys, keys2);
    }

    /// A run cut after useradd (user in /etc/passwd, no home yet) resumes:
    /// the home is made, owned by the user, and the keys land in it.
    #[test]
    fn existing_user_without_home_is_finished() {
        let (d, c) = cfg();
        let home = d.path().join("home/me");
        assert!(!home.exists());
        let u = UserSpec {
            name: "me".into(),
            keys: vec!["ssh-ed25519 AAAA me@x".into()],
            ..Default::default()
        };
        apply_user(&c, &u).expect("apply");
        let m = std::fs::metadata(&home).expect("home made");
        assert_eq!(m.permissions().mode() & 0o777, 0o750);
        let owner = std::os::unix::fs::MetadataExt::uid(&m);
        assert_eq!(Some(owner), passwd_entry(&c, "me").map(|e| e.0));
        assert!(home.join(".ssh/authorized_keys").is_file());
    }

    #[test]
    fn unknown_owner_is_an_error_and_append_works() {
        let (d, c) = cfg();
        let mut f = FileSpec {
            path: "/etc/motd".into(),
            content: b"a\n".to_vec(),
            mode: 0o644,
            owner: "root:root".into(),
            append: false,
        };
        write_file(&c, &f).expect("w");
        f.append = true;
        write_file(&c, &f).expect("append");
        assert_eq!(
            std::fs::read(d.path().join("etc/motd")).expect("r"),
            b"a\na\n"
        );
        f.owner = "nobody:nogroup".into();
        assert!(write_file(&c, &f).is_err());
    }

    #[test]
    fn useradd_argv() {
        let u = UserSpec {
            name: "ops".into(),
            groups: vec!["sudo".into(), "adm".into()],
            shell: Some("/bin/bash".into()),
            ..Default::default()
        };
        assert_eq!(
            useradd_args(&u),
            [
                "--create-home",
                "--shell",
                "/bin/bash",
                "--groups",
                "sudo,adm",
                "ops"
            ]
        );
    }
}
