//! The restart supervisor: replaces tasks that stopped running although their desired state
//! is RUNNING, as their restart policy says.
//!
//! A task that ended (or whose node went down or was drained, for replicated services) gets a
//! [`policy::decide`] decision. A restart is pending for the policy's delay; during the
//! delay the old task keeps desired state RUNNING, so the orchestrators see its slot as
//! occupied and make nothing. When the delay is over, one transaction sets the old task's
//! desired state to SHUTDOWN and creates the new task in the same slot (global: on the same
//! node) from the service's current spec. The pending timers and the per-slot restart
//! history live here, in memory (SwarmKit keeps them in memory too); a new leader starts
//! the delays afresh.

pub mod policy;

pub use policy::{Condition, Decision, RestartPolicy, Situation, Trigger, decide};

use crate::batch::{BatchSize, MAX_CHANGES_PER_TX};
use crate::controller::{self, Controller};
use crate::orchestrator::{global, job_iteration, new_task};
use rand::SeedableRng;
use rand::rngs::StdRng;
use shoal_store::{Event, EventKind, StoreError, StoreHandle, Tables, Tx};
use shoal_types::api::{NodeSpecAvailabilityEnum, NodeState};
use shoal_types::service::ServiceMode;
use shoal_types::{Node, NodeId, Object, ServiceId, Task, TaskId, TaskState, Version};
use std::collections::{BTreeSet, HashMap};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Restart times remembered per slot; more than any sane `MaxAttempts` needs.
const HISTORY_CAP: usize = 256;

/// Why `task` needs the supervisor, if it does. Global tasks only count when they ended: a
/// node that goes down or is drained is the global orchestrator's business.
pub fn trigger_of(task: &Task, node: Option<&Node>, mode: ServiceMode) -> Option<Trigger> {
    if task.desired_state != TaskState::Running {
        return None;
    }
    if task.status.state.is_terminal() {
        return Some(Trigger::Ended(task.status.state));
    }
    if matches!(mode, ServiceMode::Global | ServiceMode::GlobalJob) || task.node_id.is_empty() {
        return None;
    }
    match node {
        None => Some(Trigger::NodeLost),
        Some(n) if n.status.state == Some(NodeState::DOWN) => Some(Trigger::NodeLost),
        Some(n) if n.availability() == NodeSpecAvailabilityEnum::DRAIN => {
            Some(Trigger::NodeDrained)
        }
        Some(_) => None,
    }
}

/// Identifies a slot for the restart history: the slot number, or the node for global tasks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SlotKey {
    service: ServiceId,
    slot: u64,
    node: NodeId,
}

impl SlotKey {
    fn of(task: &Task) -> Self {
        let node = if task.slot == 0 {
            task.node_id.clone()
        } else {
            NodeId::default()
        };
        Self {
            service: task.service_id.clone(),
            slot: task.slot,
            node,
        }
    }
}

#[derive(Debug, Default)]
struct History {
    spec_version: Version,
    /// Oldest first.
    restarts: Vec<Instant>,
}

/// The supervisor loop's state.
pub struct RestartSupervisor {
    all: bool,
    dirty_tasks: BTreeSet<TaskId>,
    dirty_nodes: BTreeSet<NodeId>,
    /// Restarts waiting for their delay, by old task.
    pending: HashMap<TaskId, Instant>,
    history: HashMap<SlotKey, History>,
    rng: StdRng,
}

impl RestartSupervisor {
    pub fn new(rng: StdRng) -> Self {
        Self {
            all: false,
            dirty_tasks: BTreeSet::new(),
            dirty_nodes: BTreeSet::new(),
            pending: HashMap::new(),
            history: HashMap::new(),
            rng,
        }
    }

    fn history_of(&self, task: &Task) -> &[Instant] {
        match self.history.get(&SlotKey::of(task)) {
            Some(h) if h.spec_version == task.spec_version => &h.restarts,
            _ => &[],
        }
    }

    fn record_restart(&mut self, key: SlotKey, spec_version: Version, at: Instant) {
        let h = self.history.entry(key).or_default();
        if h.spec_version != spec_version {
            *h = History {
                spec_version,
                restarts: Vec::new(),
            };
        }
        h.restarts.push(at);
        if h.restarts.len() > HISTORY_CAP {
            let excess = h.restarts.len() - HISTORY_CAP;
            h.restarts.drain(..excess);
        }
    }

