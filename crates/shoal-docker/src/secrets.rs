//! Secrets and configs of a task, on a per-task tmpfs that never touches the node's disk.
//!
//! Docker's own swarm mode does it this way (dockerd `setupSecretDir`): the daemon mounts a
//! tmpfs, writes the files there with the requested mode, uid and gid, and bind-mounts them
//! read-only into the container. Writing through the engine instead (`PUT
//! /containers/{id}/archive`) is not safe: Docker 20.10 writes into the container's writable
//! layer on disk, below a tmpfs mount, even for a running container.
//!
//! ```text
//! <base>/<task id>/                         directory (0700)
//!     secrets/                              tmpfs (0755, nosuid,nodev,noexec; ro once written)
//!         run-secrets/<target>              secrets with relative targets → one bind on /run/secrets
//!         files/<n>                         secrets with absolute targets → one bind per file
//!     configs/                              tmpfs (0755, nosuid,nodev; ro once written)
//!         files/<n>                         configs (always absolute) → one bind per file
//! ```
//!
//! Configs are not `noexec`, as in Docker: a config is often a script (`mode: 0555`).
//!
//! The tmpfs lives on the host only from `prepare` to just after the container starts: the
//! container's mount namespace keeps its own reference to it (Docker's binds are
//! `rprivate`), so [`TaskFiles::release`] then unmounts the host's copy; the memory is freed
//! when the container is removed. A file is only written after `statfs` confirmed a tmpfs.
//! The engine must share this process's mount namespace (it does for a local dockerd).

use bytes::Bytes;
use shoal_agent::{ExecError, SecretStore};
use shoal_types::Task;
use shoal_types::api::{Mount, MountType};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use tracing::{debug, warn};

/// Where secrets appear in a container (Docker's `containerSecretMountPath`).
pub const SECRETS_DIR: &str = "/run/secrets";
/// Default mode of a secret or config file: 0444.
pub const DEFAULT_MODE: u32 = 0o444;
/// The only mode bits a secret or config file keeps, as in Docker: setuid, setgid and sticky
/// are dropped, so `mode=04755` cannot make a set-user-id file.
pub const PERMISSION_BITS: u32 = 0o777;

/// Options of a task's tmpfs mounts (their root directory's mode).
const TMPFS_OPTIONS: &str = "mode=0755";
/// The task's tmpfs for secrets (`noexec`) and the one for configs, under its directory.
const SECRETS: &str = "secrets";
const CONFIGS: &str = "configs";

/// One file to place on the tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    /// Path relative to the task's tmpfs.
    pub rel: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// The bytes; `Debug` of a plan shows them, so plans are never logged.
    pub data: Bytes,
}

/// The files of a task and the binds that expose them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub files: Vec<FilePlan>,
    pub mounts: Vec<Mount>,
}

fn rejected(msg: impl Into<String>) -> ExecError {
    ExecError::Rejected(msg.into())
}

