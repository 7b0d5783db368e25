//! What one peer may cost a manager on the cluster port: how large a request body each
//! endpoint reads, how long a connection may stay silent, and how many connections without a
//! node certificate may be open at once (in total and per source address).
//!
//! Anyone who can reach 2377 can open a TLS connection and call the join endpoints, so
//! everything an anonymous peer can make the server hold is bounded here: a body is refused as
//! soon as it passes its endpoint's limit (the server never buffers more), a connection that
//! does not finish its handshake or sits idle is closed, and past the caps new anonymous
//! connections are closed at once. Peers with a node certificate are not capped by count (an
//! attacker without one cannot become one), but their bodies are still bounded by what the
//! endpoint carries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::wire::path;

/// A join request carries a token, a CSR (about 1 KiB) and the node's description (engine
/// labels, plugins); 64 KiB is many times that and small enough that the connection caps
/// bound what anonymous peers can make the server hold to a few MiB.
pub const JOIN_BODY_BYTES: usize = 64 * 1024;
/// Small control messages: votes, heartbeats, session opens, node state, renewals.
pub const CONTROL_BODY_BYTES: usize = 64 * 1024;
/// A status batch names every task of a node; 4 MiB is tens of thousands of tasks.
pub const STATUS_BODY_BYTES: usize = 4 * 1024 * 1024;
/// One forwarded proposal: the store refuses proposals over its transaction limit, so a few
/// times that covers the JSON encoding of any proposal it would accept.
pub const PROPOSE_BODY_BYTES: usize = 4 * shoal_store::proposal::MAX_PROPOSAL_BYTES;
/// Raft entries and snapshots travel whole; only raft members may send them.
pub const RAFT_BODY_BYTES: usize = crate::wire::MAX_BODY_BYTES;

/// A peer must finish the TLS handshake within this, so a silent client cannot hold a
/// connection slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection without a node certificate and with no request in flight for this long is
/// closed: a join is one or two requests in a row.
pub const ANONYMOUS_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection without a node certificate is closed this long after its handshake even if
/// busy, so a peer dribbling a body cannot hold its slot for ever.
pub const ANONYMOUS_LIFETIME: Duration = Duration::from_secs(60);
/// A node's connection with no request in flight for this long is closed; its pool
/// reconnects on the next call. Sessions and raft traffic keep connections busy.
pub const NODE_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Connections without a node certificate (handshaking or anonymous) open at once.
pub const MAX_UNAUTHENTICATED: usize = 256;
/// Of those, from one source address.
pub const MAX_UNAUTHENTICATED_PER_SOURCE: usize = 32;

/// The connection limits a server applies; [`Default`] is the constants above (tests shorten
/// the timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_unauthenticated: usize,
    pub max_unauthenticated_per_source: usize,
    pub handshake_timeout: Duration,
    pub anonymous_idle_timeout: Duration,
    pub anonymous_lifetime: Duration,
    pub node_idle_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_unauthenticated: MAX_UNAUTHENTICATED,
            max_unauthenticated_per_source: MAX_UNAUTHENTICATED_PER_SOURCE,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            anonymous_idle_timeout: ANONYMOUS_IDLE_TIMEOUT,
            anonymous_lifetime: ANONYMOUS_LIFETIME,
            node_idle_timeout: NODE_IDLE_TIMEOUT,
        }
    }
}

/// The largest request body `endpoint` reads; unknown paths read nothing.
pub fn body_limit(endpoint: &str) -> usize {
    match endpoint {
        path::JOIN_CA | path::JOIN_SIGN => JOIN_BODY_BYTES,
        path::CERT_RENEW
        | path::NODE_STATE
        | path::DISPATCHER_SESSION
        | path::DISPATCHER_HEARTBEAT
        | path::DISPATCHER_ATTACHMENTS
        | path::RAFT_VOTE
        | path::RAFT_PRE_VOTE => CONTROL_BODY_BYTES,
        path::DISPATCHER_STATUS | path::API_FORWARD => STATUS_BODY_BYTES,
        path::RAFT_PROPOSE => PROPOSE_BODY_BYTES,
        path::RAFT_APPEND | path::RAFT_SNAPSHOT => RAFT_BODY_BYTES,
        _ => 0,
    }
}

/// Counts connections without a node certificate; [`Admission::admit`] hands out a
/// [`Slot`] while under both caps, and the slot gives its place back when dropped.
#[derive(Clone)]
pub struct Admission {
    inner: Arc<Mutex<Counts>>,
    total_cap: usize,
    per_source_cap: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// [`MAX_UNAUTHENTICATED`] connections are already open.
    Total(usize),
    /// [`MAX_UNAUTHENTICATED_PER_SOURCE`] connections from this address are already open.
    PerSource(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Total(n) => write!(f, "{n} unauthenticated connections already open"),
            Refusal::PerSource(n) => write!(
                f,
                "{n} unauthenticated connections from this address already open"
            ),
        }
    }
}

impl Admission {
    pub fn new(total_cap: usize, per_source_cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Counts::default())),
            total_cap,
            per_source_cap,
        }
    }

    /// A slot for a new connection from `source`, or why there is none.
    pub fn admit(&self, source: IpAddr) -> Result<Slot, Refusal> {
        let mut c = self.inner.lock();
        if c.total >= self.total_cap {
            return Err(Refusal::Total(c.total));
        }
        let from = c.by_source.get(&source).copied().unwrap_or(0);
        if from >= self.per_source_cap {
            return Err(Refusal::PerSource(from));
        }
        c.total += 1;
        c.by_source.insert(source, from + 1);
        Ok(Slot {
            inner: Arc::clone(&self.inner),
            source,
        })
    }

    /// Connections holding a slot now.
    pub fn open(&self) -> usize {
        self.inner.lock().total
    }
}

/// One admitted unauthenticated connection; dropping it (connection closed, or the peer
/// proved it is a node) frees the place.
pub struct Slot {
    inner: Arc<Mutex<Counts>>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.inner.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                c.by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn admission_caps_per_source_and_in_total_and_frees_on_drop() {
        let a = Admission::new(3, 2);
        let s1 = a.admit(ip("10.0.0.1")).expect("first");
        let _s2 = a
            .admit(ip("10.0.0.1"))
            .expect("second from the same source");
        assert_eq!(a.admit(ip("10.0.0.1")).err(), Some(Refusal::PerSource(2)));
        let _s3 = a.admit(ip("10.0.0.2")).expect("another source");
        assert_eq!(a.admit(ip("10.0.0.3")).err(), Some(Refusal::Total(3)));
        drop(s1);
        assert_eq!(a.open(), 2);
        let _s4 = a.admit(ip("10.0.0.1")).expect("a freed slot is reusable");
        assert_eq!(a.open(), 3);
    }

    #[test]
    fn anonymous_endpoints_read_only_small_bodies() {
        assert!(body_limit(path::JOIN_SIGN) <= 64 * 1024);
        assert!(body_limit(path::JOIN_CA) <= 64 * 1024);
        assert_eq!(body_limit("/unknown"), 0);
        assert!(body_limit(path::RAFT_PROPOSE) >= shoal_store::proposal::MAX_PROPOSAL_BYTES);
        assert!(body_limit(path::RAFT_SNAPSHOT) > body_limit(path::DISPATCHER_STATUS));
    }
}
