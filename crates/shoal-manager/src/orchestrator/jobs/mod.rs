//! The jobs orchestrator: replicated and global jobs, run to completion.
//!
//! It reacts to job services, to their tasks' progress (a completion makes room for the next
//! task) and to node changes (global jobs). Failed job tasks are retried by the restart
//! supervisor per the restart policy; completed ones are never restarted.

pub mod plan;

pub use plan::{Plan, reconcile};

use super::global::{node_change, placement_changed};
use crate::batch::{self, BatchSize, Paced, PassOutcome};
use crate::controller::{self, Controller};
use crate::orchestrator::{self, new_task};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_store::{Event, EventKind, StoreError, StoreHandle};
use shoal_types::{Node, Object, ServiceId, TaskId, TaskState};
use std::collections::BTreeSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The jobs orchestrator loop's state.
pub struct JobsOrchestrator {
    all: bool,
    dirty: BTreeSet<ServiceId>,
    /// Services with paced creations left for a later pass.
    paced: Paced<ServiceId>,
    rng: StdRng,
}

impl JobsOrchestrator {
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
            paced: Paced::default(),
            rng,
        }
    }
}

/// Runs the jobs orchestrator until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(JobsOrchestrator::new(StdRng::from_os_rng()), store, cancel).await
}

impl Controller for JobsOrchestrator {
    const NAME: &'static str = "jobs-orchestrator";

    fn observe(&mut self, event: &Event) {
        match &event.object {
            Object::Service(s) if event.kind != EventKind::Deleted && s.mode().is_job() => {
                self.dirty.insert(s.id.clone());
            }
            // A job with paced creations left is planned again at its next paced pass
            // anyway; reacting to the events of the tasks just created would undo the pacing.
            Object::Task(t) if t.job_iteration.is_some() && !self.paced.contains(&t.service_id) => {
                self.dirty.insert(t.service_id.clone());
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
                    .filter(|s| s.mode().is_job())
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

impl JobsOrchestrator {
    /// One paced step for one job: a single transaction of at most [`MAX_CHANGES_PER_TX`](batch::MAX_CHANGES_PER_TX)
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
                let sample = new_task(&service, 1, None, TaskId::default(), stamp.clone());
                let limit = limit.min(batch::changes_that_fit(batch::encoded_len(&sample)));
                let plan = {
                    let tables = tx.tables();
                    let tasks = tables.tasks.find("service", id.as_str());
                    let nodes: Vec<&Node> = tables.nodes.iter().collect();
                    // One more than fits tells whether work is left after this transaction.
                    reconcile(&service, &tasks, &nodes, limit.saturating_add(1))
                };
                if plan.is_empty() {
                    return Ok(false);
                }
                tracing::info!(
                    service.id = %service.id,
                    create = plan.create_slots.len() + plan.create_on.len(),
                    shutdown = plan.shutdown.len(),
                    "reconciling job"
                );
                for task_id in plan.shutdown.iter().take(limit) {
                    orchestrator::stage_stop(tx, task_id, TaskState::Shutdown)?;
                }
                let budget = limit.saturating_sub(plan.shutdown.len());
                let slots = plan.create_slots.iter().map(|s| (*s, None));
                let nodes = plan.create_on.iter().map(|n| (0, Some(n.clone())));
                for (slot, node) in slots.chain(nodes).take(budget) {
                    let task = new_task(&service, slot, node, TaskId::generate(rng), stamp.clone());
                    tx.create(Object::Task(task))?;
                }
                Ok(plan.changes() > limit)
            })
            .await
    }
}
