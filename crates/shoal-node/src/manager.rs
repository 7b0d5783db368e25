//! A running manager: raft + store + control API + the leadership supervisor that starts the
//! leader-only controllers when this manager leads and cancels them when it stops leading.

use crate::error::NodeError;
use crate::paths::Paths;
use crate::state::NodeState;
use shoal_manager::control::{Control, RaftView};
use shoal_raft::{RaftConfig, RaftNode, UnreachableTransport};
use shoal_store::{MemoryStore, StoreHandle};
use shoal_types::NodeId;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a restarted single manager may take to elect itself before start-up fails.
const LEADER_WAIT: Duration = Duration::from_secs(30);

/// Starts the leader-only controllers; returns when `cancel` fires. Injected so this crate does
/// not decide which controllers exist.
pub type LeaderHook = Arc<
    dyn Fn(StoreHandle, NodeId, CancellationToken) -> futures::future::BoxFuture<'static, ()>
        + Send
        + Sync,
>;

/// How often the leadership supervisor looks at raft's view of the leader.
const LEADERSHIP_POLL: Duration = Duration::from_millis(100);

struct RaftMetricsView {
    raft: Arc<RaftNode>,
}

impl RaftView for RaftMetricsView {
    fn leader(&self) -> Option<u64> {
        self.raft.leader_id()
    }
    fn reachable(&self, raft_id: u64) -> bool {
        // Until peers exist (multi-manager clusters) only this member and the leader are known.
        raft_id == self.raft.node_id() || Some(raft_id) == self.raft.leader_id()
    }
}

pub struct ManagerRuntime {
    pub node_id: NodeId,
    pub raft: Arc<RaftNode>,
    pub store: StoreHandle,
    pub control: Arc<Control>,
    cancel: CancellationToken,
    tasks: parking_lot::Mutex<JoinSet<()>>,
}

impl ManagerRuntime {
    /// Opens raft from `<root>/swarm/raft` with the data key, restoring the store from disk.
    pub async fn open(
        paths: &Paths,
        state: &NodeState,
        dek: &[u8; 32],
    ) -> Result<ManagerRuntime, NodeError> {
        let store = Arc::new(MemoryStore::new());
        let cfg = RaftConfig::new(paths.raft(), state.raft_id, state.advertise_addr.clone());
        let sealer = Arc::new(shoal_raft::sealer::XChaChaSealer::new(dek));
        let raft =
            RaftNode::open(cfg, store.clone(), sealer, Arc::new(UnreachableTransport)).await?;
        let handle = StoreHandle::new(store, raft.proposer());
        let raft = Arc::new(raft);
        let view = Arc::new(RaftMetricsView { raft: raft.clone() });
        let node_id = NodeId::from(state.node_id.as_str());
        let control = Arc::new(Control::new(handle.clone(), node_id.clone(), view));
        Ok(ManagerRuntime {
            node_id,
            raft,
            store: handle,
            control,
            cancel: CancellationToken::new(),
            tasks: parking_lot::Mutex::new(JoinSet::new()),
        })
    }

    /// Waits until raft has a leader and this store has caught up with it.
    pub async fn wait_leader(&self) -> Result<(), NodeError> {
        let wait = async {
            while self.raft.leader_id().is_none() {
                tokio::time::sleep(LEADERSHIP_POLL).await;
            }
        };
        tokio::time::timeout(LEADER_WAIT, wait)
            .await
            .map_err(|_| NodeError::Other(format!("raft elected no leader within {LEADER_WAIT:?}")))
    }

    /// Runs `hook` whenever this manager leads, cancelling it when leadership is lost.
    pub fn supervise_leadership(&self, hook: LeaderHook) {
        let raft = self.raft.clone();
        let store = self.store.clone();
        let node_id = self.node_id.clone();
        let cancel = self.cancel.clone();
        self.tasks.lock().spawn(async move {
            let mut term: Option<CancellationToken> = None;
            let mut running = JoinSet::new();
            loop {
                let leading = raft.is_leader();
                match (leading, term.is_some()) {
                    (true, false) => {
                        tracing::info!(node.id = %node_id, "became leader; starting controllers");
                        let t = cancel.child_token();
                        running.spawn(hook(store.clone(), node_id.clone(), t.clone()));
                        term = Some(t);
                    }
                    (false, true) => {
                        tracing::info!(node.id = %node_id, "lost leadership; stopping controllers");
                        if let Some(t) = term.take() {
                            t.cancel();
                        }
                        while running.join_next().await.is_some() {}
                    }
                    _ => {}
                }
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(LEADERSHIP_POLL) => {}
                }
            }
            if let Some(t) = term.take() {
                t.cancel();
            }
            while running.join_next().await.is_some() {}
        });
    }

    /// Stops the controllers and raft.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let mut tasks = std::mem::take(&mut *self.tasks.lock());
        while tasks.join_next().await.is_some() {}
        self.raft.shutdown().await;
    }
}
