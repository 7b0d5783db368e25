//! In-memory address and port pools of the leader's allocator: which address of each network
//! and which ingress port belongs to whom.
//!
//! Every reservation is keyed by its owner, so allocating again for the same owner returns
//! what it already has: a transaction re-run after a write conflict allocates nothing twice.
//! The pools are rebuilt from the store when the allocator starts (or resyncs) and then kept
//! up to date from events.

use super::ipam::Ipv4Net;
use shoal_types::api::Ipam;
use shoal_types::{NodeId, ServiceId, TaskId};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// Who holds an address on a network.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A task's address (one per network of its spec, plus ingress).
    Task(TaskId),
    /// A node's own address (its gateway on the network).
    Node(NodeId),
    /// A service's virtual IP.
    Vip(ServiceId),
}

/// The addresses of one allocated network.
#[derive(Debug, Clone)]
pub struct AddressPool {
    subnet: Ipv4Net,
    /// First and last address that may be handed out (the IP range when one was given).
    first: u32,
    last: u32,
    used: BTreeMap<u32, Owner>,
    owners: HashMap<Owner, u32>,
    /// Where the next upward search starts: addresses are handed out serially (as swarmkit's
    /// IPAM does), so a released address is not reused at once.
    cursor: u32,
}

impl AddressPool {
    /// The pool of a network's first IPAM config, or `None` while it has no valid subnet.
    /// The network address, the broadcast address and the IPAM gateway are never handed out.
    pub fn new(ipam: &Ipam) -> Option<AddressPool> {
        let config = ipam.config.as_ref()?.first()?;
        let subnet = Ipv4Net::parse(config.subnet.as_deref()?)?;
        if subnet.prefix_len() > 30 {
            return None;
        }
        let (mut first, mut last) = (subnet.base() + 1, subnet.last() - 1);
        if let Some(range) = config
            .ip_range
            .as_deref()
            .filter(|r| !r.is_empty())
            .and_then(Ipv4Net::parse)
            && subnet.overlaps(&range)
        {
            first = first.max(range.base());
            last = last.min(range.last());
        }
        let mut pool = AddressPool {
            subnet,
            first,
            last,
            used: BTreeMap::new(),
            owners: HashMap::new(),
            cursor: first,
        };
        if let Some(gw) = config
            .gateway
            .as_deref()
            .and_then(|g| g.parse::<Ipv4Addr>().ok())
        {
            // The gateway is nobody's; it only blocks the address.
            pool.used
                .insert(u32::from(gw), Owner::Vip(ServiceId::default()));
        }
        Some(pool)
    }

    /// `ip` with this network's prefix length, e.g. `10.0.1.5/24`.
    pub fn cidr(&self, ip: Ipv4Addr) -> String {
        format!("{ip}/{}", self.subnet.prefix_len())
    }

    /// The address `owner` holds, if any.
    pub fn address_of(&self, owner: &Owner) -> Option<Ipv4Addr> {
        self.owners.get(owner).map(|a| Ipv4Addr::from(*a))
    }

    /// Records that `owner` holds `ip` (read back from the store). Refused when the address
    /// is outside the subnet or held by someone else; an owner holding another address
    /// keeps its first one.
    pub fn reserve(&mut self, owner: &Owner, ip: Ipv4Addr) -> bool {
        let a = u32::from(ip);
        if !self.subnet.contains(ip) {
            return false;
        }
        if let Some(held) = self.owners.get(owner) {
            return *held == a;
        }
        if self.used.contains_key(&a) {
            return false;
        }
        self.used.insert(a, owner.clone());
        self.owners.insert(owner.clone(), a);
        true
    }

    /// The address of `owner`, allocating one when it has none: node gateways from the top of
    /// the range down, everything else serially upwards. `None` when the network is full.
    pub fn allocate(&mut self, owner: &Owner) -> Option<Ipv4Addr> {
        if let Some(a) = self.address_of(owner) {
            return Some(a);
        }
        let found = if matches!(owner, Owner::Node(_)) {
            (self.first..=self.last)
                .rev()
                .find(|a| !self.used.contains_key(a))
        } else {
            let start = self.cursor.clamp(self.first, self.last);
            (start..=self.last)
                .chain(self.first..start)
                .find(|a| !self.used.contains_key(a))
        }?;
        if !matches!(owner, Owner::Node(_)) {
            self.cursor = if found >= self.last {
                self.first
            } else {
                found + 1
            };
        }
        self.used.insert(found, owner.clone());
        self.owners.insert(owner.clone(), found);
        Some(Ipv4Addr::from(found))
    }

    /// Frees what `owner` holds.
    pub fn release(&mut self, owner: &Owner) {
        if let Some(a) = self.owners.remove(owner) {
            self.used.remove(&a);
        }
    }

    /// How many addresses are held (the gateway included).
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// The first port handed out to a published port that does not name one.
pub const FIRST_DYNAMIC_PORT: u16 = 30000;
/// The last one.
pub const LAST_DYNAMIC_PORT: u16 = 32767;

/// Ingress-mode published ports: each `(protocol, port)` belongs to one service.
#[derive(Debug, Clone, Default)]
pub struct PortPool {
    used: HashMap<(String, u16), ServiceId>,
    cursor: u16,
}

impl PortPool {
    /// Who publishes `port`/`protocol`.
    pub fn owner(&self, protocol: &str, port: u16) -> Option<&ServiceId> {
        self.used.get(&(protocol.to_string(), port))
    }

    /// Takes `port` for `service`; false when another service has it.
    pub fn reserve(&mut self, service: &ServiceId, protocol: &str, port: u16) -> bool {
        match self.used.get(&(protocol.to_string(), port)) {
            Some(s) => s == service,
            None => {
                self.used
                    .insert((protocol.to_string(), port), service.clone());
                true
            }
        }
    }

