//! [`RaftNode`]: one raft member with its storage, opened from its directory.

use crate::config::RaftConfig;
use crate::db::{FILE_NAME, RaftDb};
use crate::error::RaftError;
use crate::log_store::LogStore;
use crate::network::{NetworkFactory, RaftTransport};
use crate::proposer::RaftProposer;
use crate::sealer::Sealer;
use crate::space::{NoSpace, SpaceState};
use crate::state_machine::StateMachine;
use crate::types::{NodeId, PeerNode, Snapshot, SnapshotData, SnapshotMeta, TypeConfig, Vote};
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{Fatal, RaftError as OpenraftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{Raft, RaftMetrics};
use shoal_store::{MemoryStore, Proposer};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A panic while opening the raft file. redb's debug builds panic on some malformed files
/// where release builds return `Corrupted` (its `StorageError::unreachable`), so a panic here
/// is reported as corruption of that file.
fn open_panicked(path: &Path, e: tokio::task::JoinError) -> RaftError {
    let reason = match e.try_into_panic() {
        Ok(payload) => match payload.downcast::<String>() {
            Ok(s) => format!("redb failed reading it: {s}"),
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(s) => format!("redb failed reading it: {s}"),
                Err(_) => "redb failed reading it".to_string(),
            },
        },
        Err(e) => format!("opening was cancelled: {e}"),
    };
    RaftError::Corrupt {
        path: path.to_path_buf(),
        reason,
    }
}

/// The openraft handle with shoal's types.
pub type RaftHandle = Raft<TypeConfig, StateMachine>;

/// One raft member: the openraft task, its encrypted log and snapshots, and the store it
/// applies to. Dropping it does not stop raft; call [`shutdown`](Self::shutdown).
pub struct RaftNode {
    raft: RaftHandle,
    node_id: NodeId,
    addr: String,
    /// Signals when the last of openraft's tasks let go of the raft file and it is closed.
    db_closed: tokio::sync::watch::Receiver<()>,
    /// Whether the raft file is out of space; also how shutdown stops storage calls that wait
    /// for space.
    space: Arc<SpaceState>,
}

