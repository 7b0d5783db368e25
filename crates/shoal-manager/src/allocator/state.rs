//! What the allocator decides, without I/O: a network's subnet and VXLAN id, a service's
//! endpoint (published ports, virtual IPs), a task's addresses and a node's own addresses,
//! all against the pools of what is already taken.
//!
//! Rules (swarmkit's): every network of a task's spec gives it one address there, in spec
//! order, then the ingress network last when its service publishes a port in ingress mode. A
//! service gets one virtual IP per such network (ingress first, as Docker shows them) unless
//! its endpoint mode is `dnsrr`. A published ingress port belongs to one service; one
//! without a number gets one from 30000–32767. Every node gets one address on every network.

use super::ipam::{IpamError, Ipv4Net, allocate_ipam, next_vni, subnets_of};
use super::pools::{AddressPool, Owner, PortPool};
use shoal_store::Tables;
use shoal_types::api::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, Ipam, IpamConfig, ServiceEndpoint,
    ServiceEndpointVirtualIps, ServiceSpec,
};
use shoal_types::cluster::{DEFAULT_ADDR_POOL, DEFAULT_SUBNET_SIZE};
use shoal_types::network::INGRESS_NETWORK_NAME;
use shoal_types::{
    Cluster, Network, NetworkAttachment, NetworkSpec, Node, Service, ServiceId, Task, TaskState,
};
use std::collections::{BTreeMap, BTreeSet};

/// Docker's subnet of the ingress network made at `swarm init` (with the default pools).
pub const INGRESS_SUBNET: &str = "10.0.0.0/24";
/// Its gateway.
pub const INGRESS_GATEWAY: &str = "10.0.0.1";

/// Why something could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// Something it needs is not allocated yet (a network, the ingress network, its
    /// service's endpoint): tried again when that changes.
    #[error("waiting for {0}")]
    Waiting(String),
    /// It cannot be allocated as asked (a port taken, a network full).
    #[error("{0}")]
    Failed(String),
}

/// Whether a network has its subnet and VXLAN id.
pub fn is_allocated(net: &Network) -> bool {
    net.vni != 0 && !subnets_of(&net.ipam).is_empty()
}

/// Whether a published port is in ingress mode (the default).
pub fn is_ingress_port(p: &EndpointPortConfig) -> bool {
    matches!(
        p.publish_mode,
        None | Some(EndpointPortConfigPublishModeEnum::EMPTY)
            | Some(EndpointPortConfigPublishModeEnum::INGRESS)
    )
}

/// The port's protocol as Docker writes it (`tcp` by default).
pub fn protocol_of(p: &EndpointPortConfig) -> &'static str {
    match p.protocol {
        Some(EndpointPortConfigProtocolEnum::UDP) => "udp",
        Some(EndpointPortConfigProtocolEnum::SCTP) => "sctp",
        _ => "tcp",
    }
}

/// The ports a spec publishes.
pub fn spec_ports(spec: &ServiceSpec) -> &[EndpointPortConfig] {
    spec.endpoint_spec
        .as_ref()
        .and_then(|e| e.ports.as_deref())
        .unwrap_or_default()
}

/// Whether a service spec needs the ingress network (swarmkit's `IsIngressNetworkNeeded`).
pub fn needs_ingress(spec: &ServiceSpec) -> bool {
    spec_ports(spec).iter().any(is_ingress_port)
}

/// Whether the spec asks for DNS round robin instead of a virtual IP.
pub fn is_dnsrr(spec: &ServiceSpec) -> bool {
    spec.endpoint_spec
        .as_ref()
        .and_then(|e| e.mode)
        .is_some_and(|m| m == EndpointSpecModeEnum::DNSRR)
}

/// The network ids a service's tasks attach to, in spec order (names were resolved to ids
/// by the control API).
pub fn spec_network_ids(spec: &ServiceSpec) -> Vec<String> {
    spec.task_template
        .as_ref()
        .and_then(|t| t.networks.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|a| a.target.clone())
        .collect()
}

/// The ingress network `swarm init` makes: Docker's `10.0.0.0/24` with the default pools,
/// else a subnet from the cluster's pools (left to the allocator).
pub fn ingress_network(id: String, default_pools: &[String]) -> Network {
    let default = default_pools.is_empty() || default_pools == [DEFAULT_ADDR_POOL];
    let ipam = Ipam {
        driver: Some(super::ipam::DEFAULT_IPAM_DRIVER.to_string()),
        config: default.then(|| {
            vec![IpamConfig {
                subnet: Some(INGRESS_SUBNET.to_string()),
                gateway: Some(INGRESS_GATEWAY.to_string()),
                ..IpamConfig::default()
            }]
        }),
        options: None,
    };
    Network {
        id,
        spec: NetworkSpec {
            name: INGRESS_NETWORK_NAME.to_string(),
            driver: "overlay".to_string(),
            ipam: Some(ipam),
            ingress: true,
            ..NetworkSpec::default()
        },
        ..Network::default()
    }
}

