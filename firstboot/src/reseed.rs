//! A seed that changed on its source after it was validated.
//!
//! Until first boot has finished, every run reads the seed's sources again
//! and compares the seed found with the one the node was configured from
//! (the sha256 of its files, kept in `state.json`). A changed seed is
//! validated first; only a valid one replaces the stored copy, and the run
//! resumes from the first phase whose inputs changed ([`first_affected`]):
//! a new token redoes render and kubeadm, a new hostname redoes everything
//! from host. Nothing that `kubeadm init|join` already applied is redone:
//! such a change is refused with advice.
//!
//! The stored copy is replaced atomically: the new files go to
//! `seed.new/`, then `state.json` records their digest (the commit point),
//! then the directories are swapped. [`recover`] finishes or drops a swap
//! a power cut interrupted.

use std::fs;
use std::path::{Path, PathBuf};

use kubebake_seed::{Cni, Kubernetes};
use sha2::{Digest, Sha256};

use crate::datasource::SeedFiles;
use crate::seedio::{self, Loaded};
use crate::state::{write_atomic, Phase, StateError, Store};

/// sha256 (hex) of a seed's files: names, presence and bytes; not where
/// they came from.
pub fn digest(files: &SeedFiles) -> String {
    fn part(h: &mut Sha256, name: &str, body: Option<&[u8]>) {
        h.update(name.as_bytes());
        h.update([0]);
        match body {
            Some(b) => {
                h.update([1]);
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            }
            None => h.update([0]),
        }
    }
    let mut h = Sha256::new();
    part(&mut h, "user-data", Some(&files.user_data));
    part(&mut h, "meta-data", files.meta_data.as_deref());
    part(&mut h, "network-config", files.network_config.as_deref());
    for (name, body) in &files.node_overrides {
        part(&mut h, &format!("nodes/{name}"), Some(body));
    }
    hex::encode(h.finalize())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |cause| StateError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

fn private_dir(dir: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

/// Writes a private copy of `files` (0600, directory 0700) into `dir`,
/// which is emptied first.
pub fn write_copy(dir: &Path, files: &SeedFiles) -> Result<(), StateError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(dir)(e)),
        _ => {}
    }
    private_dir(dir)?;
    write_atomic(&dir.join("user-data"), &files.user_data, 0o600)?;
    if let Some(m) = &files.meta_data {
        write_atomic(&dir.join("meta-data"), m, 0o600)?;
    }
    if let Some(n) = &files.network_config {
        write_atomic(&dir.join("network-config"), n, 0o600)?;
    }
    if !files.node_overrides.is_empty() {
        private_dir(&dir.join("nodes"))?;
    }
    for (name, body) in &files.node_overrides {
        write_atomic(&dir.join("nodes").join(name), body, 0o600)?;
    }
    Ok(())
}

/// The stored copy (`seed/`) and the staged one (`seed.new/`).
pub fn seed_dir(store: &Store) -> PathBuf {
    store.dir().join("seed")
}

fn staged_dir(store: &Store) -> PathBuf {
    store.dir().join("seed.new")
}

fn old_dir(store: &Store) -> PathBuf {
    store.dir().join("seed.old")
}

/// Writes `files` as the next stored copy (not in use until [`commit`]).
pub fn stage(store: &Store, files: &SeedFiles) -> Result<(), StateError> {
    write_copy(&staged_dir(store), files)
}

/// Makes the staged copy the stored one (after `state.json` recorded it).
pub fn commit(store: &Store) -> Result<(), StateError> {
    let (cur, new, old) = (seed_dir(store), staged_dir(store), old_dir(store));
    if cur.exists() {
        let _ = fs::remove_dir_all(&old);
        fs::rename(&cur, &old).map_err(io(&cur))?;
    }
    fs::rename(&new, &cur).map_err(io(&new))?;
    let _ = fs::remove_dir_all(&old);
    fs::File::open(store.dir())
        .and_then(|d| d.sync_all())
        .map_err(io(store.dir()))
}

