//! The CA side of the cluster channel: `/join/sign`, `/cert/renew` and `/node/state`.
//!
//! The join token's secret decides the role: it must equal the cluster's current worker or
//! manager token (so a rotated-away token or another swarm's token is refused, and nothing is
//! written). Certificates are signed with the root key held in the cluster object; the role in
//! a certificate is always the node's desired role in the store, never what the peer asks for.

use crate::cluster_handler::NodeHandler;
use rand::Rng;
use shoal_ca::{NodeKey, Role, RootCa};
use shoal_cluster::{
    ClusterError, JoinRequest, JoinResponse, ManagerInfo, NodePeer, NodeStateRequest,
    NodeStateResponse, RenewRequest, RenewResponse,
};
use shoal_store::StoreError;
use shoal_types::api::{
    ManagerStatus, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState, NodeStatus,
    Reachability,
};
use shoal_types::{Cluster, Kind, Node, NodeId, Object};
use std::time::{Duration, SystemTime};

/// Docker's answer to a join with a wrong, foreign or rotated-away token (SwarmKit's gRPC
/// status text, which the docker CLI prints verbatim).
pub const INVALID_JOIN_TOKEN: &str =
    "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster";

fn store_err(e: StoreError) -> ClusterError {
    match e {
        StoreError::NoLeader | StoreError::Shutdown => ClusterError::Unavailable(e.to_string()),
        other => ClusterError::Internal(other.to_string()),
    }
}

fn cluster(h: &NodeHandler) -> Result<Cluster, ClusterError> {
    h.runtime
        .store
        .view(|t| t.cluster().cloned())
        .ok_or_else(|| ClusterError::Unavailable("this manager has no cluster state yet".into()))
}

fn cert_expiry(c: &Cluster) -> Duration {
    let ns = c
        .spec
        .ca_config
        .as_ref()
        .and_then(|ca| ca.node_cert_expiry)
        .filter(|v| *v > 0)
        .unwrap_or(shoal_types::cluster::DEFAULT_CERT_EXPIRY_NS);
    Duration::from_nanos(ns as u64)
}

/// Issues a node certificate with the cluster's current signer: the root key, or during a
/// root rotation the new root's key, followed by the cross-signed intermediate so that peers
/// that still trust only the old root verify it. Also used by a sole manager renewing itself.
pub fn sign(c: &Cluster, csr: &str, node: &str, role: Role) -> Result<String, ClusterError> {
    let (cert, key, intermediate) = match &c.root_ca.root_rotation {
        Some(r) => (&r.ca_cert, &r.ca_key, Some(r.cross_signed_ca_cert.as_str())),
        None => (&c.root_ca.ca_cert, &c.root_ca.ca_key, None),
    };
    let root = RootCa::from_pem(cert, key)
        .map_err(|e| ClusterError::Internal(format!("load root CA: {e}")))?;
    let leaf = root
        .sign_csr(
            csr,
            node,
            role,
            c.id.as_str(),
            cert_expiry(c),
            SystemTime::now(),
        )
        .map_err(|e| ClusterError::Invalid(format!("sign certificate: {e}")))?;
    Ok(shoal_ca::with_intermediate(&leaf, intermediate))
}

/// The managers as nodes need them: raft members with a cluster address.
pub fn managers(h: &NodeHandler) -> Vec<ManagerInfo> {
    h.runtime.store.view(|t| {
        t.nodes
            .iter()
            .filter(|n| n.raft_id != 0)
            .filter_map(|n| {
                let addr = n.manager_status.as_ref()?.addr.clone()?;
                Some(ManagerInfo {
                    node_id: n.id.clone(),
                    addr,
                    raft_id: n.raft_id,
                })
            })
            .collect()
    })
}

fn role_of(n: &Node) -> Role {
    if n.is_manager() {
        Role::Manager
    } else {
        Role::Worker
    }
}

fn random_raft_id() -> u64 {
    let mut rng = rand::rng();
    loop {
        let id: u64 = rng.random();
        if id != 0 {
            return id;
        }
    }
}

fn host_of(addr: &str) -> String {
    addr.rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_else(|| addr.to_string())
}

