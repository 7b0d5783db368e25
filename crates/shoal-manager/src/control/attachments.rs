//! Network attachments: an address on an attachable overlay network for a container the
//! node's engine runs outside any service (`docker run --network NAME`, `docker network
//! connect NAME c`), as SwarmKit's `ResourceAllocator.AttachNetwork` makes them.
//!
//! An attachment is a task with a `NetworkAttachmentSpec` (SwarmKit's `Runtime: attachment`)
//! bound to its node from the start: the leader's allocator gives it its address and marks it
//! RUNNING; the dispatcher then puts its network in the node's set and its endpoint in every
//! member's, so the node builds the network and the other nodes program the address. No agent
//! runs it. It is deleted when its container goes (or the attach is abandoned), which frees the
//! address.

use super::Control;
use super::error::ControlError;
use shoal_store::StoreError;
use shoal_types::api::{NetworkAttachmentConfig, TaskSpecNetworkAttachmentSpec};
use shoal_types::{Kind, Network, NodeId, Object, Task, TaskId, TaskState, TaskStatus, new_id};
use std::time::Duration;

/// How long an attach waits for the leader's allocator to give the address.
pub const ATTACH_WAIT: Duration = Duration::from_secs(15);
const ATTACH_POLL: Duration = Duration::from_millis(20);

/// Docker's refusal of a network a container may not join (moby wraps swarmkit's
/// `PermissionDenied`): `name` as the user wrote it.
pub fn not_attachable(name: &str) -> ControlError {
    ControlError::Forbidden(format!(
        "Could not attach to network {name}: rpc error: code = PermissionDenied desc = network {name} not manually attachable"
    ))
}

/// Whether a container may join `net` by itself: attachable, and never the ingress network
/// (swarmkit refuses it whatever its flag says).
pub fn may_attach(net: &Network) -> bool {
    net.spec.attachable && !net.is_ingress()
}

/// The attachment task for `container_name` (may be empty) on `net`, bound to `node`, NEW.
pub fn attachment_task(
    id: TaskId,
    node: &NodeId,
    net: &Network,
    container_name: &str,
    timestamp: String,
) -> Task {
    let mut task = Task {
        id,
        name: container_name.trim_start_matches('/').to_string(),
        node_id: node.clone(),
        desired_state: TaskState::Running,
        status: TaskStatus {
            timestamp,
            state: TaskState::New,
            message: crate::orchestrator::CREATED_MESSAGE.to_string(),
            ..Default::default()
        },
        ..Default::default()
    };
    task.spec.network_attachment_spec = Some(TaskSpecNetworkAttachmentSpec { container_id: None });
    task.spec.networks = Some(vec![NetworkAttachmentConfig {
        target: Some(net.id.clone()),
        aliases: None,
        driver_opts: None,
    }]);
    task
}

/// Whether `task` is an attachment of `node` (the only tasks a node may bind or release).
fn owned_by(task: &Task, node: &NodeId) -> bool {
    task.is_attachment() && &task.node_id == node
}

impl Control {
    /// Reserves an address on network `input` (id, name or id prefix) for a container on
    /// `node`: refused with Docker's message unless the network is attachable. Waits up to
    /// [`ATTACH_WAIT`] for the allocator and returns the attachment with its address; one
    /// that got none by then is deleted again.
    pub async fn attach(
        &self,
        node: &NodeId,
        input: &str,
        container_name: &str,
    ) -> Result<Task, ControlError> {
        let net = self.resolve_network(input)?;
        if !may_attach(&net) {
            return Err(not_attachable(input));
        }
        let known = self.store.view(|t| t.nodes.get(node.as_str()).is_some());
        if !known {
            return Err(ControlError::NotFound(format!("node {node} not found")));
        }
        let id = TaskId::from(new_id(&mut rand::rng()));
        let task = attachment_task(
            id.clone(),
            node,
            &net,
            container_name,
            crate::controller::timestamp(&self.store),
        );
        self.store
            .update(move |tx| tx.create(Object::Task(task)))
            .await?;
        let deadline = tokio::time::Instant::now() + ATTACH_WAIT;
        loop {
            let now = self.store.view(|t| t.tasks.get(id.as_str()).cloned());
            match now {
                Some(t) if t.status.state == TaskState::Running && !t.networks.is_empty() => {
                    return Ok(t);
                }
                Some(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(ATTACH_POLL).await;
                }
                Some(_) => {
                    let _ = self.detach(node, std::slice::from_ref(&id)).await;
                    return Err(ControlError::Unavailable(format!(
                        "Could not attach to network {input}: no address was allocated within {} s (is there a leader?)",
                        ATTACH_WAIT.as_secs()
                    )));
                }
                None => {
                    return Err(ControlError::Unavailable(format!(
                        "Could not attach to network {input}: the attachment was removed while it waited for its address"
                    )));
                }
            }
        }
    }