/// After a power cut: finishes a swap whose digest `state.json` already
/// recorded, or drops a staged copy it did not.
pub fn recover(store: &Store, recorded: Option<&str>) -> Result<(), StateError> {
    let new = staged_dir(store);
    if new.is_dir() {
        let staged = crate::datasource::read_nocloud_dir(&new, "staged")
            .ok()
            .flatten()
            .map(|f| digest(&f));
        if staged.is_some() && staged.as_deref() == recorded {
            return commit(store);
        }
        fs::remove_dir_all(&new).map_err(io(&new))?;
    }
    let old = old_dir(store);
    if old.is_dir() && seed_dir(store).is_dir() {
        fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// What render reads of the `kubernetes` section: all of it but the CNI
/// choice (the cni phase's) and the mirrors (the host phase's), plus the
/// pod subnet the CNI choice implies.
fn render_view(k: Option<&Kubernetes>) -> Option<(Kubernetes, Option<kubebake_seed::Cidr>)> {
    k.map(|k| {
        let pod = k.effective_pod_subnet();
        let mut k = k.clone();
        k.cni = Cni::None;
        k.pod_subnet = None;
        k.registry_mirrors.clear();
        (k, pod)
    })
}

/// The first phase whose inputs differ between the seed the node was
/// configured from and a new one; `None` when no phase reads a difference
/// (comments, formatting, meta-data).
pub fn first_affected(old: &Loaded, new: &Loaded) -> Option<Phase> {
    let (a, b) = (&old.seed, &new.seed);
    let (ka, kb) = (a.kubernetes.as_ref(), b.kubernetes.as_ref());
    let mirrors = |k: Option<&Kubernetes>| k.map(|k| k.registry_mirrors.clone());
    let host = a.hostname != b.hostname
        || a.ssh_authorized_keys != b.ssh_authorized_keys
        || a.users != b.users
        || a.write_files != b.write_files
        || a.ntp != b.ntp
        || a.timezone != b.timezone
        || old.network_files != new.network_files
        || mirrors(ka) != mirrors(kb);
    let preflight = ka.and_then(seedio::seed_version) != kb.and_then(seedio::seed_version)
        || ka.map(seedio::is_control_plane) != kb.map(seedio::is_control_plane);
    let render = render_view(ka) != render_view(kb);
    let cni = ka.map(|k| &k.cni) != kb.map(|k| &k.cni);
    [
        (host, Phase::Host),
        (preflight, Phase::Preflight),
        (render, Phase::Render),
        (cni, Phase::Cni),
        (a.runcmd != b.runcmd, Phase::Runcmd),
    ]
    .into_iter()
    .find_map(|(changed, p)| changed.then_some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "#cloud-config\nhostname: w1\nkubernetes:\n  role: worker\n  endpoint: 10.0.0.1:6443\n  token: abcdef.0123456789abcdef\n  ca_cert_hash: sha256:8d1f4e0c2b7a9d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6\n";

    fn files(text: &str) -> SeedFiles {
        SeedFiles {
            user_data: text.as_bytes().to_vec(),
            meta_data: None,
            network_config: None,
            node_overrides: Vec::new(),
            source: "test".into(),
        }
    }

    fn loaded(text: &str) -> Loaded {
        seedio::load(&files(text), &[]).expect("valid seed")
    }

    #[test]
    fn each_change_maps_to_the_phase_that_reads_it() {
        let base = loaded(SEED);
        for (edit, want) in [
            (SEED.replace("abcdef.0123", "qwerty.0123"), Some(Phase::Render)),
            (SEED.replace("hostname: w1", "hostname: w2"), Some(Phase::Host)),
            (
                SEED.replace("role: worker", "role: control-plane\n  certificate_key: e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"),
                Some(Phase::Preflight),
            ),
            (format!("{SEED}  cni: none\n"), Some(Phase::Render)),
            (format!("{SEED}  cni: /etc/cni.yaml\n  pod_subnet: 10.244.0.0/16\n"), Some(Phase::Cni)),
            (format!("{SEED}  registry_mirrors: {{ docker.io: [\"https://m.example\"] }}\n"), Some(Phase::Host)),
            (format!("{SEED}runcmd: [\"true\"]\n"), Some(Phase::Runcmd)),
            (format!("{SEED}# a comment\n"), None),
        ] {
            assert_eq!(first_affected(&base, &loaded(&edit)), want, "{edit}");
        }
    }

    #[test]
    fn digest_covers_every_file_and_ignores_the_source() {
        let a = files(SEED);
        let mut b = a.clone();
        b.source = "elsewhere".into();
        assert_eq!(digest(&a), digest(&b));
        b.meta_data = Some(Vec::new());
        assert_ne!(
            digest(&a),
            digest(&b),
            "an empty meta-data is not no meta-data"
        );
        let mut c = a.clone();
        c.node_overrides
            .push(("aa-bb-cc-dd-ee-ff.yaml".into(), b"hostname: x\n".to_vec()));
        assert_ne!(digest(&a), digest(&c));
    }

    #[test]
    fn stage_commit_and_recover() {
        let d = tempfile::tempdir().expect("tmp");
        let store = Store::new(d.path().to_path_buf());
        let (one, two) = (files(SEED), files(&format!("{SEED}# two\n")));
        write_copy(&seed_dir(&store), &one).expect("copy");
        // staged but never recorded: dropped, the stored copy stays
        stage(&store, &two).expect("stage");
        recover(&store, Some(&digest(&one))).expect("recover");
        assert!(!staged_dir(&store).exists());
        let read = |s: &Store| {
            crate::datasource::read_nocloud_dir(&seed_dir(s), "x")
                .expect("read")
                .expect("copy")
        };
        assert_eq!(digest(&read(&store)), digest(&one));
        // staged and recorded, swap cut short: finished
        stage(&store, &two).expect("stage");
        recover(&store, Some(&digest(&two))).expect("recover");
        assert_eq!(digest(&read(&store)), digest(&two));
        assert!(!staged_dir(&store).exists() && !old_dir(&store).exists());
    }
}
