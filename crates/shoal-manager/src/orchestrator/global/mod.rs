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

use crate::controller::{self, Controller, MAX_CHANGES_PER_TX};
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
    rng: StdRng,
}

impl GlobalOrchestrator {
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
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

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
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
        while let Some(id) = self.dirty.pop_first() {
            if let Err(err) = self.reconcile_service(store, &id).await {
                self.dirty.insert(id);
                return Err(err);
            }
        }
        Ok(())
    }
}

impl GlobalOrchestrator {
    async fn reconcile_service(
        &mut self,
        store: &StoreHandle,
        id: &ServiceId,
    ) -> Result<(), StoreError> {
        let rng = &mut self.rng;
        loop {
            let stamp = controller::timestamp(store);
            let (more, _) = controller::update_retrying(store, |tx| {
                let Some(service) = tx.service(id.as_str()) else {
                    return Ok(false);
                };
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
                let mut budget = MAX_CHANGES_PER_TX;
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
                Ok(plan.changes() > MAX_CHANGES_PER_TX)
            })
            .await?;
            if !more {
                return Ok(());
            }
        }
    }
}
