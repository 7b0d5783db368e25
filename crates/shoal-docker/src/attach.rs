//! How a task's container joins its networks and publishes host-mode ports: pure
//! translations of the task (its [`NetworkAttachment`](shoal_types::NetworkAttachment)s and its
//! service endpoint) and of the node's engine networks, unit-tested without an engine.
//!
//! The container is created on its first network with the address the allocator chose (no
//! engine aliases: the service's aliases are answered by shoal's resolver), then connected to the others in spec order; its DNS server is the node's
//! gateway on its first non-ingress network (where the node's resolver listens, behind
//! Docker's embedded 127.0.0.11).

use bollard::models::{
    EndpointIpamConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSettings, PortBinding, PortMap,
};
use shoal_agent::ExecError;
use shoal_types::Task;
use std::collections::BTreeMap;

/// A shoal network as it exists on this node's engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNetwork {
    /// The engine network's name (the shoal network's name).
    pub name: String,
    /// This node's gateway address on the network, without prefix.
    pub gateway: String,
    pub ingress: bool,
}

/// Network id → the engine network on this node, as the data plane last set them up.
pub type NetworkDirectory = BTreeMap<String, LocalNetwork>;

/// Where a task's container goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachments {
    /// The network the container is created on (`HostConfig.NetworkMode`) and its endpoint.
    pub first: (String, EndpointSettings),
    /// The networks connected after creation, in order.
    pub others: Vec<(String, EndpointSettings)>,
    /// The container's DNS server, when one of its networks is not the ingress network.
    pub dns: Option<String>,
}

/// The attachments of `task`, or `None` when it has no network (it then runs on the engine's
/// default network). Fails, rejecting the task, when one of its networks is not set up here.
pub fn attachments(
    task: &Task,
    directory: &NetworkDirectory,
) -> Result<Option<Attachments>, ExecError> {
    let mut endpoints = Vec::with_capacity(task.networks.len());
    let mut dns = None;
    for attachment in &task.networks {
        let Some(local) = directory.get(&attachment.network_id) else {
            return Err(ExecError::Rejected(format!(
                "network {} is not set up on this node",
                attachment.network_id
            )));
        };
        let ip = attachment.ip().ok_or_else(|| {
            ExecError::Rejected(format!(
                "task {} has no address on network {}",
                task.id, local.name
            ))
        })?;
        if dns.is_none() && !local.ingress && !local.gateway.is_empty() {
            dns = Some(local.gateway.clone());
        }
        let settings = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(ip.to_string()),
                ..Default::default()
            }),
            // The attachment's aliases are the service's (`--network name=N,alias=A`, a
            // stack's short name): they must resolve to the service's VIP, which shoal's
            // resolver answers. As container aliases, Docker's embedded 127.0.0.11 would
            // answer them itself with this container's own address, before shoal is asked.
            aliases: None,
            ..Default::default()
        };
        endpoints.push((local.name.clone(), settings));
    }
    let mut endpoints = endpoints.into_iter();
    let Some(first) = endpoints.next() else {
        return Ok(None);
    };
    Ok(Some(Attachments {
        first,
        others: endpoints.collect(),
        dns,
    }))
}

/// The host-mode published ports of `task` (from the service endpoint it was made with), as
/// the engine's `PortBindings` and `ExposedPorts`; `None` when it publishes none.
pub fn host_ports(task: &Task) -> Option<(PortMap, Vec<String>)> {
    let ports = task.endpoint.as_ref()?.ports.as_ref()?;
    let mut bindings = PortMap::new();
    let mut exposed = Vec::new();
    for port in ports {
        if port.publish_mode != Some(EndpointPortConfigPublishModeEnum::HOST) {
            continue;
        }
        let Some(target) = port.target_port.filter(|p| *p > 0) else {
            continue;
        };
        let protocol = match port.protocol {
            Some(EndpointPortConfigProtocolEnum::UDP) => "udp",
            Some(EndpointPortConfigProtocolEnum::SCTP) => "sctp",
            _ => "tcp",
        };
        let key = format!("{target}/{protocol}");
        // No published port: the engine picks one, as Docker does for host mode.
        let host_port = port
            .published_port
            .filter(|p| *p > 0)
            .map(|p| p.to_string())
            .unwrap_or_default();
        bindings
            .entry(key.clone())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: None,
                host_port: Some(host_port),
            });
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    }
    (!bindings.is_empty()).then_some((bindings, exposed))
}

#[cfg(test)]
#[path = "attach_tests.rs"]
mod tests;
