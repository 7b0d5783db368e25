//! The resolver's records: a pure function of the node's [`NodeNetwork`] set.
//!
//! Names are kept per network, so a client only sees the names of the networks it is on
//! (see [`Records::networks_of`]). Only ready endpoints (running, and healthy where a
//! healthcheck exists) give addresses; a service's VIP answers whatever its tasks' state,
//! because the load balancer rejects connections to a VIP without a ready task.

use super::upstream::Upstreams;
use shoal_types::dispatch::NodeNetwork;
use shoal_types::id::ServiceId;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Names that answer for every ready task of a service: `tasks.<service>` and
/// `tasks.<alias>` for each of its aliases on the network.
const TASKS_PREFIX: &str = "tasks.";

/// What a name resolves to on one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The addresses, in a stable order (sorted).
    pub addrs: Vec<Ipv4Addr>,
    /// Shuffle the addresses in every answer (several tasks behind one name, as Docker does
    /// for `tasks.<service>` and endpoint mode `dnsrr`).
    pub shuffle: bool,
}

/// The names of one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecords {
    pub network_id: String,
    pub network_name: String,
    /// The network's subnet: a client whose source address is in it is on the network.
    pub subnet: Option<(Ipv4Addr, u8)>,
    /// Lower-case names without a trailing dot.
    pub names: HashMap<String, Entry>,
    /// Reverse names: task addresses and VIPs → `<name>.<network>`.
    pub reverse: HashMap<Ipv4Addr, String>,
    /// Task id of each endpoint address, to find a client's other networks.
    pub tasks: HashMap<Ipv4Addr, String>,
}

/// Every network's names, as the resolver answers them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Records {
    pub networks: Vec<NetworkRecords>,
    /// The indexes of the networks each task is on (a client's other networks).
    pub task_networks: HashMap<String, Vec<usize>>,
    /// Tasks with their own nameservers (`--dns`), by address: where their queries for names
    /// the swarm does not own go instead of the node's upstreams.
    pub upstreams: HashMap<Ipv4Addr, Arc<Upstreams>>,
}

/// Precedence of the kinds of names when two kinds claim one name on a network: the
/// whole service first (its name and aliases), then `tasks.<service>`, then task names,
/// then endpoint aliases. Addresses of names of the same kind are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Service,
    Tasks,
    TaskName,
    EndpointAlias,
}

impl Records {
    /// Builds the records of every non-ingress network (the ingress network carries the
    /// routing mesh only: Docker gives it no service discovery either).
    pub fn build(all_networks: &[NodeNetwork]) -> Records {
        let networks: Vec<NetworkRecords> = all_networks
            .iter()
            .filter(|n| !n.network.is_ingress())
            .map(network_records)
            .collect();
        let mut task_networks: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in networks.iter().enumerate() {
            for task in n.tasks.values() {
                let on = task_networks.entry(task.clone()).or_default();
                if on.last() != Some(&i) {
                    on.push(i);
                }
            }
        }
        let upstreams = all_networks
            .iter()
            .flat_map(|n| &n.endpoints)
            .filter(|e| !e.dns.is_empty())
            .filter_map(|e| {
                let addr = e.addr.parse().ok()?;
                Some((
                    addr,
                    Arc::new(Upstreams::from_addrs(e.dns.iter().map(String::as_str))),
                ))
            })
            .collect();
        Records {
            networks,
            task_networks,
            upstreams,
        }
    }

    /// Where `client`'s queries for names the swarm does not own go, when its task set its
    /// own nameservers; `None`: the node's upstreams.
    pub fn upstreams_of(&self, client: Ipv4Addr) -> Option<&Arc<Upstreams>> {
        self.upstreams.get(&client)
    }

    /// The indexes of the networks a client is on, the network of its source address
    /// first: networks whose subnet holds the address, then the other networks of the task
    /// that owns the address (a container on two networks queries from one of its
    /// addresses but may use the names of both).
    pub fn networks_of(&self, client: Ipv4Addr) -> Vec<usize> {
        let mut found: Vec<usize> = (0..self.networks.len())
            .filter(|&i| {
                self.networks[i]
                    .subnet
                    .is_some_and(|(net, len)| in_subnet(client, net, len))
            })
            .collect();
        let task = found
            .iter()
            .find_map(|&i| self.networks[i].tasks.get(&client).cloned());
        if let Some(on) = task.and_then(|t| self.task_networks.get(&t)) {
            for &i in on {
                if !found.contains(&i) {
                    found.push(i);
                }
            }
        }
        found
    }

    /// The entry for `name` (lower case, no trailing dot) as `client` sees it: from the
    /// first of its networks that has the name.
    pub fn lookup(&self, client: Ipv4Addr, name: &str) -> Option<&Entry> {
        self.networks_of(client)
            .into_iter()
            .find_map(|i| self.networks[i].names.get(name))
    }

