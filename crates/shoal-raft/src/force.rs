//! `swarm init --force-new-cluster`: rewrite a stopped member's raft file so that, when it is
//! opened again, this member is the only voter and elects itself, keeping every entry (and so
//! the whole store) it had.
//!
//! openraft loads the effective membership from the last membership entry in the log (or the
//! snapshot's when the log has none after it), so the rewrite appends one membership entry
//! `{self}` right after the last entry, under a term above every term seen so far, and saves a
//! vote for that term. It appends rather than truncating uncommitted entries (SwarmKit
//! discards those): the on-disk committed pointer may lag the real commit index (it is
//! written without fsync, see `db.rs`), so entries past it may be acknowledged writes.
//! Everything before the new entry becomes committed once the member leads again.
//!
//! Only call this on a member whose raft is stopped: the file must not be open.

use crate::db::RaftDb;
use crate::error::RaftError;
use crate::record::Record;
use crate::sealer::Sealer;
use crate::types::{Entry, LogId, NodeId, PeerNode, Vote};
use openraft::entry::RaftEntry;
use openraft::vote::RaftLeaderId;
use openraft::{EntryPayload, Membership};
use redb::Durability;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// What the rewrite did, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedMembership {
    /// Index of the appended membership entry.
    pub index: u64,
    /// The term of the saved vote and of that entry.
    pub term: u64,
}

/// Rewrites the raft file in `dir` so that `node_id` at `addr` is the sole voter (see the
/// module docs). Blocking: call it off the async runtime. A file that does not open is
/// [`RaftError::Corrupt`]; a member that has no raft state at all is refused (there is no
/// cluster to force).
pub fn force_new_cluster(
    dir: &Path,
    sealer: Arc<dyn Sealer>,
    node_id: NodeId,
    addr: &str,
) -> Result<ForcedMembership, RaftError> {
    let db = RaftDb::open(dir, sealer)?;
    let vote: Option<Vote> = db.read_meta(Record::Vote)?;
    let purged: Option<LogId> = db.read_meta(Record::Purged)?;
    let last = db.last_log_id()?;
    let snapshot_last = db.read_snapshot()?.and_then(|(meta, _)| meta.last_log_id);
    // The newest log id this member knows: its last entry, or what a snapshot/purge covers.
    let newest = [last, purged, snapshot_last].into_iter().flatten().max();
    let Some(newest) = newest else {
        return Err(RaftError::Config {
            node_id,
            reason: "no raft log to force a new cluster from".into(),
        });
    };
    if last.is_none() && purged.is_none() {
        // Only a snapshot: record it as purged so the log may start right after it.
        db.write_meta(Record::Purged, &newest, Durability::Immediate)?;
    }
    let seen_term = vote
        .as_ref()
        .map_or(0, |v| v.leader_id.term)
        .max(newest.leader_id.term);
    let term = seen_term + 1;
    let index = newest.index + 1;
    let membership = Membership::new(
        vec![BTreeSet::from([node_id])],
        BTreeMap::from([(
            node_id,
            PeerNode {
                addr: addr.to_string(),
            },
        )]),
    )
    .map_err(|e| RaftError::Config {
        node_id,
        reason: format!("membership of one: {e}"),
    })?;
    let leader = openraft::type_config::alias::LeaderIdOf::<crate::TypeConfig>::new(term, node_id)
        .to_committed();
    let entry = <Entry as RaftEntry>::new(
        LogId::new(leader, index),
        EntryPayload::Membership(membership),
    );
    db.append(&[entry])?;
    db.write_meta(
        Record::Vote,
        &Vote::new(term, node_id),
        Durability::Immediate,
    )?;
    Ok(ForcedMembership { index, term })
}
