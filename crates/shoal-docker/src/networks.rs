//! [`EngineNetworks`]: the engine side of the node's overlay networks. For every shoal network
//! on the node, a Docker **bridge** network over the bridge shoal made (`shbr<vni>`, adopted by
//! the engine through `com.docker.network.bridge.name`), with the cluster's subnet and this
//! node's own gateway, labelled `com.shoal.network.id=<id>`. Containers then join it with the
//! address the allocator chose (see [`crate::attach`]).
//!
//! Engine networks of shoal networks that left the node's set are removed once no container
//! is on them; until then their bridges must stay ([`EngineNetworks::remove_unwanted`] says
//! which). The directory of networks set up here is shared with the executor, which looks up
//! a task's networks in it.

use crate::attach::{LocalNetwork, NetworkDirectory};
use crate::call::CALL_TIMEOUT;
use crate::error::engine_message;
use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, Network, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};
use tracing::{info, warn};

/// The label naming the shoal network an engine network stands for.
pub const LABEL_NETWORK_ID: &str = shoal_types::network::ENGINE_NETWORK_LABEL;
/// The bridge driver's option naming the Linux bridge it uses (adopted when it exists).
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";
/// The bridge driver's MTU option.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// What the engine network of one shoal network must be on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineNetworkSpec {
    pub network_id: String,
    pub name: String,
    /// The Linux bridge shoal made for it.
    pub bridge: String,
    /// `10.0.1.0/24`.
    pub subnet: String,
    /// This node's address on it, without prefix.
    pub gateway: String,
    pub mtu: u32,
    pub internal: bool,
    pub ingress: bool,
}

/// The subnet a gateway with prefix (`10.0.1.254/24`) is in (`10.0.1.0/24`).
pub fn subnet_of(cidr: &str) -> Option<String> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    Some(format!("{}/{len}", Ipv4Addr::from(u32::from(ip) & mask)))
}

impl EngineNetworkSpec {
    /// The create request: a labelled bridge network over `bridge`.
    pub fn create_request(&self) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: self.name.clone(),
            driver: Some("bridge".into()),
            internal: Some(self.internal),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(self.subnet.clone()),
                    gateway: Some(self.gateway.clone()),
                    ..Default::default()
                }]),
                options: None,
            }),
            options: Some(HashMap::from([
                (BRIDGE_NAME_OPTION.to_string(), self.bridge.clone()),
                (MTU_OPTION.to_string(), self.mtu.to_string()),
            ])),
            labels: Some(HashMap::from([(
                LABEL_NETWORK_ID.to_string(),
                self.network_id.clone(),
            )])),
            ..Default::default()
        }
    }

    /// Whether an existing engine network is this one (else it is replaced when unused).
    pub fn matches(&self, found: &Network) -> bool {
        let option = |key: &str| {
            found
                .options
                .as_ref()
                .and_then(|o| o.get(key))
                .map(String::as_str)
        };
        let ipam = found
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .and_then(|c| c.first());
        found.name.as_deref() == Some(self.name.as_str())
            && option(BRIDGE_NAME_OPTION) == Some(self.bridge.as_str())
            && option(MTU_OPTION) == Some(self.mtu.to_string().as_str())
            && found.internal.unwrap_or(false) == self.internal
            && ipam.and_then(|c| c.subnet.as_deref()) == Some(self.subnet.as_str())
            && ipam.and_then(|c| c.gateway.as_deref()) == Some(self.gateway.as_str())
    }

    fn local(&self) -> LocalNetwork {
        LocalNetwork {
            name: self.name.clone(),
            gateway: self.gateway.clone(),
            ingress: self.ingress,
        }
    }
}

/// Why an engine network call failed: names the call and the network.
fn failed(what: &str, name: &str, e: &bollard::errors::Error) -> String {
    format!("{what} engine network {name}: {}", engine_message(e))
}

async fn timed<T>(
    what: &str,
    name: &str,
    fut: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => r.map_err(|e| failed(what, name, &e)),
        Err(_) => Err(format!(
            "{what} engine network {name}: no answer from the container engine within {CALL_TIMEOUT:?}"
        )),
    }
}

/// The engine networks of shoal's networks on one engine.
#[derive(Debug, Clone)]
pub struct EngineNetworks {
    docker: Docker,
    directory: Arc<RwLock<NetworkDirectory>>,
}

impl EngineNetworks {
    pub fn new(docker: Docker) -> Self {
        Self {
            docker,
            directory: Arc::default(),
        }
    }

