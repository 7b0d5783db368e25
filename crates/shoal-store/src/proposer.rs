//! Who commits proposals: raft in a real manager, [`LocalProposer`] in controller tests.

use crate::error::StoreError;
use crate::proposal::Proposal;
use crate::store::MemoryStore;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Commits a proposal and applies it to the store, returning the index it was applied at.
///
/// Contract: when `propose` returns `Ok(index)`, the local store has applied every entry up to
/// and including `index` (read-your-writes for the caller). On `Err`, nothing was applied:
/// either the proposal was refused at apply time (conflict, version) or it never committed.
pub trait Proposer: Send + Sync + 'static {
    fn propose(&self, proposal: Proposal) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Applies proposals straight to a store, with its own index counter. No durability; used by
/// tests of controllers and by the benchmark's baseline.
pub struct LocalProposer {
    store: Arc<MemoryStore>,
    next: tokio::sync::Mutex<u64>,
}

impl LocalProposer {
    pub fn new(store: Arc<MemoryStore>) -> Self {
        let next = store.applied_index() + 1;
        Self {
            store,
            next: tokio::sync::Mutex::new(next),
        }
    }
}

impl Proposer for LocalProposer {
    fn propose(&self, proposal: Proposal) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut next = self.next.lock().await;
            let index = *next;
            *next += 1;
            // A refused proposal still consumes its index, as a committed raft entry would.
            self.store.apply(index, &proposal)?;
            Ok(index)
        })
    }
}