/// The cluster's default pools and subnet size, with Docker's defaults.
pub fn default_pools(cluster: Option<&Cluster>) -> (Vec<Ipv4Net>, u8) {
    let (pools, size) = match cluster {
        Some(c) => (c.default_addr_pool.clone(), c.subnet_size),
        None => (Vec::new(), 0),
    };
    let pools: Vec<Ipv4Net> = if pools.is_empty() {
        vec![DEFAULT_ADDR_POOL.to_string()]
    } else {
        pools
    }
    .iter()
    .filter_map(|p| Ipv4Net::parse(p))
    .collect();
    let size = if size == 0 { DEFAULT_SUBNET_SIZE } else { size };
    (pools, u8::try_from(size).unwrap_or(24))
}

/// Subnets a new network must not overlap: those of every other network, allocated or asked
/// for (a network waiting for the allocator already names its subnet when the user gave one).
pub fn subnets_in_use<'a>(nets: impl Iterator<Item = &'a Network>, except: &str) -> Vec<Ipv4Net> {
    nets.filter(|n| n.id != except)
        .flat_map(|n| {
            if is_allocated(n) {
                subnets_of(&n.ipam)
            } else {
                n.spec.ipam.as_ref().map(subnets_of).unwrap_or_default()
            }
        })
        .collect()
}

/// `net` with its IPAM and VNI allocated, given every network in the store.
pub fn allocate_network(
    net: &Network,
    all: &[&Network],
    cluster: Option<&Cluster>,
) -> Result<Network, IpamError> {
    let (pools, size) = default_pools(cluster);
    let allocated: Vec<&Network> = all.iter().copied().filter(|n| is_allocated(n)).collect();
    // A subnet the user named is checked against allocated networks only; a pool subnet also
    // avoids the ones other waiting networks asked for.
    let names_subnet = net
        .spec
        .ipam
        .as_ref()
        .is_some_and(|i| !subnets_of(i).is_empty());
    let used: Vec<Ipv4Net> = if names_subnet {
        allocated
            .iter()
            .filter(|n| n.id != net.id)
            .flat_map(|n| subnets_of(&n.ipam))
            .collect()
    } else {
        subnets_in_use(all.iter().copied(), &net.id)
    };
    let ipam = allocate_ipam(net.spec.ipam.as_ref(), &pools, size, &used)?;
    let vnis: BTreeSet<u32> = allocated.iter().map(|n| n.vni).collect();
    let mut out = net.clone();
    out.ipam = ipam;
    out.vni = next_vni(&vnis)?;
    Ok(out)
}

/// The allocator's pools: addresses of every allocated network, and ingress ports.
#[derive(Debug, Clone, Default)]
pub struct Allocations {
    pools: BTreeMap<String, AddressPool>,
    ingress: Option<String>,
    ports: PortPool,
}

impl Allocations {
    /// Pools holding what the store says is allocated: networks, node addresses, virtual
    /// IPs, ingress ports, and the addresses of tasks that have not ended.
    pub fn from_tables(t: &Tables) -> Allocations {
        let mut a = Allocations::default();
        for n in t.networks.iter() {
            a.add_network(n);
        }
        for node in t.nodes.iter() {
            a.reserve(&Owner::Node(node.id.clone()), &node.attachments);
        }
        for s in t.services.iter() {
            let Some(ep) = &s.endpoint else { continue };
            for vip in ep.virtual_ips.iter().flatten() {
                if let (Some(net), Some(ip)) = (&vip.network_id, parse_ip(vip.addr.as_deref()))
                    && let Some(p) = a.pools.get_mut(net)
                {
                    p.reserve(&Owner::Vip(s.id.clone()), ip);
                }
            }
            for p in ep.ports.iter().flatten().filter(|p| is_ingress_port(p)) {
                if let Some(port) = p.published_port.and_then(|p| u16::try_from(p).ok())
                    && port > 0
                {
                    a.ports.reserve(&s.id, protocol_of(p), port);
                }
            }
        }
        for task in t.tasks.iter() {
            if task.status.state <= TaskState::Running {
                a.reserve(&Owner::Task(task.id.clone()), &task.networks);
            }
        }
        a
    }

    fn reserve(&mut self, owner: &Owner, attachments: &[NetworkAttachment]) {
        for att in attachments {
            if let (Some(p), Some(ip)) = (self.pools.get_mut(&att.network_id), att.ip())
                && !p.reserve(owner, ip)
            {
                tracing::warn!(network = %att.network_id, %ip, ?owner, "address recorded twice in the store; keeping the first holder");
            }
        }
    }

