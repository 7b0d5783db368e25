use super::*;
use crate::update::policy::{FailureAction, Order};
use crate::update::status::StatusChange;
use crate::update::testing::{service, task};
use shoal_types::api::{ServiceSpecUpdateConfig, ServiceSpecUpdateConfigOrderEnum};

/// A tiny cluster: applies a run's writes the way the supervisor and the agents would.
struct Sim {
    service: Service,
    tasks: Vec<Task>,
    live: BTreeSet<NodeId>,
    now: Instant,
    next: u32,
}

impl Sim {
    /// `replicas` tasks of v1 running; the service now at v2 with `config`.
    fn new(replicas: u64, config: ServiceSpecUpdateConfig) -> Self {
        let mut service = service("v2", 2, replicas as i64);
        service.spec.update_config = Some(config);
        let tasks = (1..=replicas)
            .map(|s| task(&format!("old{s}"), s, "v1", 1, TaskState::Running))
            .collect();
        Self {
            service,
            tasks,
            live: BTreeSet::from(["n1".into()]),
            now: Instant::now(),
            next: 0,
        }
    }

    fn step(&mut self, run: &mut Run) -> Vec<Write> {
        let view = View {
            service: &self.service,
            tasks: self.tasks.iter().collect(),
            live_nodes: &self.live,
        };
        let next = &mut self.next;
        let writes = run.step(&view, self.now, &mut || {
            *next += 1;
            TaskId::from(format!("new{next}").as_str())
        });
        for w in &writes {
            match w {
                Write::Create {
                    slot: SlotKey::Slot(slot),
                    id,
                    desired,
                    stop,
                } => {
                    self.stop(stop);
                    let mut t = task(id.as_str(), *slot, "v2", 2, TaskState::New);
                    t.desired_state = *desired;
                    self.tasks.push(t);
                }
                Write::Create { .. } => panic!("replicated slots only"),
                Write::Stop(ids) => self.stop(ids),
                Write::Start(id) => self.get(id.as_str()).desired_state = TaskState::Running,
                Write::Status(_) => {}
            }
        }
        writes
    }

    fn stop(&mut self, ids: &[TaskId]) {
        for id in ids {
            self.get(id.as_str()).desired_state = TaskState::Shutdown;
        }
    }

    fn get(&mut self, id: &str) -> &mut Task {
        self.tasks
            .iter_mut()
            .find(|t| t.id.as_str() == id)
            .unwrap_or_else(|| panic!("no task {id}"))
    }

    /// The agents: stop what should stop, run what should run (or fail it).
    fn agents(&mut self, fail: bool) {
        for t in &mut self.tasks {
            if t.desired_state == TaskState::Shutdown && !t.status.state.is_terminal() {
                t.status.state = TaskState::Shutdown;
            } else if t.desired_state == TaskState::Running && t.status.state < TaskState::Running {
                t.status.state = if fail {
                    TaskState::Failed
                } else {
                    TaskState::Running
                };
            }
        }
    }

    fn running(&self) -> Vec<&str> {
        self.tasks
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .map(|t| t.id.as_str())
            .collect()
    }

    fn wait(&mut self, d: Duration) {
        self.now += d;
    }

    fn begin(&self) -> Run {
        let refs: Vec<&Task> = self.tasks.iter().collect();
        let dirty = crate::update::slots::dirty_slots(&self.service, &refs).len();
        Run::begin(&self.service, dirty, false)
    }
}

fn config(
    parallelism: i64,
    delay: Duration,
    order: ServiceSpecUpdateConfigOrderEnum,
) -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: Some(parallelism),
        delay: Some(delay.as_nanos() as i64),
        order: Some(order),
        monitor: Some(Duration::from_secs(1).as_nanos() as i64),
        ..Default::default()
    }
}

fn creates(writes: &[Write]) -> Vec<u64> {
    writes
        .iter()
        .filter_map(|w| match w {
            Write::Create {
                slot: SlotKey::Slot(s),
                ..
            } => Some(*s),
            _ => None,
        })
        .collect()
}

fn status(writes: &[Write]) -> Option<&StatusChange> {
    writes.iter().find_map(|w| match w {
        Write::Status(s) => Some(s),
        _ => None,
    })
}