    /// A free port of the dynamic range for `service`, serially.
    pub fn allocate_dynamic(&mut self, service: &ServiceId, protocol: &str) -> Option<u16> {
        let span = LAST_DYNAMIC_PORT - FIRST_DYNAMIC_PORT + 1;
        let start = self
            .cursor
            .clamp(FIRST_DYNAMIC_PORT, LAST_DYNAMIC_PORT)
            .saturating_sub(FIRST_DYNAMIC_PORT);
        for i in 0..span {
            let port = FIRST_DYNAMIC_PORT + (start + i) % span;
            if let std::collections::hash_map::Entry::Vacant(e) =
                self.used.entry((protocol.to_string(), port))
            {
                e.insert(service.clone());
                self.cursor = port.saturating_add(1);
                return Some(port);
            }
        }
        None
    }

    /// Frees `service`'s ports except those in `keep`.
    pub fn release_except(&mut self, service: &ServiceId, keep: &[(String, u16)]) {
        self.used
            .retain(|k, owner| owner != service || keep.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::api::IpamConfig;

    fn ipam(subnet: &str, gateway: &str, range: Option<&str>) -> Ipam {
        Ipam {
            driver: None,
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.into()),
                gateway: Some(gateway.into()),
                ip_range: range.map(str::to_string),
                ..IpamConfig::default()
            }]),
            options: None,
        }
    }

    fn task(id: &str) -> Owner {
        Owner::Task(id.into())
    }

    #[test]
    fn tasks_count_up_from_after_the_gateway_and_nodes_down_from_the_top() {
        let mut p = AddressPool::new(&ipam("10.0.1.0/24", "10.0.1.1", None)).expect("pool");
        assert_eq!(p.allocate(&task("a")), Some(Ipv4Addr::new(10, 0, 1, 2)));
        assert_eq!(p.allocate(&task("b")), Some(Ipv4Addr::new(10, 0, 1, 3)));
        let n1 = Owner::Node("n1".into());
        assert_eq!(p.allocate(&n1), Some(Ipv4Addr::new(10, 0, 1, 254)));
        assert_eq!(
            p.allocate(&Owner::Node("n2".into())),
            Some(Ipv4Addr::new(10, 0, 1, 253))
        );
        // Idempotent per owner: a re-run transaction gets the same address.
        assert_eq!(p.allocate(&task("a")), Some(Ipv4Addr::new(10, 0, 1, 2)));
        assert_eq!(p.allocate(&n1), Some(Ipv4Addr::new(10, 0, 1, 254)));
        assert_eq!(p.cidr(Ipv4Addr::new(10, 0, 1, 2)), "10.0.1.2/24");
        // Serial: a released address is not handed out again at once.
        p.release(&task("a"));
        assert_eq!(p.allocate(&task("c")), Some(Ipv4Addr::new(10, 0, 1, 4)));
    }

    #[test]
    fn a_full_network_refuses_and_wraps_to_released_addresses() {
        let mut p = AddressPool::new(&ipam("10.0.9.0/29", "10.0.9.1", None)).expect("pool");
        // .0 network, .1 gateway, .7 broadcast: .2–.6 are free.
        let got: Vec<_> = (0..5)
            .filter_map(|i| p.allocate(&task(&format!("t{i}"))))
            .collect();
        assert_eq!(got.len(), 5);
        assert_eq!(p.allocate(&task("t5")), None, "full");
        p.release(&task("t1"));
        assert_eq!(p.allocate(&task("t6")), Some(Ipv4Addr::new(10, 0, 9, 3)));
    }

    #[test]
    fn the_ip_range_bounds_allocation_and_reserve_checks_ownership() {
        let mut p =
            AddressPool::new(&ipam("10.5.0.0/16", "10.5.0.1", Some("10.5.7.0/24"))).expect("pool");
        assert_eq!(p.allocate(&task("a")), Some(Ipv4Addr::new(10, 5, 7, 0)));
        assert_eq!(
            p.allocate(&Owner::Node("n".into())),
            Some(Ipv4Addr::new(10, 5, 7, 255))
        );
        assert!(p.reserve(&task("b"), Ipv4Addr::new(10, 5, 9, 9)));
        assert!(!p.reserve(&task("c"), Ipv4Addr::new(10, 5, 9, 9)), "taken");
        assert!(
            !p.reserve(&task("d"), Ipv4Addr::new(10, 6, 0, 1)),
            "outside"
        );
        assert!(
            p.reserve(&task("b"), Ipv4Addr::new(10, 5, 9, 9)),
            "same owner"
        );
        assert_eq!(p.in_use(), 4);
    }

    #[test]
    fn ports_belong_to_one_service_and_dynamic_ones_come_from_30000() {
        let mut ports = PortPool::default();
        let (a, b) = (ServiceId::from("a"), ServiceId::from("b"));
        assert!(ports.reserve(&a, "tcp", 8080));
        assert!(ports.reserve(&a, "tcp", 8080));
        assert!(!ports.reserve(&b, "tcp", 8080));
        assert!(ports.reserve(&b, "udp", 8080), "another protocol");
        assert_eq!(ports.allocate_dynamic(&b, "tcp"), Some(30000));
        assert_eq!(ports.allocate_dynamic(&a, "tcp"), Some(30001));
        assert_eq!(ports.owner("tcp", 30000), Some(&b));
        ports.release_except(&b, &[("udp".into(), 8080)]);
        assert_eq!(ports.owner("tcp", 30000), None);
        assert_eq!(ports.owner("udp", 8080), Some(&b));
        assert!(ports.reserve(&b, "tcp", 30000));
    }
}