/// A relative target that stays inside its directory (`a/b` yes, `../x` no).
fn clean_relative(target: &str) -> Option<PathBuf> {
    let p = Path::new(target);
    let ok = !target.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

fn id_of(v: Option<&str>, what: &str, name: &str) -> Result<u32, ExecError> {
    let v = v.filter(|s| !s.is_empty()).unwrap_or("0");
    v.parse()
        .map_err(|_| rejected(format!("invalid {what} {v:?} for {name}: numeric ids only")))
}

fn bind(source: PathBuf, target: String) -> Mount {
    Mount {
        target: Some(target),
        source: Some(source.to_string_lossy().into_owned()),
        typ: Some(MountType::BIND),
        // Read-only through the tmpfs itself (remounted `ro` once written), not through the
        // bind: runc (1.1.5, Debian 12) remounts a read-only bind without the source's
        // `nosuid,nodev,noexec`, while a plain bind keeps them; the container sees `ro` either way.
        read_only: Some(false),
        ..Default::default()
    }
}

/// What to write and mount for `task` under `dir` (its tmpfs), from the bytes in `store`.
/// A reference whose object the node was not sent rejects the task.
pub fn plan(task: &Task, store: &SecretStore, dir: &Path) -> Result<Plan, ExecError> {
    let Some(cs) = task.spec.container_spec.as_ref() else {
        return Ok(Plan::default());
    };
    let mut out = Plan::default();
    let absolute = |out: &mut Plan, kind: &str, target: String, file: FilePlan| {
        let rel = PathBuf::from(kind)
            .join("files")
            .join(out.files.len().to_string());
        out.mounts.push(bind(dir.join(&rel), target));
        out.files.push(FilePlan { rel, ..file });
    };
    let mut any_relative = false;
    for r in cs.secrets.iter().flatten() {
        let id = r.secret_id.as_deref().unwrap_or_default();
        let name = r.secret_name.as_deref().unwrap_or(id);
        let f = r.file.clone().unwrap_or_default();
        let target = f.name.clone().unwrap_or_else(|| name.to_string());
        let data = store
            .secret(id)
            .ok_or_else(|| rejected(format!("secret {name} ({id}) was not sent to this node")))?;
        let file = FilePlan {
            rel: PathBuf::new(),
            uid: id_of(f.uid.as_deref(), "uid", name)?,
            gid: id_of(f.gid.as_deref(), "gid", name)?,
            mode: f.mode.unwrap_or(DEFAULT_MODE) & PERMISSION_BITS,
            data,
        };
        let inside = target
            .strip_prefix(SECRETS_DIR)
            .and_then(|t| t.strip_prefix('/'))
            .unwrap_or(&target);
        if target.starts_with('/') && inside.len() == target.len() {
            absolute(&mut out, SECRETS, target, file);
            continue;
        }
        let rel = clean_relative(inside)
            .ok_or_else(|| rejected(format!("invalid secret target {target:?} for {name}")))?;
        any_relative = true;
        out.files.push(FilePlan {
            rel: PathBuf::from(SECRETS).join("run-secrets").join(rel),
            ..file
        });
    }
    if any_relative {
        out.mounts.insert(
            0,
            bind(
                dir.join(SECRETS).join("run-secrets"),
                SECRETS_DIR.to_string(),
            ),
        );
    }
    for r in cs.configs.iter().flatten() {
        let Some(f) = r.file.clone() else {
            continue; // a runtime (credential spec) config: nothing to write
        };
        let id = r.config_id.as_deref().unwrap_or_default();
        let name = r.config_name.as_deref().unwrap_or(id);
        let target = f.name.clone().unwrap_or_else(|| name.to_string());
        let target = if target.starts_with('/') {
            target
        } else {
            format!("/{target}")
        };
        if clean_relative(target.trim_start_matches('/')).is_none() {
            return Err(rejected(format!(
                "invalid config target {target:?} for {name}"
            )));
        }
        let data = store
            .config(id)
            .ok_or_else(|| rejected(format!("config {name} ({id}) was not sent to this node")))?;
        let file = FilePlan {
            rel: PathBuf::new(),
            uid: id_of(f.uid.as_deref(), "uid", name)?,
            gid: id_of(f.gid.as_deref(), "gid", name)?,
            mode: f.mode.unwrap_or(DEFAULT_MODE) & PERMISSION_BITS,
            data,
        };
        absolute(&mut out, CONFIGS, target, file);
    }
    Ok(out)
}

/// Places task files on per-task tmpfs mounts under one base directory.
#[derive(Debug, Clone)]
pub struct TaskFiles {
    base: PathBuf,
    store: SecretStore,
}

impl TaskFiles {
    /// `base` holds one mount point per task (created 0700); `store` is the agent's.
    pub fn new(base: impl Into<PathBuf>, store: SecretStore) -> Self {
        Self {
            base: base.into(),
            store,
        }
    }

    /// Unmounts and removes every task directory left by an earlier process (one killed
    /// between a prepare and its start). Safe at start-up: a container created but not
    /// started gets its files again at start. Blocking; called once when the executor is
    /// built.
    pub fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.base) else {
            return;
        };
        for entry in entries.flatten() {
            if let Err(e) = unmount_and_remove(&entry.path()) {
                warn!(dir = %entry.path().display(), error = %e, "removing a leftover task tmpfs failed");
            }
        }
    }

    fn dir(&self, task_id: &str) -> PathBuf {
        self.base.join(task_id)
    }

    /// Mounts the task's tmpfs (if not mounted yet), writes its files and returns the binds
    /// the container needs. Idempotent. A task without secrets or configs gets nothing.
    pub async fn prepare(&self, task: &Task) -> Result<Vec<Mount>, ExecError> {
        let dir = self.dir(task.id.as_str());
        let plan = plan(task, &self.store, &dir)?;
        if plan.files.is_empty() {
            return Ok(Vec::new());
        }
        let base = self.base.clone();
        let files = plan.files;
        let count = files.len();
        let target = dir.clone();
        tokio::task::spawn_blocking(move || write_all(&base, &target, &files))
            .await
            .map_err(|e| ExecError::Engine(format!("writing task files: {e}")))?
            .map_err(|e| {
                ExecError::Engine(format!(
                    "placing secrets and configs on a tmpfs at {}: {e}",
                    dir.display()
                ))
            })?;
        debug!(task.id = %task.id, files = count, "secrets and configs placed on tmpfs");
        Ok(plan.mounts)
    }

    /// Unmounts the task's tmpfs from the host and removes its mount point. Safe to call for
    /// any task, any number of times.
    pub async fn release(&self, task_id: &str) {
        let dir = self.dir(task_id);
        let result = tokio::task::spawn_blocking(move || unmount_and_remove(&dir)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!(task.id = %task_id, error = %e, "releasing the task's tmpfs failed")
            }
            Err(e) => warn!(task.id = %task_id, error = %e, "releasing the task's tmpfs panicked"),
        }
    }
}

