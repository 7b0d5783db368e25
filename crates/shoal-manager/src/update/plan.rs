//! One update run's pure state machine: which slots to replace next, when a replaced slot
//! is done, when too many new tasks failed, and when the run is complete.
//!
//! It follows SwarmKit's `Updater.Run`: `parallelism` workers each take a dirty slot, make
//! its new task, wait until that task runs (the agent reports RUNNING only once a task with
//! a healthcheck is healthy), then wait `delay` before taking the next slot. `stop-first`
//! creates the new task with desired state READY and stops the old ones in the same
//! transaction, and raises the new task to RUNNING once the old ones have stopped;
//! `start-first` creates it RUNNING and stops the old ones once it runs. A task this run
//! created that ends within `monitor` of running (or before it ever ran) is a failure; past
//! `max_failure_ratio` of the slots the run was started for, the failure action runs. After
//! the last slot, the run watches for one more monitor window and completes.
//!
//! [`Run::step`] takes the current tasks and the time and returns the [`Write`]s to make; the
//! update supervisor performs them. Nothing here does I/O.

use super::policy::{FailureAction, Order, UpdatePolicy};
use super::slots::{SlotKey, is_slot_dirty, slots_of};
use super::status::{StatusChange, paused_message, rollback_paused_message, rolled_back_message};
use crate::orchestrator::is_dirty;
use shoal_types::{NodeId, Service, Task, TaskId, TaskState, Version};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use tokio::time::Instant;

/// How long a `stop-first` slot waits for its old task to stop before starting the new one
/// anyway (SwarmKit `restart.go` `defaultOldTaskTimeout`).
pub const OLD_TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// A store change a run asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create task `id` in `slot` from the current spec with desired state `desired` (READY
    /// for stop-first, RUNNING for start-first), and stop the `stop` tasks in the same
    /// transaction.
    Create {
        slot: SlotKey,
        id: TaskId,
        desired: TaskState,
        stop: Vec<TaskId>,
    },
    /// Set desired state SHUTDOWN on these tasks, if they are still runnable.
    Stop(Vec<TaskId>),
    /// Raise a task's desired state from READY to RUNNING.
    Start(TaskId),
    /// Change the service's update status.
    Status(StatusChange),
}

/// What a run reads: the service, all of its tasks, and the nodes that are not down.
pub struct View<'a> {
    pub service: &'a Service,
    pub tasks: Vec<&'a Task>,
    pub live_nodes: &'a BTreeSet<NodeId>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Stop-first: the old tasks were told to stop; the new one (desired READY) starts when
    /// they have.
    WaitingForOld,
    /// The new task is desired RUNNING; waiting for it to run (or end).
    Starting,
    /// The slot is done; its worker rests until `free_at` (the delay).
    Cooling { free_at: Instant },
}

/// One slot being replaced: a worker is busy with it.
#[derive(Debug, Clone)]
struct InFlight {
    task: TaskId,
    old: Vec<TaskId>,
    order: Order,
    phase: Phase,
    since: Instant,
}

/// An update (or rollback) of one service to one spec version.
#[derive(Debug, Clone)]
pub struct Run {
    /// The spec version this run rolls out; a different one supersedes the run.
    pub spec_version: Version,
    /// Whether this run is a rollback (follows `RollbackConfig`, never rolls back).
    pub rollback: bool,
    pub policy: UpdatePolicy,
    /// Dirty slots when the run began: the failure ratio's denominator.
    total: usize,
    handed_out: BTreeSet<SlotKey>,
    in_flight: BTreeMap<SlotKey, InFlight>,
    /// Tasks this run created, with the time they were first seen running.
    watched: BTreeMap<TaskId, Option<Instant>>,
    failures: BTreeSet<TaskId>,
    monitor_until: Option<Instant>,
    finished: bool,
}

/// Whether a task the run created ended badly: failed, rejected, completed early, or shut
/// down although nobody asked it to stop.
pub fn is_failure(task: &Task) -> bool {
    let state = task.status.state;
    state > TaskState::Running
        && !(state == TaskState::Shutdown && task.desired_state > TaskState::Running)
}

/// Whether an old task no longer runs: it ended, never reached a node, or its node is down.
fn has_stopped(task: &Task, live_nodes: &BTreeSet<NodeId>) -> bool {
    task.status.state.is_terminal()
        || task.status.state < TaskState::Assigned
        || !live_nodes.contains(&task.node_id)
}

