//! The update supervisor: rolls a service's tasks over to a new spec, slot by slot.
//!
//! When the control API accepts a spec that changes what tasks run (the tasks become dirty,
//! SwarmKit `IsTaskDirty`), the orchestrators leave the dirty slots alone and this
//! leader-only controller replaces them as the service's `UpdateConfig` says — or its
//! `RollbackConfig` when the update status is `rollback_started`. Each service has at most
//! one [`Run`] in memory, for one spec version; a new version supersedes it (its tasks in
//! flight are taken over by the next run), a paused status stops it. The decisions are
//! [`Run::step`]'s; this loop feeds it a view of the store, performs its [`Write`]s in one
//! transaction that checks the service is still at the run's spec version, and writes the
//! `UpdateStatus` the docker CLI's progress reads.
//!
//! Like SwarmKit the runs live in memory: a new leader starts fresh runs for the slots still
//! dirty, keeping the status (`updating` stays `updating`).

pub mod plan;
pub mod policy;
pub mod slots;
pub mod status;
#[cfg(test)]
mod testing;

pub use plan::{Run, View, Write};
pub use policy::{FailureAction, Order, UpdatePolicy};
pub use slots::{SlotKey, dirty_slots, is_updatable};
pub use status::StatusChange;

use crate::batch::{BatchSize, Paced, PassOutcome};
use crate::controller::{self, Controller};
use crate::orchestrator::{self, new_task};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_store::{Event, EventKind, StoreError, StoreHandle, Tables};
use shoal_types::api::NodeState;
use shoal_types::{NodeId, Object, ServiceId, TaskId, TaskState, Version};
use std::collections::{BTreeSet, HashMap};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most writes applied in one transaction (each is at most two store changes per slot
/// stopped plus one created); fewer when the tasks are large (see [`BatchSize`]).
const WRITES_PER_TX: usize = 60;

/// The update supervisor loop's state.
pub struct UpdateSupervisor {
    all: bool,
    dirty: BTreeSet<ServiceId>,
    runs: HashMap<ServiceId, Run>,
    rng: StdRng,
}

impl UpdateSupervisor {
    /// `rng` names the tasks the runs create.
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty: BTreeSet::new(),
            runs: HashMap::new(),
            rng,
        }
    }
}

/// Runs the update supervisor until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(UpdateSupervisor::new(StdRng::from_os_rng()), store, cancel).await
}

impl Controller for UpdateSupervisor {
    const NAME: &'static str = "update-supervisor";

