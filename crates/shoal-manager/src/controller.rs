//! The loop every leader-only controller runs, and the store-writing helpers they share.
//!
//! A controller is level-triggered: events only mark keys dirty, and `reconcile` reads a fresh
//! view and writes what the pure decision asks for. So a missed or repeated event costs a
//! little work, never a wrong state, and a watcher that lagged simply marks everything dirty
//! and reconciles from a new view.

use crate::error::ControllerError;
use shoal_store::{Event, StoreError, StoreHandle, Tx, WatchError, Watcher};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a controller waits before retrying after a failed reconcile (no leader, a write
/// refused for a reason other than a version conflict).
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Attempts at a transaction that keeps losing optimistic-concurrency races.
const MAX_CONFLICT_RETRIES: usize = 16;

/// Most events handled before reconciling, so a burst does not starve the writes.
const MAX_EVENTS_PER_ROUND: usize = 10_000;

pub use crate::batch::MAX_CHANGES_PER_TX;

/// One leader-only controller, driven by [`run_controller`].
pub trait Controller: Send {
    /// Name for logs and errors.
    const NAME: &'static str;

    /// Notes what `event` makes dirty. Must not block.
    fn observe(&mut self, event: &Event);

    /// Marks everything dirty: at start and after the watcher lagged.
    fn mark_all(&mut self);

    /// Reconciles what is dirty against a fresh view, writing through `store`. Called after
    /// every round of events and when [`next_wakeup`](Self::next_wakeup) is due.
    fn reconcile(
        &mut self,
        store: &StoreHandle,
        now: Instant,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// When the controller wants to run again without an event (a restart delay).
    fn next_wakeup(&self) -> Option<Instant> {
        None
    }

    /// How long to keep collecting events before reconciling; `None` reconciles after every
    /// round of events.
    fn debounce(&self) -> Option<Debounce> {
        None
    }
}

/// Events are collected until none came for `gap`, or for at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    pub gap: Duration,
    pub max: Duration,
}

/// Runs `controller` until `cancel` fires: subscribe, reconcile everything once, then react to
/// events, resyncing when the watcher lags. Returns an error only if the store goes away.
pub async fn run_controller<C: Controller>(
    mut controller: C,
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), ControllerError> {
    let mut watcher = store.store.watch();
    controller.mark_all();
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        let retry_at = match controller.reconcile(&store, Instant::now()).await {
            Ok(()) => None,
            Err(err) => {
                tracing::warn!(controller = C::NAME, error = %err, "reconcile failed; retrying");
                controller.mark_all();
                Some(Instant::now() + RETRY_AFTER)
            }
        };
        let wake = match (controller.next_wakeup(), retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Ok(()),
            event = watcher.recv_shared() => {
                observe_round(&mut controller, &store, &mut watcher, event)?;
                if let Some(d) = controller.debounce() {
                    let until = Instant::now() + d.max;
                    loop {
                        tokio::select! {
                            biased;
                            _ = cancel.cancelled() => return Ok(()),
                            _ = tokio::time::sleep_until(until) => break,
                            _ = tokio::time::sleep(d.gap) => break,
                            event = watcher.recv_shared() => {
                                observe_round(&mut controller, &store, &mut watcher, event)?;
                            }
                        }
                    }
                }
            }
            _ = sleep_until_opt(wake) => {}
        }
    }
}

/// Hands `first` and whatever else is queued (up to [`MAX_EVENTS_PER_ROUND`]) to the
/// controller; after a lag, subscribes again and marks everything dirty.
fn observe_round<C: Controller>(
    controller: &mut C,
    store: &StoreHandle,
    watcher: &mut Watcher,
    first: Result<std::sync::Arc<Event>, WatchError>,
) -> Result<(), ControllerError> {
    let mut next = Some(first);
    let mut handled = 0;
    while let Some(event) = next.take() {
        match event {
            Ok(event) => controller.observe(&event),
            Err(WatchError::Lagged) => {
                tracing::info!(
                    controller = C::NAME,
                    "watcher lagged; resyncing from a fresh view"
                );
                *watcher = store.store.watch();
                controller.mark_all();
                return Ok(());
            }
            Err(WatchError::Closed) => {
                return Err(ControllerError::WatchClosed {
                    controller: C::NAME,
                });
            }
        }
        handled += 1;
        if handled < MAX_EVENTS_PER_ROUND {
            next = watcher.try_recv_shared();
        }
    }
    Ok(())
}

/// Sleeps until `at`, or forever when there is nothing to wait for.
pub async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs `f` in a transaction, re-running it on a fresh view when the write loses an
/// optimistic-concurrency race (`OutOfSequence`). `f` reads everything it changes from the
/// transaction, so a re-run decides again on current data.
pub async fn update_retrying<R>(
    store: &StoreHandle,
    mut f: impl FnMut(&mut Tx<'_>) -> Result<R, StoreError>,
) -> Result<(R, u64), StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.update(|tx| f(tx)).await {
            Err(StoreError::OutOfSequence { kind, id }) if attempt < MAX_CONFLICT_RETRIES => {
                tracing::debug!(kind = kind.noun(), id = %id, attempt, "write conflict; retrying on a fresh view");
                tokio::task::yield_now().await;
            }
            other => return other,
        }
    }
}

