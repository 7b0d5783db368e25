//! This node's network attachments: addresses on attachable swarm networks held for
//! containers its engine runs outside any service (`docker run --network NAME`).
//!
//! - [`Daemon::attachment_op`]: one operation on them, served by the control API when this
//!   node is a manager, else sent to a manager over the cluster channel
//!   (`/dispatcher/attachments`, [`serve_remote`] on the manager's side).
//! - [`run`]: every [`RESYNC`], the attachments whose container is gone from the engine
//!   (removed directly on the engine, or while shoal was down), or that never got a container
//!   (the create failed or shoal stopped half-way) are released, so their addresses return.

use crate::daemon::{Daemon, Membership};
use shoal_api::ApiError;
use shoal_cluster::{AttachmentRequest, AttachmentResponse, Refusal};
use shoal_manager::control::{Control, ControlError};
use shoal_types::dispatch::AttachmentOp;
use shoal_types::{NodeId, Task, TaskId};
use std::collections::BTreeSet;
use std::sync::Weak;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the node checks its attachments against the engine's containers.
pub const RESYNC: Duration = Duration::from_secs(10);
/// An attachment without a container for this long was abandoned: a create that failed
/// before shoal recorded the container, or shoal stopped in between.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(120);

/// Runs `op` for `node` on this manager's control API.
pub(crate) async fn serve(
    control: &Control,
    node: &NodeId,
    op: AttachmentOp,
) -> Result<Vec<Task>, ControlError> {
    match op {
        AttachmentOp::Attach {
            network,
            container_name,
        } => Ok(vec![control.attach(node, &network, &container_name).await?]),
        AttachmentOp::Bind {
            task_id,
            container_id,
        } => {
            control
                .bind_attachment(node, &task_id, &container_id)
                .await?;
            Ok(Vec::new())
        }
        AttachmentOp::Detach { task_ids } => {
            control.detach(node, &task_ids).await?;
            Ok(Vec::new())
        }
        AttachmentOp::List => Ok(control.attachments(node)),
    }
}

/// The cluster channel's side: `req` from a node, answered with the control API's refusal in
/// Docker's words rather than as a transport error, so the node passes it on unchanged.
pub(crate) async fn serve_remote(control: &Control, req: AttachmentRequest) -> AttachmentResponse {
    match serve(control, &req.node_id, req.op).await {
        Ok(tasks) => AttachmentResponse {
            tasks,
            refusal: None,
        },
        Err(e) => {
            let e = ApiError::from(e);
            AttachmentResponse {
                tasks: Vec::new(),
                refusal: Some(Refusal {
                    status: e.status.as_u16(),
                    message: e.message,
                }),
            }
        }
    }
}

/// The attachments of `tasks` to release: bound to a container the engine no longer has, or
/// without a container since before `now - ABANDONED_AFTER` (by their status timestamp; an
/// unreadable one counts as old).
pub fn stale_attachments(
    tasks: &[Task],
    containers: &BTreeSet<String>,
    now: SystemTime,
) -> Vec<TaskId> {
    tasks
        .iter()
        .filter(|t| t.is_attachment())
        .filter(|t| match t.attachment_container() {
            Some(c) => !containers.contains(c),
            None => shoal_types::time::parse_rfc3339(&t.status.timestamp)
                .is_none_or(|at| now.duration_since(at).unwrap_or_default() > ABANDONED_AFTER),
        })
        .map(|t| t.id.clone())
        .collect()
}