    fn observe(&mut self, event: &Event) {
        match &event.object {
            Object::Service(s) => {
                if event.kind == EventKind::Deleted {
                    self.runs.remove(&s.id);
                } else {
                    self.dirty.insert(s.id.clone());
                }
            }
            Object::Task(t) if self.runs.contains_key(&t.service_id) => {
                self.dirty.insert(t.service_id.clone());
            }
            Object::Node(_) if !self.runs.is_empty() => {
                self.dirty.extend(self.runs.keys().cloned());
            }
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.runs.values().filter_map(Run::wake_at).min()
    }

    async fn reconcile(&mut self, store: &StoreHandle, now: Instant) -> Result<(), StoreError> {
        if std::mem::take(&mut self.all) {
            let ids: Vec<ServiceId> = store.view(|t| {
                t.services
                    .iter()
                    .filter(|s| is_updatable(s))
                    .map(|s| s.id.clone())
                    .collect()
            });
            self.dirty.extend(ids);
            self.dirty.extend(self.runs.keys().cloned());
        }
        let due: Vec<ServiceId> = self
            .runs
            .iter()
            .filter(|(_, r)| r.wake_at().is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        self.dirty.extend(due);
        let mut pass = PassOutcome::new(Self::NAME);
        for id in std::mem::take(&mut self.dirty) {
            let result = self.reconcile_service(store, &id, now).await;
            if result.is_err() {
                // The run's view of what it wrote is now wrong: start over from the store.
                self.runs.remove(&id);
            }
            pass.record(id, result.map(|()| false));
        }
        // Update runs are paced by their own config, never here.
        pass.finish(&mut self.dirty, &mut Paced::default(), now)
    }
}

impl UpdateSupervisor {
    /// Steps the run of one service (starting, superseding or dropping it) and writes what
    /// it decided.
    async fn reconcile_service(
        &mut self,
        store: &StoreHandle,
        id: &ServiceId,
        now: Instant,
    ) -> Result<(), StoreError> {
        let runs = &mut self.runs;
        let rng = &mut self.rng;
        let decided = store.view(|t| decide(t, id, runs, rng, now));
        let Some((version, writes)) = decided else {
            return Ok(());
        };
        for w in &writes {
            log_write(id, w);
        }
        let mut size = BatchSize::new(WRITES_PER_TX);
        let mut rest = &writes[..];
        while !rest.is_empty() {
            let stamp = controller::timestamp(store);
            let (done, ()) = size
                .update_chunk(store, rest, |tx, chunk| {
                    apply_writes(tx, id, version, chunk, &stamp)
                })
                .await?;
            rest = &rest[done..];
        }
        Ok(())
    }
}

/// The pure part of one service's reconcile, against a view: the run to step and its writes.
fn decide(
    tables: &Tables,
    id: &ServiceId,
    runs: &mut HashMap<ServiceId, Run>,
    rng: &mut StdRng,
    now: Instant,
) -> Option<(Version, Vec<Write>)> {
    let Some(service) = tables.services.get(id.as_str()) else {
        runs.remove(id);
        return None;
    };
    if !is_updatable(service) || status::is_paused(service) {
        runs.remove(id);
        return None;
    }
    let tasks = tables.tasks.find("service", id.as_str());
    let live_nodes: BTreeSet<NodeId> = tables
        .nodes
        .iter()
        .filter(|n| n.status.state != Some(NodeState::DOWN))
        .map(|n| n.id.clone())
        .collect();
    let view = View {
        service,
        tasks,
        live_nodes: &live_nodes,
    };
    let mut new_id = || TaskId::generate(rng);
    let mut writes = Vec::new();
    let current = runs
        .get(id)
        .filter(|r| r.spec_version == service.spec_version && !r.is_finished())
        .is_some();
    if !current {
        let dirty = dirty_slots(service, &view.tasks).len();
        let finished_here = runs
            .get(id)
            .is_some_and(|r| r.spec_version == service.spec_version);
        if dirty == 0 {
            if !finished_here {
                runs.remove(id);
                if status::in_progress(service) {
                    writes.push(Write::Status(StatusChange::Complete));
                }
            }
            return Some((service.spec_version, writes));
        }
        let run = Run::begin(service, dirty, status::is_rollback(service));
        tracing::info!(
            service.id = %id,
            slots = dirty,
            rollback = run.rollback,
            parallelism = run.policy.parallelism,
            delay = ?run.policy.delay,
            order = ?run.policy.order,
            "starting rolling update"
        );
        if service.update_status.is_none() {
            writes.push(Write::Status(StatusChange::Start));
        }
        runs.insert(id.clone(), run);
    }
    if let Some(run) = runs.get_mut(id) {
        writes.extend(run.step(&view, now, &mut new_id));
    }
    Some((service.spec_version, writes))
}

fn log_write(id: &ServiceId, w: &Write) {
    match w {
        Write::Create { slot, id: task, .. } => {
            tracing::info!(service.id = %id, task.id = %task, ?slot, "update: replacing slot")
        }
        Write::Stop(tasks) => {
            tracing::debug!(service.id = %id, ?tasks, "update: stopping old tasks")
        }
        Write::Start(task) => {
            tracing::debug!(service.id = %id, task.id = %task, "update: starting new task")
        }
        Write::Status(change) => tracing::info!(service.id = %id, ?change, "update status"),
    }
}

/// Performs `writes` in one transaction, if the service is still at spec `version`.
fn apply_writes(
    tx: &mut shoal_store::Tx<'_>,
    id: &ServiceId,
    version: Version,
    writes: &[Write],
    stamp: &str,
) -> Result<(), StoreError> {
    let Some(mut service) = tx.service(id.as_str()) else {
        return Ok(());
    };
    if service.spec_version != version {
        return Ok(());
    }
    let mut service_changed = false;
    for w in writes {
        match w {
            Write::Create {
                slot,
                id: task_id,
                desired,
                stop,
            } => {
                for old in stop {
                    orchestrator::stage_stop(tx, old, TaskState::Shutdown)?;
                }
                let (number, node) = match slot {
                    SlotKey::Slot(n) => (*n, None),
                    SlotKey::Node(node) => (0, Some(node.clone())),
                };
                let mut task = new_task(&service, number, node, task_id.clone(), stamp.to_string());
                task.desired_state = *desired;
                tx.create(Object::Task(task))?;
            }
            Write::Stop(ids) => {
                for old in ids {
                    orchestrator::stage_stop(tx, old, TaskState::Shutdown)?;
                }
            }
            Write::Start(task_id) => {
                if let Some(mut task) = tx.task(task_id.as_str())
                    && task.desired_state < TaskState::Running
                {
                    task.desired_state = TaskState::Running;
                    tx.update(Object::Task(task))?;
                }
            }
            Write::Status(change) => {
                service_changed |= status::apply(&mut service, change, stamp);
            }
        }
    }
    if service_changed {
        tx.update(Object::Service(service))?;
    }
    Ok(())
}