    /// The decision for `task` now, from the view.
    fn decide_for(&self, tables: &Tables, task: &Task, now: Instant) -> Option<Decision> {
        let service = tables.services.get(task.service_id.as_str())?;
        let mode = service.mode();
        let node = tables.nodes.get(task.node_id.as_str());
        let trigger = trigger_of(task, node, mode)?;
        let node_eligible =
            node.is_some_and(|n| global::takes_new_tasks(&global::requirements(service), n));
        let situation = Situation {
            mode,
            trigger,
            policy: RestartPolicy::of(&task.spec),
            history: self.history_of(task),
            node_eligible,
            current_iteration: task.job_iteration == Some(job_iteration(service)),
            now,
        };
        Some(decide(&situation))
    }
}

/// Runs the restart supervisor until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(RestartSupervisor::new(StdRng::from_os_rng()), store, cancel).await
}

impl Controller for RestartSupervisor {
    const NAME: &'static str = "restart-supervisor";

    fn observe(&mut self, event: &Event) {
        match (&event.object, event.kind) {
            (Object::Task(t), EventKind::Deleted) => {
                self.pending.remove(&t.id);
            }
            (Object::Task(t), _)
                if (t.desired_state == TaskState::Running && t.status.state.is_terminal())
                    || self.pending.contains_key(&t.id) =>
            {
                self.dirty_tasks.insert(t.id.clone());
            }
            (Object::Node(n), kind) => {
                let gone = kind == EventKind::Deleted
                    || n.status.state == Some(NodeState::DOWN)
                    || n.availability() == NodeSpecAvailabilityEnum::DRAIN;
                if gone {
                    self.dirty_nodes.insert(n.id.clone());
                }
            }
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }

    async fn reconcile(&mut self, store: &StoreHandle, now: Instant) -> Result<(), StoreError> {
        let all = std::mem::take(&mut self.all);
        let dirty_tasks = std::mem::take(&mut self.dirty_tasks);
        let dirty_nodes = std::mem::take(&mut self.dirty_nodes);
        let mut stops: Vec<(TaskId, TaskState)> = Vec::new();
        let mut due: Vec<TaskId> = Vec::new();
        store.view(|tables| {
            let mut ids: BTreeSet<TaskId> = dirty_tasks;
            if all {
                ids.extend(tables.tasks.iter().filter(|t| t.desired_state == TaskState::Running).map(|t| t.id.clone()));
                self.pending.retain(|id, _| tables.tasks.get(id.as_str()).is_some());
            }
            for node in &dirty_nodes {
                ids.extend(tables.tasks.find("node", node.as_str()).into_iter().map(|t| t.id.clone()));
            }
            ids.extend(self.pending.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()));
            for id in ids {
                let decision = tables.tasks.get(id.as_str()).and_then(|t| self.decide_for(tables, t, now));
                match (decision, self.pending.get(&id).copied()) {
                    (None, _) => {
                        self.pending.remove(&id);
                    }
                    (Some(_), Some(at)) => {
                        if at <= now {
                            due.push(id);
                        }
                    }
                    (Some(Decision::Stop { desired }), None) => stops.push((id, desired)),
                    (Some(Decision::Restart { at }), None) => {
                        if at <= now {
                            due.push(id);
                        } else {
                            tracing::info!(task.id = %id, delay = ?(at - now), "task ended; restart pending");
                            self.pending.insert(id, at);
                        }
                    }
                }
            }
        });
        controller::update_in_batches(store, &stops, |tx, (id, desired)| {
            let Some(mut task) = tx.task(id.as_str()) else {
                return Ok(());
            };
            if task.desired_state != TaskState::Running {
                return Ok(());
            }
            tracing::info!(task.id = %task.id, service.id = %task.service_id, desired = %desired, "task ended; not restarting it");
            task.desired_state = *desired;
            tx.update(Object::Task(task))
        })
        .await?;
        // Each restart is two changes (the old task stopped, its replacement created); large
        // tasks make the batches smaller still.
        let mut size = BatchSize::new(MAX_CHANGES_PER_TX / 2);
        let mut rest = &due[..];
        while !rest.is_empty() {
            let stamp = controller::timestamp(store);
            let rng = &mut self.rng;
            let (done, made) = size
                .update_chunk(store, rest, |tx, chunk| {
                    let mut made = Vec::new();
                    for id in chunk {
                        if let Some(m) = stage_restart(tx, id, &stamp, rng)? {
                            made.push(m);
                        }
                    }
                    Ok(made)
                })
                .await?;
            for id in &rest[..done] {
                self.pending.remove(id);
            }
            rest = &rest[done..];
            for (key, version) in made {
                self.record_restart(key, version, now);
            }
        }
        Ok(())
    }
}

