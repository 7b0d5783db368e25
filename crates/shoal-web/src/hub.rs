//! One watcher of the store per web server: it keeps the last events, and re-renders the
//! live fragments (grid, services, events) at most every [`DEBOUNCE`] after a change, then
//! publishes them to every open page at once.
//!
//! The control API is asked for again whenever the store's watch ends or lags, and every
//! [`RECHECK`]: a node that is promoted, demoted or restarted as a manager gets a new store,
//! and raft's leader (the ★ on a node) changes without a store write.

use crate::render::{self, EventLine, Snapshot};
use parking_lot::Mutex;
use shoal_api::Backend;
use shoal_manager::control::Control;
use shoal_store::{Event, EventKind};
use shoal_types::Object;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long changes are gathered before the fragments are rendered again.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// How often the control API is looked up again and the fragments re-rendered without a
/// store change (leadership, membership).
pub const RECHECK: Duration = Duration::from_secs(2);
/// Events kept for the events list.
pub const EVENTS_KEPT: usize = 100;

/// The live fragments as last rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragments {
    pub grid: String,
    pub services: String,
    pub events: String,
    /// Why there is nothing to show (this node is not a manager, …).
    pub notice: Option<String>,
    /// Bumped on every store change seen (pages with per-page fragments re-render on it).
    pub generation: u64,
}

/// The shared state of the live view.
pub struct Hub {
    tx: watch::Sender<Arc<Fragments>>,
    events: Mutex<VecDeque<EventLine>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            tx: watch::Sender::new(Arc::new(Fragments::default())),
            events: Mutex::new(VecDeque::new()),
        }
    }
}

/// The event line for one store change, or `None` for changes the list leaves out (the
/// cluster object, networks, secrets and configs; task writes that do not change the state).
pub fn event_line(ev: &Event, at: &str) -> Option<EventLine> {
    let action = match ev.kind {
        EventKind::Created => "create",
        EventKind::Updated => "update",
        EventKind::Deleted => "remove",
    };
    let line = |kind, action: &str, name: &str, detail: String| EventLine {
        at: at.to_string(),
        kind,
        action: action.to_string(),
        name: name.to_string(),
        detail,
    };
    match (&ev.object, &ev.old) {
        (Object::Service(s), Some(Object::Service(old))) => {
            let mut changes = Vec::new();
            let (was, is) = (replicas_of(old), replicas_of(s));
            if was != is {
                changes.push(format!(
                    "replicas {} → {}",
                    was.unwrap_or_default(),
                    is.unwrap_or_default()
                ));
            }
            let (was, is) = (
                old.update_status.as_ref().and_then(|u| u.state),
                s.update_status.as_ref().and_then(|u| u.state),
            );
            if was != is
                && let Some(is) = is
            {
                changes.push(format!("update {is}"));
            }
            if old.spec.task_template != s.spec.task_template {
                changes.push("task template changed".into());
            }
            Some(line("service", action, s.name(), changes.join(", ")))
        }
        (Object::Service(s), _) => Some(line("service", action, s.name(), String::new())),
        (Object::Node(n), Some(Object::Node(old))) => {
            let mut changes = Vec::new();
            if old.status.state != n.status.state {
                changes.push(format!(
                    "state {}",
                    n.status.state.map(|s| s.to_string()).unwrap_or_default()
                ));
            }
            if old.availability() != n.availability() {
                changes.push(format!("availability {}", n.availability()));
            }
            if old.spec.role != n.spec.role {
                changes.push(format!(
                    "role {}",
                    n.spec.role.map(|r| r.to_string()).unwrap_or_default()
                ));
            }
            (!changes.is_empty())
                .then(|| line("node", action, n.display_name(), changes.join(", ")))
        }
        (Object::Node(n), _) => Some(line("node", action, n.display_name(), String::new())),
        (Object::Task(t), Some(Object::Task(old))) => {
            (old.status.state != t.status.state).then(|| {
                line(
                    "task",
                    t.status.state.as_str(),
                    &t.display_name(),
                    t.status.err.clone(),
                )
            })
        }
        (Object::Task(t), None) if ev.kind == EventKind::Created => {
            Some(line("task", "create", &t.display_name(), String::new()))
        }
        _ => None,
    }
}

fn replicas_of(s: &shoal_types::Service) -> Option<u64> {
    match s.mode() {
        shoal_types::service::ServiceMode::Replicated { replicas } => Some(replicas),
        _ => None,
    }
}

/// `HH:MM:SS` of now, UTC.
fn clock() -> String {
    let s = shoal_types::time::rfc3339(SystemTime::now());
    s.get(11..19).unwrap_or_default().to_string()
}

impl Hub {
    /// A receiver of the fragments; its current value is the latest rendering.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Fragments>> {
        self.tx.subscribe()
    }

    /// The latest rendering.
    pub fn current(&self) -> Arc<Fragments> {
        self.tx.borrow().clone()
    }

    /// The kept events, oldest first.
    pub fn events(&self) -> Vec<EventLine> {
        self.events.lock().iter().cloned().collect()
    }

    fn record(&self, ev: &Event) {
        if let Some(line) = event_line(ev, &clock()) {
            let mut events = self.events.lock();
            if events.len() >= EVENTS_KEPT {
                events.pop_front();
            }
            events.push_back(line);
        }
    }

    /// Renders from `control` and publishes if anything differs from the last rendering.
    /// `changed` bumps the generation (a store change was seen).
    pub fn publish(&self, control: &Control, changed: bool) {
        let snap = Snapshot::read(control);
        let events = render::events(&self.events());
        let grid = render::grid(&snap);
        let services = render::services(&snap);
        self.tx.send_if_modified(|cur| {
            let generation = cur.generation + u64::from(changed);
            let next = Fragments {
                grid,
                services,
                events,
                notice: None,
                generation,
            };
            if **cur == next {
                return false;
            }
            *cur = Arc::new(next);
            true
        });
    }

    fn publish_notice(&self, notice: String) {
        self.tx.send_if_modified(|cur| {
            if cur.notice.as_ref() == Some(&notice) {
                return false;
            }
            *cur = Arc::new(Fragments {
                notice: Some(notice),
                generation: cur.generation + 1,
                ..Fragments::default()
            });
            true
        });
    }

    /// Watches the store of whatever control API `backend` has, until `cancel`.
    pub async fn run(self: Arc<Self>, backend: Arc<dyn Backend>, cancel: CancellationToken) {
        loop {
            let control = match backend.control() {
                Ok(c) => c,
                Err(e) => {
                    self.publish_notice(e.message);
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(RECHECK) => continue,
                    }
                }
            };
            let mut watcher = control.store().store.watch();
            self.publish(&control, true);
            let mut recheck = tokio::time::interval(RECHECK);
            recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    ev = watcher.recv_shared() => {
                        let Ok(ev) = ev else { break };
                        self.record(&ev);
                        tokio::time::sleep(DEBOUNCE).await;
                        let mut lagged = false;
                        while let Some(ev) = watcher.try_recv_shared() {
                            match ev {
                                Ok(ev) => self.record(&ev),
                                Err(_) => {
                                    lagged = true;
                                    break;
                                }
                            }
                        }
                        self.publish(&control, true);
                        if lagged {
                            break;
                        }
                    }
                    _ = recheck.tick() => {
                        match backend.control() {
                            Ok(now) if Arc::ptr_eq(&now, &control) => self.publish(&control, false),
                            _ => break,
                        }
                    }
                }
            }
        }
    }
}