/// How long [`RaftNode::shutdown`] waits for openraft's tasks (replication streams hold log
/// readers) to close the raft file.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl RaftNode {
    /// Opens the raft file under `cfg.dir` (creating it on first use), restores the latest
    /// snapshot into `store` and starts raft, which re-applies the committed entries after the
    /// snapshot. `store` must be empty: raft owns its content from here on.
    ///
    /// Errors: a corrupt, truncated or undecryptable raft file is [`RaftError::Corrupt`]
    /// naming the file; the node never starts empty in its place.
    ///
    /// A member that is the only voter of its group elects itself at once instead of waiting
    /// for an election timeout.
    pub async fn open(
        cfg: RaftConfig,
        store: Arc<MemoryStore>,
        sealer: Arc<dyn Sealer>,
        transport: Arc<dyn RaftTransport>,
    ) -> Result<RaftNode, RaftError> {
        let node_id = cfg.node_id;
        let applied = store.applied_index();
        if applied != 0 {
            return Err(RaftError::StoreNotEmpty { node_id, applied });
        }
        let config = Arc::new(cfg.to_openraft()?);
        let dir = cfg.dir.clone();
        let (db, sm) = tokio::task::spawn_blocking(move || {
            let db = Arc::new(RaftDb::open(&dir, sealer)?);
            let sm = StateMachine::load(store, Arc::clone(&db))?;
            Ok::<_, RaftError>((db, sm))
        })
        .await
        .map_err(|e| open_panicked(&cfg.dir.join(FILE_NAME), e))??;

        let network = NetworkFactory { transport };
        let db_closed = db.closed();
        let space = db.space();
        let raft = Raft::new(node_id, config, network, LogStore::new(db), sm)
            .await
            .map_err(|e| RaftError::Raft {
                node_id,
                op: "start",
                reason: e.to_string(),
            })?;
        let node = RaftNode {
            raft,
            node_id,
            addr: cfg.addr,
            db_closed,
            space,
        };
        node.elect_if_sole_voter().await?;
        Ok(node)
    }

    /// Makes this member the first manager of a new cluster: membership `{self}`. It becomes
    /// leader at once. Fails if the group is already initialised.
    pub async fn initialize_single(&self) -> Result<(), RaftError> {
        let members = BTreeMap::from([(
            self.node_id,
            PeerNode {
                addr: self.addr.clone(),
            },
        )]);
        self.raft
            .initialize(members)
            .await
            .map_err(|e| self.err("initialize", e))?;
        Ok(())
    }

    async fn elect_if_sole_voter(&self) -> Result<(), RaftError> {
        let sole = {
            let m = self.raft.metrics();
            let metrics = m.borrow_watched();
            let voters: Vec<NodeId> = metrics.membership_config.membership().voter_ids().collect();
            voters == [self.node_id] && !metrics.state.is_leader()
        };
        if sole {
            self.raft
                .trigger()
                .elect(false)
                .await
                .map_err(|e| self.err("elect", e))?;
        }
        Ok(())
    }

    fn err(&self, op: &'static str, e: impl std::fmt::Display) -> RaftError {
        RaftError::Raft {
            node_id: self.node_id,
            op,
            reason: e.to_string(),
        }
    }

    /// Whether this member has a membership (it was initialised or joined).
    pub fn is_initialized(&self) -> bool {
        self.raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .next()
            .is_some()
    }

    /// Whether this member is the leader now.
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// The leader this member knows of.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// This member's raft id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// A copy of openraft's metrics (term, log indexes, membership, state).
    pub fn metrics(&self) -> RaftMetrics<TypeConfig> {
        self.raft.metrics().borrow_watched().clone()
    }

    /// Whether raft is waiting for space on the raft file's disk: while it is, nothing can be
    /// committed through this member, and writes should be refused at once. Clears by itself
    /// once a write succeeds after space is freed.
    pub fn no_space(&self) -> Option<NoSpace> {
        self.space.current()
    }

    /// Follows [`no_space`](Self::no_space).
    pub fn watch_no_space(&self) -> tokio::sync::watch::Receiver<Option<NoSpace>> {
        self.space.subscribe()
    }

    /// The proposer for [`shoal_store::StoreHandle`]: commits through this member.
    pub fn proposer(&self) -> Arc<dyn Proposer> {
        Arc::new(RaftProposer {
            raft: self.raft.clone(),
        })
    }

    /// The raw openraft handle, for membership changes and the RPC server.
    pub fn raft(&self) -> &RaftHandle {
        &self.raft
    }

    /// Server side of `append_entries`, for the cluster RPC server.
    pub async fn handle_append(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> Result<AppendEntriesResponse<TypeConfig>, OpenraftError<TypeConfig>> {
        self.raft.append_entries(rpc).await
    }

    /// Server side of `vote`.
    pub async fn handle_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> Result<VoteResponse<TypeConfig>, OpenraftError<TypeConfig>> {
        self.raft.vote(rpc).await
    }

    /// Server side of `pre_vote`.
    pub async fn handle_pre_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> Result<VoteResponse<TypeConfig>, OpenraftError<TypeConfig>> {
        self.raft.pre_vote(rpc).await
    }

    /// Server side of a full snapshot transfer. Only call it for authenticated managers of this
    /// cluster: openraft panics on a snapshot inconsistent with the vote.
    pub async fn handle_snapshot(
        &self,
        vote: Vote,
        meta: SnapshotMeta,
        data: SnapshotData,
    ) -> Result<SnapshotResponse<TypeConfig>, Fatal<TypeConfig>> {
        self.raft
            .install_full_snapshot(
                vote,
                Snapshot {
                    meta,
                    snapshot: data,
                },
            )
            .await
    }

    /// Stops raft and waits (up to [`CLOSE_WAIT`]) until its tasks closed the raft file, so
    /// it can be opened again (restart, `force_new_cluster`).
    pub async fn shutdown(&self) {
        // A storage call waiting for space would hold openraft's core forever.
        self.space.stop();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(node.id = self.node_id, error = %e, "raft shutdown: core task failed");
        }
        let mut closed = self.db_closed.clone();
        // `changed` fails once the sender, dropped after the database, is gone.
        let closed = async { while closed.changed().await.is_ok() {} };
        if tokio::time::timeout(CLOSE_WAIT, closed).await.is_err() {
            tracing::warn!(
                node.id = self.node_id,
                "raft shutdown: the raft file is still open"
            );
        }
    }
}
