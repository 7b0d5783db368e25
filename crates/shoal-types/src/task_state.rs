//! The task state machine's states.
//!
//! The numeric values are SwarmKit's (`api/types.proto`): they grow with the lifecycle, so
//! "state only moves forward" is an integer comparison, the "lamport clock" of a task.

use serde::{Deserialize, Serialize};

/// Observed or desired state of a task, ordered by lifecycle.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u16)]
pub enum TaskState {
    #[default]
    New = 0,
    Allocated = 32,
    Pending = 64,
    Assigned = 192,
    Accepted = 256,
    Preparing = 320,
    Ready = 384,
    Starting = 448,
    Running = 512,
    Complete = 576,
    Shutdown = 640,
    Failed = 704,
    Rejected = 768,
    Remove = 800,
    Orphaned = 832,
}

impl TaskState {
    /// All states, in lifecycle order.
    pub const ALL: [TaskState; 15] = [
        TaskState::New,
        TaskState::Allocated,
        TaskState::Pending,
        TaskState::Assigned,
        TaskState::Accepted,
        TaskState::Preparing,
        TaskState::Ready,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Complete,
        TaskState::Shutdown,
        TaskState::Failed,
        TaskState::Rejected,
        TaskState::Remove,
        TaskState::Orphaned,
    ];

    /// A task in a terminal state never runs again; a new task replaces it.
    pub fn is_terminal(self) -> bool {
        self > TaskState::Running
    }

    /// The lowercase name used by the Engine API (`running`, `failed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Allocated => "allocated",
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Preparing => "preparing",
            TaskState::Ready => "ready",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Remove => "remove",
            TaskState::Orphaned => "orphaned",
        }
    }

    /// Parses an Engine API state name.
    pub fn parse(s: &str) -> Option<TaskState> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_ordered_by_lifecycle() {
        for pair in TaskState::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
        assert!(!TaskState::Running.is_terminal());
        assert!(TaskState::Complete.is_terminal());
    }

    #[test]
    fn names_round_trip_through_json() {
        for st in TaskState::ALL {
            let json = serde_json::to_string(&st).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(TaskState::parse(st.as_str()), Some(st));
        }
    }
}