    /// Records the engine's id of the container attachment `id` (of `node`) belongs to.
    pub async fn bind_attachment(
        &self,
        node: &NodeId,
        id: &TaskId,
        container_id: &str,
    ) -> Result<(), ControlError> {
        let (node, id, container) = (node.clone(), id.clone(), container_id.to_string());
        self.store
            .update(move |tx| {
                let Some(mut task) = tx.task(id.as_str()).filter(|t| owned_by(t, &node)) else {
                    return Err(StoreError::NotFound {
                        kind: Kind::Task,
                        id: id.to_string(),
                    });
                };
                task.spec.network_attachment_spec = Some(TaskSpecNetworkAttachmentSpec {
                    container_id: Some(container),
                });
                tx.update(Object::Task(task))
            })
            .await?;
        Ok(())
    }

    /// Deletes the attachments `ids` of `node` (their addresses return to the pools); ids
    /// that are not such attachments are skipped.
    pub async fn detach(&self, node: &NodeId, ids: &[TaskId]) -> Result<(), ControlError> {
        let (node, ids) = (node.clone(), ids.to_vec());
        self.store
            .update(move |tx| {
                for id in &ids {
                    if tx.task(id.as_str()).is_some_and(|t| owned_by(&t, &node)) {
                        tx.delete(Kind::Task, id.as_str())?;
                    }
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Every attachment of `node`, in id order.
    pub fn attachments(&self, node: &NodeId) -> Vec<Task> {
        self.store.view(|t| {
            t.tasks
                .find("node", node.as_str())
                .into_iter()
                .filter(|t| t.is_attachment())
                .cloned()
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(attachable: bool, ingress: bool) -> Network {
        let mut n = Network {
            id: "n1".into(),
            ..Default::default()
        };
        n.spec.name = "front".into();
        n.spec.attachable = attachable;
        n.spec.ingress = ingress;
        n
    }

    #[test]
    fn only_attachable_non_ingress_networks_take_containers() {
        assert!(may_attach(&net(true, false)));
        assert!(!may_attach(&net(false, false)));
        assert!(!may_attach(&net(true, true)));
        assert_eq!(
            not_attachable("back").to_string(),
            "Could not attach to network back: rpc error: code = PermissionDenied desc = network back not manually attachable"
        );
    }

    #[test]
    fn an_attachment_is_bound_to_its_node_and_names_its_network() {
        let t = attachment_task(
            "t1".into(),
            &"node1".into(),
            &net(true, false),
            "/c1",
            "2026-01-01T00:00:00Z".into(),
        );
        assert!(t.is_attachment());
        assert_eq!(t.attachment_container(), None);
        assert_eq!((t.node_id.as_str(), t.name.as_str()), ("node1", "c1"));
        assert_eq!(t.service_id.as_str(), "");
        assert_eq!(t.status.state, TaskState::New);
        assert_eq!(
            t.spec.networks.as_ref().and_then(|n| n[0].target.clone()),
            Some("n1".into())
        );
        assert!(owned_by(&t, &"node1".into()));
        assert!(!owned_by(&t, &"node2".into()));
    }
}
