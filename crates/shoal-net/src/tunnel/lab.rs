//! A two-node lab for the tunnel's root tests and its benchmark: two network namespaces joined
//! by a veth pair (the "LAN"), each running a [`Tunnel`], with VXLAN overlays built over the
//! tunnel (encrypted) or over the LAN directly (clear), a bridge per overlay holding the
//! node's address on it. Needs root, `ip`, and for captures `tcpdump`. Everything is removed
//! on drop (deleting the namespaces removes their devices).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use shoal_types::dispatch::{NetNode, NodeNetwork};
use shoal_types::network::{ENCRYPTED_OPTION, Network};

use super::{DEFAULT_IFNAME, DEFAULT_PORT, Tunnel, TunnelOptions, plan, tunnel_addr};

/// One of the lab's two nodes.
#[derive(Debug, Clone)]
pub struct Node {
    /// The network namespace's name (under /run/netns).
    pub ns: String,
    /// Its address on the LAN.
    pub lan: Ipv4Addr,
    /// Where its tunnel keeps its key.
    pub key_dir: PathBuf,
}

/// Two namespaces on a LAN; removed on drop.
pub struct Lab {
    pub a: Node,
    pub b: Node,
    tunnels: Vec<Tunnel>,
}

/// Runs a command, failing with its output.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {} {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Node {
    /// Runs `ip ARGS` in this node's namespace.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs `program ARGS` in this node's namespace.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["netns", "exec", self.ns.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs `f` on a thread inside this node's namespace (sockets and devices it makes stay
    /// there).
    pub fn within<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let path = format!("/run/netns/{}", self.ns);
        let file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        std::thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))?;
            Ok(f())
        })
        .join()
        .map_err(|_| "lab thread panicked".to_string())?
    }
}

