//! Service VIPs and the routing mesh, in the kernel (nftables), without IPVS.
//!
//! Everything is decided by [`render`], a pure function of the node's networks (the
//! dispatcher's complete [`NodeNetwork`] set), and put in place by [`apply`]:
//!
//! 1. one `nft -f -` transaction replaces shoal's tables (`ip shoal_lb`, `bridge
//!    shoal_lb_arp`): VIP DNAT to ready tasks (prerouting at `dstnat - 10` and output),
//!    routing-mesh DNAT of published ingress ports on every local address (`dstnat`) and
//!    masquerade out of the ingress bridge, rejects for VIPs and ports without a ready
//!    task, resets for connections to tasks that are gone, and ARP for VIPs kept off the
//!    VXLAN ports;
//! 2. each VIP is held as a /32 on its network's bridge `shbr<vni>` (so the host answers
//!    ARP for it and routes it), stale /32s on `shbr*` bridges are removed; the bridges'
//!    other addresses (the node's gateway, with the network's prefix) are never touched;
//! 3. with a mesh, iptables' `DOCKER-USER` chain accepts DNAT'd flows (Docker's FORWARD
//!    policy is drop).
//!
//! Published TCP ports whose service asked for PROXY protocol v2 are the exception: they
//! are served by a userspace proxy in the daemon ([`proxy`], fed by [`proxies`]) and left
//! out of the DNAT rules.
//!
//! # API (for the node daemon)
//!
//! ```text
//! let host = lb::System::default();
//! // after the overlay is programmed, on every new assignment set (blocking: spawn_blocking):
//! proxy_set.update(&lb::proxies(&assignments.networks))?; // on the runtime, first
//! lb::apply(&host, &lb::render(&assignments.networks))?;
//! // on shutdown:
//! lb::clear(&host)?;
//! ```
//!
//! `apply` is idempotent: applying the same plan again changes nothing, and the first
//! `apply` after a crash replaces whatever the previous process left (tables wholesale,
//! stale VIP addresses removed), so start-up needs no `clear`. [`Plan`] compares with `==`:
//! a caller re-applying periodically to repair drift may skip the `nft` run when nothing
//! changed. A bridge that does not exist yet fails its address (named in the error) while
//! the rest is applied; the next `apply` retries.

mod host;
pub mod proxy;
mod render;

#[cfg(test)]
mod datapath_tests;
#[cfg(test)]
mod netns_tests;
#[cfg(test)]
mod tests;

pub use crate::overlay::{bridge_name, vxlan_name};
pub use host::{Host, IfAddr, System, parse_addresses};
pub use proxy::ProxySet;
pub use render::{ARP_TABLE, NAT_TABLE, Plan, ProxyPort, RESERVED_PORTS, proxies, render};

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// The prefix of the bridges whose /32 addresses belong to the load balancer.
const BRIDGE_PREFIX: &str = "shbr";
/// A VIP's prefix length on its bridge.
const VIP_PREFIX_LEN: u8 = 32;

/// Errors of the load balancer, each naming the host operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    #[error("load balancer: applying nftables rules: {0}")]
    Nft(String),
    #[error("load balancer: listing addresses: {0}")]
    Addresses(String),
    #[error("load balancer: VIP addresses: {0}")]
    Vips(String),
    #[error("load balancer: enabling forwarding: {0}")]
    Sysctl(String),
    #[error("load balancer: host firewall: {0}")]
    Firewall(String),
}

/// A change to the VIP addresses on the bridges.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddrChange {
    Add { bridge: String, vip: Ipv4Addr },
    Del { bridge: String, vip: Ipv4Addr },
}

/// What to add and remove so the bridges hold exactly the `wanted` VIPs as /32s: only
/// /32s on `shbr*` interfaces are the load balancer's; everything else is left alone.
pub fn address_changes(
    wanted: &BTreeMap<String, BTreeSet<Ipv4Addr>>,
    observed: &[IfAddr],
) -> Vec<AddrChange> {
    let ours: BTreeSet<(String, Ipv4Addr)> = observed
        .iter()
        .filter(|a| a.prefix == VIP_PREFIX_LEN && a.ifname.starts_with(BRIDGE_PREFIX))
        .map(|a| (a.ifname.clone(), a.addr))
        .collect();
    let want: BTreeSet<(String, Ipv4Addr)> = wanted
        .iter()
        .flat_map(|(b, vips)| vips.iter().map(move |v| (b.clone(), *v)))
        .collect();
    let mut changes: Vec<AddrChange> = ours
        .difference(&want)
        .map(|(bridge, vip)| AddrChange::Del {
            bridge: bridge.clone(),
            vip: *vip,
        })
        .collect();
    changes.extend(want.difference(&ours).map(|(bridge, vip)| AddrChange::Add {
        bridge: bridge.clone(),
        vip: *vip,
    }));
    changes
}

/// Puts `plan` in place: the forwarding sysctls, the rules (so a VIP never becomes local
/// before its DNAT exists), the VIP addresses, then the host firewall. Blocking.
pub fn apply(host: &dyn Host, plan: &Plan) -> Result<(), LbError> {
    if plan.mesh || !plan.vips.is_empty() {
        host.enable_forwarding().map_err(LbError::Sysctl)?;
    }
    host.nft(&plan.script).map_err(LbError::Nft)?;
    sync_addresses(host, &plan.vips)?;
    if plan.mesh {
        host.docker_user_accept(true).map_err(LbError::Firewall)?;
    }
    Ok(())
}

/// Removes everything the load balancer put on the host: its tables, the VIP addresses
/// and the `DOCKER-USER` accept rule. Blocking.
pub fn clear(host: &dyn Host) -> Result<(), LbError> {
    host.nft(&render(&[]).script).map_err(LbError::Nft)?;
    sync_addresses(host, &BTreeMap::new())?;
    host.docker_user_accept(false).map_err(LbError::Firewall)
}

fn sync_addresses(
    host: &dyn Host,
    wanted: &BTreeMap<String, BTreeSet<Ipv4Addr>>,
) -> Result<(), LbError> {
    let observed = host.addresses().map_err(LbError::Addresses)?;
    let failed: Vec<String> = address_changes(wanted, &observed)
        .into_iter()
        .filter_map(|c| match &c {
            AddrChange::Add { bridge, vip } => host.add_address(bridge, *vip).err(),
            AddrChange::Del { bridge, vip } => host.del_address(bridge, *vip).err(),
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(LbError::Vips(failed.join("; ")))
    }
}
