//! Errors of the leader-only controllers and of the dispatcher.

use shoal_store::StoreError;
use shoal_types::NodeId;

/// Why a controller loop stopped. Loops log and retry failed writes themselves; they only
/// return when the store goes away.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The store's event stream closed: the store is being torn down.
    #[error("{controller}: the store's event stream closed")]
    WatchClosed { controller: &'static str },
}

/// Errors the dispatcher returns to a node's agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatcherError {
    /// The node is not in the store (it never joined, or was removed).
    #[error("node {0} is not registered")]
    NodeNotRegistered(NodeId),
    /// The session id is not the node's current one: the agent must open a new session.
    #[error("session for node {0} is invalid; open a new session")]
    SessionInvalid(NodeId),
    /// The dispatcher stopped (this manager is no longer the leader).
    #[error("dispatcher is stopped")]
    Stopped,
    /// A store write failed.
    #[error("dispatcher: {0}")]
    Store(#[from] StoreError),
}