impl Lab {
    /// Two namespaces `<tag>a` and `<tag>b` with a veth pair between them, 10.213.0.1 and
    /// .2/24, no other route. Leftovers of a killed run with the same tag are removed first.
    pub fn new(tag: &str) -> Result<Lab, String> {
        let node = |s: &str, last: u8| Node {
            ns: format!("{tag}{s}"),
            lan: Ipv4Addr::new(10, 213, 0, last),
            key_dir: std::env::temp_dir().join(format!("{tag}{s}-key")),
        };
        let lab = Lab {
            a: node("a", 1),
            b: node("b", 2),
            tunnels: Vec::new(),
        };
        for n in [&lab.a, &lab.b] {
            let _ = run("ip", &["netns", "del", &n.ns]);
            run("ip", &["netns", "add", &n.ns])?;
        }
        run(
            "ip",
            &[
                "link", "add", "lan0", "netns", &lab.a.ns, "type", "veth", "peer", "name", "lan0",
                "netns", &lab.b.ns,
            ],
        )?;
        for n in [&lab.a, &lab.b] {
            n.ip(&["addr", "add", &format!("{}/24", n.lan), "dev", "lan0"])?;
            n.ip(&["link", "set", "lan0", "up"])?;
            n.ip(&["link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    /// Starts a tunnel in each namespace and makes them peers, through [`plan`] on a network
    /// marked encrypted, as a node's data plane does.
    pub fn start_tunnels(&mut self) -> Result<(), String> {
        for n in [&self.a, &self.b] {
            let options = TunnelOptions {
                name: DEFAULT_IFNAME.into(),
                key_dir: n.key_dir.clone(),
                lan_addr: n.lan,
                port: DEFAULT_PORT,
            };
            let tunnel = n
                .within(move || Tunnel::start(&options))?
                .map_err(|e| e.to_string())?;
            self.tunnels.push(tunnel);
        }
        self.exchange_keys()
    }

    /// Gives each tunnel the other as its peer with its current public key.
    pub fn exchange_keys(&self) -> Result<(), String> {
        let keys: Vec<String> = self.tunnels.iter().map(Tunnel::public_key).collect();
        let mut network = Network::default();
        network
            .spec
            .options
            .insert(ENCRYPTED_OPTION.into(), String::new());
        let net = NodeNetwork {
            network,
            nodes: [&self.a, &self.b]
                .iter()
                .zip(&keys)
                .map(|(n, key)| NetNode {
                    node_id: n.ns.as_str().into(),
                    addr: n.lan.to_string(),
                    key: key.clone(),
                    ..NetNode::default()
                })
                .collect(),
            ..NodeNetwork::default()
        };
        for (n, tunnel) in [&self.a, &self.b].iter().zip(&self.tunnels) {
            let config = plan(n.lan, DEFAULT_PORT, std::slice::from_ref(&net));
            tunnel.apply(&config).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The tunnels started by [`Lab::start_tunnels`] (a's, then b's).
    pub fn tunnels(&self) -> &[Tunnel] {
        &self.tunnels
    }

    /// An overlay with VNI `vni` and MTU `mtu` between the two nodes: VXLAN `shvx<vni>` in a
    /// bridge `shbr<vni>` holding `10.<vni>.0.1/24` (a) and `.2` (b). Over the tunnel
    /// (`encrypted`: the VXLAN devices use the tunnel addresses) or over the LAN.
    pub fn overlay(&self, vni: u16, mtu: u32, encrypted: bool) -> Result<(), String> {
        let pair = [(&self.a, &self.b, 1), (&self.b, &self.a, 2)];
        for (me, peer, last) in pair {
            let (local, remote): (IpAddr, IpAddr) = if encrypted {
                (tunnel_addr(me.lan).into(), tunnel_addr(peer.lan).into())
            } else {
                (me.lan.into(), peer.lan.into())
            };
            let vx = format!("shvx{vni}");
            let br = format!("shbr{vni}");
            me.ip(&[
                "link",
                "add",
                &vx,
                "type",
                "vxlan",
                "id",
                &vni.to_string(),
                "dstport",
                "4789",
                "local",
                &local.to_string(),
                "nolearning",
            ])?;
            me.ip(&["link", "set", &vx, "mtu", &mtu.to_string()])?;
            me.exec(
                "bridge",
                &[
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    &vx,
                    "dst",
                    &remote.to_string(),
                ],
            )?;
            me.ip(&["link", "add", &br, "type", "bridge"])?;
            me.ip(&["link", "set", &vx, "master", &br, "up"])?;
            me.ip(&["link", "set", &br, "mtu", &mtu.to_string(), "up"])?;
            let addr = format!("{}/24", overlay_addr(vni, last));
            me.ip(&["addr", "add", &addr, "dev", &br])?;
        }
        Ok(())
    }

    /// Starts `tcpdump` on a's LAN device writing every packet to `file`; waits until it
    /// listens.
    pub fn capture(&self, file: &str) -> Result<Capture, String> {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.a.ns,
                "tcpdump",
                "--immediate-mode",
                "-i",
                "lan0",
                "-U",
                "-s",
                "0",
                "-w",
                file,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tcpdump: {e}"))?;
        let mut stderr = child.stderr.take().ok_or("tcpdump: no stderr")?;
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&seen).contains("listening on") {
            match stderr.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "tcpdump did not start: {}",
                        String::from_utf8_lossy(&seen)
                    ));
                }
            }
        }
        Ok(Capture {
            child,
            stderr,
            file: file.into(),
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.tunnels.clear();
        for n in [&self.a, &self.b] {
            let _ = run("ip", &["netns", "del", &n.ns]);
            let _ = std::fs::remove_dir_all(&n.key_dir);
        }
    }
}

/// Node `last`'s address on the lab overlay `vni`.
pub fn overlay_addr(vni: u16, last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, (vni % 250) as u8, 0, last)
}

/// A running packet capture; stopped on [`Capture::finish`] or drop.
pub struct Capture {
    child: Child,
    stderr: std::process::ChildStderr,
    file: PathBuf,
}

impl Capture {
    /// Stops the capture and returns the captured bytes (pcap) and tcpdump's report.
    pub fn finish(mut self) -> Result<(Vec<u8>, String), String> {
        std::thread::sleep(Duration::from_millis(300));
        // SIGTERM: tcpdump writes out what it holds and exits
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, Signal::SIGTERM).map_err(|e| format!("stopping tcpdump: {e}"))?;
        self.child
            .wait()
            .map_err(|e| format!("waiting for tcpdump: {e}"))?;
        let mut report = String::new();
        let _ = self.stderr.read_to_string(&mut report);
        let pcap =
            std::fs::read(&self.file).map_err(|e| format!("{}: {e}", self.file.display()))?;
        Ok((pcap, report))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Sends `payload` from `from` to `to:port` (a listener in `to_node`) over TCP and returns
/// what the listener received.
pub fn tcp_send(
    from: &Node,
    to_node: &Node,
    to: Ipv4Addr,
    port: u16,
    payload: Vec<u8>,
) -> Result<Vec<u8>, String> {
    let addr = SocketAddr::from((to, port));
    let listener = to_node
        .within(move || TcpListener::bind(addr))?
        .map_err(|e| format!("listen {addr}: {e}"))?;
    let receiver = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let (mut s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).map_err(|e| format!("read: {e}"))?;
        Ok(got)
    });
    let stream = from
        .within(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))?
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut stream = stream;
    stream
        .write_all(&payload)
        .map_err(|e| format!("write: {e}"))?;
    drop(stream);
    receiver
        .join()
        .map_err(|_| "receiver panicked".to_string())?
}

/// TCP throughput from `from` to a listener in `to_node` on `to:port` for `secs` seconds, in
/// Gbit/s.
pub fn tcp_throughput(
    from: &Node,
    to_node: &Node,
    to: Ipv4Addr,
    port: u16,
    secs: f64,
) -> Result<f64, String> {
    let addr = SocketAddr::from((to, port));
    let listener = to_node
        .within(move || TcpListener::bind(addr))?
        .map_err(|e| format!("listen {addr}: {e}"))?;
    let receiver = std::thread::spawn(move || -> Result<u64, String> {
        let (mut s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let mut buf = vec![0u8; 1 << 18];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    });
    let mut stream = from
        .within(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))?
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let chunk = vec![0x5au8; 1 << 18];
    let start = Instant::now();
    let limit = Duration::from_secs_f64(secs);
    while start.elapsed() < limit {
        stream
            .write_all(&chunk)
            .map_err(|e| format!("write: {e}"))?;
    }
    drop(stream);
    let total = receiver
        .join()
        .map_err(|_| "receiver panicked".to_string())??;
    Ok(total as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9)
}