/// Stops the old task and creates its replacement, if the task still needs restarting.
fn stage_restart(
    tx: &mut Tx<'_>,
    id: &TaskId,
    stamp: &str,
    rng: &mut StdRng,
) -> Result<Option<(SlotKey, Version)>, StoreError> {
    let Some(mut old) = tx.task(id.as_str()) else {
        return Ok(None);
    };
    let Some(service) = tx.service(old.service_id.as_str()) else {
        return Ok(None);
    };
    let node = tx.node(old.node_id.as_str());
    if trigger_of(&old, node.as_ref(), service.mode()).is_none() {
        return Ok(None);
    }
    let on_node = (old.slot == 0).then(|| old.node_id.clone());
    let new = new_task(
        &service,
        old.slot,
        on_node,
        TaskId::generate(rng),
        stamp.to_string(),
    );
    tracing::info!(service.id = %service.id, task.id = %old.id, new_task.id = %new.id, slot = old.slot, "restarting task");
    let key = SlotKey::of(&old);
    let version = old.spec_version;
    old.desired_state = TaskState::Shutdown;
    tx.update(Object::Task(old))?;
    tx.create(Object::Task(new))?;
    Ok(Some((key, version)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::TaskStatus;
    use shoal_types::api::{NodeSpec, NodeStatus};

    fn task(state: TaskState, node: &str) -> Task {
        Task {
            node_id: node.into(),
            slot: 1,
            status: TaskStatus {
                state,
                ..Default::default()
            },
            desired_state: TaskState::Running,
            ..Default::default()
        }
    }

    fn node(state: NodeState, availability: NodeSpecAvailabilityEnum) -> Node {
        Node {
            spec: NodeSpec {
                availability: Some(availability),
                ..Default::default()
            },
            status: NodeStatus {
                state: Some(state),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const REPLICATED: ServiceMode = ServiceMode::Replicated { replicas: 1 };

    #[test]
    fn an_ended_task_that_should_run_needs_the_supervisor() {
        let up = node(NodeState::READY, NodeSpecAvailabilityEnum::ACTIVE);
        assert_eq!(
            trigger_of(&task(TaskState::Failed, "n"), Some(&up), REPLICATED),
            Some(Trigger::Ended(TaskState::Failed))
        );
        assert_eq!(
            trigger_of(&task(TaskState::Running, "n"), Some(&up), REPLICATED),
            None
        );
        let mut stopping = task(TaskState::Failed, "n");
        stopping.desired_state = TaskState::Shutdown;
        assert_eq!(
            trigger_of(&stopping, Some(&up), REPLICATED),
            None,
            "a task being stopped is not restarted"
        );
    }

    #[test]
    fn a_down_drained_or_removed_node_triggers_replicated_tasks_only() {
        let down = node(NodeState::DOWN, NodeSpecAvailabilityEnum::ACTIVE);
        let drained = node(NodeState::READY, NodeSpecAvailabilityEnum::DRAIN);
        let running = task(TaskState::Running, "n");
        assert_eq!(
            trigger_of(&running, Some(&down), REPLICATED),
            Some(Trigger::NodeLost)
        );
        assert_eq!(
            trigger_of(&running, None, REPLICATED),
            Some(Trigger::NodeLost)
        );
        assert_eq!(
            trigger_of(&running, Some(&drained), REPLICATED),
            Some(Trigger::NodeDrained)
        );
        assert_eq!(trigger_of(&running, Some(&down), ServiceMode::Global), None);
        assert_eq!(
            trigger_of(&task(TaskState::Pending, ""), None, REPLICATED),
            None
        );
    }
}
