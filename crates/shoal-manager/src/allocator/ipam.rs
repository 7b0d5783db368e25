//! Subnet and VXLAN-id allocation for swarm networks: pure functions over the networks that
//! exist. The allocator uses them to allocate; the control API runs the same checks on a
//! create request so bad input is refused at once with Docker's errors.
//!
//! As in swarmkit's allocator (libnetwork's default IPAM with the cluster's address pools):
//! a network that names its subnet gets exactly that subnet, if it overlaps no other
//! network's; one that does not gets the first free `subnet_size` block of the default pools
//! (`10.0.0.0/8` in `/24`s unless `swarm init` said otherwise). The gateway is the first host
//! address unless given. VNIs start at 4096, swarmkit's first dynamic VXLAN id, and are unique.

use shoal_types::api::{Ipam, IpamConfig};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The first VXLAN id swarmkit hands out (ids below are left to static configuration).
pub const FIRST_VNI: u32 = 4096;
/// The largest VXLAN id: VNIs are 24 bits.
pub const MAX_VNI: u32 = (1 << 24) - 1;
/// The IPAM driver name Docker reports.
pub const DEFAULT_IPAM_DRIVER: &str = "default";

/// Why a network's addresses could not be allocated; the texts are libnetwork's and
/// swarmkit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("invalid subnet {0}")]
    InvalidSubnet(String),
    #[error("invalid gateway {0}")]
    InvalidGateway(String),
    #[error("gateway {gateway} is not within subnet {subnet}")]
    GatewayOutside { gateway: String, subnet: String },
    #[error("invalid ip range {0}")]
    InvalidRange(String),
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    Overlap,
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    PoolsExhausted,
    #[error("ipam driver {0} is not supported")]
    UnsupportedDriver(String),
    #[error("no VXLAN identifiers left")]
    VnisExhausted,
}

/// An IPv4 prefix, always stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ipv4Net {
    base: u32,
    len: u8,
}

impl Ipv4Net {
    /// The prefix of `addr/len` (host bits are cleared, as Go's `net.ParseCIDR` does).
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Ipv4Net> {
        (len <= 32).then(|| Ipv4Net {
            base: u32::from(addr) & mask(len),
            len,
        })
    }

    /// Parses `a.b.c.d/n`.
    pub fn parse(s: &str) -> Option<Ipv4Net> {
        let (ip, len) = s.trim().split_once('/')?;
        Ipv4Net::new(ip.parse().ok()?, len.parse().ok()?)
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The network address as a number.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The broadcast (last) address as a number.
    pub fn last(&self) -> u32 {
        self.base | !mask(self.len)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == self.base
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// The first host address, Docker's default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        let host = if self.len >= 31 {
            self.base
        } else {
            self.base + 1
        };
        Ipv4Addr::from(host)
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.len)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// The subnets `ipam` holds (unparseable entries are skipped: they were validated when
/// stored).
pub fn subnets_of(ipam: &Ipam) -> Vec<Ipv4Net> {
    ipam.config
        .iter()
        .flatten()
        .filter_map(|c| c.subnet.as_deref().and_then(Ipv4Net::parse))
        .collect()
}

/// The first `size`-bit block of `pools` that overlaps nothing in `used`.
pub fn next_free_subnet(pools: &[Ipv4Net], size: u8, used: &[Ipv4Net]) -> Option<Ipv4Net> {
    for pool in pools {
        if size < pool.len || size > 32 {
            continue;
        }
        let step = 1u64 << (32 - size);
        let mut base = u64::from(pool.base);
        while base <= u64::from(pool.last()) {
            let candidate = Ipv4Net {
                base: base as u32,
                len: size,
            };
            match used
                .iter()
                .filter(|u| u.overlaps(&candidate))
                .map(|u| u.last())
                .max()
            {
                None => return Some(candidate),
                // Skip past the block that is in the way, aligned to the subnet size.
                Some(last) => {
                    let next = u64::from(last) + 1;
                    base = next.div_ceil(step) * step;
                }
            }
        }
    }
    None
}

/// The IPAM of a new network: `requested` (from the create request) checked and completed,
/// or a subnet from `pools`. `used` holds the subnets of the other networks.
pub fn allocate_ipam(
    requested: Option<&Ipam>,
    pools: &[Ipv4Net],
    size: u8,
    used: &[Ipv4Net],
) -> Result<Ipam, IpamError> {
    let driver = requested
        .and_then(|r| r.driver.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_IPAM_DRIVER.to_string());
    if driver != DEFAULT_IPAM_DRIVER {
        return Err(IpamError::UnsupportedDriver(driver));
    }
    let asked: Vec<&IpamConfig> = requested
        .and_then(|r| r.config.as_ref())
        .into_iter()
        .flatten()
        .collect();
    let mut configs = Vec::new();
    let mut taken: Vec<Ipv4Net> = used.to_vec();
    for c in asked {
        let (subnet, raw) = match c.subnet.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => (
                Ipv4Net::parse(s).ok_or_else(|| IpamError::InvalidSubnet(s.to_string()))?,
                true,
            ),
            None => (
                next_free_subnet(pools, size, &taken).ok_or(IpamError::PoolsExhausted)?,
                false,
            ),
        };
        if raw && taken.iter().any(|t| t.overlaps(&subnet)) {
            return Err(IpamError::Overlap);
        }
        if let Some(range) = c.ip_range.as_deref().filter(|s| !s.is_empty()) {
            let r = Ipv4Net::parse(range).ok_or_else(|| IpamError::InvalidRange(range.into()))?;
            if r.len < subnet.len || !subnet.overlaps(&r) {
                return Err(IpamError::InvalidRange(range.into()));
            }
        }
        let gateway = match c.gateway.as_deref().filter(|s| !s.is_empty()) {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| IpamError::InvalidGateway(g.to_string()))?;
                if !subnet.contains(ip) {
                    return Err(IpamError::GatewayOutside {
                        gateway: g.to_string(),
                        subnet: subnet.to_string(),
                    });
                }
                ip
            }
            None => subnet.first_host(),
        };
        taken.push(subnet);
        configs.push(IpamConfig {
            subnet: Some(subnet.to_string()),
            ip_range: c.ip_range.clone().filter(|s| !s.is_empty()),
            gateway: Some(gateway.to_string()),
            auxiliary_addresses: c.auxiliary_addresses.clone().filter(|a| !a.is_empty()),
        });
    }
    if configs.is_empty() {
        let subnet = next_free_subnet(pools, size, used).ok_or(IpamError::PoolsExhausted)?;
        configs.push(IpamConfig {
            subnet: Some(subnet.to_string()),
            gateway: Some(subnet.first_host().to_string()),
            ..IpamConfig::default()
        });
    }
    Ok(Ipam {
        driver: Some(driver),
        config: Some(configs),
        options: requested
            .and_then(|r| r.options.clone())
            .filter(|o| !o.is_empty()),
    })
}

