//! The node's DNS resolver: service discovery for the tasks on this node.
//!
//! Task containers get the node's gateway address on their first network as their DNS
//! server (Docker's 127.0.0.11 forwards to it, from the container's own address). The
//! resolver answers, per network, and only to clients on that network:
//!
//! - `<service>` and every service alias: the service's VIP, or in endpoint mode `dnsrr`
//!   the ready tasks' addresses, shuffled;
//! - `tasks.<service>`: the ready tasks' addresses, shuffled;
//! - each task's names (`<service>.<slot>.<task id>`, its hostname) and endpoint aliases;
//! - PTR for those addresses and VIPs (`<name>.<network>`);
//! - other record types of those names: an empty NOERROR answer;
//!
//! and forwards everything else to the host's resolvers ([`Upstreams`]). TTL is 600 s as in
//! moby; answers follow [`Resolver::update`] at once.
//!
//! # API (for the node daemon)
//!
//! ```text
//! let resolver = Resolver::start(ResolverConfig::default())?;   // inside the runtime
//! // on every new assignment set:
//! resolver.update(Records::build(&assignments.networks));
//! resolver.set_listen(&gateways)?;   // this node's gateway on each overlay network
//! drop(resolver);                    // stops every socket
//! ```
//!
//! `set_listen` may be called before the addresses exist on the host (`IP_FREEBIND`); a
//! bind failure names the address and leaves the others listening.

mod answer;
mod server;
mod table;
mod upstream;

#[cfg(test)]
mod socket_tests;
#[cfg(test)]
mod tests;

pub use answer::{Outcome, TTL, answer};
pub use server::{DNS_PORT, Resolver, ResolverConfig};
pub use table::{Entry, NetworkRecords, Records};
pub use upstream::Upstreams;

use shoal_types::dispatch::NodeNetwork;
use std::net::Ipv4Addr;

/// The addresses the resolver listens on for `networks`: this node's gateway on each
/// network but the ingress network (its tasks use their other networks' resolvers).
pub fn listen_addrs(networks: &[NodeNetwork]) -> Vec<Ipv4Addr> {
    networks
        .iter()
        .filter(|n| !n.network.is_ingress())
        .filter_map(|n| {
            table::parse_cidr(&n.gateway).or_else(|| Some((n.gateway.parse().ok()?, 32)))
        })
        .map(|(a, _)| a)
        .collect()
}

/// Errors of the resolver.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("dns resolver: started outside a tokio runtime")]
    NoRuntime,
    #[error("dns resolver: cannot listen on {0}")]
    Listen(String),
}