fn is_mountpoint(dir: &Path) -> std::io::Result<bool> {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    Ok(std::fs::metadata(dir)?.dev() != std::fs::metadata(parent)?.dev())
}

fn write_all(base: &Path, dir: &Path, files: &[FilePlan]) -> std::io::Result<()> {
    std::fs::create_dir_all(base)?;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o700))?;
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut written = Ok(());
    for (kind, noexec) in [(SECRETS, true), (CONFIGS, false)] {
        let mine: Vec<&FilePlan> = files.iter().filter(|f| f.rel.starts_with(kind)).collect();
        if mine.is_empty() {
            continue;
        }
        written = write_tmpfs(&dir.join(kind), noexec, &mine);
        if written.is_err() {
            break;
        }
    }
    if written.is_err()
        && let Err(e) = unmount_and_remove(dir)
    {
        warn!(dir = %dir.display(), error = %e, "removing a half-written task tmpfs failed");
    }
    written
}

/// Mounts a tmpfs at `mount` (`nosuid,nodev`, and `noexec` when asked), writes `files` (paths
/// relative to its parent) and makes it read-only.
fn write_tmpfs(mount: &Path, noexec: bool, files: &[&FilePlan]) -> std::io::Result<()> {
    use nix::mount::{MsFlags, mount as mount_fs};
    use nix::sys::statfs::{TMPFS_MAGIC, statfs};
    match std::fs::create_dir(mount) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if noexec {
        flags |= MsFlags::MS_NOEXEC;
    }
    if is_mountpoint(mount)? {
        // prepared before (a retry): writable again until the files are rewritten
        mount_fs(
            None::<&str>,
            mount,
            None::<&str>,
            MsFlags::MS_REMOUNT | flags,
            Some(TMPFS_OPTIONS),
        )
        .map_err(std::io::Error::from)?;
    } else {
        mount_fs(
            Some("tmpfs"),
            mount,
            Some("tmpfs"),
            flags,
            Some(TMPFS_OPTIONS),
        )
        .map_err(std::io::Error::from)?;
    }
    // Never write a byte unless it lands in memory.
    if statfs(mount)
        .map_err(std::io::Error::from)?
        .filesystem_type()
        != TMPFS_MAGIC
    {
        return Err(std::io::Error::other("the mount point is not a tmpfs"));
    }
    let parent = mount.parent().unwrap_or(mount);
    write_files(parent, files)?;
    // the files are final: the whole tmpfs becomes read-only, which every bind of it shows
    let ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags;
    mount_fs(None::<&str>, mount, None::<&str>, ro, Some(TMPFS_OPTIONS))
        .map_err(std::io::Error::from)
}

fn write_files(dir: &Path, files: &[&FilePlan]) -> std::io::Result<()> {
    for f in files {
        let path = dir.join(&f.rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&f.data)?;
        std::os::unix::fs::fchown(&file, Some(f.uid), Some(f.gid))?;
        file.set_permissions(std::fs::Permissions::from_mode(f.mode & PERMISSION_BITS))?;
    }
    Ok(())
}

fn unmount_and_remove(dir: &Path) -> std::io::Result<()> {
    use nix::mount::{MntFlags, umount2};
    if !dir.exists() {
        return Ok(());
    }
    for kind in [SECRETS, CONFIGS] {
        let mount = dir.join(kind);
        if mount.exists() && is_mountpoint(&mount)? {
            umount2(&mount, MntFlags::MNT_DETACH).map_err(std::io::Error::from)?;
        }
    }
    // the task directory itself was the tmpfs before secrets and configs were split
    if is_mountpoint(dir)? {
        umount2(dir, MntFlags::MNT_DETACH).map_err(std::io::Error::from)?;
    }
    std::fs::remove_dir_all(dir)
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
