//! The upstream resolvers: where names the swarm does not own are forwarded.
//!
//! Read from the host's `/etc/resolv.conf` as Docker does for its embedded resolver:
//! at most three servers, loopback ones skipped (on the host they would be the host's own
//! stub resolver, unreachable as configured from a container's point of view, or this
//! resolver itself: a loop). A query goes to each in turn over the client's protocol; a
//! SERVFAIL or REFUSED answer moves on to the next server, any other answer (NXDOMAIN
//! included) is passed through unchanged.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// moby's `maxExtDNS`: servers tried per query.
pub const MAX_UPSTREAMS: usize = 3;
/// moby's `extIOTimeout`: how long one upstream server gets to answer.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// The largest DNS message (TCP's 16-bit length prefix).
const MAX_MESSAGE: usize = 65535;
/// The DNS port.
const DNS_PORT: u16 = 53;

/// The upstream servers, in resolv.conf order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upstreams {
    pub servers: Vec<SocketAddr>,
}

impl Upstreams {
    /// The servers of `/etc/resolv.conf`; none when it cannot be read.
    pub fn from_system() -> Upstreams {
        Upstreams::from_file(Path::new("/etc/resolv.conf"))
    }

    /// The servers of a resolv.conf file; none when it cannot be read.
    pub fn from_file(path: &Path) -> Upstreams {
        match std::fs::read_to_string(path) {
            Ok(text) => Upstreams::parse(&text),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "dns: cannot read resolv.conf, no upstream resolvers");
                Upstreams::default()
            }
        }
    }

    /// The `nameserver` lines of resolv.conf text, loopback addresses skipped, at most
    /// [`MAX_UPSTREAMS`].
    pub fn parse(text: &str) -> Upstreams {
        Upstreams::from_addrs(text.lines().filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        }))
    }

    /// Servers given as addresses (resolv.conf's, or a task's `--dns`): unparsable and
    /// loopback ones skipped, at most [`MAX_UPSTREAMS`].
    pub fn from_addrs<'a>(addrs: impl IntoIterator<Item = &'a str>) -> Upstreams {
        let servers = addrs
            .into_iter()
            // a scoped IPv6 address (`fe80::1%eth0`) cannot be parsed: skipped
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_loopback())
            .map(|ip| SocketAddr::new(ip, DNS_PORT))
            .take(MAX_UPSTREAMS)
            .collect();
        Upstreams { servers }
    }
}

/// Sends `query` (wire bytes) to `server` over UDP and returns its reply.
pub async fn exchange_udp(server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let n = sock.recv(&mut buf).await?;
        // a stray datagram with another id is not the reply: keep waiting
        if n >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

/// Sends `query` (wire bytes) to `server` over TCP and returns its reply.
pub async fn exchange_tcp(server: SocketAddr, query: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    write_framed(&mut stream, query).await?;
    read_framed(&mut stream).await
}

/// Writes one length-prefixed DNS message (TCP framing).
pub async fn write_framed(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 65535 bytes"))?;
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await
}

/// Reads one length-prefixed DNS message (TCP framing).
pub async fn read_framed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_three_non_loopback_nameservers_in_order() {
        let text = "# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver 10.1.1.1\n\
                    options ndots:2\nnameserver ::1\nnameserver 10.1.1.2\nnameserver fe80::1%eth0\n\
                    nameserver 2001:db8::1\nnameserver 10.1.1.3\n";
        let servers: Vec<String> = Upstreams::parse(text)
            .servers
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(servers, ["10.1.1.1:53", "10.1.1.2:53", "[2001:db8::1]:53"]);
    }

    #[test]
    fn resolv_conf_with_only_a_local_stub_has_no_upstream() {
        assert!(
            Upstreams::parse("nameserver 127.0.0.11\noptions ndots:0\n")
                .servers
                .is_empty()
        );
    }
}
