//! [`NetPlane`]: the agent's [`DataPlane`] on a real host, wiring `shoal-net`'s overlay (Linux
//! bridge + VXLAN per network, static peers) to the engine networks of `shoal-docker`.
//!
//! One apply, for the node's complete network set:
//! 1. engine networks of networks that left the set are removed where no container is on
//!    them; the bridges of the others must stay for now;
//! 2. when the set has an encrypted network, the node's WireGuard tunnel (`shoal_net::tunnel`)
//!    is started if it is not running yet and given the set's peers (a node gone from every
//!    set loses its peer at once); if it cannot be, the encrypted networks fail with the
//!    reason and are not built (never clear text);
//! 3. the kernel is reconciled to the set (leftover devices removed, except those bridges);
//!    encrypted networks' VXLAN devices run between tunnel addresses;
//! 4. each network whose devices are up gets its engine network (created or adopted);
//! 5. the networks that made it are published to the executor, which attaches containers;
//! 6. the resolver gets the set's records and listens on this node's gateways
//!    (`shoal_net::dns`), and the load balancer's VIP and routing-mesh rules follow the set
//!    (`shoal_net::lb`), as do the PROXY protocol listeners of the ports that asked for
//!    them. Their failures are logged and retried at the next apply; they do not
//!    fail tasks (addresses still work).
//!
//! Everything is idempotent, so the agent applies the set at every change and periodically;
//! after a restart of shoal or of the engine the first apply repairs what is missing.
//!
//! Key rotation: every [`NetPlane`] (one per agent start: daemon start, swarm join) makes a
//! new node key, replacing the one kept under the data root, and the agent publishes its
//! public half when it opens its dispatcher session; the peers' tunnels follow the new key
//! from the next assignment set on.

use futures::future::BoxFuture;
use shoal_agent::{DataPlane, NetworkFailures};
use shoal_docker::networks::subnet_of;
use shoal_docker::{EngineNetworkSpec, EngineNetworks};
use shoal_net::Netlink;
use shoal_net::dns::{Records, Resolver, ResolverConfig, listen_addrs};
use shoal_net::lb;
use shoal_net::overlay::{self, Encryption, VXLAN_PORT, bridge_name, vni_of_device};
use shoal_net::tunnel::{self, NodeKey, Tunnel, TunnelConfig, TunnelOptions};
use shoal_types::NodeId;
use shoal_types::dispatch::NodeNetwork;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use tracing::{debug, info, warn};

/// The overlay data plane of this host.
pub(crate) struct NetPlane {
    node_id: NodeId,
    /// The netlink socket, or why it could not be opened (every network then fails with it).
    kernel: Result<Netlink, String>,
    engine: EngineNetworks,
    /// The node's DNS resolver; `None` when it could not start (logged).
    resolver: Option<Resolver>,
    /// This node's tunnel key, made (rotated) when the plane was made, or why it could not be.
    key: Result<NodeKey, String>,
    /// Where the key is kept.
    key_dir: PathBuf,
    /// Held through the whole apply: one apply at a time, so the agent's set and its periodic
    /// resync never interleave.
    serial: tokio::sync::Mutex<Applied>,
    /// The routing mesh's PROXY protocol listeners (ports opted in by a service label).
    proxies: lb::ProxySet,
}

/// What the applies keep between them.
#[derive(Default)]
struct Applied {
    /// The load balancer's plan last applied successfully (an unchanged plan is not
    /// re-applied).
    lb: Option<lb::Plan>,
    /// The encrypted tunnel, once an encrypted network has reached this node.
    tunnel: Option<Tunnel>,
}

