//! Sizing controller writes so every transaction fits in one raft entry, and keeping one
//! service's failure from stopping the others.
//!
//! A transaction is limited twice: by count ([`MAX_CHANGES_PER_TX`], SwarmKit's limit) and by
//! bytes (the store's `MAX_PROPOSAL_BYTES`). Counting alone is not enough: two hundred tasks of
//! a service with a 9 KB spec are over the byte limit. [`BatchSize`] starts at the count limit,
//! lowered by an estimate of each change's size when the caller has one, and halves whenever
//! the store refuses a transaction as too large, until it fits; only a single change that is
//! too large on its own is an error (and the control API refuses such objects at create and
//! update, so controllers do not meet them).

use crate::controller::update_retrying;
use shoal_store::{MAX_PROPOSAL_BYTES, StoreError, StoreHandle, Tx};
use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;
use tokio::time::Instant;

/// SwarmKit's limit on changes in one batched transaction (`MaxChangesPerTransaction`).
pub const MAX_CHANGES_PER_TX: usize = 200;

/// Bytes a controller aims to put in one transaction when it can estimate its changes' sizes:
/// three quarters of the limit, so changes a little larger than the estimate still fit.
pub const TX_BYTES_TARGET: usize = MAX_PROPOSAL_BYTES / 4 * 3;

/// Pause between two passes of an orchestrator while a service still has paced creations
/// left: gives other controllers, the API and raft their turn, and bounds creation at
/// [`MAX_CHANGES_PER_TX`] tasks per service per pass (20,000 a second, above what raft
/// commits, so a normal service does not wait on it).
pub const PACED_PASS_INTERVAL: Duration = Duration::from_millis(10);

/// Services with paced work left, and when the next paced pass is due. Events about them
/// still reconcile them at once (a scale-down or removal is never kept waiting); only the
/// continuation of their paced work waits for the interval.
#[derive(Debug)]
pub struct Paced<K> {
    keys: BTreeSet<K>,
    due: Option<Instant>,
}

impl<K: Ord> Default for Paced<K> {
    fn default() -> Self {
        Self {
            keys: BTreeSet::new(),
            due: None,
        }
    }
}

impl<K: Ord> Paced<K> {
    /// Takes the keys whose next step is due at `now`.
    pub fn take_due(&mut self, now: Instant) -> BTreeSet<K> {
        match self.due {
            Some(due) if due <= now => {
                self.due = None;
                std::mem::take(&mut self.keys)
            }
            _ => BTreeSet::new(),
        }
    }

    /// Whether `key` has paced work waiting.
    pub fn contains(&self, key: &K) -> bool {
        self.keys.contains(key)
    }

    /// When the next paced pass is due, if any work is left.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.due
    }

    fn add(&mut self, keys: BTreeSet<K>, now: Instant) {
        if keys.is_empty() {
            return;
        }
        self.keys.extend(keys);
        self.due.get_or_insert(now + PACED_PASS_INTERVAL);
    }
}

/// How many changes of about `bytes_each` bytes go in one transaction: at most
/// [`MAX_CHANGES_PER_TX`], at least one.
pub fn changes_that_fit(bytes_each: usize) -> usize {
    (TX_BYTES_TARGET / bytes_each.max(1)).clamp(1, MAX_CHANGES_PER_TX)
}

/// The serialized size of `value` as it travels in a proposal (0 if it cannot be serialized,
/// which the store then reports itself).
pub fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0)
}

/// How many changes go in one transaction: halves whenever a transaction is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize {
    limit: usize,
}

impl Default for BatchSize {
    fn default() -> Self {
        Self::new(MAX_CHANGES_PER_TX)
    }
}

