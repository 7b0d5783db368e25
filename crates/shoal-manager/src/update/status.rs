//! The `UpdateStatus` life cycle, with SwarmKit's states and messages (`updater.go`
//! `startUpdate`, `pauseUpdate`, `rollbackUpdate`, `completeUpdate`). The docker CLI's
//! progress loop reads these verbatim, so the texts must not change.
//!
//! Each function is the pure change to one service; the update supervisor applies it inside a
//! transaction that re-reads the service. A `None` status means the control API accepted a
//! new spec since the run began (it resets the status), so a pause, rollback or completion of
//! the older run is dropped.

use shoal_types::Service;
use shoal_types::api::{EndpointSpec, ServiceUpdateStatus, ServiceUpdateStatusStateEnum as S};

pub const UPDATING_MESSAGE: &str = "update in progress";
pub const COMPLETED_MESSAGE: &str = "update completed";
pub const ROLLBACK_COMPLETED_MESSAGE: &str = "rollback completed";

/// `update paused due to failure or early termination of task <id>`.
pub fn paused_message(task: &str) -> String {
    format!("update paused due to failure or early termination of task {task}")
}

/// `rollback paused due to failure or early termination of task <id>`.
pub fn rollback_paused_message(task: &str) -> String {
    format!("rollback paused due to failure or early termination of task {task}")
}

/// `update rolled back due to failure or early termination of task <id>`.
pub fn rolled_back_message(task: &str) -> String {
    format!("update rolled back due to failure or early termination of task {task}")
}

/// A change of a service's update status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    /// An update begins: `updating`, unless a status is already set (a rollback, or a run
    /// resumed by a new leader).
    Start,
    /// Too many failures: `paused` (`rollback_paused` during a rollback).
    Pause(String),
    /// Too many failures with failure action `rollback`: restore the previous spec.
    Rollback(String),
    /// Every slot is updated and watched: `completed` or `rollback_completed`.
    Complete,
}

/// The state of a service's update status, `None` when unset.
pub fn state_of(service: &Service) -> Option<S> {
    service.update_status.as_ref().and_then(|s| s.state)
}

/// Whether the service's update is paused: the updater leaves it alone until a new spec
/// (or a rollback) arrives.
pub fn is_paused(service: &Service) -> bool {
    matches!(state_of(service), Some(S::PAUSED | S::ROLLBACK_PAUSED))
}

/// Whether a run of the service's current spec is a rollback (uses `RollbackConfig`).
pub fn is_rollback(service: &Service) -> bool {
    state_of(service) == Some(S::ROLLBACK_STARTED)
}

/// Whether the status says an update or rollback is under way.
pub fn in_progress(service: &Service) -> bool {
    matches!(state_of(service), Some(S::UPDATING | S::ROLLBACK_STARTED))
}

