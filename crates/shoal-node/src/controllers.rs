//! The leader-only controllers this node runs while its manager leads.

use crate::manager::LeaderHook;
use std::sync::Arc;

/// The hook the daemon gives its manager: runs the controllers until cancelled.
pub fn hook() -> LeaderHook {
    Arc::new(|_store, _node_id, cancel| {
        Box::pin(async move {
            cancel.cancelled().await;
        })
    })
}
