//! Test fixtures: a PKI minted by shoal-ca, a scriptable fake handler, servers on 127.0.0.1.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use parking_lot::Mutex;
use shoal_ca::node_cert::DEFAULT_NODE_CERT_VALIDITY;
use shoal_ca::{NodeKey, Role, RootCa};
use shoal_cluster::{
    ClusterClient, ClusterError, ClusterHandler, ClusterServer, ConnLimits, ForwardRequest,
    ForwardResponse, HandlerResult, HeartbeatRequest, JoinRequest, JoinResponse, NodePeer,
    RenewRequest, RenewResponse, SnapshotRequest, Standing, TlsCell,
};
use shoal_raft::TypeConfig;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};
use shoal_types::{ClusterId, NodeId};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const CLUSTER: &str = "cluster-a";
/// Short enough that failing tests fail fast, long enough for TLS on a loaded machine.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A node's certificate and key.
pub struct NodeCert {
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Pki {
    pub root: RootCa,
    pub manager: NodeCert,
    pub worker: NodeCert,
}

pub fn mint(root: &RootCa, id: &str, role: Role, cluster: &str) -> NodeCert {
    let key = NodeKey::generate().expect("key");
    let cert_pem = root
        .sign_csr(
            &key.csr_pem().expect("csr"),
            id,
            role,
            cluster,
            DEFAULT_NODE_CERT_VALIDITY,
            SystemTime::now(),
        )
        .expect("sign");
    NodeCert {
        cert_pem,
        key_pem: key.key_pem,
    }
}

impl Pki {
    pub fn new() -> Self {
        let root = RootCa::generate(SystemTime::now()).expect("root");
        let manager = mint(&root, "mgr1", Role::Manager, CLUSTER);
        let worker = mint(&root, "wrk1", Role::Worker, CLUSTER);
        Self {
            root,
            manager,
            worker,
        }
    }

    /// A server certificate for a second manager of the same cluster.
    pub fn another_manager(&self, id: &str) -> NodeCert {
        mint(&self.root, id, Role::Manager, CLUSTER)
    }

    pub fn client(&self, node: &NodeCert) -> ClusterClient {
        let config = shoal_ca::client_config(self.root.cert_pem(), &node.cert_pem, &node.key_pem)
            .expect("client config");
        ClusterClient::with_timeout(Arc::new(TlsCell::new(config)), TEST_TIMEOUT)
    }
}

/// What the fake dispatcher does.
#[derive(Default)]
pub struct Script {
    /// Answer every leader-only call with this redirect.
    pub not_leader: Option<Option<String>>,
    /// Assignment sets pushed into each new session.
    pub assignments: Vec<Assignments>,
    /// Close each session right after pushing `assignments`.
    pub end_sessions: bool,
    /// Never answer raft votes.
    pub hang_votes: bool,
}

/// A scriptable [`ClusterHandler`] that records what it was asked.
pub struct FakeHandler {
    pub cluster: ClusterId,
    pub root_pem: String,
    pub removed: Mutex<HashSet<NodeId>>,
    /// Managers whose desired role is now worker (still raft members).
    pub demoted: Mutex<HashSet<NodeId>>,
    /// Managers not in the raft membership.
    pub outside_raft: Mutex<HashSet<NodeId>>,
    pub script: Mutex<Script>,
    pub votes: Mutex<Vec<VoteRequest<TypeConfig>>>,
    pub sessions: Mutex<Vec<mpsc::Sender<Assignments>>>,
    pub heartbeats: Mutex<Vec<HeartbeatRequest>>,
}

impl FakeHandler {
    pub fn new(pki: &Pki, script: Script) -> Arc<Self> {
        Arc::new(Self {
            cluster: ClusterId::from(CLUSTER),
            root_pem: pki.root.cert_pem().to_owned(),
            removed: Mutex::new(HashSet::new()),
            demoted: Mutex::new(HashSet::new()),
            outside_raft: Mutex::new(HashSet::new()),
            script: Mutex::new(script),
            votes: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
            heartbeats: Mutex::new(Vec::new()),
        })
    }

    fn leader_check(&self) -> Result<(), ClusterError> {
        match &self.script.lock().not_leader {
            Some(leader_addr) => Err(ClusterError::NotLeader {
                leader_addr: leader_addr.clone(),
            }),
            None => Ok(()),
        }
    }
}

impl ClusterHandler for FakeHandler {
    fn cluster_id(&self) -> ClusterId {
        self.cluster.clone()
    }

    fn node_allowed(&self, node_id: &NodeId) -> bool {
        !self.removed.lock().contains(node_id)
    }

    fn manager_standing(&self, node_id: &NodeId) -> Standing {
        Standing::Known {
            manager: !self.demoted.lock().contains(node_id),
            raft_member: !self.outside_raft.lock().contains(node_id),
        }
    }

    fn root_ca(&self) -> HandlerResult<'_, String> {
        Box::pin(async move { Ok(self.root_pem.clone()) })
    }