    /// Starts tracking an allocated network. Returns whether it was new.
    pub fn add_network(&mut self, net: &Network) -> bool {
        if !is_allocated(net) || self.pools.contains_key(&net.id) {
            return false;
        }
        let Some(pool) = AddressPool::new(&net.ipam) else {
            return false;
        };
        self.pools.insert(net.id.clone(), pool);
        if net.is_ingress() {
            self.ingress = Some(net.id.clone());
        }
        true
    }

    /// Forgets a removed network and every address on it.
    pub fn remove_network(&mut self, id: &str) {
        self.pools.remove(id);
        if self.ingress.as_deref() == Some(id) {
            self.ingress = None;
        }
    }

    /// Whether `id` is an allocated network.
    pub fn has_network(&self, id: &str) -> bool {
        self.pools.contains_key(id)
    }

    /// The allocated ingress network's id.
    pub fn ingress(&self) -> Option<&str> {
        self.ingress.as_deref()
    }

    /// Frees a task's addresses (it ended or was deleted).
    pub fn release_task(&mut self, task: &Task) {
        let owner = Owner::Task(task.id.clone());
        for att in &task.networks {
            if let Some(p) = self.pools.get_mut(&att.network_id) {
                p.release(&owner);
            }
        }
    }

    /// Frees a removed node's addresses.
    pub fn release_node(&mut self, node: &Node) {
        let owner = Owner::Node(node.id.clone());
        for p in self.pools.values_mut() {
            p.release(&owner);
        }
    }

    /// Frees a removed service's virtual IPs and ports.
    pub fn release_service(&mut self, id: &ServiceId) {
        let owner = Owner::Vip(id.clone());
        for p in self.pools.values_mut() {
            p.release(&owner);
        }
        self.ports.release_except(id, &[]);
    }

    /// Who publishes an ingress port (for the control API's conflict check in tests).
    pub fn port_owner(&self, protocol: &str, port: u16) -> Option<&ServiceId> {
        self.ports.owner(protocol, port)
    }

    /// The endpoint `svc` must have: its spec (mode defaulted to `vip`), its ports with
    /// published ports filled, one virtual IP per network (ingress first) unless `dnsrr`.
    /// Reserves what it hands out and frees what the service no longer uses.
    pub fn endpoint(&mut self, svc: &Service) -> Result<ServiceEndpoint, AllocError> {
        let spec_ports = spec_ports(&svc.spec);
        let previous: Vec<&EndpointPortConfig> = svc
            .endpoint
            .as_ref()
            .and_then(|e| e.ports.as_ref())
            .into_iter()
            .flatten()
            .collect();
        let mut ports = Vec::new();
        let mut kept: Vec<(String, u16)> = Vec::new();
        // Ports the spec names first, so a dynamic port never takes one of them.
        for p in spec_ports.iter().filter(|p| is_ingress_port(p)) {
            let proto = protocol_of(p);
            if let Some(port) = p
                .published_port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
            {
                if !self.ports.reserve(&svc.id, proto, port) {
                    let owner = self.ports.owner(proto, port).cloned().unwrap_or_default();
                    return Err(AllocError::Failed(format!(
                        "port '{port}' is already in use by service {owner} as an ingress port"
                    )));
                }
                kept.push((proto.to_string(), port));
            }
        }
        for p in spec_ports {
            let proto = protocol_of(p);
            let mut out = EndpointPortConfig {
                name: p.name.clone().filter(|n| !n.is_empty()),
                protocol: Some(
                    p.protocol
                        .filter(|x| *x != EndpointPortConfigProtocolEnum::EMPTY)
                        .unwrap_or(EndpointPortConfigProtocolEnum::TCP),
                ),
                target_port: p.target_port,
                published_port: p.published_port.filter(|n| *n > 0),
                publish_mode: Some(if is_ingress_port(p) {
                    EndpointPortConfigPublishModeEnum::INGRESS
                } else {
                    EndpointPortConfigPublishModeEnum::HOST
                }),
            };
            if is_ingress_port(p) && out.published_port.is_none() {
                let reuse = previous
                    .iter()
                    .filter(|q| {
                        is_ingress_port(q)
                            && protocol_of(q) == proto
                            && q.target_port == p.target_port
                    })
                    .filter_map(|q| q.published_port.and_then(|n| u16::try_from(n).ok()))
                    .find(|port| {
                        !kept.contains(&(proto.to_string(), *port))
                            && self.ports.owner(proto, *port) == Some(&svc.id)
                    });
                let port = match reuse {
                    Some(port) => port,
                    None => self.ports.allocate_dynamic(&svc.id, proto).ok_or_else(|| {
                        AllocError::Failed("no published port left in 30000-32767".into())
                    })?,
                };
                kept.push((proto.to_string(), port));
                out.published_port = Some(i64::from(port));
            }
            ports.push(out);
        }
        self.ports.release_except(&svc.id, &kept);

        let mut nets: Vec<String> = Vec::new();
        if needs_ingress(&svc.spec) {
            let Some(ingress) = self.ingress.clone() else {
                return Err(AllocError::Waiting("the ingress network".into()));
            };
            nets.push(ingress);
        }
        for id in spec_network_ids(&svc.spec) {
            if !nets.contains(&id) {
                nets.push(id);
            }
        }
        let owner = Owner::Vip(svc.id.clone());
        let mut vips = Vec::new();
        if !is_dnsrr(&svc.spec) {
            for id in &nets {
                let Some(pool) = self.pools.get_mut(id) else {
                    return Err(AllocError::Waiting(format!("network {id}")));
                };
                let ip = pool.allocate(&owner).ok_or_else(|| {
                    AllocError::Failed(format!("network {id} has no free address"))
                })?;
                vips.push(ServiceEndpointVirtualIps {
                    network_id: Some(id.clone()),
                    addr: Some(pool.cidr(ip)),
                });
            }
        }
        // Virtual IPs on networks the service left go back to their pools.
        for (id, pool) in self.pools.iter_mut() {
            if is_dnsrr(&svc.spec) || !nets.contains(id) {
                pool.release(&owner);
            }
        }
        let mut spec = svc.spec.endpoint_spec.clone().unwrap_or(EndpointSpec {
            mode: None,
            ports: None,
        });
        if spec.mode.is_none_or(|m| m == EndpointSpecModeEnum::EMPTY) {
            spec.mode = Some(EndpointSpecModeEnum::VIP);
        }
        Ok(ServiceEndpoint {
            spec: Some(spec),
            ports: (!ports.is_empty()).then_some(ports),
            virtual_ips: (!vips.is_empty()).then_some(vips),
        })
    }

