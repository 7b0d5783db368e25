//! The [`DataPlane`] trait: what the agent needs from the node's network data plane, injected
//! like the [`Executor`](crate::Executor) (`shoal-node` implements it on `shoal-net` and the
//! engine's networks; nodes without an overlay use [`NoDataPlane`]).
//!
//! The agent applies each assignment set's networks before its tasks reach their runners, and
//! again every [`AgentConfig::network_resync`](crate::AgentConfig) so that devices and engine
//! networks left by departed tasks are removed once their containers are gone. A task attached
//! to a network that could not be set up fails at prepare with the reason
//! ([`network_error`]). Encrypted networks go to the data plane like the others: it carries
//! them through its encrypted tunnel or fails them with the reason, never in clear text.

use futures::future::BoxFuture;
use shoal_types::Task;
use shoal_types::dispatch::NodeNetwork;
use std::collections::BTreeMap;

/// Networks of the set that could not be set up on this node: network id → why.
pub type NetworkFailures = BTreeMap<String, String>;

/// Builds and tears down the node's side of its networks.
pub trait DataPlane: Send + Sync + 'static {
    /// Makes the node's data plane match `networks`, the complete set (networks absent from it
    /// are torn down where nothing uses them any more). Idempotent. Returns the networks that
    /// could not be set up, with the reason.
    fn apply<'a>(&'a self, networks: &'a [NodeNetwork]) -> BoxFuture<'a, NetworkFailures>;

    /// This node's WireGuard public key (base64) for encrypted networks, sent to the
    /// dispatcher when a session opens so that peers can reach the node through the tunnel;
    /// `None` when the data plane has none (then this node takes no part in encrypted
    /// traffic: its peers leave it out, and it fails its own tasks on encrypted networks).
    fn tunnel_key(&self) -> Option<String> {
        None
    }
}

/// A node without an overlay data plane (several daemons sharing one engine): networks are
/// allocated, nothing is built, tasks run on the engine's default network.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDataPlane;

impl DataPlane for NoDataPlane {
    fn apply<'a>(&'a self, _networks: &'a [NodeNetwork]) -> BoxFuture<'a, NetworkFailures> {
        Box::pin(async { NetworkFailures::new() })
    }
}

/// Why `task` cannot run here: the first of its networks that failed, named (the task's
/// error, as `docker service ps` shows it). `names` maps network ids to names.
pub fn network_error(
    task: &Task,
    failures: &NetworkFailures,
    names: &BTreeMap<String, String>,
) -> Option<String> {
    task.networks.iter().find_map(|attachment| {
        let reason = failures.get(&attachment.network_id)?;
        let name = names
            .get(&attachment.network_id)
            .map(String::as_str)
            .unwrap_or(attachment.network_id.as_str());
        Some(format!(
            "network {name} could not be set up on this node: {reason}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::NetworkAttachment;

    fn task_on(ids: &[&str]) -> Task {
        Task {
            networks: ids
                .iter()
                .map(|id| NetworkAttachment {
                    network_id: id.to_string(),
                    addresses: vec!["10.0.1.5/24".into()],
                    aliases: vec![],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_task_fails_on_its_first_failed_network_named() {
        let failures: NetworkFailures = [
            (
                "n2".to_string(),
                "adding bridge shbr4098: File exists".to_string(),
            ),
            ("n3".to_string(), "other".to_string()),
        ]
        .into();
        let names: BTreeMap<String, String> = [("n2".to_string(), "back".to_string())].into();
        assert_eq!(
            network_error(&task_on(&["n1", "n2", "n3"]), &failures, &names).as_deref(),
            Some(
                "network back could not be set up on this node: adding bridge shbr4098: File exists"
            )
        );
        // unknown name: the id stands in
        assert_eq!(
            network_error(&task_on(&["n3"]), &failures, &names).as_deref(),
            Some("network n3 could not be set up on this node: other")
        );
        assert_eq!(network_error(&task_on(&["n1"]), &failures, &names), None);
        assert_eq!(network_error(&task_on(&[]), &failures, &names), None);
    }
}