/// Applies `apply` to `items` in transactions of at most [`MAX_CHANGES_PER_TX`] items each,
/// fewer when that many are too large in bytes (see [`BatchSize`](crate::batch::BatchSize)),
/// each retried on conflicts. `apply` re-reads what it changes and skips items that no longer
/// need the change.
pub async fn update_in_batches<T>(
    store: &StoreHandle,
    items: &[T],
    mut apply: impl FnMut(&mut Tx<'_>, &T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut size = crate::batch::BatchSize::default();
    let mut rest = items;
    while !rest.is_empty() {
        let (done, ()) = size
            .update_chunk(store, rest, |tx, chunk| {
                chunk.iter().try_for_each(|item| apply(tx, item))
            })
            .await?;
        rest = &rest[done..];
    }
    Ok(())
}

/// The RFC 3339 timestamp of "now" by the store's clock, for task statuses.
pub fn timestamp(store: &StoreHandle) -> String {
    shoal_types::time::rfc3339(store.now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_store::{Action, LocalProposer, MemoryStore, Proposal};
    use shoal_types::{Object, Task};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default, Clone)]
    struct Counts {
        resyncs: Arc<AtomicUsize>,
        events: Arc<AtomicUsize>,
    }

    impl Controller for Counts {
        const NAME: &'static str = "counting";
        fn observe(&mut self, _event: &Event) {
            self.events.fetch_add(1, Ordering::SeqCst);
        }
        fn mark_all(&mut self) {
            self.resyncs.fetch_add(1, Ordering::SeqCst);
        }
        async fn reconcile(
            &mut self,
            _store: &StoreHandle,
            _now: Instant,
        ) -> Result<(), StoreError> {
            Ok(())
        }
    }

    async fn until(what: &str, cond: impl Fn() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn a_lagging_watcher_resyncs_from_a_fresh_view() {
        let store = Arc::new(MemoryStore::new());
        let handle = StoreHandle::new(store.clone(), Arc::new(LocalProposer::new(store.clone())));
        let counts = Counts::default();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_controller(counts.clone(), handle, cancel.clone()));
        until("the first full reconcile", || {
            counts.resyncs.load(Ordering::SeqCst) == 1
        })
        .await;

        // More events than a watcher buffers, applied without yielding to the controller.
        let burst = shoal_store::store::WATCH_BUFFER + 10;
        let actions = (0..burst)
            .map(|i| {
                Action::Create(Object::Task(Task {
                    id: format!("t{i}").into(),
                    ..Default::default()
                }))
            })
            .collect();
        store
            .apply(
                1,
                &Proposal {
                    actions,
                    timestamp: String::new(),
                },
            )
            .expect("apply");

        until("a resync after the lag", || {
            counts.resyncs.load(Ordering::SeqCst) == 2
        })
        .await;
        assert!(
            counts.events.load(Ordering::SeqCst) < burst,
            "the lagged events were skipped, not replayed"
        );
        cancel.cancel();
        let stopped = task.await.expect("controller task");
        assert!(stopped.is_ok());
    }

    /// Counts reconciles; debounced like the scheduler.
    #[derive(Default, Clone)]
    struct Debounced {
        reconciles: Arc<AtomicUsize>,
        events: Arc<AtomicUsize>,
    }

    impl Controller for Debounced {
        const NAME: &'static str = "debounced";
        fn observe(&mut self, _event: &Event) {
            self.events.fetch_add(1, Ordering::SeqCst);
        }
        fn mark_all(&mut self) {}
        async fn reconcile(
            &mut self,
            _store: &StoreHandle,
            _now: Instant,
        ) -> Result<(), StoreError> {
            self.reconciles.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn debounce(&self) -> Option<Debounce> {
            Some(Debounce {
                gap: Duration::from_millis(50),
                max: Duration::from_secs(1),
            })
        }
    }

    fn create(store: &MemoryStore, index: u64) {
        let task = Task {
            id: format!("t{index}").into(),
            ..Default::default()
        };
        let proposal = Proposal {
            actions: vec![Action::Create(Object::Task(task))],
            timestamp: String::new(),
        };
        store.apply(index, &proposal).expect("apply");
    }

    #[tokio::test(start_paused = true)]
    async fn a_debounced_controller_reconciles_once_per_burst_and_at_least_every_max() {
        let store = Arc::new(MemoryStore::new());
        let handle = StoreHandle::new(store.clone(), Arc::new(LocalProposer::new(store.clone())));
        let c = Debounced::default();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_controller(c.clone(), handle, cancel.clone()));
        until("the first reconcile", || {
            c.reconciles.load(Ordering::SeqCst) == 1
        })
        .await;

        // Five events 20 ms apart: within the 50 ms gap, so one reconcile after the last.
        for i in 1..=5 {
            create(&store, i);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        until("the burst's reconcile", || {
            c.reconciles.load(Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(c.events.load(Ordering::SeqCst), 5);

        // Events that never leave a 50 ms gap still reconcile within the 1 s bound.
        let start = Instant::now();
        let mut index = 6;
        while c.reconciles.load(Ordering::SeqCst) == 2 {
            create(&store, index);
            index += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_millis(1100),
            "reconciled after {waited:?} of steady events"
        );
        cancel.cancel();
        assert!(task.await.expect("controller task").is_ok());
    }
}