#[test]
fn stop_first_replaces_two_slots_per_batch_with_the_delay_between() {
    let mut sim = Sim::new(
        4,
        config(
            2,
            Duration::from_secs(2),
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        ),
    );
    let mut run = sim.begin();
    let w = sim.step(&mut run);
    assert_eq!(creates(&w), [1, 2], "the first batch");
    assert!(
        w.iter().all(|w| !matches!(w, Write::Start(_))),
        "new tasks wait for the old ones to stop"
    );
    sim.agents(false);
    assert_eq!(sim.running(), ["old3", "old4"]);
    let w = sim.step(&mut run);
    assert_eq!(
        w,
        [Write::Start("new1".into()), Write::Start("new2".into())]
    );
    sim.agents(false);
    assert!(
        sim.step(&mut run).is_empty(),
        "the batch rests for the delay"
    );
    sim.wait(Duration::from_millis(1999));
    assert!(creates(&sim.step(&mut run)).is_empty());
    sim.wait(Duration::from_millis(1));
    assert_eq!(
        creates(&sim.step(&mut run)),
        [3, 4],
        "the second batch, 2 s later"
    );
    sim.agents(false);
    sim.step(&mut run);
    sim.agents(false);
    sim.step(&mut run);
    assert_eq!(sim.running(), ["new1", "new2", "new3", "new4"]);
    sim.wait(Duration::from_secs(2));
    assert_eq!(
        sim.step(&mut run),
        [],
        "the last workers rest, then the final watch begins"
    );
    sim.wait(Duration::from_millis(2999));
    assert_eq!(sim.step(&mut run), [], "the final watch is delay + 1 s");
    sim.wait(Duration::from_millis(1));
    assert_eq!(status(&sim.step(&mut run)), Some(&StatusChange::Complete));
    assert!(run.is_finished());
}

#[test]
fn start_first_stops_the_old_task_only_once_the_new_one_runs() {
    let mut sim = Sim::new(
        2,
        config(
            1,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        ),
    );
    let mut run = sim.begin();
    let w = sim.step(&mut run);
    assert_eq!(
        w,
        [Write::Create {
            slot: SlotKey::Slot(1),
            id: "new1".into(),
            desired: TaskState::Running,
            stop: vec![],
        }]
    );
    assert!(
        sim.step(&mut run).is_empty(),
        "nothing until the new task runs"
    );
    sim.agents(false);
    let w = sim.step(&mut run);
    assert_eq!(w[0], Write::Stop(vec!["old1".into()]));
    assert_eq!(creates(&w), [2], "no delay: the next slot at once");
    assert_eq!(
        sim.running(),
        ["old1", "old2", "new1"],
        "never fewer than before"
    );
}

#[test]
fn a_new_task_that_fails_pauses_the_update_with_dockers_message() {
    let mut sim = Sim::new(
        4,
        config(
            1,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        ),
    );
    let mut run = sim.begin();
    sim.step(&mut run);
    sim.agents(false);
    sim.step(&mut run);
    sim.agents(true);
    let w = sim.step(&mut run);
    assert_eq!(
        status(&w),
        Some(&StatusChange::Pause(
            "update paused due to failure or early termination of task new1".into()
        ))
    );
    assert!(creates(&w).is_empty(), "no further slot is touched");
    assert_eq!(sim.running(), ["old2", "old3", "old4"]);
    assert!(run.is_finished() && sim.step(&mut run).is_empty());
}

#[test]
fn failure_action_rollback_restores_the_previous_spec_but_never_rolls_back_a_rollback() {
    let mut cfg = config(
        1,
        Duration::ZERO,
        ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
    );
    cfg.failure_action = Some(shoal_types::api::ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK);
    let mut sim = Sim::new(2, cfg);
    let mut run = sim.begin();
    assert_eq!(run.policy.failure_action, FailureAction::Rollback);
    sim.step(&mut run);
    sim.agents(false);
    sim.step(&mut run);
    sim.agents(true);
    assert_eq!(
        status(&sim.step(&mut run)),
        Some(&StatusChange::Rollback(
            "update rolled back due to failure or early termination of task new1".into()
        ))
    );

    let mut sim = Sim::new(2, Default::default());
    sim.service.spec.rollback_config = Some(shoal_types::api::ServiceSpecRollbackConfig::default());
    let mut run = Run::begin(&sim.service, 2, true);
    run.policy.failure_action = FailureAction::Rollback;
    sim.step(&mut run);
    sim.agents(false);
    sim.step(&mut run);
    sim.agents(true);
    assert!(matches!(
        status(&sim.step(&mut run)),
        Some(StatusChange::Pause(m)) if m.starts_with("rollback paused due to failure")
    ));
}

