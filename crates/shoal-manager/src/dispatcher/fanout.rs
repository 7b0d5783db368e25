//! The dispatcher's fan-out: one store watcher for all sessions. It reads each event once,
//! works out which nodes' assignment sets it may change ([`concerns_node`]) and which
//! networks it touches ([`touched_networks`]), and wakes the streams of those nodes and of
//! the nodes that have those networks; after a lagged watcher it wakes every stream (each
//! re-reads its set).

use super::Registration;
use super::assignments::{concerns_node, touched_networks};
use crate::error::ControllerError;
use parking_lot::Mutex;
use shoal_store::{Event, StoreHandle, WatchError, Watcher};
use shoal_types::{NodeId, Object};
use std::collections::{BTreeSet, HashMap, HashSet};
use tokio_util::sync::CancellationToken;

/// Most events read before the woken streams are notified, so a burst takes the registration
/// lock once per batch rather than once per event.
const MAX_EVENTS_PER_ROUND: usize = 4096;

/// The nodes whose sets `event` may change (the task's node before and after).
fn concerned<'a>(event: &'a Event, out: &mut HashSet<&'a NodeId>) {
    if let Object::Node(n) = &event.object {
        // Its own addresses decide which networks it is sent.
        out.insert(&n.id);
        return;
    }
    let Object::Task(new) = &event.object else {
        return;
    };
    let old = match &event.old {
        Some(Object::Task(t)) => Some(&t.node_id),
        _ => None,
    };
    for node in std::iter::once(&new.node_id).chain(old) {
        if !node.is_empty() && concerns_node(event, node) {
            out.insert(node);
        }
    }
}

/// Runs until `cancel` fires; an error only if the store goes away.
pub(super) async fn run(
    store: &StoreHandle,
    nodes: &Mutex<HashMap<NodeId, Registration>>,
    cancel: &CancellationToken,
    mut watcher: Watcher,
) -> Result<(), ControllerError> {
    loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            ev = watcher.recv_shared() => ev,
        };
        let mut batch = Vec::new();
        let mut lagged = false;
        let mut next = Some(first);
        while let Some(ev) = next.take() {
            match ev {
                Ok(ev) => batch.push(ev),
                Err(WatchError::Lagged) => {
                    tracing::info!("dispatcher watcher lagged; refreshing every session");
                    watcher = store.store.watch();
                    lagged = true;
                    break;
                }
                Err(WatchError::Closed) => {
                    return Err(ControllerError::WatchClosed {
                        controller: "dispatcher",
                    });
                }
            }
            if batch.len() < MAX_EVENTS_PER_ROUND {
                next = watcher.try_recv_shared();
            }
        }
        let nodes = nodes.lock();
        if lagged {
            for r in nodes.values() {
                r.changed.notify_one();
            }
            continue;
        }
        let mut woken = HashSet::new();
        let mut networks = BTreeSet::new();
        let mut everyone = false;
        for ev in &batch {
            concerned(ev, &mut woken);
            touched_networks(ev, &mut networks, &mut everyone);
        }
        for id in woken {
            if let Some(r) = nodes.get(id) {
                r.changed.notify_one();
            }
        }
        if everyone || !networks.is_empty() {
            for r in nodes.values() {
                if everyone || !r.networks.lock().is_disjoint(&networks) {
                    r.changed.notify_one();
                }
            }
        }
    }
}
