//! The task state machine on the agent: a pure function from (task, what the runner has
//! observed) to the next thing to do.
//!
//! It follows SwarmKit's `agent/exec.Do`: states only move forward; ACCEPTED, PREPARING, READY
//! and STARTING are reported on the way; a failure before the container starts rejects the
//! task, one after fails it; a desired state of SHUTDOWN or beyond stops the container and
//! reports SHUTDOWN. The runner performs the returned action and feeds the outcome back in.

use crate::executor::{ExitStatus, Health};
use shoal_types::api::{ContainerStatus, EndpointPortConfigPublishModeEnum, PortStatus};
use shoal_types::{Task, TaskState};

/// What the runner knows about the task's container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContainerState {
    /// None is known to exist.
    #[default]
    Absent,
    /// Created by `prepare` (or adopted), not started.
    Created,
    /// Started (or adopted while running).
    Running { pid: i64 },
    /// Exited on its own.
    Exited(ExitStatus),
    /// Stopped by `shutdown`.
    Stopped,
    /// An operation failed for good; `rejected` when the task cannot run here at all.
    Failed { err: String, rejected: bool },
}

/// The runner's view of one task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The last state reported for the task (or the manager's, if further on).
    pub state: TaskState,
    pub container: ContainerState,
    /// The container's id once known (empty before).
    pub container_id: String,
    /// The container's health while it runs.
    pub health: Health,
}

/// `Status.Err` of a task whose container became unhealthy.
pub const UNHEALTHY_ERR: &str = "task: unhealthy container";

/// A status to report to the dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub state: TaskState,
    pub message: &'static str,
    pub err: String,
    pub container_status: Option<ContainerStatus>,
}

/// The next thing a task runner does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Report this status; no engine call.
    Report(Report),
    Prepare,
    Start,
    Wait,
    Shutdown,
    /// Nothing to do until the task changes.
    Idle,
}

/// The `Message` SwarmKit writes with each state the agent reports.
/// The task's host-mode published ports, for its RUNNING status (`docker service ps` shows
/// them as Docker does). Taken from the endpoint the task was made with: a host-mode port
/// without a published port (the engine picks one) is shown as published 0.
pub fn host_port_status(task: &Task) -> PortStatus {
    let ports: Vec<_> = task
        .endpoint
        .as_ref()
        .and_then(|e| e.ports.as_ref())
        .into_iter()
        .flatten()
        .filter(|p| p.publish_mode == Some(EndpointPortConfigPublishModeEnum::HOST))
        .cloned()
        .collect();
    PortStatus {
        ports: (!ports.is_empty()).then_some(ports),
    }
}

pub fn message_for(state: TaskState) -> &'static str {
    match state {
        TaskState::Accepted => "accepted",
        TaskState::Preparing => "preparing",
        TaskState::Ready => "prepared",
        TaskState::Starting => "starting",
        TaskState::Running => "started",
        TaskState::Complete => "finished",
        TaskState::Shutdown => "shutdown",
        _ => "",
    }
}

/// Docker's error text for a non-zero exit (moby `daemon/cluster/executor/container`
/// `exitError`), with the engine's error appended when there is one.
pub fn exit_error(exit: &ExitStatus) -> String {
    if exit.error.is_empty() {
        format!("task: non-zero exit ({})", exit.exit_code)
    } else {
        format!("task: non-zero exit ({}): {}", exit.exit_code, exit.error)
    }
}

