//! The replicated orchestrator: keeps each replicated service at `replicas` runnable tasks.
//!
//! It reacts to service changes (create, update, delete) and resyncs everything at start;
//! like SwarmKit it does not react to task changes — a task that ends is the restart
//! supervisor's, which replaces it in its slot or, when the policy says not to, leaves the
//! slot empty until the service changes again. It also owns the tasks of deleted services
//! (of any mode): they get desired state REMOVE.
//!
//! Dirty tasks (made from an older template) are the [update supervisor](crate::update)'s:
//! it replaces them slot by slot as the service's update config says.

pub mod plan;

pub use plan::{Plan, reconcile};

use crate::controller::{self, Controller, MAX_CHANGES_PER_TX};
use crate::orchestrator::{self, new_task};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_store::{Event, EventKind, StoreError, StoreHandle};
use shoal_types::service::ServiceMode;
use shoal_types::{Object, ServiceId, TaskId, TaskState};
use std::collections::BTreeSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The replicated orchestrator loop's state.
pub struct ReplicatedOrchestrator {
    all: bool,
    dirty: BTreeSet<ServiceId>,
    deleted: BTreeSet<ServiceId>,
    rng: StdRng,
}

impl ReplicatedOrchestrator {
    /// `rng` makes the new tasks' ids.
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
            deleted: BTreeSet::new(),
            rng,
        }
    }
}

/// Runs the replicated orchestrator until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(
        ReplicatedOrchestrator::new(StdRng::from_os_rng()),
        store,
        cancel,
    )
    .await
}

impl Controller for ReplicatedOrchestrator {
    const NAME: &'static str = "replicated-orchestrator";

    fn observe(&mut self, event: &Event) {
        if let Object::Service(s) = &event.object {
            match event.kind {
                EventKind::Deleted => {
                    self.deleted.insert(s.id.clone());
                }
                EventKind::Created | EventKind::Updated => {
                    self.dirty.insert(s.id.clone());
                }
            }
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
        if std::mem::take(&mut self.all) {
            let (services, orphans) = store.view(|t| {
                let services: BTreeSet<ServiceId> = t
                    .services
                    .iter()
                    .filter(|s| matches!(s.mode(), ServiceMode::Replicated { .. }))
                    .map(|s| s.id.clone())
                    .collect();
                (services, orchestrator::orphaned_services(t))
            });
            self.dirty.extend(services);
            self.deleted.extend(orphans);
        }
        let deleted = std::mem::take(&mut self.deleted);
        orchestrator::remove_tasks_of_deleted(store, &deleted).await?;
        while let Some(id) = self.dirty.pop_first() {
            if let Err(err) = self.reconcile_service(store, &id).await {
                self.dirty.insert(id);
                return Err(err);
            }
        }
        Ok(())
    }
}

impl ReplicatedOrchestrator {
    /// Applies the plan for one service, at most [`MAX_CHANGES_PER_TX`] changes per
    /// transaction, re-planning inside each transaction so decisions see current data.
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
                    let tasks = tx.tables().tasks.find("service", id.as_str());
                    reconcile(&service, &tasks)
                };
                if plan.is_empty() {
                    return Ok(false);
                }
                tracing::info!(
                    service.id = %service.id,
                    create = plan.create.len(),
                    shutdown = plan.shutdown.len(),
                    "reconciling replicated service"
                );
                let mut budget = MAX_CHANGES_PER_TX;
                for task_id in plan.shutdown.iter().take(budget) {
                    orchestrator::stage_stop(tx, task_id, TaskState::Shutdown)?;
                    budget -= 1;
                }
                for slot in plan.create.iter().take(budget) {
                    let task =
                        new_task(&service, *slot, None, TaskId::generate(rng), stamp.clone());
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
