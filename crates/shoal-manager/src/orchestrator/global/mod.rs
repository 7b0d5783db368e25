//! The global orchestrator: one task of each global service on every eligible node.
//!
//! Global tasks are created with their node already set (slot 0). They still go through the
//! allocator and the scheduler, which only checks them against that node (SwarmKit's
//! preassigned tasks): so resources are accounted in one place and a node that cannot take
//! the task leaves it PENDING with the filter's explanation. The orchestrator reacts to
//! service changes and to node changes that affect eligibility; failed tasks are the restart
//! supervisor's.

pub mod plan;

pub use plan::{Plan, keeps_tasks, reconcile, requirements, takes_new_tasks};

use crate::batch::{self, BatchSize, Paced, PassOutcome};
use crate::controller::{self, Controller};
use crate::orchestrator::{self, new_task};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_store::{Event, EventKind, StoreError, StoreHandle};
use shoal_types::service::ServiceMode;
use shoal_types::{Node, Object, ServiceId, TaskId, TaskState};
use std::collections::BTreeSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The global orchestrator loop's state.
pub struct GlobalOrchestrator {
    all: bool,
    dirty: BTreeSet<ServiceId>,
    /// Services with paced creations left for a later pass.
    paced: Paced<ServiceId>,
    rng: StdRng,
}

impl GlobalOrchestrator {
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
            paced: Paced::default(),
            rng,
        }
    }
}

/// Runs the global orchestrator until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(
        GlobalOrchestrator::new(StdRng::from_os_rng()),
        store,
        cancel,
    )
    .await
}

/// Whether a node change can change which nodes take or keep tasks: anything the filters read.
pub fn placement_changed(old: Option<&Node>, new: Option<&Node>) -> bool {
    let key = |n: &Node| {
        (
            n.status.state,
            n.availability(),
            n.spec.labels.clone(),
            n.spec.role,
            n.description.hostname.clone(),
            n.description.platform.clone(),
            n.description.engine.as_ref().and_then(|e| e.labels.clone()),
        )
    };
    match (old, new) {
        (Some(a), Some(b)) => key(a) != key(b),
        _ => true,
    }
}

/// The node before and after a node event (`None` for the side that does not exist).
pub fn node_change(event: &Event) -> Option<(Option<&Node>, Option<&Node>)> {
    let Object::Node(node) = &event.object else {
        return None;
    };
    let old = match &event.old {
        Some(Object::Node(n)) => Some(n),
        _ => None,
    };
    Some(match event.kind {
        EventKind::Deleted => (Some(node), None),
        EventKind::Created | EventKind::Updated => (old, Some(node)),
    })
}

impl Controller for GlobalOrchestrator {
    const NAME: &'static str = "global-orchestrator";

    fn observe(&mut self, event: &Event) {
        match &event.object {
            Object::Service(s) if event.kind != EventKind::Deleted => {
                self.dirty.insert(s.id.clone());
            }
            Object::Node(_) => {
                if let Some((old, new)) = node_change(event)
                    && placement_changed(old, new)
                {
                    self.all = true;
                }
            }
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    async fn reconcile(&mut self, store: &StoreHandle, now: Instant) -> Result<(), StoreError> {
        if std::mem::take(&mut self.all) {
            let ids: Vec<ServiceId> = store.view(|t| {
                t.services
                    .iter()
                    .filter(|s| s.mode() == ServiceMode::Global)
                    .map(|s| s.id.clone())
                    .collect()
            });
            self.dirty.extend(ids);
        }
        let mut pass = PassOutcome::new(Self::NAME);
        let mut todo = std::mem::take(&mut self.dirty);
        todo.extend(self.paced.take_due(now));
        for id in todo {
            let result = self.reconcile_service(store, &id).await;
            pass.record(id, result);
        }
        pass.finish(&mut self.dirty, &mut self.paced, now)
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.paced.next_wakeup()
    }
}

impl GlobalOrchestrator {
    /// One step for one service: a single transaction of at most [`MAX_CHANGES_PER_TX`](batch::MAX_CHANGES_PER_TX)
    /// changes, fewer when its tasks are large. Returns whether changes are left for another
    /// pass.
    async fn reconcile_service(
        &mut self,
        store: &StoreHandle,
        id: &ServiceId,
    ) -> Result<bool, StoreError> {
        let rng = &mut self.rng;
        let stamp = controller::timestamp(store);
        BatchSize::default()
            .update(store, |tx, limit| {
                let Some(service) = tx.service(id.as_str()) else {
                    return Ok(false);
                };
                let sample = new_task(&service, 0, None, TaskId::default(), stamp.clone());
                let limit = limit.min(batch::changes_that_fit(batch::encoded_len(&sample)));
                let plan = {
                    let tables = tx.tables();
                    let tasks = tables.tasks.find("service", id.as_str());
                    let nodes: Vec<&Node> = tables.nodes.iter().collect();
                    reconcile(&service, &tasks, &nodes)
                };
                if plan.is_empty() {
                    return Ok(false);
                }
                tracing::info!(
                    service.id = %service.id,
                    create = plan.create_on.len(),
                    shutdown = plan.shutdown.len(),
                    "reconciling global service"
                );
                let mut budget = limit;
                for task_id in plan.shutdown.iter().take(budget) {
                    orchestrator::stage_stop(tx, task_id, TaskState::Shutdown)?;
                    budget -= 1;
                }
                for node in plan.create_on.iter().take(budget) {
                    let task = new_task(
                        &service,
                        0,
                        Some(node.clone()),
                        TaskId::generate(rng),
                        stamp.clone(),
                    );
                    tx.create(Object::Task(task))?;
                }
                Ok(plan.changes() > limit)
            })
            .await
    }
}
