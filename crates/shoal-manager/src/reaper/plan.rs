//! The task reaper's pure choices: which tasks of a slot to delete.
//!
//! History is per slot (per service and node for global tasks). A task is history once its
//! desired state is past RUNNING and it has ended, or it never reached a node (it will never
//! run). Never-run tasks go at once; of the ended ones the newest `limit` stay
//! (`TaskHistoryRetentionLimit`, negative = keep all). The newest task of a slot always stays
//! while its service exists, unless it never ran: it is what the jobs orchestrator reads to know
//! a slot was tried.
//! Tasks of deleted services go as soon as they are history.

use shoal_types::{Task, TaskId, TaskState};

/// Whether the task will never run again and nobody needs it running.
pub fn is_history(task: &Task) -> bool {
    task.desired_state > TaskState::Running && (task.status.state.is_terminal() || never_ran(task))
}

/// Whether the task was stopped before it reached a node.
pub fn never_ran(task: &Task) -> bool {
    task.desired_state > TaskState::Running && task.status.state < TaskState::Assigned
}

/// Oldest first: creation time (RFC 3339 with fixed nanoseconds, so it sorts as text), then id.
fn age_order(a: &&Task, b: &&Task) -> std::cmp::Ordering {
    (a.meta.created_at.as_str(), a.id.as_str()).cmp(&(b.meta.created_at.as_str(), b.id.as_str()))
}

/// The tasks of one slot to delete, keeping at most `limit` ended ones.
pub fn reap_slot(tasks: &[&Task], limit: i64) -> Vec<TaskId> {
    let mut sorted: Vec<&Task> = tasks.to_vec();
    sorted.sort_by(age_order);
    let newest = sorted.last().map(|t| t.id.clone());
    let mut out: Vec<TaskId> = Vec::new();
    let mut ended: Vec<&Task> = Vec::new();
    for t in sorted.iter().copied() {
        if never_ran(t) {
            out.push(t.id.clone());
        } else if is_history(t) {
            ended.push(t);
        }
    }
    if limit >= 0 && ended.len() as u64 > limit as u64 {
        let excess = ended.len() - limit as usize;
        out.extend(
            ended
                .iter()
                .filter(|t| Some(&t.id) != newest.as_ref())
                .take(excess)
                .map(|t| t.id.clone()),
        );
    }
    out
}

/// The tasks of a deleted service to delete now.
pub fn reap_deleted_service(tasks: &[&Task]) -> Vec<TaskId> {
    tasks
        .iter()
        .filter(|t| t.status.state.is_terminal() || t.status.state < TaskState::Assigned)
        .map(|t| t.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::{Meta, TaskStatus};

    fn task(n: u32, state: TaskState, desired: TaskState) -> Task {
        Task {
            id: format!("t{n}").into(),
            meta: Meta {
                created_at: format!("2026-01-01T00:00:{n:02}.000000000Z"),
                ..Default::default()
            },
            status: TaskStatus {
                state,
                ..Default::default()
            },
            desired_state: desired,
            ..Default::default()
        }
    }

    fn failed(n: u32) -> Task {
        task(n, TaskState::Failed, TaskState::Shutdown)
    }

    fn ids(v: &[&str]) -> Vec<TaskId> {
        v.iter().map(|s| TaskId::from(*s)).collect()
    }

    #[test]
    fn the_oldest_ended_tasks_beyond_the_limit_are_deleted() {
        let mut tasks: Vec<Task> = (1..=7).map(failed).collect();
        tasks.push(task(8, TaskState::Running, TaskState::Running));
        let refs: Vec<&Task> = tasks.iter().collect();
        assert_eq!(reap_slot(&refs, 5), ids(&["t1", "t2"]));
    }

    #[test]
    fn running_tasks_and_tasks_still_wanted_are_kept() {
        let tasks = [
            failed(1),
            task(2, TaskState::Failed, TaskState::Running),
            task(3, TaskState::Running, TaskState::Running),
        ];
        let refs: Vec<&Task> = tasks.iter().collect();
        assert_eq!(
            reap_slot(&refs, 0),
            ids(&["t1"]),
            "the failed task waiting for its restart stays"
        );
    }

    #[test]
    fn a_task_stopped_before_it_reached_a_node_goes_at_once() {
        let tasks = [
            task(1, TaskState::Pending, TaskState::Shutdown),
            task(2, TaskState::Running, TaskState::Running),
        ];
        let refs: Vec<&Task> = tasks.iter().collect();
        assert_eq!(reap_slot(&refs, 5), ids(&["t1"]));
    }

    #[test]
    fn the_newest_task_of_a_slot_stays_even_with_no_history() {
        let tasks = [failed(1), failed(2)];
        let refs: Vec<&Task> = tasks.iter().collect();
        assert_eq!(reap_slot(&refs, 0), ids(&["t1"]));
    }

    #[test]
    fn a_negative_limit_keeps_all_history() {
        let tasks: Vec<Task> = (1..=9).map(failed).collect();
        let refs: Vec<&Task> = tasks.iter().collect();
        assert!(reap_slot(&refs, -1).is_empty());
    }

    #[test]
    fn tasks_of_a_deleted_service_go_once_they_stopped() {
        let tasks = [
            task(1, TaskState::Shutdown, TaskState::Remove),
            task(2, TaskState::Running, TaskState::Remove),
            task(3, TaskState::New, TaskState::Remove),
        ];
        let refs: Vec<&Task> = tasks.iter().collect();
        assert_eq!(reap_deleted_service(&refs), ids(&["t1", "t3"]));
    }
}
