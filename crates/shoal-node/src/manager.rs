//! A running manager: raft + store + control API + the leadership supervisor that starts the
//! leader-only controllers when this manager leads and cancels them when it stops leading.

use crate::error::NodeError;
use crate::forward::ForwardingProposer;
use crate::paths::Paths;
use crate::state::NodeState;
use crate::tls::NodeTls;
use shoal_manager::control::{Control, RaftView};
use shoal_raft::{RaftConfig, RaftNode};
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
    dyn Fn(
            StoreHandle,
            NodeId,
            Arc<RaftNode>,
            CancellationToken,
        ) -> futures::future::BoxFuture<'static, ()>
        + Send
        + Sync,
>;

/// How often the leadership supervisor looks at raft's view of the leader.
const LEADERSHIP_POLL: Duration = Duration::from_millis(100);

/// When a manager was last seen answering, per raft id (filled by the prober in
/// [`crate::reach`]); shared by the runtime and its [`RaftView`].
pub type ReachMap = Arc<parking_lot::RwLock<std::collections::HashMap<u64, std::time::Instant>>>;

/// When this manager last accepted an append (or heartbeat) from a leader: set by the cluster
/// handler, read by [`ForwardingProposer`] so that a follower cut off from its leader refuses
/// writes at once instead of waiting out a call to a leader that cannot answer.
pub type LeaderContact = Arc<parking_lot::Mutex<Option<std::time::Instant>>>;

/// A manager counts as reachable if it answered within this (3 probe periods).
pub const REACHABLE_WITHIN: Duration = Duration::from_secs(3);

struct RaftMetricsView {
    raft: Arc<RaftNode>,
    seen: ReachMap,
}

impl RaftView for RaftMetricsView {
    fn leader(&self) -> Option<u64> {
        self.raft.leader_id()
    }
    fn reachable(&self, raft_id: u64) -> bool {
        if raft_id == self.raft.node_id() || Some(raft_id) == self.raft.leader_id() {
            return true;
        }
        self.seen
            .read()
            .get(&raft_id)
            .is_some_and(|t| t.elapsed() < REACHABLE_WITHIN)
    }
}

pub struct ManagerRuntime {
    pub node_id: NodeId,
    pub raft: Arc<RaftNode>,
    pub store: StoreHandle,
    pub control: Arc<Control>,
    pub seen: ReachMap,
    /// See [`LeaderContact`].
    pub leader_contact: LeaderContact,
    /// The data key the raft file is sealed with (to reopen it: force-new-cluster, rejoin).
    pub(crate) dek: [u8; 32],
    cancel: CancellationToken,
    tasks: parking_lot::Mutex<JoinSet<()>>,
}

impl ManagerRuntime {
    /// Opens raft from `<root>/swarm/raft` with the data key, restoring the store from disk.
    /// Raft talks to the other managers with `tls`'s client; writes on a follower are
    /// forwarded to the leader ([`ForwardingProposer`]).
    pub async fn open(
        paths: &Paths,
        state: &NodeState,
        dek: &[u8; 32],
        tls: &NodeTls,
    ) -> Result<ManagerRuntime, NodeError> {
        let store = Arc::new(MemoryStore::new());
        let cfg = RaftConfig::new(paths.raft(), state.raft_id, state.advertise_addr.clone());
        let sealer = Arc::new(shoal_raft::sealer::XChaChaSealer::new(dek));
        let raft = RaftNode::open(cfg, store.clone(), sealer, Arc::new(tls.client())).await?;
        let raft = Arc::new(raft);
        let leader_contact: LeaderContact = Arc::default();
        let proposer = Arc::new(ForwardingProposer {
            raft: raft.clone(),
            leader_contact: leader_contact.clone(),
            local: raft.proposer(),
            client: tls.client(),
            store: store.clone(),
            data_root: paths.root.clone(),
        });
        let handle = StoreHandle::new(store, proposer);
        let seen: ReachMap = Arc::default();
        let view = Arc::new(RaftMetricsView {
            raft: raft.clone(),
            seen: seen.clone(),
        });
        let node_id = NodeId::from(state.node_id.as_str());
        let control = Arc::new(Control::new(handle.clone(), node_id.clone(), view));
        let runtime = ManagerRuntime {
            node_id,
            raft,
            store: handle,
            control,
            seen,
            leader_contact,
            dek: *dek,
            cancel: CancellationToken::new(),
            tasks: parking_lot::Mutex::new(JoinSet::new()),
        };
        let keys = shoal_ca::NodeKeyFile {
            node_key_pem: tls.key_pem().to_string(),
            dek: shoal_ca::DataKey::from_bytes(*dek),
        };
        runtime.spawn(crate::autolock::keep_key_file_wrapped(
            runtime.store.clone(),
            paths.node_key(),
            keys,
            runtime.cancel.clone(),
        ));
        Ok(runtime)
    }

    /// Binds `listen_addr` and serves the cluster channel with `handler` until shutdown.
    pub async fn serve_cluster(
        &self,
        listen_addr: &str,
        tls: &NodeTls,
        handler: Arc<dyn shoal_cluster::ClusterHandler>,
    ) -> Result<(), NodeError> {
        let listener = tokio::net::TcpListener::bind(listen_addr)
            .await
            .map_err(|e| {
                NodeError::Other(format!(
                    "failed to listen on remote API address: listen tcp {listen_addr}: bind: {e}"
                ))
            })?;
        let server = tls.server();
        let cancel = self.cancel.clone();
        self.tasks.lock().spawn(async move {
            if let Err(e) =
                shoal_cluster::ClusterServer::serve(listener, server, handler, cancel).await
            {
                tracing::error!(error = %e, "cluster channel stopped");
            }
        });
        Ok(())
    }

    /// Spawns `fut` as a task of this runtime, cancelled with it.
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.lock().spawn(fut);
    }

    /// The runtime's cancellation token (its tasks stop when it fires).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Whether raft has more than one member (then start-up does not wait for a leader: the
    /// others may be down, and reads still work).
    pub fn has_peers(&self) -> bool {
        let m = self.raft.metrics();
        m.membership_config.membership().nodes().count() > 1
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
                        running.spawn(hook(
                            store.clone(),
                            node_id.clone(),
                            raft.clone(),
                            t.clone(),
                        ));
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