    fn join(&self, req: JoinRequest) -> HandlerResult<'_, JoinResponse> {
        Box::pin(async move {
            if req.token != "good-token" {
                return Err(ClusterError::Invalid("invalid join token".into()));
            }
            Ok(JoinResponse {
                node_id: NodeId::from("new-node"),
                cluster_id: self.cluster.clone(),
                role: Role::Worker,
                cert_pem: "CERT".into(),
                root_pem: self.root_pem.clone(),
                raft_id: None,
                managers: vec![],
            })
        })
    }

    fn renew_cert(&self, peer: NodePeer, _req: RenewRequest) -> HandlerResult<'_, RenewResponse> {
        Box::pin(async move {
            Ok(RenewResponse {
                cert_pem: format!("renewed {}", peer.node_id),
            })
        })
    }

    fn raft_append(
        &self,
        _rpc: AppendEntriesRequest<TypeConfig>,
    ) -> HandlerResult<'_, AppendEntriesResponse<TypeConfig>> {
        Box::pin(async move { Ok(AppendEntriesResponse::Success) })
    }

    fn raft_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> HandlerResult<'_, VoteResponse<TypeConfig>> {
        Box::pin(async move {
            if self.script.lock().hang_votes {
                futures::future::pending::<()>().await;
            }
            let resp = VoteResponse::new(rpc.vote, rpc.last_log_id, true);
            self.votes.lock().push(rpc);
            Ok(resp)
        })
    }

    fn raft_pre_vote(
        &self,
        rpc: VoteRequest<TypeConfig>,
    ) -> HandlerResult<'_, VoteResponse<TypeConfig>> {
        Box::pin(async move { Ok(VoteResponse::new(rpc.vote, rpc.last_log_id, false)) })
    }

    fn raft_snapshot(
        &self,
        req: SnapshotRequest,
    ) -> HandlerResult<'_, SnapshotResponse<TypeConfig>> {
        Box::pin(async move {
            if req.data != b"snapshot bytes" {
                return Err(ClusterError::Invalid("unexpected snapshot data".into()));
            }
            Ok(SnapshotResponse::new(req.vote))
        })
    }

    fn session(
        &self,
        _peer: NodePeer,
        _req: SessionRequest,
    ) -> HandlerResult<'_, mpsc::Receiver<Assignments>> {
        Box::pin(async move {
            self.leader_check()?;
            let script = self.script.lock();
            let (tx, rx) = mpsc::channel(script.assignments.len() + 1);
            for set in &script.assignments {
                tx.try_send(set.clone())
                    .map_err(|e| ClusterError::Internal(e.to_string()))?;
            }
            if !script.end_sessions {
                self.sessions.lock().push(tx);
            }
            Ok(rx)
        })
    }

    fn update_status(&self, _peer: NodePeer, _batch: StatusBatch) -> HandlerResult<'_, ()> {
        Box::pin(async move { self.leader_check() })
    }

    fn heartbeat(
        &self,
        _peer: NodePeer,
        req: HeartbeatRequest,
    ) -> HandlerResult<'_, HeartbeatResponse> {
        Box::pin(async move {
            self.leader_check()?;
            if req.session_id != "s1" {
                return Err(ClusterError::Invalid(format!(
                    "unknown session {}",
                    req.session_id
                )));
            }
            self.heartbeats.lock().push(req);
            Ok(HeartbeatResponse { period_ms: 5000 })
        })
    }

    fn forward(&self, _peer: NodePeer, req: ForwardRequest) -> HandlerResult<'_, ForwardResponse> {
        Box::pin(async move {
            self.leader_check()?;
            Ok(ForwardResponse {
                status: 201,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: req.body,
            })
        })
    }
}

/// A cluster server on 127.0.0.1, stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(pki: &Pki, cert: &NodeCert, handler: Arc<FakeHandler>) -> Self {
        Self::start_on("127.0.0.1:0", pki, cert, handler).await
    }

    /// Like [`TestServer::start`] on a given address (to restart a server in place).
    pub async fn start_on(
        bind: &str,
        pki: &Pki,
        cert: &NodeCert,
        handler: Arc<FakeHandler>,
    ) -> Self {
        Self::start_with(bind, pki, cert, handler, ConnLimits::default()).await
    }

    /// Like [`TestServer::start_on`] with the given connection limits.
    pub async fn start_with(
        bind: &str,
        pki: &Pki,
        cert: &NodeCert,
        handler: Arc<FakeHandler>,
        limits: ConnLimits,
    ) -> Self {
        let listener = TcpListener::bind(bind).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = shoal_ca::server_config_allow_anonymous(
            pki.root.cert_pem(),
            &cert.cert_pem,
            &cert.key_pem,
        )
        .expect("server config");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(ClusterServer::serve_with(
            listener,
            Arc::new(TlsCell::new(config)),
            handler,
            limits,
            cancel.clone(),
        ));
        let task = tokio::spawn(async move {
            task.await.expect("server task").expect("server");
        });
        Self { addr, cancel, task }
    }

    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.task.abort();
    }
}