impl Run {
    /// A run of `service`'s current spec over `dirty` slots; a rollback when `rollback`.
    pub fn begin(service: &Service, dirty: usize, rollback: bool) -> Self {
        Self {
            spec_version: service.spec_version,
            rollback,
            policy: UpdatePolicy::of(&service.spec, rollback),
            total: dirty.max(1),
            handed_out: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            watched: BTreeMap::new(),
            failures: BTreeSet::new(),
            monitor_until: None,
            finished: false,
        }
    }

    /// The run completed, paused or rolled back: it makes no more writes.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Slots being replaced now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// When the run must step again without an event (a delay, the final watch, the old
    /// task timeout).
    pub fn wake_at(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let slots = self.in_flight.values().filter_map(|f| match f.phase {
            Phase::WaitingForOld => Some(f.since + OLD_TASK_TIMEOUT),
            Phase::Cooling { free_at } => Some(free_at),
            Phase::Starting => None,
        });
        slots.chain(self.monitor_until).min()
    }

    /// A write for `slot` did not happen: take the slot again later.
    pub fn retry(&mut self, slot: &SlotKey) {
        self.in_flight.remove(slot);
        self.handed_out.remove(slot);
    }

    /// Decides the next writes from the current tasks at time `now`. `new_id` names the tasks
    /// it creates.
    pub fn step(
        &mut self,
        view: &View<'_>,
        now: Instant,
        new_id: &mut dyn FnMut() -> TaskId,
    ) -> Vec<Write> {
        let mut writes = Vec::new();
        if self.finished {
            return writes;
        }
        let by_id: HashMap<&str, &Task> = view.tasks.iter().map(|t| (t.id.as_str(), *t)).collect();
        let slots = slots_of(view.service, &view.tasks);
        self.advance(&by_id, &slots, view.live_nodes, now, &mut writes);
        if let Some(change) = self.check_failures(&by_id, now) {
            self.finished = true;
            writes.push(Write::Status(change));
            return writes;
        }
        self.hand_out(view.service, &slots, now, new_id, &mut writes);
        let remaining = slots
            .iter()
            .any(|(k, s)| !self.handed_out.contains(k) && is_slot_dirty(view.service, s));
        if self.in_flight.is_empty() && !remaining {
            let until = *self
                .monitor_until
                .get_or_insert(now + self.policy.final_monitor());
            if until <= now {
                self.finished = true;
                writes.push(Write::Status(StatusChange::Complete));
            }
        } else {
            self.monitor_until = None;
        }
        writes
    }

    /// Moves the slots in flight along: start stop-first tasks whose old task stopped, note
    /// new tasks that run, stop the old task of a start-first slot, free rested workers.
    fn advance(
        &mut self,
        by_id: &HashMap<&str, &Task>,
        slots: &BTreeMap<SlotKey, Vec<&Task>>,
        live_nodes: &BTreeSet<NodeId>,
        now: Instant,
        writes: &mut Vec<Write>,
    ) {
        let mut retry = Vec::new();
        let mut free = Vec::new();
        for (key, f) in self.in_flight.iter_mut() {
            let Some(task) = by_id.get(f.task.as_str()) else {
                if !matches!(f.phase, Phase::Cooling { .. }) {
                    retry.push(key.clone());
                    continue;
                }
                free.push(key.clone());
                continue;
            };
            if f.phase == Phase::WaitingForOld {
                let stopped = f.old.iter().all(|id| {
                    by_id
                        .get(id.as_str())
                        .is_none_or(|t| has_stopped(t, live_nodes))
                });
                if stopped || now >= f.since + OLD_TASK_TIMEOUT {
                    writes.push(Write::Start(f.task.clone()));
                    f.phase = Phase::Starting;
                }
            }
            if f.phase == Phase::Starting && task.status.state >= TaskState::Running {
                if let Some(since) = self.watched.get_mut(&f.task) {
                    since.get_or_insert(now);
                }
                if f.order == Order::StartFirst && task.status.state == TaskState::Running {
                    let old: Vec<TaskId> = slots
                        .get(key)
                        .into_iter()
                        .flatten()
                        .filter(|t| t.id != f.task)
                        .map(|t| t.id.clone())
                        .collect();
                    if !old.is_empty() {
                        writes.push(Write::Stop(old));
                    }
                }
                f.phase = Phase::Cooling {
                    free_at: now + self.policy.delay,
                };
            }
            if let Phase::Cooling { free_at } = f.phase
                && free_at <= now
            {
                free.push(key.clone());
            }
        }
        for key in retry {
            self.retry(&key);
        }
        for key in free {
            self.in_flight.remove(&key);
        }
    }

