//! Who the peer is, and what it may call: all authorisation of the cluster channel.
//!
//! The TLS layer has already verified any certificate against the cluster root, so here we
//! only read its identity (CN node id, OU role, O cluster id) and apply SwarmKit's rules:
//! anonymous peers may only join; an authenticated peer must belong to this cluster and not
//! have been removed; raft and API forwarding are for managers; a node speaks only for itself
//! to the dispatcher.
//!
//! A certificate's OU says what the node was when it was issued, and a certificate lives for
//! months: so for the manager endpoints the OU is necessary but not sufficient. The caller
//! must also stand as a manager *now* in this manager's store and raft membership
//! ([`Standing`]): raft RPCs need the caller in the raft group (a demoted member is still in
//! it until the leader removes it, and must keep answering raft until then); proposals and
//! forwarded API calls need that and the node's desired role still manager, so a demoted or
//! removed node is refused at once, and nothing outside the raft group can propose.

use rustls::pki_types::CertificateDer;
use shoal_ca::{Role, peer_identity};
use shoal_types::{ClusterId, NodeId};

use crate::error::ClusterError;
use crate::handler::ClusterHandler;
use crate::wire::path;

/// A peer that presented a valid node certificate of this cluster's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePeer {
    pub node_id: NodeId,
    pub role: Role,
    pub cluster_id: ClusterId,
}

/// The identity of a connection, put into every request's extensions by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerIdentity {
    Node(NodePeer),
    /// No client certificate: a node that is joining.
    Anonymous,
}

