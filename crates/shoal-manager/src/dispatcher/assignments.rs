//! Pure rules of the session protocol: which tasks a node is sent, when a change is worth a
//! new message, and which status updates are accepted.

use shoal_store::{Event, EventKind, Tables};
use shoal_types::{Config, NodeId, Object, Secret, Task, TaskState, TaskStatus};
use std::collections::BTreeMap;

/// The complete set a node must know about: every task placed on it that has reached
/// ASSIGNED (running ones and ones to stop, ended ones until the reaper deletes them), in id
/// order. Tasks below ASSIGNED are not sent: they may not fit the node (SwarmKit keeps their
/// secrets from it for the same reason).
pub fn assigned_tasks(tables: &Tables, node: &NodeId) -> Vec<Task> {
    tables
        .tasks
        .find("node", node.as_str())
        .into_iter()
        .filter(|t| t.status.state >= TaskState::Assigned)
        .cloned()
        .collect()
}

/// The secrets and configs the tasks of `tasks` that may still run (desired state at most
/// RUNNING) reference, each once, in id order. A node gets these and nothing else: SwarmKit
/// likewise ships only the dependencies of a node's own tasks, and drops them with the last
/// task that needs them. References to objects no longer in the store are skipped (the
/// object was removed after its last service; a running container keeps its files).
pub fn referenced(tables: &Tables, tasks: &[Task]) -> (Vec<Secret>, Vec<Config>) {
    let mut secrets = BTreeMap::new();
    let mut configs = BTreeMap::new();
    let live = tasks
        .iter()
        .filter(|t| t.desired_state <= TaskState::Running);
    for cs in live.filter_map(|t| t.spec.container_spec.as_ref()) {
        for id in cs
            .secrets
            .iter()
            .flatten()
            .filter_map(|r| r.secret_id.as_deref())
        {
            if let Some(s) = tables.secrets.get(id) {
                secrets.entry(id.to_string()).or_insert_with(|| s.clone());
            }
        }
        for id in cs
            .configs
            .iter()
            .flatten()
            .filter_map(|r| r.config_id.as_deref())
        {
            if let Some(c) = tables.configs.get(id) {
                configs.entry(id.to_string()).or_insert_with(|| c.clone());
            }
        }
    }
    (
        secrets.into_values().collect(),
        configs.into_values().collect(),
    )
}

/// Whether two versions of a task look the same to the agent: everything but the observed
/// status (which the agent itself reports) and the store metadata. SwarmKit's
/// `TasksEqualStable`.
pub fn same_for_agent(a: &Task, b: &Task) -> bool {
    a.id == b.id
        && a.desired_state == b.desired_state
        && a.node_id == b.node_id
        && a.spec_version == b.spec_version
        && a.slot == b.slot
        && a.service_id == b.service_id
        && a.job_iteration == b.job_iteration
        && (a.status.state >= TaskState::Assigned) == (b.status.state >= TaskState::Assigned)
        && a.spec == b.spec
        && a.service_annotations == b.service_annotations
        && a.labels == b.labels
}

/// Whether two assignment sets differ for the agent.
pub fn sets_differ(a: &[Task], b: &[Task]) -> bool {
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| !same_for_agent(x, y))
}

/// Whether `event` may change the assignment set of `node`.
pub fn concerns_node(event: &Event, node: &NodeId) -> bool {
    let Object::Task(new) = &event.object else {
        return false;
    };
    let old = match &event.old {
        Some(Object::Task(t)) => Some(t),
        _ => None,
    };
    let on_node = &new.node_id == node || old.is_some_and(|o| &o.node_id == node);
    if !on_node {
        return false;
    }
    match (event.kind, old) {
        (EventKind::Updated, Some(old)) => !same_for_agent(old, new),
        _ => true,
    }
}

/// Whether an agent's report may replace the stored status: observed state only moves
/// forward; a report of the same state may refresh the message or container status.
pub fn moves_forward(current: &TaskStatus, update: &TaskStatus) -> bool {
    update.state > current.state || (update.state == current.state && update != current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: TaskState, message: &str) -> TaskStatus {
        TaskStatus {
            state,
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn observed_state_only_moves_forward() {
        let running = status(TaskState::Running, "started");
        assert!(moves_forward(&status(TaskState::Assigned, ""), &running));
        assert!(!moves_forward(&running, &status(TaskState::Starting, "")));
        assert!(
            !moves_forward(&running, &running),
            "a repeat changes nothing"
        );
        assert!(moves_forward(
            &running,
            &status(TaskState::Running, "healthy")
        ));
        assert!(moves_forward(
            &running,
            &status(TaskState::Failed, "task: non-zero exit (1)")
        ));
    }

    #[test]
    fn a_status_report_does_not_change_the_set_but_a_desired_state_does() {
        let t = Task {
            id: "t1".into(),
            node_id: "n1".into(),
            status: status(TaskState::Assigned, ""),
            desired_state: TaskState::Running,
            ..Default::default()
        };
        let mut reported = t.clone();
        reported.status = status(TaskState::Running, "started");
        assert!(same_for_agent(&t, &reported));
        let mut stopping = t.clone();
        stopping.desired_state = TaskState::Shutdown;
        assert!(!same_for_agent(&t, &stopping));
        let mut not_yet = t.clone();
        not_yet.status = status(TaskState::Pending, "");
        assert!(
            !same_for_agent(&not_yet, &t),
            "reaching ASSIGNED adds the task to the set"
        );
    }
}