#[test]
fn failures_within_the_ratio_and_with_continue_do_not_stop_the_update() {
    let mut cfg = config(
        0,
        Duration::ZERO,
        ServiceSpecUpdateConfigOrderEnum::START_FIRST,
    );
    cfg.max_failure_ratio = Some(0.5);
    let mut sim = Sim::new(4, cfg);
    let mut run = sim.begin();
    assert_eq!(
        creates(&sim.step(&mut run)),
        [1, 2, 3, 4],
        "parallelism 0: all at once"
    );
    sim.get("new1").status.state = TaskState::Failed;
    sim.get("new2").status.state = TaskState::Failed;
    assert_eq!(
        status(&sim.step(&mut run)),
        None,
        "2 of 4 is not more than 0.5"
    );
    sim.get("new3").status.state = TaskState::Failed;
    assert!(matches!(
        status(&sim.step(&mut run)),
        Some(StatusChange::Pause(_))
    ));

    let mut sim = Sim::new(
        2,
        config(
            0,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        ),
    );
    let mut run = sim.begin();
    run.policy.failure_action = FailureAction::Continue;
    sim.step(&mut run);
    sim.agents(true);
    assert_eq!(status(&sim.step(&mut run)), None);
    sim.wait(Duration::from_secs(1));
    assert_eq!(status(&sim.step(&mut run)), Some(&StatusChange::Complete));
}

#[test]
fn a_task_that_fails_after_its_monitor_window_is_not_a_failure() {
    let mut sim = Sim::new(
        2,
        config(
            2,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        ),
    );
    if let Some(c) = sim.service.spec.update_config.as_mut() {
        c.monitor = Some(5_000_000_000);
    }
    let mut run = sim.begin();
    sim.step(&mut run);
    sim.agents(false);
    sim.step(&mut run);
    sim.wait(Duration::from_secs(6));
    sim.get("new1").status.state = TaskState::Failed;
    assert_eq!(status(&sim.step(&mut run)), Some(&StatusChange::Complete));
}

#[test]
fn a_slot_that_already_holds_a_current_task_keeps_it() {
    let mut sim = Sim::new(
        1,
        config(
            1,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        ),
    );
    sim.tasks.push(task("cur", 1, "v2", 2, TaskState::Running));
    let mut run = sim.begin();
    let w = sim.step(&mut run);
    assert_eq!(w[0], Write::Stop(vec!["old1".into()]));
    assert!(creates(&w).is_empty());
    assert_eq!(run.in_flight(), 0);
}

#[test]
fn a_stop_first_task_starts_anyway_when_the_old_one_never_stops() {
    let mut sim = Sim::new(
        1,
        config(
            1,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        ),
    );
    let mut run = sim.begin();
    sim.step(&mut run);
    assert_eq!(run.wake_at(), Some(sim.now + OLD_TASK_TIMEOUT));
    sim.wait(OLD_TASK_TIMEOUT);
    assert_eq!(sim.step(&mut run), [Write::Start("new1".into())]);
}

#[test]
fn an_old_task_on_a_down_node_counts_as_stopped() {
    let mut sim = Sim::new(
        1,
        config(
            1,
            Duration::ZERO,
            ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
        ),
    );
    let mut run = sim.begin();
    sim.step(&mut run);
    sim.live.clear();
    assert_eq!(sim.step(&mut run), [Write::Start("new1".into())]);
}

#[test]
fn the_default_policy_is_stop_first_one_at_a_time() {
    let run = Run::begin(&service("x", 1, 1), 3, false);
    assert_eq!(run.policy.order, Order::StopFirst);
    assert_eq!(run.policy.workers(3), 1);
}
