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
//!
//! Creation is paced: each pass gives every service one transaction (see
//! [`batch`](crate::batch)), and a service with more to create waits for the next pass. A
//! replica count of a billion therefore costs memory and CPU in proportion to the tasks that
//! exist, and a scale-down or removal lands between two steps.

pub mod plan;

pub use plan::{Plan, reconcile};

use crate::batch::{self, BatchSize, Paced, PassOutcome};
use crate::controller::{self, Controller};
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
    /// Services with paced creations left for a later pass.
    paced: Paced<ServiceId>,
    rng: StdRng,
}

impl ReplicatedOrchestrator {
    /// `rng` makes the new tasks' ids.
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
            deleted: BTreeSet::new(),
            paced: Paced::default(),
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

    async fn reconcile(&mut self, store: &StoreHandle, now: Instant) -> Result<(), StoreError> {
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
        if let Err(err) = orchestrator::remove_tasks_of_deleted(store, &deleted).await {
            self.deleted.extend(deleted);
            return Err(err);
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

impl ReplicatedOrchestrator {
    /// One paced step for one service: a single transaction of at most
    /// [`MAX_CHANGES_PER_TX`](batch::MAX_CHANGES_PER_TX) changes, fewer when its tasks are large, planned inside the
    /// transaction so it sees current data. Returns whether changes are left for another pass;
    /// so a service scaled to a billion replicas gets its tasks a transaction at a time, taking
    /// turns with every other service, and a `service rm` or scale-down lands in between.
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
                let sample = new_task(&service, 1, None, TaskId::default(), stamp.clone());
                let limit = limit.min(batch::changes_that_fit(batch::encoded_len(&sample)));
                let plan = {
                    let tasks = tx.tables().tasks.find("service", id.as_str());
                    // One more than fits tells whether work is left after this transaction.
                    reconcile(&service, &tasks, limit.saturating_add(1))
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
                let mut budget = limit;
                for task_id in plan.shutdown.iter().take(budget) {
                    orchestrator::stage_stop(tx, task_id, TaskState::Shutdown)?;
                    budget -= 1;
                }
                for slot in plan.create.iter().take(budget) {
                    let task =
                        new_task(&service, *slot, None, TaskId::generate(rng), stamp.clone());
                    tx.create(Object::Task(task))?;
                }
                Ok(plan.changes() > limit)
            })
            .await
    }
}