    /// The networks set up on this node, by shoal network id.
    pub fn directory(&self) -> NetworkDirectory {
        self.directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Publishes the networks set up by the last reconcile.
    pub fn publish(&self, specs: &[EngineNetworkSpec]) {
        let directory = specs
            .iter()
            .map(|s| (s.network_id.clone(), s.local()))
            .collect();
        *self.directory.write().unwrap_or_else(|e| e.into_inner()) = directory;
    }

    /// Every engine network shoal labelled.
    async fn labelled(&self) -> Result<Vec<Network>, String> {
        let filters = HashMap::from([("label", vec![LABEL_NETWORK_ID])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        timed("listing", "(all)", self.docker.list_networks(Some(options))).await
    }

    /// How many containers are on engine network `id`.
    async fn container_count(&self, id: &str, name: &str) -> Result<usize, String> {
        let inspect = timed("inspecting", name, self.docker.inspect_network(id, None)).await?;
        Ok(inspect.containers.map(|c| c.len()).unwrap_or(0))
    }

    /// Removes the engine networks of shoal networks not in `wanted` that no container uses;
    /// returns the bridges of those kept because containers are still on them (their devices
    /// must stay until the containers are gone).
    pub async fn remove_unwanted(&self, wanted: &BTreeSet<String>) -> Result<Vec<String>, String> {
        let mut busy = Vec::new();
        for found in self.labelled().await? {
            let shoal_id = found
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_NETWORK_ID))
                .cloned()
                .unwrap_or_default();
            if wanted.contains(&shoal_id) {
                continue;
            }
            let id = found.id.clone().unwrap_or_default();
            let name = found.name.clone().unwrap_or_default();
            let bridge = found
                .options
                .as_ref()
                .and_then(|o| o.get(BRIDGE_NAME_OPTION))
                .cloned();
            match self.remove_if_unused(&id, &name).await {
                Ok(true) => {
                    info!(network.id = %shoal_id, network = %name, "removed the engine network of a network that left this node")
                }
                Ok(false) => busy.extend(bridge),
                Err(e) => {
                    warn!(network.id = %shoal_id, error = %e, "removing an engine network failed; retried later");
                    busy.extend(bridge);
                }
            }
        }
        Ok(busy)
    }

    /// Removes engine network `id` unless a container is on it; true when removed.
    async fn remove_if_unused(&self, id: &str, name: &str) -> Result<bool, String> {
        if self.container_count(id, name).await? > 0 {
            return Ok(false);
        }
        timed("removing", name, self.docker.remove_network(id)).await?;
        Ok(true)
    }

    /// Makes the engine network of `spec` exist as specified. A labelled network that differs
    /// is replaced when no container is on it, else kept as it is (and reported).
    pub async fn ensure(&self, spec: &EngineNetworkSpec) -> Result<(), String> {
        let existing: Vec<Network> = self
            .labelled()
            .await?
            .into_iter()
            .filter(|n| {
                n.labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_NETWORK_ID))
                    .is_some_and(|id| *id == spec.network_id)
            })
            .collect();
        let mut stale = Vec::new();
        for found in existing {
            if spec.matches(&found) {
                return Ok(());
            }
            stale.push(found);
        }
        for found in stale {
            let id = found.id.clone().unwrap_or_default();
            if !self.remove_if_unused(&id, &spec.name).await? {
                return Err(format!(
                    "engine network {} differs from the shoal network (subnet, gateway, bridge or MTU) and containers are still on it",
                    spec.name
                ));
            }
        }
        timed(
            "creating",
            &spec.name,
            self.docker.create_network(spec.create_request()),
        )
        .await?;
        info!(network.id = %spec.network_id, network = %spec.name, bridge = %spec.bridge, "created the engine network");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EngineNetworkSpec {
        EngineNetworkSpec {
            network_id: "net1".into(),
            name: "front".into(),
            bridge: "shbr4097".into(),
            subnet: "10.0.1.0/24".into(),
            gateway: "10.0.1.254".into(),
            mtu: 1450,
            internal: false,
            ingress: false,
        }
    }

    #[test]
    fn the_subnet_of_a_gateway() {
        assert_eq!(subnet_of("10.0.1.254/24").as_deref(), Some("10.0.1.0/24"));
        assert_eq!(subnet_of("10.1.2.3/16").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(subnet_of("10.1.2.3/32").as_deref(), Some("10.1.2.3/32"));
        assert_eq!(subnet_of("10.1.2.3").as_deref(), None);
    }

    #[test]
    fn the_engine_network_is_a_labelled_bridge_over_shoals_bridge() {
        let req = spec().create_request();
        assert_eq!(req.name, "front");
        assert_eq!(req.driver.as_deref(), Some("bridge"));
        let options = req.options.expect("options");
        assert_eq!(options[BRIDGE_NAME_OPTION], "shbr4097");
        assert_eq!(options[MTU_OPTION], "1450");
        assert_eq!(req.labels.expect("labels")[LABEL_NETWORK_ID], "net1");
        let ipam = &req.ipam.expect("ipam").config.expect("config")[0];
        assert_eq!(ipam.subnet.as_deref(), Some("10.0.1.0/24"));
        assert_eq!(ipam.gateway.as_deref(), Some("10.0.1.254"));
    }

    #[test]
    fn an_engine_network_matches_only_when_everything_agrees() {
        let req = spec().create_request();
        let found = Network {
            name: Some(req.name.clone()),
            internal: req.internal,
            ipam: req.ipam.clone(),
            options: req.options.clone(),
            labels: req.labels.clone(),
            ..Default::default()
        };
        assert!(spec().matches(&found));
        let mut moved = spec();
        moved.gateway = "10.0.1.253".into();
        assert!(!moved.matches(&found));
        let mut internal = spec();
        internal.internal = true;
        assert!(!internal.matches(&found));
    }
}