    /// A task's addresses: one per network of its spec in order (with the attachment's
    /// aliases), then ingress when its service publishes an ingress port.
    pub fn task_networks(
        &mut self,
        task: &Task,
        svc: &Service,
    ) -> Result<Vec<NetworkAttachment>, AllocError> {
        let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
        for a in task.spec.networks.iter().flatten() {
            let Some(id) = a.target.clone() else { continue };
            if Some(id.as_str()) == self.ingress() || wanted.iter().any(|(w, _)| *w == id) {
                continue;
            }
            wanted.push((id, a.aliases.clone().unwrap_or_default()));
        }
        if needs_ingress(&svc.spec) {
            let Some(ingress) = self.ingress.clone() else {
                return Err(AllocError::Waiting("the ingress network".into()));
            };
            wanted.push((ingress, Vec::new()));
        }
        if let Some((id, _)) = wanted.iter().find(|(id, _)| !self.pools.contains_key(id)) {
            return Err(AllocError::Waiting(format!("network {id}")));
        }
        let owner = Owner::Task(task.id.clone());
        let mut out = Vec::new();
        for (id, aliases) in wanted {
            let Some(pool) = self.pools.get_mut(&id) else {
                continue;
            };
            let Some(ip) = pool.allocate(&owner) else {
                self.release_task(&Task {
                    id: task.id.clone(),
                    networks: out,
                    ..Task::default()
                });
                return Err(AllocError::Failed(format!(
                    "network {id} has no free address"
                )));
            };
            out.push(NetworkAttachment {
                network_id: id,
                addresses: vec![pool.cidr(ip)],
                aliases,
            });
        }
        Ok(out)
    }

    /// A node's own address on every allocated network, by network id. Networks that are
    /// full are left out (and logged).
    pub fn node_attachments(&mut self, node: &Node) -> Vec<NetworkAttachment> {
        let owner = Owner::Node(node.id.clone());
        let mut out = Vec::new();
        for (id, pool) in self.pools.iter_mut() {
            match pool.allocate(&owner) {
                Some(ip) => out.push(NetworkAttachment {
                    network_id: id.clone(),
                    addresses: vec![pool.cidr(ip)],
                    aliases: Vec::new(),
                }),
                None => {
                    tracing::warn!(network = %id, node.id = %node.id, "network has no free address for the node's gateway")
                }
            }
        }
        out
    }
}

fn parse_ip(s: Option<&str>) -> Option<std::net::Ipv4Addr> {
    s?.split('/').next()?.parse().ok()
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
