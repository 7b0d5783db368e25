//! Node liveness in the store: READY on registration, UNKNOWN when a new dispatcher starts,
//! DOWN when heartbeats stop.

use super::Registration;
use crate::controller;
use crate::error::DispatcherError;
use parking_lot::Mutex;
use shoal_store::{StoreError, StoreHandle};
use shoal_types::api::{NodeState, NodeStatus};
use shoal_types::dispatch::SessionRequest;
use shoal_types::{NodeId, Object};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Heartbeat periods a node may miss before it is marked DOWN (SwarmKit
/// `defaultGracePeriodMultiplier`).
pub const GRACE_MULTIPLIER: u32 = 3;
/// Periods a node known before a leader change gets to reconnect (SwarmKit
/// `gracePeriodMultiplierUnknown` × the grace multiplier).
pub const UNKNOWN_GRACE_MULTIPLIER: u32 = 2 * GRACE_MULTIPLIER;
/// `Status.Message` of a node marked DOWN by the dispatcher.
pub const HEARTBEAT_FAILURE: &str = "heartbeat failure";
/// `Status.Message` of a node moved to UNKNOWN by a new dispatcher (SwarmKit's words).
pub const UNKNOWN_MESSAGE: &str =
    "Node moved to \"unknown\" state due to leadership change in cluster";

/// The heartbeat period from the cluster object.
pub fn period(store: &StoreHandle) -> Duration {
    let ns = store
        .view(|t| t.cluster().map(|c| c.heartbeat_period_ns()))
        .unwrap_or(shoal_types::cluster::DEFAULT_HEARTBEAT_NS);
    Duration::from_nanos(ns.max(1) as u64)
}

/// Records the node's description and tunnel key and marks it READY (keeping its address).
pub(super) async fn mark_ready(
    store: &StoreHandle,
    req: &SessionRequest,
) -> Result<(), DispatcherError> {
    let (found, _) = controller::update_retrying(store, |tx| {
        let Some(mut node) = tx.node(req.node_id.as_str()) else {
            return Ok(false);
        };
        let status = NodeStatus {
            state: Some(NodeState::READY),
            message: None,
            addr: node.status.addr.clone(),
        };
        // The agent's description has no TLS info: that comes from the membership watch
        // (`/node/state`), so keep what it reported.
        let mut description = req.description.clone();
        if description.tls_info.is_none() {
            description.tls_info = node.description.tls_info.clone();
        }
        if node.description == description
            && node.status == status
            && node.tunnel_key == req.tunnel_key
        {
            return Ok(true);
        }
        if node.tunnel_key != req.tunnel_key {
            tracing::info!(node.id = %req.node_id, key = %req.tunnel_key, "node published a new tunnel key");
        }
        node.description = description;
        node.status = status;
        node.tunnel_key = req.tunnel_key.clone();
        tx.update(Object::Node(node))?;
        Ok(true)
    })
    .await?;
    if found {
        Ok(())
    } else {
        Err(DispatcherError::NodeNotRegistered(req.node_id.clone()))
    }
}

/// Moves every node that is not DOWN to UNKNOWN and registers it with the longer grace: it
/// becomes READY again when its agent opens a session, DOWN if it does not in time.
pub(super) async fn mark_unknown(
    store: &StoreHandle,
    nodes: &Mutex<HashMap<NodeId, Registration>>,
    period: Duration,
) -> Result<(), StoreError> {
    let ready: Vec<NodeId> = store.view(|t| {
        t.nodes
            .iter()
            .filter(|n| n.status.state != Some(NodeState::DOWN))
            .map(|n| n.id.clone())
            .collect()
    });
    let expires = Instant::now() + period * UNKNOWN_GRACE_MULTIPLIER;
    {
        let mut nodes = nodes.lock();
        for id in &ready {
            nodes.entry(id.clone()).or_insert_with(|| Registration {
                session_id: None,
                expires,
                cancel: tokio_util::sync::CancellationToken::new(),
                changed: Default::default(),
                networks: Default::default(),
            });
        }
    }
    controller::update_in_batches(store, &ready, |tx, id| {
        let Some(mut node) = tx.node(id.as_str()) else {
            return Ok(());
        };
        if matches!(
            node.status.state,
            Some(NodeState::DOWN) | Some(NodeState::UNKNOWN)
        ) {
            return Ok(());
        }
        tracing::info!(node.id = %id, "node state unknown after a leadership change");
        node.status.state = Some(NodeState::UNKNOWN);
        node.status.message = Some(UNKNOWN_MESSAGE.to_string());
        tx.update(Object::Node(node))
    })
    .await
}

/// Marks `ids` DOWN with "heartbeat failure", in transactions sized by count and bytes (see
/// [`controller::update_in_batches`]).
pub(super) async fn mark_down(store: &StoreHandle, ids: &[NodeId]) -> Result<(), StoreError> {
    controller::update_in_batches(store, ids, |tx, id| {
        let Some(mut node) = tx.node(id.as_str()) else {
            return Ok(());
        };
        if node.status.state == Some(NodeState::DOWN) {
            return Ok(());
        }
        tracing::warn!(node.id = %id, "node missed its heartbeats; marking it down");
        node.status.state = Some(NodeState::DOWN);
        node.status.message = Some(HEARTBEAT_FAILURE.to_string());
        tx.update(Object::Node(node))
    })
    .await
}
