//! Change events and bounded subscriptions.

use shoal_types::Object;
use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
}

/// One applied change. `object` is the new value (or the removed one for `Deleted`); `old` is
/// the value before an update.
#[derive(Debug, Clone)]
pub struct Event {
    pub index: u64,
    pub kind: EventKind,
    pub object: Object,
    pub old: Option<Object>,
}

/// The subscriber fell behind by more than the buffer; it must rebuild from a fresh view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("watcher lagged behind the store and must resync")]
    Lagged,
    #[error("store closed")]
    Closed,
}

/// A bounded subscription to store events.
pub struct Watcher {
    rx: broadcast::Receiver<Arc<Event>>,
    lagged: bool,
}

impl Watcher {
    pub(crate) fn new(rx: broadcast::Receiver<Arc<Event>>) -> Self {
        Self { rx, lagged: false }
    }

    /// The next event. After `Lagged` the watcher is dead: every later call fails too, so a
    /// controller cannot silently miss changes.
    pub async fn recv(&mut self) -> Result<Event, WatchError> {
        self.recv_shared().await.map(Arc::unwrap_or_clone)
    }

    /// Like [`recv`](Self::recv), without copying the event: every subscriber shares one
    /// allocation. Subscribers that only look at events should use this one; with a thousand
    /// dispatcher sessions or a burst of 50,000 task writes, deep copies per subscriber
    /// dominate the leader's time.
    pub async fn recv_shared(&mut self) -> Result<Arc<Event>, WatchError> {
        if self.lagged {
            return Err(WatchError::Lagged);
        }
        match self.rx.recv().await {
            Ok(ev) => Ok(ev),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.lagged = true;
                Err(WatchError::Lagged)
            }
            Err(broadcast::error::RecvError::Closed) => Err(WatchError::Closed),
        }
    }

    /// A pending event without waiting, if any.
    pub fn try_recv(&mut self) -> Option<Result<Event, WatchError>> {
        self.try_recv_shared().map(|r| r.map(Arc::unwrap_or_clone))
    }

    /// Like [`try_recv`](Self::try_recv), without copying the event.
    pub fn try_recv_shared(&mut self) -> Option<Result<Arc<Event>, WatchError>> {
        if self.lagged {
            return Some(Err(WatchError::Lagged));
        }
        match self.rx.try_recv() {
            Ok(ev) => Some(Ok(ev)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                self.lagged = true;
                Some(Err(WatchError::Lagged))
            }
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(WatchError::Closed)),
        }
    }
}
