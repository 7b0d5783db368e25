//! Nodes: list, resolve, update (availability, labels, role), remove.

use super::lookup::resolve;
use super::{Control, ControlError};
use shoal_store::StoreError;
use shoal_types::api::{NodeSpec, NodeSpecRoleEnum, NodeState};
use shoal_types::{Kind, Node, Object};

impl Control {
    pub fn nodes(&self) -> Vec<Node> {
        let nodes: Vec<Node> = self.store.view(|t| t.nodes.iter().cloned().collect());
        nodes.into_iter().map(|n| self.decorate_node(n)).collect()
    }

    /// A node by full id, exact name (spec name or hostname), or unique id prefix.
    pub fn resolve_node(&self, input: &str) -> Result<Node, ControlError> {
        self.store
            .view(|t| {
                resolve(
                    t.nodes.iter(),
                    input,
                    "node",
                    |n| n.id.as_str(),
                    |n| Some(n.display_name()),
                )
                .cloned()
            })
            .map(|n| self.decorate_node(n))
    }

    /// `POST /nodes/{id}/update?version=N`.
    pub async fn update_node(
        &self,
        input: &str,
        version: u64,
        spec: NodeSpec,
    ) -> Result<(), ControlError> {
        let node = self.resolve_node(input)?;
        let demoting = node.is_manager() && matches!(spec.role, Some(NodeSpecRoleEnum::WORKER));
        if demoting {
            let managers = self
                .store
                .view(|t| t.nodes.iter().filter(|n| n.is_manager()).count());
            if managers <= 1 {
                return Err(ControlError::Invalid(
                    "attempting to demote the last manager of the swarm".into(),
                ));
            }
        }
        let id = node.id.to_string();
        self.store
            .update(move |tx| {
                let mut node = tx.node(&id).ok_or(StoreError::NotFound {
                    kind: Kind::Node,
                    id: id.clone(),
                })?;
                if node.meta.version.index != version {
                    return Err(StoreError::OutOfSequence {
                        kind: Kind::Node,
                        id: id.clone(),
                    });
                }
                let mut spec = spec;
                if spec.role.is_none() || spec.role == Some(NodeSpecRoleEnum::EMPTY) {
                    spec.role = node.spec.role;
                }
                node.spec = spec;
                tx.update(Object::Node(node))
            })
            .await?;
        Ok(())
    }

    /// `DELETE /nodes/{id}[?force=1]`: only down nodes unless forced; never a manager still in
    /// the raft group unless forced.
    pub async fn remove_node(&self, input: &str, force: bool) -> Result<(), ControlError> {
        let node = self.resolve_node(input)?;
        if node.id == *self.node_id() {
            return Err(ControlError::Invalid(format!(
                "node {} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal",
                node.id
            )));
        }
        if node.is_manager() && !force {
            return Err(ControlError::Invalid(format!(
                "node {} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal",
                node.id
            )));
        }
        let down = matches!(
            node.status.state,
            Some(NodeState::DOWN) | Some(NodeState::UNKNOWN) | None
        );
        if !down && !force {
            return Err(ControlError::Invalid(format!(
                "node {} is not down and can't be removed",
                node.id
            )));
        }
        let id = node.id.to_string();
        self.store
            .update(move |tx| tx.delete(Kind::Node, &id))
            .await?;
        Ok(())
    }
}
