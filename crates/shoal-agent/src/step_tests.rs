//! Scenarios for [`step`]: each test walks the state machine as the runner would.

#![allow(clippy::unwrap_used)]

use super::*;

fn task(desired: TaskState) -> Task {
    Task {
        desired_state: desired,
        ..Default::default()
    }
}

fn at(state: TaskState, container: ContainerState) -> Observed {
    Observed {
        state,
        container,
        container_id: String::new(),
        health: Health::NoCheck,
    }
}

fn reported(action: Action) -> Report {
    match action {
        Action::Report(r) => r,
        other => panic!("expected a report, got {other:?}"),
    }
}

/// Applies the runner's effect of `action` with every operation succeeding.
fn apply(observed: &mut Observed, action: &Action) {
    match action {
        Action::Report(r) => observed.state = r.state,
        Action::Prepare => observed.container = ContainerState::Created,
        Action::Start => {
            observed.container = ContainerState::Running { pid: 42 };
            observed.container_id = "c1".into();
        }
        Action::Shutdown => observed.container = ContainerState::Stopped,
        Action::Wait | Action::Idle => {}
    }
}

/// Runs `step` until it waits or idles, returning the reported states and operations.
fn run(task: &Task, observed: &mut Observed) -> (Vec<(TaskState, &'static str)>, Vec<Action>) {
    let (mut states, mut ops) = (Vec::new(), Vec::new());
    for _ in 0..32 {
        let action = step(task, observed);
        match &action {
            Action::Report(r) => states.push((r.state, r.message)),
            Action::Wait | Action::Idle => {
                ops.push(action);
                break;
            }
            op => ops.push(op.clone()),
        }
        apply(observed, &action);
    }
    (states, ops)
}

#[test]
fn an_assigned_task_walks_to_running_and_waits() {
    let t = task(TaskState::Running);
    let mut obs = at(TaskState::Assigned, ContainerState::Absent);
    let (states, ops) = run(&t, &mut obs);
    assert_eq!(
        states,
        vec![
            (TaskState::Accepted, "accepted"),
            (TaskState::Preparing, "preparing"),
            (TaskState::Ready, "prepared"),
            (TaskState::Starting, "starting"),
            (TaskState::Running, "started"),
        ]
    );
    assert_eq!(ops, vec![Action::Prepare, Action::Start, Action::Wait]);
}

#[test]
fn the_running_report_carries_container_id_and_pid() {
    let t = task(TaskState::Running);
    let obs = Observed {
        state: TaskState::Starting,
        container: ContainerState::Running { pid: 7 },
        container_id: "abc".into(),
        health: Health::NoCheck,
    };
    let r = reported(step(&t, &obs));
    let cs = r.container_status.unwrap();
    assert_eq!(
        (cs.container_id.as_deref(), cs.pid, cs.exit_code),
        (Some("abc"), Some(7), Some(0))
    );
}

#[test]
fn exit_zero_completes_the_task() {
    let exit = ExitStatus {
        container_id: "c1".into(),
        exit_code: 0,
        error: String::new(),
    };
    let r = reported(step(
        &task(TaskState::Running),
        &at(TaskState::Running, ContainerState::Exited(exit)),
    ));
    assert_eq!(
        (r.state, r.message, r.err.as_str()),
        (TaskState::Complete, "finished", "")
    );
}

#[test]
fn a_non_zero_exit_fails_the_task_with_dockers_text() {
    let exit = ExitStatus {
        container_id: "c1".into(),
        exit_code: 3,
        error: String::new(),
    };
    let r = reported(step(
        &task(TaskState::Running),
        &at(TaskState::Running, ContainerState::Exited(exit)),
    ));
    assert_eq!(
        (r.state, r.message, r.err.as_str()),
        (TaskState::Failed, "started", "task: non-zero exit (3)")
    );
    let cs = r.container_status.unwrap();
    assert_eq!(
        (cs.container_id.as_deref(), cs.pid, cs.exit_code),
        (Some("c1"), Some(0), Some(3))
    );
}

#[test]
fn the_engines_exit_error_is_appended() {
    let exit = ExitStatus {
        container_id: "c".into(),
        exit_code: 137,
        error: "OOM".into(),
    };
    assert_eq!(exit_error(&exit), "task: non-zero exit (137): OOM");
}

#[test]
fn a_missing_image_rejects_the_task_with_the_engine_message() {
    let failed = ContainerState::Failed {
        err: "No such image: x:1".into(),
        rejected: true,
    };
    let r = reported(step(
        &task(TaskState::Running),
        &at(TaskState::Preparing, failed),
    ));
    assert_eq!(
        (r.state, r.message, r.err.as_str()),
        (TaskState::Rejected, "preparing", "No such image: x:1")
    );
    assert!(r.container_status.is_none());
}

#[test]
fn an_engine_error_before_start_rejects_and_after_start_fails() {
    let failed = ContainerState::Failed {
        err: "boom".into(),
        rejected: false,
    };
    let before = reported(step(
        &task(TaskState::Running),
        &at(TaskState::Preparing, failed.clone()),
    ));
    assert_eq!(before.state, TaskState::Rejected);
    let during = reported(step(
        &task(TaskState::Running),
        &at(TaskState::Starting, failed),
    ));
    assert_eq!(
        (during.state, during.message),
        (TaskState::Failed, "starting")
    );
}

#[test]
fn desired_shutdown_stops_a_running_container_then_reports_shutdown() {
    let t = task(TaskState::Shutdown);
    let mut obs = at(TaskState::Running, ContainerState::Running { pid: 1 });
    let (states, ops) = run(&t, &mut obs);
    assert_eq!(ops, vec![Action::Shutdown, Action::Idle]);
    assert_eq!(states, vec![(TaskState::Shutdown, "shutdown")]);
}

#[test]
fn desired_shutdown_before_anything_ran_reports_shutdown_without_engine_calls() {
    let (states, ops) = run(
        &task(TaskState::Remove),
        &mut at(TaskState::Assigned, ContainerState::Absent),
    );
    assert_eq!(states, vec![(TaskState::Shutdown, "shutdown")]);
    assert_eq!(ops, vec![Action::Idle]);
}

#[test]
fn a_task_desired_ready_is_prepared_but_not_started() {
    let t = task(TaskState::Ready);
    let mut obs = at(TaskState::Assigned, ContainerState::Absent);
    let (states, ops) = run(&t, &mut obs);
    assert_eq!(states.last(), Some(&(TaskState::Ready, "prepared")));
    assert_eq!(ops, vec![Action::Prepare, Action::Idle]);
    // Raising the desired state resumes it.
    let (states, _) = run(&task(TaskState::Running), &mut obs);
    assert_eq!(
        states,
        vec![
            (TaskState::Starting, "starting"),
            (TaskState::Running, "started")
        ]
    );
}

#[test]
fn terminal_tasks_stay_terminal() {
    for state in [
        TaskState::Complete,
        TaskState::Failed,
        TaskState::Shutdown,
        TaskState::Rejected,
    ] {
        assert_eq!(
            step(
                &task(TaskState::Running),
                &at(state, ContainerState::Absent)
            ),
            Action::Idle
        );
        assert_eq!(
            step(
                &task(TaskState::Shutdown),
                &at(state, ContainerState::Stopped)
            ),
            Action::Idle
        );
    }
}

#[test]
fn a_container_still_running_for_a_terminal_task_is_stopped() {
    let obs = at(TaskState::Failed, ContainerState::Running { pid: 3 });
    assert_eq!(step(&task(TaskState::Running), &obs), Action::Shutdown);
}

#[test]
fn an_adopted_running_container_is_reported_running_and_waited_on() {
    let t = task(TaskState::Running);
    let mut obs = at(TaskState::Starting, ContainerState::Running { pid: 0 });
    let (states, ops) = run(&t, &mut obs);
    assert_eq!(states, vec![(TaskState::Running, "started")]);
    assert_eq!(ops, vec![Action::Wait]);
    // Already known as running: no report, just wait.
    assert_eq!(
        step(
            &t,
            &at(TaskState::Running, ContainerState::Running { pid: 0 })
        ),
        Action::Wait
    );
}

#[test]
fn an_adopted_exited_container_reports_its_terminal_state() {
    let exit = ExitStatus {
        container_id: "c9".into(),
        exit_code: 1,
        error: String::new(),
    };
    let r = reported(step(
        &task(TaskState::Running),
        &at(TaskState::Running, ContainerState::Exited(exit)),
    ));
    assert_eq!(r.state, TaskState::Failed);
}

#[test]
fn an_adopted_created_container_is_not_prepared_again() {
    let (_, ops) = run(
        &task(TaskState::Running),
        &mut at(TaskState::Preparing, ContainerState::Created),
    );
    assert_eq!(ops, vec![Action::Start, Action::Wait]);
}

#[test]
fn a_container_lost_before_start_is_created_again() {
    assert_eq!(
        step(
            &task(TaskState::Running),
            &at(TaskState::Starting, ContainerState::Absent)
        ),
        Action::Prepare
    );
}

#[test]
fn an_exit_racing_a_shutdown_reports_the_exit() {
    let exit = ExitStatus {
        container_id: "c".into(),
        exit_code: 0,
        error: String::new(),
    };
    let r = reported(step(
        &task(TaskState::Shutdown),
        &at(TaskState::Running, ContainerState::Exited(exit)),
    ));
    assert_eq!(r.state, TaskState::Complete);
}

#[test]
fn messages_match_swarmkit() {
    assert_eq!(message_for(TaskState::Ready), "prepared");
    assert_eq!(message_for(TaskState::Running), "started");
    assert_eq!(message_for(TaskState::Complete), "finished");
}

#[test]
fn a_container_with_a_healthcheck_stays_starting_until_healthy() {
    let t = task(TaskState::Running);
    let mut obs = at(TaskState::Starting, ContainerState::Running { pid: 9 });
    obs.health = Health::Unknown;
    assert_eq!(step(&t, &obs), Action::Wait, "health not known yet");
    obs.health = Health::Starting;
    assert_eq!(step(&t, &obs), Action::Wait, "(health: starting)");
    obs.health = Health::Healthy;
    assert_eq!(reported(step(&t, &obs)).state, TaskState::Running);
}

#[test]
fn an_unhealthy_container_fails_the_task() {
    let t = task(TaskState::Running);
    for state in [TaskState::Starting, TaskState::Running] {
        let mut obs = at(state, ContainerState::Running { pid: 9 });
        obs.health = Health::Unhealthy;
        let r = reported(step(&t, &obs));
        assert_eq!(
            (r.state, r.message, r.err.as_str()),
            (TaskState::Failed, "started", "task: unhealthy container")
        );
    }
    let mut failed = at(TaskState::Failed, ContainerState::Running { pid: 9 });
    failed.health = Health::Unhealthy;
    assert_eq!(
        step(&t, &failed),
        Action::Shutdown,
        "then its container is stopped"
    );
}

#[test]
fn the_port_status_lists_only_host_mode_ports() {
    use shoal_types::api::{
        EndpointPortConfig, EndpointPortConfigPublishModeEnum as Mode, ServiceEndpoint,
    };
    let port = |published, mode| EndpointPortConfig {
        target_port: Some(80),
        published_port: Some(published),
        publish_mode: Some(mode),
        ..Default::default()
    };
    let mut t = task(TaskState::Running);
    assert_eq!(host_port_status(&t).ports, None);
    t.endpoint = Some(ServiceEndpoint {
        ports: Some(vec![port(8080, Mode::INGRESS), port(8090, Mode::HOST)]),
        ..Default::default()
    });
    assert_eq!(
        host_port_status(&t).ports,
        Some(vec![port(8090, Mode::HOST)])
    );
}