impl BatchSize {
    /// Starts at `limit` changes per transaction (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Runs `stage(tx, limit)`, which must stage at most `limit` changes, in a transaction
    /// (retried on version conflicts). When the store refuses it as too large, halves the
    /// limit and runs it again; the smaller limit is kept for later calls. Fails with
    /// `TooLarge` only when a single change does not fit.
    pub async fn update<R>(
        &mut self,
        store: &StoreHandle,
        mut stage: impl FnMut(&mut Tx<'_>, usize) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        loop {
            let limit = self.limit;
            match update_retrying(store, |tx| stage(tx, limit)).await {
                Ok((value, _)) => return Ok(value),
                Err(StoreError::TooLarge { size, limit: max }) if limit > 1 => {
                    self.limit = limit / 2;
                    tracing::debug!(
                        size,
                        max,
                        changes = limit,
                        next = self.limit,
                        "transaction too large; splitting it"
                    );
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Stages the first items of `items` (as many as the limit allows) with `stage` in one
    /// transaction, splitting as [`update`](Self::update) does. Returns how many items it
    /// consumed and `stage`'s value; an empty `items` stages nothing.
    pub async fn update_chunk<T, R>(
        &mut self,
        store: &StoreHandle,
        items: &[T],
        mut stage: impl FnMut(&mut Tx<'_>, &[T]) -> Result<R, StoreError>,
    ) -> Result<(usize, R), StoreError> {
        let mut used = 0;
        let value = self
            .update(store, |tx, limit| {
                used = limit.min(items.len());
                stage(tx, &items[..used])
            })
            .await?;
        Ok((used, value))
    }
}

/// The outcome of one reconcile pass over a set of keys (services), each reconciled on its
/// own: a key whose reconcile fails is kept for a retry while the others go on, and a key with
/// more work than one pass may do (creation is paced) is kept for the next pass.
#[derive(Debug)]
pub struct PassOutcome<K> {
    controller: &'static str,
    more: BTreeSet<K>,
    failed: BTreeSet<K>,
    error: Option<StoreError>,
}

impl<K: Ord + Display> PassOutcome<K> {
    pub fn new(controller: &'static str) -> Self {
        Self {
            controller,
            more: BTreeSet::new(),
            failed: BTreeSet::new(),
            error: None,
        }
    }

    /// Records the result of reconciling `key`: `Ok(true)` when work is left for another pass.
    pub fn record(&mut self, key: K, result: Result<bool, StoreError>) {
        match result {
            Ok(false) => {}
            Ok(true) => {
                self.more.insert(key);
            }
            Err(err) => {
                tracing::warn!(controller = self.controller, service.id = %key, error = %err, "reconciling this service failed; the others go on");
                self.failed.insert(key);
                self.error.get_or_insert(err);
            }
        }
    }

    /// Puts keys that failed back into `dirty` (retried on the next reconcile) and keys with
    /// paced work left into `paced` (continued after [`PACED_PASS_INTERVAL`]). Returns the
    /// first error, if any key failed.
    pub fn finish(
        self,
        dirty: &mut BTreeSet<K>,
        paced: &mut Paced<K>,
        now: Instant,
    ) -> Result<(), StoreError> {
        dirty.extend(self.failed);
        paced.add(self.more, now);
        self.error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_store::{LocalProposer, MemoryStore};
    use shoal_types::{Object, Task};
    use std::sync::Arc;

    fn store() -> StoreHandle {
        let store = Arc::new(MemoryStore::new());
        StoreHandle::new(store.clone(), Arc::new(LocalProposer::new(store)))
    }

    /// A task of about `bytes` bytes.
    fn task(i: usize, bytes: usize) -> Object {
        let mut t = Task {
            id: format!("t{i}").into(),
            ..Default::default()
        };
        t.service_annotations.name = "x".repeat(bytes);
        Object::Task(t)
    }

    #[test]
    fn the_count_of_changes_that_fit_is_bounded_both_ways() {
        assert_eq!(changes_that_fit(0), MAX_CHANGES_PER_TX);
        assert_eq!(changes_that_fit(100), MAX_CHANGES_PER_TX);
        assert_eq!(changes_that_fit(16 * 1024), TX_BYTES_TARGET / (16 * 1024));
        assert_eq!(changes_that_fit(MAX_PROPOSAL_BYTES * 2), 1);
    }

    #[tokio::test]
    async fn a_batch_too_large_in_bytes_is_split_until_it_fits() {
        let store = store();
        // 200 objects of 16 KiB: 3.2 MB, over twice the limit in one transaction.
        let items: Vec<usize> = (0..200).collect();
        let mut size = BatchSize::default();
        let mut rest = &items[..];
        let mut transactions = 0;
        while !rest.is_empty() {
            let (n, ()) = size
                .update_chunk(&store, rest, |tx, chunk| {
                    chunk
                        .iter()
                        .try_for_each(|i| tx.create(task(*i, 16 * 1024)))
                })
                .await
                .expect("every chunk fits once split");
            rest = &rest[n..];
            transactions += 1;
        }
        assert_eq!(size.limit(), 50, "halved twice: 200 → 100 → 50");
        assert_eq!(transactions, 4);
        assert_eq!(store.view(|t| t.tasks.iter().count()), 200);
    }

    #[tokio::test]
    async fn a_single_change_that_can_never_fit_is_refused_and_nothing_is_written() {
        let store = store();
        let mut size = BatchSize::default();
        let err = size
            .update(&store, |tx, _| tx.create(task(1, MAX_PROPOSAL_BYTES + 1)))
            .await
            .expect_err("too large on its own");
        assert!(
            matches!(err, StoreError::TooLarge { limit, .. } if limit == MAX_PROPOSAL_BYTES),
            "{err:?}"
        );
        assert_eq!(size.limit(), 1);
        assert_eq!(store.view(|t| t.tasks.iter().count()), 0);
    }

    #[test]
    fn one_failing_key_does_not_hide_the_others_outcomes() {
        let mut pass = PassOutcome::new("test");
        pass.record("a".to_string(), Ok(false));
        pass.record("b".to_string(), Err(StoreError::NoLeader));
        pass.record("c".to_string(), Ok(true));
        pass.record("d".to_string(), Ok(false));
        let (mut dirty, mut paced) = (BTreeSet::new(), Paced::default());
        let now = Instant::now();
        let result = pass.finish(&mut dirty, &mut paced, now);
        assert_eq!(result, Err(StoreError::NoLeader));
        assert_eq!(dirty, BTreeSet::from(["b".to_string()]), "retried at once");
        assert_eq!(paced.next_wakeup(), Some(now + PACED_PASS_INTERVAL));
        assert!(paced.take_due(now).is_empty(), "paced work waits");
        assert_eq!(
            paced.take_due(now + PACED_PASS_INTERVAL),
            BTreeSet::from(["c".to_string()])
        );
        assert_eq!(paced.next_wakeup(), None);
    }
}
