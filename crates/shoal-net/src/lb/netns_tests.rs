//! The load balancer with real `nft`, `ip` and `iptables` in a scratch network namespace
//! (needs root, as CI has).

use super::tests::{ifaddr, scenario};
use super::*;
use std::process::Command;

/// A network namespace removed on drop, even when the test fails.
struct Scratch(String);

impl Scratch {
    fn new() -> Scratch {
        let name = format!("shoal-lbtest-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success());
        assert_eq!(ok.ok(), Some(true), "ip netns add {name} (needs root)");
        Scratch(name)
    }

    fn sh(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .output()
            .expect("run a command in the scratch namespace");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // best effort: a namespace left behind is only a name in /run/netns
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn rules_load_in_the_kernel_and_reapplying_leaves_one_copy() {
    let ns = Scratch::new();
    for br in ["shbr1", "shbr9"] {
        ns.sh(&["ip", "link", "add", br, "type", "bridge"]);
        ns.sh(&["ip", "link", "set", br, "up"]);
    }
    ns.sh(&["ip", "addr", "add", "10.0.1.254/24", "dev", "shbr1"]);
    // Docker's chain, where the mesh's accept rule goes
    ns.sh(&["iptables", "-N", "DOCKER-USER"]);
    let host = System {
        netns: Some(ns.0.clone()),
    };
    let plan = render(&scenario());
    apply(&host, &plan).expect("first apply");
    apply(&host, &plan).expect("second apply");
    let ruleset = ns.sh(&["nft", "list", "ruleset"]);
    assert_eq!(ruleset.matches("table ip shoal_lb").count(), 1, "{ruleset}");
    assert_eq!(
        ruleset.matches("table bridge shoal_lb_arp").count(),
        1,
        "{ruleset}"
    );
    assert_eq!(ruleset.matches("chain vip_pre").count(), 1, "{ruleset}");
    assert!(ruleset.contains("chain mesh_tcp_8080"), "{ruleset}");
    let addrs = host.addresses().expect("list addresses");
    let on = |b: &str| -> Vec<String> {
        let mut v: Vec<String> = addrs
            .iter()
            .filter(|a| a.ifname == b)
            .map(|a| format!("{}/{}", a.addr, a.prefix))
            .collect();
        v.sort();
        v
    };
    assert_eq!(on("shbr1"), ["10.0.1.2/32", "10.0.1.254/24", "10.0.1.3/32"]);
    assert_eq!(on("shbr9"), ["10.0.9.2/32", "10.0.9.3/32"]);
    let accept = "-A DOCKER-USER -m conntrack --ctstate DNAT -j ACCEPT";
    let chain = ns.sh(&["iptables", "-S", "DOCKER-USER"]);
    assert_eq!(chain.matches(accept).count(), 1, "{chain}");

    clear(&host).expect("clear");
    let ruleset = ns.sh(&["nft", "list", "ruleset"]);
    assert!(!ruleset.contains("shoal_lb"), "{ruleset}");
    let left: Vec<IfAddr> = host.addresses().expect("list addresses");
    assert_eq!(
        left,
        [ifaddr("shbr1", "10.0.1.254", 24)],
        "only the gateway stays"
    );
}