    /// Counts new failures of the run's tasks; returns the status change when the failure
    /// action must run.
    fn check_failures(
        &mut self,
        by_id: &HashMap<&str, &Task>,
        now: Instant,
    ) -> Option<StatusChange> {
        let monitor = self.policy.monitor;
        let newly: Vec<TaskId> = self
            .watched
            .iter()
            .filter(|(id, _)| !self.failures.contains(*id))
            .filter(|(id, since)| {
                by_id.get(id.as_str()).is_some_and(|t| is_failure(t))
                    && since.is_none_or(|s| now.saturating_duration_since(s) <= monitor)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in newly {
            self.failures.insert(id.clone());
            let ratio = self.failures.len() as f64 / self.total as f64;
            if ratio <= self.policy.max_failure_ratio {
                continue;
            }
            match self.policy.failure_action {
                FailureAction::Continue => {}
                FailureAction::Pause => {
                    let message = if self.rollback {
                        rollback_paused_message(id.as_str())
                    } else {
                        paused_message(id.as_str())
                    };
                    return Some(StatusChange::Pause(message));
                }
                FailureAction::Rollback if self.rollback => {
                    return Some(StatusChange::Pause(rollback_paused_message(id.as_str())));
                }
                FailureAction::Rollback => {
                    return Some(StatusChange::Rollback(rolled_back_message(id.as_str())));
                }
            }
        }
        None
    }

    /// Gives free workers the next dirty slots.
    fn hand_out(
        &mut self,
        service: &Service,
        slots: &BTreeMap<SlotKey, Vec<&Task>>,
        now: Instant,
        new_id: &mut dyn FnMut() -> TaskId,
        writes: &mut Vec<Write>,
    ) {
        let workers = self.policy.workers(self.total);
        for (key, slot) in slots {
            if self.in_flight.len() >= workers {
                return;
            }
            if self.handed_out.contains(key) || !is_slot_dirty(service, slot) {
                continue;
            }
            self.handed_out.insert(key.clone());
            // A task of the current spec already in the slot (from a superseded run or a
            // restart) is kept and the others stopped (SwarmKit `useExistingTask`).
            let clean = slot
                .iter()
                .filter(|t| !is_dirty(service, t))
                .max_by_key(|t| t.desired_state == TaskState::Running);
            if let Some(keep) = clean {
                let others: Vec<TaskId> = slot
                    .iter()
                    .filter(|t| t.id != keep.id)
                    .map(|t| t.id.clone())
                    .collect();
                if !others.is_empty() {
                    writes.push(Write::Stop(others.clone()));
                }
                let phase = if keep.desired_state == TaskState::Running {
                    Phase::Cooling {
                        free_at: now + self.policy.delay,
                    }
                } else {
                    Phase::WaitingForOld
                };
                if phase != (Phase::Cooling { free_at: now }) {
                    self.in_flight.insert(
                        key.clone(),
                        InFlight {
                            task: keep.id.clone(),
                            old: others,
                            order: Order::StopFirst,
                            phase,
                            since: now,
                        },
                    );
                }
                continue;
            }
            let id = new_id();
            let old: Vec<TaskId> = slot.iter().map(|t| t.id.clone()).collect();
            let (desired, stop, phase) = match self.policy.order {
                Order::StopFirst => (TaskState::Ready, old.clone(), Phase::WaitingForOld),
                Order::StartFirst => (TaskState::Running, Vec::new(), Phase::Starting),
            };
            writes.push(Write::Create {
                slot: key.clone(),
                id: id.clone(),
                desired,
                stop,
            });
            self.watched.insert(id.clone(), None);
            self.in_flight.insert(
                key.clone(),
                InFlight {
                    task: id,
                    old,
                    order: self.policy.order,
                    phase,
                    since: now,
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