impl PeerIdentity {
    /// The identity of a connection whose chain rustls has verified (`None`: anonymous).
    /// Errors if the leaf is not a node certificate (no CN/OU/O, unknown role).
    pub fn from_chain(chain: Option<&[CertificateDer<'_>]>) -> Result<Self, shoal_ca::CertError> {
        let Some(chain) = chain.filter(|c| !c.is_empty()) else {
            return Ok(PeerIdentity::Anonymous);
        };
        let info = peer_identity(chain)?;
        Ok(PeerIdentity::Node(NodePeer {
            node_id: NodeId(info.node_id),
            role: info.role,
            cluster_id: ClusterId(info.cluster_id),
        }))
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone that completed the TLS handshake, with or without a certificate.
    Anyone,
    /// Nodes of this cluster that have not been removed.
    Node,
    /// Managers of this cluster in this manager's raft membership (raft RPCs).
    RaftMember,
    /// Managers of this cluster in the raft membership whose desired role is still manager
    /// (proposals, forwarded API calls).
    Manager,
}

/// What this manager's store and raft say, now, about a peer with a manager certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// This manager has not received the cluster's state yet (it is joining, and the leader
    /// is about to replicate to it): the certificate is all there is to go on.
    Unknown,
    Known {
        /// The node object exists and its desired role (spec) is manager.
        manager: bool,
        /// The node's raft id is a voter or learner of the current membership.
        raft_member: bool,
    },
}

/// The access rule of each endpoint; `None` for unknown paths (the router answers 404).
pub fn access_for(p: &str) -> Option<Access> {
    match p {
        path::JOIN_CA | path::JOIN_SIGN => Some(Access::Anyone),
        path::CERT_RENEW
        | path::NODE_STATE
        | path::DISPATCHER_SESSION
        | path::DISPATCHER_STATUS
        | path::DISPATCHER_HEARTBEAT
        | path::DISPATCHER_ATTACHMENTS => Some(Access::Node),
        path::RAFT_APPEND | path::RAFT_VOTE | path::RAFT_PRE_VOTE | path::RAFT_SNAPSHOT => {
            Some(Access::RaftMember)
        }
        path::RAFT_PROPOSE | path::API_FORWARD => Some(Access::Manager),
        _ => None,
    }
}

/// Decide whether `peer` may call `endpoint` (which needs `access`).
pub fn authorize(
    access: Access,
    peer: &PeerIdentity,
    handler: &dyn ClusterHandler,
    endpoint: &str,
) -> Result<(), ClusterError> {
    if access == Access::Anyone {
        return Ok(());
    }
    let PeerIdentity::Node(node) = peer else {
        return Err(ClusterError::Forbidden(format!(
            "{endpoint} requires a node certificate; only the join endpoints accept anonymous peers"
        )));
    };
    let cluster = handler.cluster_id();
    if node.cluster_id != cluster {
        return Err(ClusterError::Forbidden(format!(
            "node {} belongs to cluster {}, not {cluster}",
            node.node_id, node.cluster_id
        )));
    }
    if !handler.node_allowed(&node.node_id) {
        return Err(ClusterError::Forbidden(format!(
            "node {} has been removed from the swarm",
            node.node_id
        )));
    }
    if access == Access::Node {
        return Ok(());
    }
    if node.role != Role::Manager {
        return Err(ClusterError::Forbidden(format!(
            "node {} is a {}; {endpoint} is only for managers",
            node.node_id, node.role
        )));
    }
    check_standing(
        access,
        handler.manager_standing(&node.node_id),
        node,
        endpoint,
    )
}

/// The store's and raft's word on a manager certificate (see the module docs).
pub fn check_standing(
    access: Access,
    standing: Standing,
    node: &NodePeer,
    endpoint: &str,
) -> Result<(), ClusterError> {
    let Standing::Known {
        manager,
        raft_member,
    } = standing
    else {
        return Ok(());
    };
    if access == Access::Manager && !manager {
        return Err(ClusterError::Forbidden(format!(
            "node {} is no longer a manager (its certificate predates a demotion); {endpoint} is only for managers",
            node.node_id
        )));
    }
    if matches!(access, Access::Manager | Access::RaftMember) && !raft_member {
        return Err(ClusterError::Forbidden(format!(
            "node {} is not a member of the raft group; {endpoint} is only for raft members",
            node.node_id
        )));
    }
    Ok(())
}

/// A node may only open sessions, report status and heartbeat as itself.
pub fn require_self(peer: &NodePeer, claimed: &NodeId, endpoint: &str) -> Result<(), ClusterError> {
    if &peer.node_id != claimed {
        return Err(ClusterError::Forbidden(format!(
            "node {} may not call {endpoint} for node {claimed}",
            peer.node_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_an_access_rule() {
        let all = [
            (path::JOIN_CA, Access::Anyone),
            (path::JOIN_SIGN, Access::Anyone),
            (path::CERT_RENEW, Access::Node),
            (path::DISPATCHER_SESSION, Access::Node),
            (path::DISPATCHER_STATUS, Access::Node),
            (path::DISPATCHER_HEARTBEAT, Access::Node),
            (path::DISPATCHER_ATTACHMENTS, Access::Node),
            (path::RAFT_APPEND, Access::RaftMember),
            (path::RAFT_VOTE, Access::RaftMember),
            (path::RAFT_PRE_VOTE, Access::RaftMember),
            (path::RAFT_SNAPSHOT, Access::RaftMember),
            (path::API_FORWARD, Access::Manager),
            (path::RAFT_PROPOSE, Access::Manager),
            (path::NODE_STATE, Access::Node),
        ];
        for (p, a) in all {
            assert_eq!(access_for(p), Some(a), "{p}");
        }
        assert_eq!(access_for("/nope"), None);
    }

    fn manager(id: &str) -> NodePeer {
        NodePeer {
            node_id: NodeId::from(id),
            role: Role::Manager,
            cluster_id: ClusterId::from("c"),
        }
    }

    fn forbidden(r: Result<(), ClusterError>, needle: &str) {
        match r {
            Err(ClusterError::Forbidden(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a refusal mentioning {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_demoted_manager_may_finish_raft_but_not_propose() {
        let demoted = Standing::Known {
            manager: false,
            raft_member: true,
        };
        let m = manager("m2");
        assert!(check_standing(Access::RaftMember, demoted, &m, path::RAFT_VOTE).is_ok());
        forbidden(
            check_standing(Access::Manager, demoted, &m, path::RAFT_PROPOSE),
            "no longer a manager",
        );
    }

    #[test]
    fn a_manager_outside_the_raft_group_is_refused_everything_raft() {
        let outside = Standing::Known {
            manager: true,
            raft_member: false,
        };
        let m = manager("m3");
        forbidden(
            check_standing(Access::RaftMember, outside, &m, path::RAFT_APPEND),
            "not a member of the raft group",
        );
        forbidden(
            check_standing(Access::Manager, outside, &m, path::RAFT_PROPOSE),
            "not a member of the raft group",
        );
    }

    #[test]
    fn a_current_manager_and_a_joining_managers_view_allow_the_certificate() {
        let m = manager("m1");
        let current = Standing::Known {
            manager: true,
            raft_member: true,
        };
        assert!(check_standing(Access::Manager, current, &m, path::RAFT_PROPOSE).is_ok());
        assert!(check_standing(Access::Manager, Standing::Unknown, &m, path::RAFT_PROPOSE).is_ok());
    }

    #[test]
    fn a_node_speaks_only_for_itself() {
        let me = NodePeer {
            node_id: NodeId::from("n1"),
            role: Role::Worker,
            cluster_id: ClusterId::from("c"),
        };
        assert!(require_self(&me, &NodeId::from("n1"), "x").is_ok());
        assert!(matches!(
            require_self(&me, &NodeId::from("n2"), "x"),
            Err(ClusterError::Forbidden(_))
        ));
    }
}
