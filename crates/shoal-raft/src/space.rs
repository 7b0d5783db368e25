//! The raft file's "out of space" condition, shared by the storage and whoever reports it.
//!
//! When a write to the raft file fails with ENOSPC (or EDQUOT), raft cannot make anything
//! durable, but the condition is temporary: once space is freed the same write succeeds. The
//! storage therefore does not fail (openraft would stop for good on a storage error); it
//! records the condition here, waits, reopens the file and retries (see `db.rs`). Meanwhile the
//! node refuses new writes at once by looking at [`RaftNode::no_space`](crate::RaftNode::no_space)
//! and shows the condition in `info`. The first commit that succeeds clears it.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How often a write stuck on a full disk reopens the raft file and tries again. A second is
/// what a user freeing space waits at most before writes resume; each try costs one open.
pub const NO_SPACE_RETRY: Duration = Duration::from_secs(1);

/// The raft file cannot be written for lack of space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSpace {
    /// The raft file.
    pub file: PathBuf,
    /// The storage operation that failed first.
    pub op: &'static str,
    /// The operating system's words for it.
    pub reason: String,
    /// When it was first seen.
    pub since: SystemTime,
}

/// The current condition plus the node's "stop waiting" signal.
pub(crate) struct SpaceState {
    full: watch::Sender<Option<NoSpace>>,
    stopping: watch::Sender<bool>,
}

impl SpaceState {
    pub(crate) fn new() -> Self {
        Self {
            full: watch::Sender::new(None),
            stopping: watch::Sender::new(false),
        }
    }

    /// Records that `op` failed for lack of space (keeps the first failure while it lasts).
    pub(crate) fn set_full(&self, file: PathBuf, op: &'static str, reason: String) {
        self.full.send_if_modified(|cur| {
            if cur.is_some() {
                return false;
            }
            tracing::error!(file = %file.display(), op, %reason, "raft file out of space; writes are refused until space is freed");
            *cur = Some(NoSpace {
                file,
                op,
                reason,
                since: SystemTime::now(),
            });
            true
        });
    }

    /// A commit succeeded: there is space again.
    pub(crate) fn clear(&self) {
        self.full.send_if_modified(|cur| {
            let Some(was) = cur.take() else {
                return false;
            };
            tracing::info!(file = %was.file.display(), "raft file writable again; writes resume");
            true
        });
    }

    pub(crate) fn current(&self) -> Option<NoSpace> {
        self.full.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<NoSpace>> {
        self.full.subscribe()
    }

    /// The node is shutting down: storage calls waiting for space give up.
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}

/// Whether `e` says the device (or the user's quota) has no space left.
pub(crate) fn is_no_space(e: &std::io::Error) -> bool {
    /// Linux's ENOSPC and EDQUOT.
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_and_edquot_are_no_space_other_errors_are_not() {
        assert!(is_no_space(&std::io::Error::from_raw_os_error(28)));
        assert!(is_no_space(&std::io::Error::from_raw_os_error(122)));
        assert!(!is_no_space(&std::io::Error::from_raw_os_error(5)));
        assert!(!is_no_space(&std::io::Error::other("boom")));
    }

    #[test]
    fn the_first_failure_is_kept_until_a_commit_clears_it() {
        let s = SpaceState::new();
        let mut rx = s.subscribe();
        s.set_full(
            "/d/raft.redb".into(),
            "append log entries",
            "no space".into(),
        );
        s.set_full("/d/raft.redb".into(), "save vote", "no space".into());
        assert!(rx.has_changed().unwrap_or(false));
        let cur = s.current().expect("full");
        assert_eq!(cur.op, "append log entries");
        rx.mark_unchanged();
        s.clear();
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(s.current(), None);
    }
}
