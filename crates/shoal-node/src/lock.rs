//! One daemon per data root: an exclusive `flock` on `<root>/shoal.lock`, held for the
//! daemon's life and released by the kernel when the process dies (even by SIGKILL).

use crate::error::NodeError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Holds the lock until dropped.
pub struct DataRootLock {
    _lock: Flock<File>,
}

impl DataRootLock {
    pub fn acquire(root: &Path) -> Result<Self, NodeError> {
        crate::paths::create_private_dir(root).map_err(NodeError::io("create data root", root))?;
        let path = root.join("shoal.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .mode(crate::paths::PRIVATE_FILE)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(NodeError::io("open lock file", &path))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Self { _lock: lock }),
            Err((_, _)) => Err(NodeError::Locked {
                root: root.to_path_buf(),
                lock: path,
            }),
        }
    }
}