/// `/join/sign`.
pub async fn join(h: &NodeHandler, req: JoinRequest) -> Result<JoinResponse, ClusterError> {
    let c = cluster(h)?;
    // Both comparisons always run, each in constant time.
    let manager = shoal_ca::tokens_equal(&req.token, &c.join_tokens.manager);
    let worker = shoal_ca::tokens_equal(&req.token, &c.join_tokens.worker);
    let role = if manager {
        Role::Manager
    } else if worker {
        Role::Worker
    } else {
        tracing::info!(addr = %req.advertise_addr, "join refused: invalid token");
        return Err(ClusterError::Invalid(INVALID_JOIN_TOKEN.into()));
    };
    // Check the CSR before anything is written.
    let (node_id, raft_id) = {
        let mut rng = rand::rng();
        let id = NodeId::generate(&mut rng);
        (id, (role == Role::Manager).then(random_raft_id))
    };
    let cert_pem = sign(&c, &req.csr_pem, node_id.as_str(), role)?;
    let availability = match req.availability {
        NodeSpecAvailabilityEnum::EMPTY => NodeSpecAvailabilityEnum::ACTIVE,
        a => a,
    };
    let node = Node {
        id: node_id.clone(),
        spec: NodeSpec {
            name: None,
            labels: Some(Default::default()),
            role: Some(match role {
                Role::Manager => NodeSpecRoleEnum::MANAGER,
                Role::Worker => NodeSpecRoleEnum::WORKER,
            }),
            availability: Some(availability),
        },
        description: req.description.clone(),
        // READY once its agent opens a dispatcher session (which also records the engine's
        // description), so "Ready" means the node is really there.
        status: NodeStatus {
            state: Some(NodeState::UNKNOWN),
            message: Some("node is registering".into()),
            addr: Some(host_of(&req.advertise_addr)),
        },
        manager_status: raft_id.map(|_| ManagerStatus {
            leader: Some(false),
            reachability: Some(Reachability::UNKNOWN),
            addr: Some(req.advertise_addr.clone()),
        }),
        raft_id: raft_id.unwrap_or(0),
        ..Default::default()
    };
    h.runtime
        .store
        .update(|tx| tx.create(Object::Node(node)))
        .await
        .map_err(store_err)?;
    tracing::info!(node.id = %node_id, %role, addr = %req.advertise_addr, "node joined");
    Ok(JoinResponse {
        node_id,
        cluster_id: c.id.clone(),
        role,
        cert_pem,
        root_pem: c.root_ca.trust_bundle(),
        raft_id,
        managers: managers(h),
    })
}

/// `/cert/renew`: same node id, role from the store.
pub async fn renew(
    h: &NodeHandler,
    peer: NodePeer,
    req: RenewRequest,
) -> Result<RenewResponse, ClusterError> {
    let c = cluster(h)?;
    let node = h
        .runtime
        .store
        .view(|t| t.nodes.get(peer.node_id.as_str()).cloned())
        .ok_or_else(|| {
            ClusterError::Forbidden(format!("node {} is not in the swarm", peer.node_id))
        })?;
    let cert_pem = sign(&c, &req.csr_pem, peer.node_id.as_str(), role_of(&node))?;
    Ok(RenewResponse { cert_pem })
}

/// `/node/state`: desired role, raft id (reserved here for a promoted worker) and managers.
pub async fn node_state(
    h: &NodeHandler,
    peer: NodePeer,
    req: NodeStateRequest,
) -> Result<NodeStateResponse, ClusterError> {
    let id = peer.node_id.to_string();
    let node = h
        .runtime
        .store
        .view(|t| t.nodes.get(&id).cloned())
        .ok_or_else(|| {
            ClusterError::Forbidden(format!("node {id} has been removed from the swarm"))
        })?;
    let mut raft_id = node.raft_id;
    if node.is_manager() && raft_id == 0 {
        let new_id = random_raft_id();
        let addr = req.advertise_addr.clone();
        let (assigned, _) = h
            .runtime
            .store
            .update(|tx| {
                let mut n = tx.node(&id).ok_or(StoreError::NotFound {
                    kind: Kind::Node,
                    id: id.clone(),
                })?;
                if n.raft_id != 0 {
                    return Ok(n.raft_id);
                }
                n.raft_id = new_id;
                n.manager_status = Some(ManagerStatus {
                    leader: Some(false),
                    reachability: Some(Reachability::UNKNOWN),
                    addr: Some(addr.clone()),
                });
                tx.update(Object::Node(n))?;
                Ok(new_id)
            })
            .await
            .map_err(store_err)?;
        tracing::info!(node.id = %id, raft.id = assigned, "raft id reserved for a promoted node");
        raft_id = assigned;
    }
    if let Some(info) = req
        .tls_info
        .filter(|i| node.description.tls_info.as_ref() != Some(i))
    {
        record_tls_info(&h.runtime.store, &id, info)
            .await
            .map_err(store_err)?;
    }
    let c = cluster(h)?;
    Ok(NodeStateResponse {
        role: role_of(&node),
        raft_id,
        managers: managers(h),
        root_ca: c.root_ca.ca_cert.clone(),
        rotation_ca: c.root_ca.root_rotation.as_ref().map(|r| r.ca_cert.clone()),
    })
}

/// Stores what node `id` reported about its certificate in `Description.TLSInfo` (a write
/// only when it changed: after joins, renewals and root rotations).
pub async fn record_tls_info(
    store: &shoal_store::StoreHandle,
    id: &str,
    info: shoal_types::api::TlsInfo,
) -> Result<(), StoreError> {
    if store.view(|t| {
        t.nodes
            .get(id)
            .is_none_or(|n| n.description.tls_info.as_ref() == Some(&info))
    }) {
        return Ok(());
    }
    let id = id.to_string();
    store
        .update(move |tx| {
            let Some(mut n) = tx.node(&id) else {
                return Ok(());
            };
            if n.description.tls_info.as_ref() == Some(&info) {
                return Ok(());
            }
            n.description.tls_info = Some(info.clone());
            tx.update(Object::Node(n))
        })
        .await?;
    Ok(())
}

/// A fresh key and CSR for a node (join, renewal).
pub fn new_key() -> Result<(NodeKey, String), shoal_ca::CertError> {
    let key = NodeKey::generate()?;
    let csr = key.csr_pem()?;
    Ok((key, csr))
}
