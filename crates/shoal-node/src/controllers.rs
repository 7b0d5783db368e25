//! The leader-only controllers this node runs while its manager leads, and the slot through
//! which the local agent and the cluster channel find the current dispatcher.

use crate::manager::LeaderHook;
use parking_lot::RwLock;
use shoal_manager::{Controllers, Dispatcher};
use std::sync::Arc;

/// The dispatcher of the controllers running on this node, if it leads.
pub type DispatcherSlot = Arc<RwLock<Option<Dispatcher>>>;

/// The hook the daemon gives its manager: runs the controllers and the role manager until
/// cancelled, publishing their dispatcher in `slot` meanwhile.
pub fn hook(slot: DispatcherSlot) -> LeaderHook {
    Arc::new(move |store, _node_id, raft, cancel| {
        let slot = slot.clone();
        Box::pin(async move {
            let controllers = Controllers::spawn(store.clone(), cancel.clone());
            *slot.write() = Some(controllers.dispatcher());
            crate::role_manager::run(raft, store, cancel.clone()).await;
            cancel.cancelled().await;
            *slot.write() = None;
            controllers.shutdown().await;
        })
    })
}