/// Decides the runner's next action.
pub fn step(task: &Task, observed: &Observed) -> Action {
    let current = observed.state;
    if current.is_terminal() {
        // A finished task must not leave a process behind (e.g. a container adopted after a
        // restart whose task the manager already ended).
        return match observed.container {
            ContainerState::Running { .. } => Action::Shutdown,
            _ => Action::Idle,
        };
    }

    if task.desired_state >= TaskState::Shutdown {
        return match &observed.container {
            ContainerState::Running { .. } | ContainerState::Created => Action::Shutdown,
            ContainerState::Absent | ContainerState::Stopped => report(
                observed,
                TaskState::Shutdown,
                message_for(TaskState::Shutdown),
                String::new(),
            ),
            // It ended on its own before it was stopped: that outcome is the truth.
            ContainerState::Exited(exit) => exited(observed, exit),
            ContainerState::Failed { err, rejected } => failed(observed, err, *rejected),
        };
    }

    match &observed.container {
        ContainerState::Exited(exit) => return exited(observed, exit),
        ContainerState::Failed { err, rejected } => return failed(observed, err, *rejected),
        ContainerState::Stopped => {
            return report(
                observed,
                TaskState::Shutdown,
                message_for(TaskState::Shutdown),
                String::new(),
            );
        }
        // An unhealthy container fails the task; the restart policy replaces it.
        ContainerState::Running { .. } if observed.health == Health::Unhealthy => {
            return report(
                observed,
                TaskState::Failed,
                message_for(TaskState::Running),
                UNHEALTHY_ERR.to_string(),
            );
        }
        // A container with a healthcheck stays STARTING until it is healthy.
        ContainerState::Running { .. }
            if current < TaskState::Running && !observed.health.allows_running() =>
        {
            return Action::Wait;
        }
        ContainerState::Running { .. } if current < TaskState::Running => {
            return report(
                observed,
                TaskState::Running,
                message_for(TaskState::Running),
                String::new(),
            );
        }
        ContainerState::Running { .. } => return Action::Wait,
        ContainerState::Absent | ContainerState::Created => {}
    }

    let created = observed.container == ContainerState::Created;
    let next = match current {
        s if s < TaskState::Accepted => TaskState::Accepted,
        TaskState::Accepted => TaskState::Preparing,
        TaskState::Preparing if created => TaskState::Ready,
        TaskState::Preparing => return Action::Prepare,
        TaskState::Ready => TaskState::Starting,
        // A container lost while the agent was away is made again before starting.
        TaskState::Starting if created => return Action::Start,
        TaskState::Starting => return Action::Prepare,
        // Running with no running container: a created one is started again; an absent one
        // is waited on, and the engine's "no such container" fails the task.
        _ if created => return Action::Start,
        _ => return Action::Wait,
    };
    // Pause states: a task desired READY is prepared but not started (SwarmKit's updater).
    if next > task.desired_state {
        return Action::Idle;
    }
    report(observed, next, message_for(next), String::new())
}

fn exited(observed: &Observed, exit: &ExitStatus) -> Action {
    let status = Some(ContainerStatus {
        container_id: Some(exit.container_id.clone()).filter(|id| !id.is_empty()),
        pid: Some(0),
        exit_code: Some(exit.exit_code),
    });
    let action = if exit.exit_code == 0 {
        report(
            observed,
            TaskState::Complete,
            message_for(TaskState::Complete),
            String::new(),
        )
    } else {
        // Docker keeps the message of the state the task failed in ("started").
        report(
            observed,
            TaskState::Failed,
            message_for(TaskState::Running),
            exit_error(exit),
        )
    };
    with_container_status(action, status)
}

fn failed(observed: &Observed, err: &str, rejected: bool) -> Action {
    let state = if rejected || observed.state < TaskState::Starting {
        TaskState::Rejected
    } else {
        TaskState::Failed
    };
    report(
        observed,
        state,
        message_for(observed.state),
        err.to_string(),
    )
}

fn report(observed: &Observed, state: TaskState, message: &'static str, err: String) -> Action {
    let container_status = match &observed.container {
        ContainerState::Running { pid } => Some(ContainerStatus {
            container_id: Some(observed.container_id.clone()).filter(|id| !id.is_empty()),
            pid: Some(*pid),
            exit_code: Some(0),
        }),
        _ if !observed.container_id.is_empty() => Some(ContainerStatus {
            container_id: Some(observed.container_id.clone()),
            pid: Some(0),
            exit_code: None,
        }),
        _ => None,
    };
    Action::Report(Report {
        state,
        message,
        err,
        container_status,
    })
}

fn with_container_status(action: Action, status: Option<ContainerStatus>) -> Action {
    match action {
        Action::Report(r) => Action::Report(Report {
            container_status: status,
            ..r
        }),
        other => other,
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
