//! Change events and bounded subscriptions.

use shoal_types::Object;
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
    rx: broadcast::Receiver<std::sync::Arc<Event>>,
    lagged: bool,
}

impl Watcher {
    pub(crate) fn new(rx: broadcast::Receiver<std::sync::Arc<Event>>) -> Self {
        Self { rx, lagged: false }
    }

    /// The next event. After `Lagged` the watcher is dead: every later call fails too, so a
    /// controller cannot silently miss changes.
    pub async fn recv(&mut self) -> Result<Event, WatchError> {
        if self.lagged {
            return Err(WatchError::Lagged);
        }
        match self.rx.recv().await {
            Ok(ev) => Ok(std::sync::Arc::unwrap_or_clone(ev)),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.lagged = true;
                Err(WatchError::Lagged)
            }
            Err(broadcast::error::RecvError::Closed) => Err(WatchError::Closed),
        }
    }

    /// A pending event without waiting, if any.
    pub fn try_recv(&mut self) -> Option<Result<Event, WatchError>> {
        if self.lagged {
            return Some(Err(WatchError::Lagged));
        }
        match self.rx.try_recv() {
            Ok(ev) => Some(Ok(std::sync::Arc::unwrap_or_clone(ev))),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                self.lagged = true;
                Some(Err(WatchError::Lagged))
            }
            Err(broadcast::error::TryRecvError::Closed) => Some(Err(WatchError::Closed)),
        }
    }
}