impl NetPlane {
    /// Opens the netlink socket in this process's network namespace (must run on the runtime)
    /// and makes a new tunnel key in `key_dir` (the old one, if any, is gone).
    pub(crate) fn new(node_id: NodeId, engine: EngineNetworks, key_dir: PathBuf) -> Self {
        let kernel = Netlink::connect().map_err(|e| e.to_string());
        if let Err(e) = &kernel {
            tracing::error!(error = %e, "the overlay data plane cannot reach the kernel; tasks on networks will fail");
        }
        let resolver = match Resolver::start(ResolverConfig::default()) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "the DNS resolver cannot start; service names will not resolve");
                None
            }
        };
        let key = crate::paths::create_private_dir(&key_dir)
            .map_err(|e| {
                format!(
                    "encrypted overlay: the key directory {}: {e}",
                    key_dir.display()
                )
            })
            .and_then(|()| NodeKey::rotate(&key_dir).map_err(|e| e.to_string()));
        match &key {
            Ok(k) => {
                info!(key = %k.public_base64(), "encrypted overlay: new node key (made at every agent start)")
            }
            Err(e) => {
                tracing::error!(error = %e, "encrypted overlay: no node key; tasks on encrypted networks will fail on this node")
            }
        }
        Self {
            node_id,
            kernel,
            engine,
            resolver,
            key,
            key_dir,
            serial: tokio::sync::Mutex::new(Applied::default()),
            proxies: lb::ProxySet::default(),
        }
    }

    async fn apply_set(&self, networks: &[NodeNetwork]) -> NetworkFailures {
        let mut applied = self.serial.lock().await;
        let fail_all = |reason: &str| -> NetworkFailures {
            networks
                .iter()
                .map(|n| (n.network.id.clone(), reason.to_string()))
                .collect()
        };
        let kernel = match &self.kernel {
            Ok(k) => k,
            Err(e) => return fail_all(e),
        };
        let local = match overlay::local_address(networks, &self.node_id) {
            Some(ip) => Some(ip),
            None if networks.is_empty() => None,
            None => {
                return fail_all(
                    "this node's data-path address is not known to the managers yet (retried)",
                );
            }
        };

        let wanted: BTreeSet<String> = networks.iter().map(|n| n.network.id.clone()).collect();
        let busy: BTreeSet<u32> = match self.engine.remove_unwanted(&wanted).await {
            Ok(bridges) => bridges.iter().filter_map(|b| vni_of_device(b)).collect(),
            Err(e) => {
                // Without the engine's word, no device may go: containers may be on them.
                warn!(error = %e, "listing engine networks failed; keeping every overlay device");
                all_shoal_vnis(kernel).await.into_iter().collect()
            }
        };

        let local = local.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let peers = tunnel::plan(local, tunnel::DEFAULT_PORT, networks);
        let tunnel_state = self.tunnel(&mut applied.tunnel, local, &peers).await;
        let encryption = match &tunnel_state {
            Ok(()) => Encryption::Up,
            Err(why) => Encryption::Unavailable(why),
        };
        let plan = overlay::plan(networks, local, VXLAN_PORT, encryption);
        let mut failures = match overlay::reconcile(kernel, &plan, &busy).await {
            Ok(outcome) => {
                debug!(applied = outcome.applied, "overlay reconciled");
                outcome.failed
            }
            Err(e) => return fail_all(&e.to_string()),
        };

        let mut ready = Vec::new();
        for n in networks {
            if failures.contains_key(&n.network.id) {
                continue;
            }
            let Some(spec) = engine_spec(n) else {
                failures.insert(
                    n.network.id.clone(),
                    format!(
                        "network {} has no usable subnet for this node",
                        n.network.name()
                    ),
                );
                continue;
            };
            match self.engine.ensure(&spec).await {
                Ok(()) => ready.push(spec),
                Err(e) => {
                    failures.insert(n.network.id.clone(), e);
                }
            }
        }
        self.engine.publish(&ready);
        self.apply_services(networks, &mut applied.lb).await;
        failures
    }

    /// Makes the tunnel carry `peers`: started on the first set with an encrypted network
    /// (then kept), restarted when this node's data-path address changed, given the peers.
    /// `Err` names why encrypted networks cannot be carried; the tunnel is then dropped, and
    /// the next apply tries again.
    async fn tunnel(
        &self,
        slot: &mut Option<Tunnel>,
        local: Ipv4Addr,
        peers: &TunnelConfig,
    ) -> Result<(), String> {
        if !peers.needed {
            // No encrypted network (left): a running tunnel keeps no peer.
            if let Some(t) = slot.as_ref()
                && let Err(e) = t.apply(peers)
            {
                warn!(error = %e, "encrypted overlay: tunnel failed; stopped");
                drop_tunnel(slot.take()).await;
            }
            return Ok(());
        }
        let key = self.key.as_ref().map_err(Clone::clone)?;
        if slot
            .as_ref()
            .is_some_and(|t| t.addr() != tunnel::tunnel_addr(local))
        {
            info!(
                "encrypted overlay: this node's data-path address changed; restarting the tunnel"
            );
            drop_tunnel(slot.take()).await;
        }
        if slot.is_none() {
            let options = TunnelOptions {
                name: tunnel::DEFAULT_IFNAME.to_string(),
                key_dir: self.key_dir.clone(),
                lan_addr: local,
                port: tunnel::DEFAULT_PORT,
            };
            let started = tokio::task::spawn_blocking(move || Tunnel::start(&options))
                .await
                .map_err(|e| format!("encrypted overlay: starting the tunnel panicked: {e}"))?
                .map_err(|e| e.to_string())?;
            *slot = Some(started);
        }
        let Some(t) = slot.as_ref() else {
            return Err("encrypted overlay: the tunnel is not running".into());
        };
        let published = key.public_base64();
        let before = peer_ids(&t.peers());
        let result = if t.public_key() != published {
            Err(format!(
                "encrypted overlay: the key in {} is not the one this node published (changed while the daemon runs); restart the daemon to publish a new one",
                self.key_dir.display()
            ))
        } else {
            t.apply(peers).map_err(|e| e.to_string())
        };
        if let Err(e) = &result {
            warn!(error = %e, "encrypted overlay: tunnel failed; stopped");
            drop_tunnel(slot.take()).await;
            return result;
        }
        let after = peer_ids(&t.peers());
        if after != before {
            info!(device = t.name(), peers = ?after, "encrypted overlay: tunnel peers changed");
        }
        for (node, why) in &peers.unusable {
            debug!(node.id = %node, reason = %why, "encrypted overlay: node left out of the tunnel's peers");
        }
        Ok(())
    }

    /// Names and VIPs/routing mesh for the set, after the bridges exist.
    async fn apply_services(&self, networks: &[NodeNetwork], last_lb: &mut Option<lb::Plan>) {
        if let Some(resolver) = &self.resolver {
            resolver.update(Records::build(networks));
            if let Err(e) = resolver.set_listen(&listen_addrs(networks)) {
                warn!(error = %e, "DNS resolver: some gateways are not served; retried");
            }
        }
        // a proxied port listens before the rules stop DNAT'ing it, and stops listening
        // only after they DNAT it again, so no new connection is refused on the way
        let proxied = lb::proxies(networks);
        if let Err(e) = self.proxies.start(&proxied) {
            warn!(error = %e, "routing mesh: retried");
        }
        let plan = lb::render(networks);
        if last_lb.as_ref() == Some(&plan) {
            self.proxies.stop_others(&proxied);
            return;
        }
        let to_apply = plan.clone();
        let applied =
            tokio::task::spawn_blocking(move || lb::apply(&lb::System::default(), &to_apply)).await;
        match applied {
            Ok(Ok(())) => *last_lb = Some(plan),
            Ok(Err(e)) => {
                *last_lb = None;
                warn!(error = %e, "load balancer rules not applied; retried");
            }
            Err(e) => {
                *last_lb = None;
                warn!(error = %e, "load balancer apply panicked; retried");
            }
        }
        self.proxies.stop_others(&proxied);
    }
}