/// The smallest VNI from [`FIRST_VNI`] not in `used`.
pub fn next_vni(used: &BTreeSet<u32>) -> Result<u32, IpamError> {
    let mut vni = FIRST_VNI;
    for &u in used.range(FIRST_VNI..) {
        if u != vni {
            break;
        }
        vni += 1;
    }
    if vni > MAX_VNI {
        return Err(IpamError::VnisExhausted);
    }
    Ok(vni)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse(s).expect("valid CIDR")
    }

    fn cfg(subnet: Option<&str>, gateway: Option<&str>) -> Ipam {
        Ipam {
            driver: None,
            config: Some(vec![IpamConfig {
                subnet: subnet.map(str::to_string),
                gateway: gateway.map(str::to_string),
                ..IpamConfig::default()
            }]),
            options: None,
        }
    }

    fn subnet_and_gateway(ipam: &Ipam) -> (String, String) {
        let c = &ipam.config.as_ref().expect("config")[0];
        (
            c.subnet.clone().unwrap_or_default(),
            c.gateway.clone().unwrap_or_default(),
        )
    }

    #[test]
    fn cidrs_parse_and_clear_host_bits() {
        assert_eq!(net("10.1.2.3/24").to_string(), "10.1.2.0/24");
        assert!(Ipv4Net::parse("10.0.0.0/33").is_none());
        assert!(Ipv4Net::parse("fe80::/64").is_none());
        assert!(Ipv4Net::parse("10.0.0.0").is_none());
        assert!(net("10.0.0.0/8").overlaps(&net("10.3.0.0/16")));
        assert!(!net("10.0.0.0/24").overlaps(&net("10.0.1.0/24")));
        assert_eq!(net("10.0.5.0/24").first_host(), Ipv4Addr::new(10, 0, 5, 1));
    }

    #[test]
    fn the_default_pool_gives_consecutive_slash_24s_skipping_used_ones() {
        let pools = [net("10.0.0.0/8")];
        assert_eq!(
            next_free_subnet(&pools, 24, &[]).map(|n| n.to_string()),
            Some("10.0.0.0/24".into())
        );
        let used = [net("10.0.0.0/24"), net("10.0.1.0/24"), net("10.0.3.0/24")];
        assert_eq!(
            next_free_subnet(&pools, 24, &used).map(|n| n.to_string()),
            Some("10.0.2.0/24".into())
        );
        // A user subnet that is not aligned to the size pushes allocation past it.
        let used = [net("10.0.0.0/22")];
        assert_eq!(
            next_free_subnet(&pools, 24, &used).map(|n| n.to_string()),
            Some("10.0.4.0/24".into())
        );
        let used = [net("10.0.0.128/25")];
        assert_eq!(
            next_free_subnet(&pools, 24, &used).map(|n| n.to_string()),
            Some("10.0.1.0/24".into())
        );
    }

    #[test]
    fn exhausted_pools_move_to_the_next_pool_then_fail() {
        let pools = [net("192.168.0.0/23"), net("172.16.0.0/24")];
        let used = [net("192.168.0.0/24"), net("192.168.1.0/24")];
        assert_eq!(
            next_free_subnet(&pools, 24, &used).map(|n| n.to_string()),
            Some("172.16.0.0/24".into())
        );
        let used = [net("192.168.0.0/16"), net("172.16.0.0/12")];
        assert_eq!(next_free_subnet(&pools, 24, &used), None);
        assert_eq!(
            allocate_ipam(None, &pools, 24, &used),
            Err(IpamError::PoolsExhausted)
        );
        // The very top of the address space does not overflow.
        let top = [net("255.255.255.0/24")];
        assert_eq!(
            next_free_subnet(&top, 24, &top.clone()),
            None,
            "no wrap-around"
        );
    }

    #[test]
    fn allocation_without_a_request_uses_the_pool_and_the_first_host() {
        let ipam = allocate_ipam(None, &[net("10.0.0.0/8")], 24, &[net("10.0.0.0/24")])
            .expect("allocates");
        assert_eq!(ipam.driver.as_deref(), Some("default"));
        assert_eq!(
            subnet_and_gateway(&ipam),
            ("10.0.1.0/24".into(), "10.0.1.1".into())
        );
        // An IPAM block with no config (what `docker network create` sends) is the same.
        let empty = Ipam {
            driver: Some("default".into()),
            config: Some(vec![]),
            options: Some(Default::default()),
        };
        let ipam = allocate_ipam(Some(&empty), &[net("10.0.0.0/8")], 24, &[]).expect("allocates");
        assert_eq!(
            subnet_and_gateway(&ipam),
            ("10.0.0.0/24".into(), "10.0.0.1".into())
        );
        assert_eq!(ipam.options, None);
    }

    #[test]
    fn a_requested_subnet_and_gateway_are_kept_and_checked() {
        let pools = [net("10.0.0.0/8")];
        let ipam = allocate_ipam(
            Some(&cfg(Some("192.168.50.0/24"), Some("192.168.50.254"))),
            &pools,
            24,
            &[],
        )
        .expect("allocates");
        assert_eq!(
            subnet_and_gateway(&ipam),
            ("192.168.50.0/24".into(), "192.168.50.254".into())
        );
        let ipam = allocate_ipam(Some(&cfg(Some("172.30.0.0/16"), None)), &pools, 24, &[])
            .expect("allocates");
        assert_eq!(
            subnet_and_gateway(&ipam),
            ("172.30.0.0/16".into(), "172.30.0.1".into())
        );
        let err = |ipam: Ipam, used: &[Ipv4Net]| {
            allocate_ipam(Some(&ipam), &pools, 24, used)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(cfg(Some("nonsense"), None), &[]),
            "invalid subnet nonsense"
        );
        assert_eq!(
            err(cfg(Some("10.9.0.0/24"), Some("10.8.0.1")), &[]),
            "gateway 10.8.0.1 is not within subnet 10.9.0.0/24"
        );
        assert_eq!(
            err(cfg(Some("10.9.0.0/24"), Some("x")), &[]),
            "invalid gateway x"
        );
        assert_eq!(
            err(cfg(Some("10.9.0.0/24"), None), &[net("10.9.0.0/16")]),
            "invalid pool request: Pool overlaps with other one on this address space"
        );
        let foreign = Ipam {
            driver: Some("dhcp".into()),
            ..Ipam::default()
        };
        assert_eq!(err(foreign, &[]), "ipam driver dhcp is not supported");
    }

    #[test]
    fn vnis_start_at_4096_and_fill_gaps() {
        assert_eq!(next_vni(&BTreeSet::new()), Ok(4096));
        assert_eq!(next_vni(&[4096, 4097, 4099].into()), Ok(4098));
        assert_eq!(next_vni(&[1, 4096].into()), Ok(4097));
        let all: BTreeSet<u32> = (FIRST_VNI..=MAX_VNI).collect();
        assert_eq!(next_vni(&all), Err(IpamError::VnisExhausted));
    }
}
