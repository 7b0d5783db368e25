//! Overlay MAC addresses. MACs never travel between nodes: every overlay address's MAC is
//! derived from its IPv4 address the way Docker derives a container's MAC when its address is
//! set explicitly (`02:42` followed by the four address bytes). Cluster-unique addresses
//! therefore give cluster-unique MACs, and a node can program the forwarding entry of a remote
//! endpoint knowing only its address.

use std::fmt;
use std::net::Ipv4Addr;

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The MAC of overlay address `ip`: `02:42:a:b:c:d` (locally administered, unicast).
    pub fn of_ip(ip: Ipv4Addr) -> Mac {
        let [a, b, c, d] = ip.octets();
        Mac([0x02, 0x42, a, b, c, d])
    }

    /// Parses the six bytes a netlink attribute carries; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(bytes).ok().map(Mac)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_of_an_address_is_dockers() {
        let mac = Mac::of_ip(Ipv4Addr::new(10, 0, 1, 5));
        assert_eq!(mac.to_string(), "02:42:0a:00:01:05");
    }

    #[test]
    fn only_six_bytes_make_a_mac() {
        assert_eq!(
            Mac::from_bytes(&[2, 0x42, 10, 0, 0, 1]),
            Some(Mac([2, 0x42, 10, 0, 0, 1]))
        );
        assert_eq!(Mac::from_bytes(&[1, 2, 3]), None);
    }
}
