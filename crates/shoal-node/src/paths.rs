//! The layout of the data root.
//!
//! ```text
//! <root>/shoal.lock                       held (flock) while a daemon runs
//! <root>/swarm/state.json                 node id, cluster id, role, raft id, addresses
//! <root>/swarm/certificates/swarm-root-ca.crt
//! <root>/swarm/certificates/swarm-node.crt
//! <root>/swarm/certificates/swarm-node.key node key + raft data key (wrapped under autolock)
//! <root>/swarm/raft/raft.redb             encrypted raft log and snapshots
//! <root>/task-files/<task id>/            tmpfs with a task's secrets/configs, prepare→start
//! <root>/tunnel/wireguard.key             the encrypted overlay's node key (new at every agent start)
//! ```
//!
//! The data root holds the node's private key, the raft data key and the encrypted log: it is
//! private to the daemon's user. Every directory is [`PRIVATE_DIR`] (0700) and every file
//! [`PRIVATE_FILE`] (0600), whoever created them and whatever the umask; [`make_private`]
//! enforces it on an existing tree at start-up.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("shoal.lock")
    }
    pub fn swarm(&self) -> PathBuf {
        self.root.join("swarm")
    }
    pub fn state(&self) -> PathBuf {
        self.swarm().join("state.json")
    }
    pub fn certs(&self) -> PathBuf {
        self.swarm().join("certificates")
    }
    pub fn root_ca(&self) -> PathBuf {
        self.certs().join("swarm-root-ca.crt")
    }
    pub fn node_cert(&self) -> PathBuf {
        self.certs().join("swarm-node.crt")
    }
    pub fn node_key(&self) -> PathBuf {
        self.certs().join("swarm-node.key")
    }
    pub fn raft(&self) -> PathBuf {
        self.swarm().join("raft")
    }
    /// Where the encrypted overlay's WireGuard key is kept (`shoal_net::tunnel::NodeKey`).
    pub fn tunnel(&self) -> PathBuf {
        self.root.join("tunnel")
    }
    /// Mount points of the per-task tmpfs holding secrets and configs (empty between tasks).
    pub fn task_files(&self) -> PathBuf {
        self.root.join("task-files")
    }
}

/// Mode of every directory under the data root.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of every file under the data root.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `path` and any missing parents with mode [`PRIVATE_DIR`], and makes `path` itself
/// that mode if it already existed.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_DIR))
}

/// Makes `root` and everything under it private (directories [`PRIVATE_DIR`], regular files
/// [`PRIVATE_FILE`]), without descending into the task-file mounts (each is a tmpfs a running
/// container uses, with the modes its spec asked for). Symlinks are left alone.
pub fn make_private(paths: &Paths) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let skip = paths.task_files();
    let mut pending = vec![paths.root.clone()];
    while let Some(dir) = pending.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(PRIVATE_DIR))?;
        if dir == skip {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                std::fs::set_permissions(
                    entry.path(),
                    std::fs::Permissions::from_mode(PRIVATE_FILE),
                )?;
            }
        }
    }
    Ok(())
}

/// Writes `data` to `path` atomically (temp file, fsync, rename, fsync dir) with `mode`,
/// creating missing directories private.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        create_private_dir(dir)?;
    }
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn make_private_tightens_an_existing_tree_but_not_task_mounts() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(tmp.path().join("root"));
        std::fs::create_dir_all(paths.raft()).expect("mkdir");
        std::fs::create_dir_all(paths.task_files().join("t1")).expect("mkdir");
        std::fs::write(paths.raft().join("raft.redb"), b"x").expect("write");
        std::fs::write(paths.task_files().join("t1").join("secret"), b"x").expect("write");
        std::fs::set_permissions(
            paths.raft().join("raft.redb"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        std::fs::set_permissions(
            paths.task_files().join("t1").join("secret"),
            std::fs::Permissions::from_mode(0o444),
        )
        .expect("chmod");

        make_private(&paths).expect("make private");
        assert_eq!(mode(&paths.root), 0o700);
        assert_eq!(mode(&paths.swarm()), 0o700);
        assert_eq!(mode(&paths.raft()), 0o700);
        assert_eq!(mode(&paths.raft().join("raft.redb")), 0o600);
        assert_eq!(mode(&paths.task_files()), 0o700);
        assert_eq!(
            mode(&paths.task_files().join("t1").join("secret")),
            0o444,
            "task mounts keep the modes their spec asked for"
        );
    }

    #[test]
    fn write_atomic_creates_missing_directories_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("a").join("b").join("f");
        write_atomic(&file, b"x", PRIVATE_FILE).expect("write");
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&tmp.path().join("a").join("b")), 0o700);
        assert_eq!(mode(&file), 0o600);
    }
}
