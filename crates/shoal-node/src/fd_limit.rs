//! The daemon's open-file limit. Every cluster connection, task container stream and raft
//! file is a descriptor, and the common default soft limit (1024) is far below what a manager
//! serving many nodes needs; like dockerd, the daemon raises its soft limit to the hard limit
//! at start (no privilege is needed for that).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The open-file limits before and after [`raise_to_hard_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
pub fn raise_to_hard_limit() -> nix::Result<FdLimit> {
    let (soft_before, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft_before < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(FdLimit {
        soft_before,
        soft,
        hard,
    })
}