/// The node ids of `peers`, for the log.
fn peer_ids(peers: &[tunnel::Peer]) -> Vec<String> {
    peers.iter().map(|p| p.node_id.to_string()).collect()
}

/// Stops a tunnel off the runtime's threads (its drop joins the tunnel's threads).
async fn drop_tunnel(tunnel: Option<Tunnel>) {
    if let Some(t) = tunnel
        && let Err(e) = tokio::task::spawn_blocking(move || drop(t)).await
    {
        warn!(error = %e, "encrypted overlay: stopping the tunnel panicked");
    }
}

/// Every VNI with a shoal device on this host.
async fn all_shoal_vnis(kernel: &Netlink) -> Vec<u32> {
    use shoal_net::overlay::Kernel;
    match kernel.observe().await {
        Ok(observed) => observed
            .links
            .keys()
            .filter_map(|n| vni_of_device(n))
            .collect(),
        Err(e) => {
            warn!(error = %e, "reading overlay devices failed");
            Vec::new()
        }
    }
}

/// The engine network of `n` on this node.
fn engine_spec(n: &NodeNetwork) -> Option<EngineNetworkSpec> {
    let (gateway, _) = n.gateway.split_once('/')?;
    let subnet = n
        .network
        .ipam
        .config
        .as_ref()
        .and_then(|c| c.first())
        .and_then(|c| c.subnet.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| subnet_of(&n.gateway))?;
    Some(EngineNetworkSpec {
        network_id: n.network.id.clone(),
        name: n.network.name().to_string(),
        bridge: bridge_name(n.network.vni),
        subnet,
        gateway: gateway.to_string(),
        mtu: n.network.mtu(),
        internal: n.network.spec.internal,
        ingress: n.network.is_ingress(),
    })
}

impl DataPlane for NetPlane {
    fn apply<'a>(&'a self, networks: &'a [NodeNetwork]) -> BoxFuture<'a, NetworkFailures> {
        Box::pin(self.apply_set(networks))
    }

    fn tunnel_key(&self) -> Option<String> {
        self.key.as_ref().ok().map(NodeKey::public_base64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::Network;
    use shoal_types::api::{Ipam, IpamConfig};

    #[test]
    fn the_engine_network_takes_the_cluster_subnet_and_this_nodes_gateway() {
        let mut network = Network {
            id: "net1".into(),
            vni: 4097,
            ipam: Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some("10.0.1.0/24".into()),
                    gateway: Some("10.0.1.1".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        };
        network.spec.name = "front".into();
        network.spec.internal = true;
        let n = NodeNetwork {
            network,
            gateway: "10.0.1.254/24".into(),
            ..Default::default()
        };
        let spec = engine_spec(&n).expect("spec");
        assert_eq!(
            spec,
            EngineNetworkSpec {
                network_id: "net1".into(),
                name: "front".into(),
                bridge: "shbr4097".into(),
                subnet: "10.0.1.0/24".into(),
                gateway: "10.0.1.254".into(),
                mtu: 1450,
                internal: true,
                ingress: false,
            }
        );
        // Without IPAM config the subnet comes from the gateway's prefix.
        let mut bare = n.clone();
        bare.network.ipam = Ipam::default();
        assert_eq!(
            engine_spec(&bare).expect("spec").subnet,
            "10.0.1.0/24".to_string()
        );
        bare.gateway = String::new();
        assert_eq!(engine_spec(&bare), None);
    }
}
