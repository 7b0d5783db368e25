//! What the load balancer asks of the host, behind a trait: `nft`, the bridges' addresses
//! and the iptables accept rule. [`System`] runs the host's tools (optionally inside a
//! named network namespace, for tests); a recording double tests the apply logic.
//!
//! Every call blocks on a short-lived child process: callers on a tokio runtime run them
//! with `spawn_blocking`.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};

/// An IPv4 address on an interface, as `ip -o -4 addr show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub ifname: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// The host operations of the load balancer.
pub trait Host {
    /// Applies an nft script in one transaction.
    fn nft(&self, script: &str) -> Result<(), String>;
    /// Every IPv4 address of every interface.
    fn addresses(&self) -> Result<Vec<IfAddr>, String>;
    /// Adds `addr/32` to `ifname`.
    fn add_address(&self, ifname: &str, addr: Ipv4Addr) -> Result<(), String>;
    /// Removes `addr/32` from `ifname`.
    fn del_address(&self, ifname: &str, addr: Ipv4Addr) -> Result<(), String>;
    /// Makes sure (`present`) or makes sure not (`!present`) that iptables' `DOCKER-USER`
    /// chain accepts DNAT'd flows. Hosts without iptables or that chain need nothing.
    fn docker_user_accept(&self, present: bool) -> Result<(), String>;
    /// Turns on IPv4 forwarding and bridge netfilter (`net.bridge.bridge-nf-call-iptables`,
    /// so conntrack sees a VIP's replies bridged straight back to the client). Docker sets
    /// both too; shoal does not rely on it.
    fn enable_forwarding(&self) -> Result<(), String>;
}

/// The real host: `nft`, `ip` and `iptables`, in `netns` when set (`ip netns exec`).
#[derive(Debug, Clone, Default)]
pub struct System {
    pub netns: Option<String>,
}

/// The rule that lets DNAT'd flows through where Docker set the FORWARD policy to drop
/// (an accept in another nft table cannot override iptables' drop).
const DOCKER_USER_RULE: [&str; 7] = [
    "DOCKER-USER",
    "-m",
    "conntrack",
    "--ctstate",
    "DNAT",
    "-j",
    "ACCEPT",
];

impl System {
    fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<Output, String> {
        let what = format!("{program} {}", args.join(" "));
        let mut cmd = self.command(program);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{what}: cannot run: {e}"))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .map_err(|e| format!("{what}: writing its input: {e}"))?;
        }
        child.wait_with_output().map_err(|e| format!("{what}: {e}"))
    }

    fn check(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let out = self.run(program, args, stdin)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{program} {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Host for System {
    fn nft(&self, script: &str) -> Result<(), String> {
        self.check("nft", &["-f", "-"], Some(script)).map(drop)
    }

    fn addresses(&self) -> Result<Vec<IfAddr>, String> {
        Ok(parse_addresses(&self.check(
            "ip",
            &["-o", "-4", "addr", "show"],
            None,
        )?))
    }

    fn add_address(&self, ifname: &str, addr: Ipv4Addr) -> Result<(), String> {
        self.check(
            "ip",
            &["addr", "add", &format!("{addr}/32"), "dev", ifname],
            None,
        )
        .map(drop)
    }

    fn del_address(&self, ifname: &str, addr: Ipv4Addr) -> Result<(), String> {
        self.check(
            "ip",
            &["addr", "del", &format!("{addr}/32"), "dev", ifname],
            None,
        )
        .map(drop)
    }

    fn docker_user_accept(&self, present: bool) -> Result<(), String> {
        // no iptables on this host, or no DOCKER-USER chain (no Docker, or not yet): no
        // Docker FORWARD policy to open
        match self.run("iptables", &["-S", DOCKER_USER_RULE[0]], None) {
            Ok(out) if out.status.success() => {}
            _ => return Ok(()),
        }
        let mut check = vec!["-C"];
        check.extend(DOCKER_USER_RULE);
        let exists = self.run("iptables", &check, None)?.status.success();
        let change = match (present, exists) {
            (true, false) => "-I",
            (false, true) => "-D",
            _ => return Ok(()),
        };
        let mut args = vec![change];
        args.extend(DOCKER_USER_RULE);
        self.check("iptables", &args, None).map(drop)
    }

    fn enable_forwarding(&self) -> Result<(), String> {
        let mut args = vec!["-qw"];
        args.extend(FORWARDING_SYSCTLS);
        self.check("sysctl", &args, None).map(drop)
    }
}

/// The sysctls VIPs and the mesh need (see [`Host::enable_forwarding`]).
const FORWARDING_SYSCTLS: [&str; 2] = [
    "net.ipv4.ip_forward=1",
    "net.bridge.bridge-nf-call-iptables=1",
];

/// Parses `ip -o -4 addr show`: `5: shbr4096    inet 10.0.1.254/24 brd … scope global …`.
pub fn parse_addresses(text: &str) -> Vec<IfAddr> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "inet")?;
            let ifname = words.get(1)?.trim_end_matches(':');
            // `ip` shows a VLAN or veth peer as `name@peer`
            let ifname = ifname.split('@').next()?;
            let (addr, prefix) = words.get(at + 1)?.split_once('/')?;
            Some(IfAddr {
                ifname: ifname.to_string(),
                addr: addr.parse().ok()?,
                prefix: prefix.parse().ok()?,
            })
        })
        .collect()
}