impl Daemon {
    /// See the module docs. Off a swarm, or without an overlay data plane, nothing is
    /// attached (503).
    pub(crate) async fn attachment_op(&self, op: AttachmentOp) -> Result<Vec<Task>, ApiError> {
        if self.engine_networks.is_none() {
            return Err(ApiError::unavailable(
                "this node builds no overlay networks (--overlay=false): containers cannot join swarm networks",
            ));
        }
        let (node, control) = match &*self.membership.read() {
            Membership::Manager { state, runtime } => {
                (state.node_id.clone(), Some(runtime.control.clone()))
            }
            Membership::Worker { state } => (state.node_id.clone(), None),
            Membership::Inactive | Membership::Locked { .. } => {
                return Err(ApiError::unavailable("This node is not part of a swarm"));
            }
        };
        let node = NodeId::from(node.as_str());
        if let Some(control) = control {
            return serve(&control, &node, op).await.map_err(ApiError::from);
        }
        let remote = self
            .services
            .lock()
            .as_ref()
            .map(|s| s.remote.clone())
            .ok_or_else(|| ApiError::unavailable("this node's swarm services are not running"))?;
        let answer = remote
            .attachments(AttachmentRequest { node_id: node, op })
            .await
            .map_err(|e| ApiError::unavailable(format!("network attachments: {e}")))?;
        match answer.refusal {
            Some(r) => Err(ApiError::new(
                crate::backend::axum_status(r.status),
                r.message,
            )),
            None => Ok(answer.tasks),
        }
    }

    /// Whether containers may join swarm networks through this node's socket.
    pub(crate) fn attaches(&self) -> bool {
        self.engine_networks.is_some()
            && matches!(
                &*self.membership.read(),
                Membership::Manager { .. } | Membership::Worker { .. }
            )
    }
}

/// Releases stale attachments every [`RESYNC`] until `cancel` fires or the daemon is gone.
pub(crate) async fn run(daemon: Weak<Daemon>, cancel: CancellationToken) {
    let engine = match daemon.upgrade() {
        Some(d) => shoal_api::EngineProxy::new(d.config.engine.clone()),
        None => return,
    };
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(RESYNC) => {}
        }
        let Some(d) = daemon.upgrade() else { return };
        if !d.attaches() {
            continue;
        }
        if let Err(e) = resync(&d, &engine).await {
            tracing::debug!(error = %e, "network attachments not checked; retried");
        }
    }
}

async fn resync(daemon: &Daemon, engine: &shoal_api::EngineProxy) -> Result<(), ApiError> {
    let tasks = daemon.attachment_op(AttachmentOp::List).await?;
    if tasks.is_empty() {
        return Ok(());
    }
    let list = engine.get_json("/containers/json?all=1").await?;
    let containers: BTreeSet<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect();
    let stale = stale_attachments(&tasks, &containers, SystemTime::now());
    if stale.is_empty() {
        return Ok(());
    }
    tracing::info!(attachments = ?stale, "releasing network attachments whose container is gone");
    daemon
        .attachment_op(AttachmentOp::Detach { task_ids: stale })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::TaskSpecNetworkAttachmentSpec;

    fn attachment(id: &str, container: Option<&str>, at: &str) -> Task {
        let mut t = Task {
            id: id.into(),
            ..Default::default()
        };
        t.status.timestamp = at.into();
        t.spec.network_attachment_spec = Some(TaskSpecNetworkAttachmentSpec {
            container_id: container.map(str::to_string),
        });
        t
    }

    #[test]
    fn attachments_whose_container_is_gone_or_never_came_are_stale() {
        let now = shoal_types::time::parse_rfc3339("2026-01-01T00:10:00Z").expect("time");
        let tasks = vec![
            attachment("live", Some("c1"), "2026-01-01T00:00:00Z"),
            attachment("gone", Some("c2"), "2026-01-01T00:09:59Z"),
            attachment("creating", None, "2026-01-01T00:09:00Z"),
            attachment("abandoned", None, "2026-01-01T00:07:00Z"),
            attachment("no-time", None, "garbage"),
            // A service task is never an attachment's business.
            Task {
                id: "svc".into(),
                ..Default::default()
            },
        ];
        let containers: BTreeSet<String> = ["c1".to_string()].into();
        assert_eq!(
            stale_attachments(&tasks, &containers, now),
            vec![
                TaskId::from("gone"),
                TaskId::from("abandoned"),
                TaskId::from("no-time")
            ]
        );
    }
}
