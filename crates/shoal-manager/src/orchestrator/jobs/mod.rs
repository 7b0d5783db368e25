//! The jobs orchestrator: replicated and global jobs, run to completion.
//!
//! It reacts to job services, to their tasks' progress (a completion makes room for the next
//! task) and to node changes (global jobs). Failed job tasks are retried by the restart
//! supervisor per the restart policy; completed ones are never restarted.

pub mod plan;

pub use plan::{Plan, reconcile};

use super::global::{node_change, placement_changed};
use crate::controller::{self, Controller, MAX_CHANGES_PER_TX};
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
    rng: StdRng,
}

impl JobsOrchestrator {
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
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
            Object::Task(t) if t.job_iteration.is_some() => {
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

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
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
        while let Some(id) = self.dirty.pop_first() {
            if let Err(err) = self.reconcile_service(store, &id).await {
                self.dirty.insert(id);
                return Err(err);
            }
        }
        Ok(())
    }
}

impl JobsOrchestrator {
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
                    create = plan.create_slots.len() + plan.create_on.len(),
                    shutdown = plan.shutdown.len(),
                    "reconciling job"
                );
                for task_id in plan.shutdown.iter().take(MAX_CHANGES_PER_TX) {
                    orchestrator::stage_stop(tx, task_id, TaskState::Shutdown)?;
                }
                let budget = MAX_CHANGES_PER_TX.saturating_sub(plan.shutdown.len());
                let slots = plan.create_slots.iter().map(|s| (*s, None));
                let nodes = plan.create_on.iter().map(|n| (0, Some(n.clone())));
                for (slot, node) in slots.chain(nodes).take(budget) {
                    let task = new_task(&service, slot, node, TaskId::generate(rng), stamp.clone());
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