/// Applies `change` to `service` at RFC 3339 time `now`. Returns false when there is nothing
/// to write.
pub fn apply(service: &mut Service, change: &StatusChange, now: &str) -> bool {
    match change {
        StatusChange::Start => {
            if service.update_status.is_some() {
                return false;
            }
            service.update_status = Some(ServiceUpdateStatus {
                state: Some(S::UPDATING),
                started_at: Some(now.to_string()),
                completed_at: None,
                message: Some(UPDATING_MESSAGE.into()),
            });
            true
        }
        StatusChange::Pause(message) => {
            let Some(status) = service.update_status.as_mut() else {
                return false;
            };
            status.state = Some(if status.state == Some(S::ROLLBACK_STARTED) {
                S::ROLLBACK_PAUSED
            } else {
                S::PAUSED
            });
            status.message = Some(message.clone());
            true
        }
        StatusChange::Rollback(message) => {
            if service.update_status.is_none() {
                return false;
            }
            let Some(previous) = service.previous_spec.take() else {
                // SwarmKit logs "cannot roll back service because no previous spec is
                // available" and leaves the status; pausing at least tells the user.
                return apply(service, &StatusChange::Pause(message.clone()), now);
            };
            service.spec = previous;
            service.spec_version = service.previous_spec_version.take().unwrap_or_default();
            if let Some(endpoint) = service.endpoint.as_mut() {
                let spec = service.spec.endpoint_spec.clone().unwrap_or(EndpointSpec {
                    mode: None,
                    ports: None,
                });
                endpoint.ports = spec.ports.clone().filter(|p| !p.is_empty());
                endpoint.spec = Some(spec);
            }
            if let Some(status) = service.update_status.as_mut() {
                status.state = Some(S::ROLLBACK_STARTED);
                status.message = Some(message.clone());
            }
            true
        }
        StatusChange::Complete => {
            let Some(status) = service.update_status.as_mut() else {
                return false;
            };
            if status.state == Some(S::ROLLBACK_STARTED) {
                status.state = Some(S::ROLLBACK_COMPLETED);
                status.message = Some(ROLLBACK_COMPLETED_MESSAGE.into());
            } else {
                status.state = Some(S::COMPLETED);
                status.message = Some(COMPLETED_MESSAGE.into());
            }
            status.completed_at = Some(now.to_string());
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::Version;
    use shoal_types::api::ServiceSpec;

    fn service() -> Service {
        Service {
            spec: ServiceSpec {
                name: Some("v2".into()),
                ..Default::default()
            },
            spec_version: Version { index: 20 },
            previous_spec: Some(ServiceSpec {
                name: Some("v1".into()),
                ..Default::default()
            }),
            previous_spec_version: Some(Version { index: 10 }),
            ..Default::default()
        }
    }

    fn state(s: &Service) -> (Option<S>, String) {
        let st = s.update_status.clone().unwrap_or_default();
        (st.state, st.message.unwrap_or_default())
    }

    #[test]
    fn an_update_goes_from_updating_to_completed() {
        let mut s = service();
        assert!(apply(&mut s, &StatusChange::Start, "t1"));
        assert_eq!(state(&s), (Some(S::UPDATING), "update in progress".into()));
        assert!(
            !apply(&mut s, &StatusChange::Start, "t2"),
            "a resumed run keeps its start"
        );
        assert!(apply(&mut s, &StatusChange::Complete, "t3"));
        assert_eq!(state(&s), (Some(S::COMPLETED), "update completed".into()));
        let st = s.update_status.unwrap_or_default();
        assert_eq!(
            (st.started_at.as_deref(), st.completed_at.as_deref()),
            (Some("t1"), Some("t3"))
        );
    }

    #[test]
    fn a_failure_pauses_with_dockers_message() {
        let mut s = service();
        apply(&mut s, &StatusChange::Start, "t1");
        assert!(apply(
            &mut s,
            &StatusChange::Pause(paused_message("abc")),
            "t2"
        ));
        assert_eq!(
            state(&s),
            (
                Some(S::PAUSED),
                "update paused due to failure or early termination of task abc".into()
            )
        );
        assert!(is_paused(&s));
    }

    #[test]
    fn an_automatic_rollback_restores_the_previous_spec_once() {
        let mut s = service();
        apply(&mut s, &StatusChange::Start, "t1");
        assert!(apply(
            &mut s,
            &StatusChange::Rollback(rolled_back_message("abc")),
            "t2"
        ));
        assert_eq!(s.spec.name.as_deref(), Some("v1"));
        assert_eq!(s.spec_version, Version { index: 10 });
        assert!(s.previous_spec.is_none() && s.previous_spec_version.is_none());
        assert!(is_rollback(&s));
        assert_eq!(
            state(&s).1,
            "update rolled back due to failure or early termination of task abc"
        );
        assert!(apply(&mut s, &StatusChange::Complete, "t3"));
        assert_eq!(
            state(&s),
            (Some(S::ROLLBACK_COMPLETED), "rollback completed".into())
        );
    }

    #[test]
    fn a_failing_rollback_pauses_as_rollback_paused() {
        let mut s = service();
        s.update_status = Some(ServiceUpdateStatus {
            state: Some(S::ROLLBACK_STARTED),
            message: Some("manually requested rollback".into()),
            ..Default::default()
        });
        apply(
            &mut s,
            &StatusChange::Pause(rollback_paused_message("x")),
            "t",
        );
        assert_eq!(state(&s).0, Some(S::ROLLBACK_PAUSED));
    }

    #[test]
    fn a_run_superseded_by_a_new_spec_writes_nothing() {
        let mut s = service();
        assert!(!apply(&mut s, &StatusChange::Complete, "t"));
        assert!(!apply(&mut s, &StatusChange::Pause("m".into()), "t"));
        assert!(!apply(&mut s, &StatusChange::Rollback("m".into()), "t"));
        assert_eq!(s.spec.name.as_deref(), Some("v2"));
    }
}
