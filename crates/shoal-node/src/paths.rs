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
//! ```

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
    /// Mount points of the per-task tmpfs holding secrets and configs (empty between tasks).
    pub fn task_files(&self) -> PathBuf {
        self.root.join("task-files")
    }
}

/// Writes `data` to `path` atomically (temp file, fsync, rename, fsync dir) with `mode`.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
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