    /// The reverse name of `addr` as `client` sees it.
    pub fn reverse(&self, client: Ipv4Addr, addr: Ipv4Addr) -> Option<&str> {
        self.networks_of(client)
            .into_iter()
            .find_map(|i| self.networks[i].reverse.get(&addr).map(String::as_str))
    }
}

fn network_records(n: &NodeNetwork) -> NetworkRecords {
    let mut names: HashMap<String, (Kind, Entry)> = HashMap::new();
    let mut reverse = HashMap::new();
    let mut tasks = HashMap::new();
    let net_name = n.network.name().to_string();
    let mut ready: HashMap<&ServiceId, Vec<Ipv4Addr>> = HashMap::new();
    for e in n.endpoints.iter().filter(|e| e.ready) {
        if let Ok(addr) = e.addr.parse() {
            ready.entry(&e.service_id).or_default().push(addr);
        }
    }
    for s in &n.services {
        let task_addrs = ready.get(&s.service_id).cloned().unwrap_or_default();
        let service_entry = match s.vip.as_deref().and_then(|v| v.parse().ok()) {
            Some(vip) => {
                reverse.insert(vip, format!("{}.{}", s.name, net_name));
                Entry {
                    addrs: vec![vip],
                    shuffle: false,
                }
            }
            None => Entry {
                addrs: task_addrs.clone(),
                shuffle: true,
            },
        };
        for name in std::iter::once(&s.name).chain(&s.aliases) {
            add(&mut names, name, Kind::Service, &service_entry);
        }
        let tasks_entry = Entry {
            addrs: task_addrs,
            shuffle: true,
        };
        // As Docker: `tasks.<alias>` too, so a stack service's short name has it.
        for name in std::iter::once(&s.name).chain(&s.aliases) {
            add(
                &mut names,
                &format!("{TASKS_PREFIX}{name}"),
                Kind::Tasks,
                &tasks_entry,
            );
        }
    }
    for e in &n.endpoints {
        let Ok(addr) = e.addr.parse::<Ipv4Addr>() else {
            continue;
        };
        tasks.insert(addr, e.task_id.to_string());
        if !e.ready {
            continue;
        }
        let entry = Entry {
            addrs: vec![addr],
            shuffle: true,
        };
        for name in &e.names {
            add(&mut names, name, Kind::TaskName, &entry);
        }
        for alias in &e.aliases {
            add(&mut names, alias, Kind::EndpointAlias, &entry);
        }
        if let Some(first) = e.names.first() {
            reverse.insert(addr, format!("{first}.{net_name}"));
        }
    }
    NetworkRecords {
        network_id: n.network.id.clone(),
        subnet: subnet_of(n),
        network_name: net_name,
        names: names
            .into_iter()
            .filter(|(_, (_, e))| !e.addrs.is_empty())
            .map(|(k, (_, e))| (k, e))
            .collect(),
        reverse,
        tasks,
    }
}

/// Adds `entry` under `name`: a name of a stronger kind replaces a weaker one, the same
/// kind merges addresses (two tasks with one hostname answer both).
fn add(names: &mut HashMap<String, (Kind, Entry)>, name: &str, kind: Kind, entry: &Entry) {
    let key = normalize(name);
    if key.is_empty() {
        return;
    }
    match names.get_mut(&key) {
        Some((k, _)) if *k < kind => {}
        Some((k, existing)) if *k == kind => {
            existing.addrs.extend(&entry.addrs);
            existing.addrs.sort();
            existing.addrs.dedup();
            existing.shuffle |= entry.shuffle || existing.addrs.len() > 1;
        }
        _ => {
            let mut e = entry.clone();
            e.addrs.sort();
            names.insert(key, (kind, e));
        }
    }
}

/// Lower case without a trailing dot: how names are keyed and looked up.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The network's subnet: the IPAM config's first subnet, else this node's gateway prefix.
fn subnet_of(n: &NodeNetwork) -> Option<(Ipv4Addr, u8)> {
    let from_ipam = n.network.ipam.config.as_ref().and_then(|c| {
        c.iter()
            .find_map(|c| c.subnet.as_deref().and_then(parse_cidr))
    });
    from_ipam.or_else(|| parse_cidr(&n.gateway))
}

/// Parses `10.0.1.0/24` (or `10.0.1.254/24`) into address and prefix length.
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some(())?;
    Some((ip.parse().ok()?, len))
}

/// Whether `addr` is in `net/len`.
pub fn in_subnet(addr: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    u32::from(addr) & mask == u32::from(net) & mask
}
