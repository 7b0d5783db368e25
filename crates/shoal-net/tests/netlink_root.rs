//! Root tests of the netlink kernel: in a scratch network namespace (made with `unshare` on a
//! dedicated thread, so it disappears with the thread even when a test fails), apply a plan,
//! read it back through netlink and through iproute2, change it, and tear it down. Needs root
//! (CI runs as root).

use shoal_net::Netlink;
use shoal_net::mac::Mac;
use shoal_net::overlay::{Encryption, Kernel, LinkKind, Outcome, VXLAN_PORT, plan, reconcile};
use shoal_types::dispatch::{NetEndpoint, NetNode, NodeNetwork};
use shoal_types::{Network, NodeId};
use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);

/// Runs `f` with a netlink kernel in a fresh network namespace; `f` also gets the path of that
/// namespace, for iproute2 cross-checks.
fn in_scratch_netns<F, Fut>(f: F)
where
    F: FnOnce(Netlink, String) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let thread = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare the netns");
        let ns = format!(
            "/proc/{}/task/{}/ns/net",
            std::process::id(),
            nix::unistd::gettid()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let kernel = Netlink::connect().expect("netlink");
            f(kernel, ns).await
        });
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

fn ip_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={ns}"))
        .args(args)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn front(remote_tasks: &[&str]) -> NodeNetwork {
    let mut network = Network {
        id: "net1".into(),
        vni: 4097,
        ..Default::default()
    };
    network.spec.name = "front".into();
    NodeNetwork {
        network,
        gateway: "10.0.1.254/24".into(),
        nodes: vec![
            NetNode {
                node_id: NodeId::from("n1"),
                addr: LOCAL.to_string(),
                gateway: "10.0.1.254".into(),
                ..Default::default()
            },
            NetNode {
                node_id: NodeId::from("n2"),
                addr: "10.99.0.12".into(),
                gateway: "10.0.1.253".into(),
                ..Default::default()
            },
        ],
        endpoints: remote_tasks
            .iter()
            .map(|addr| NetEndpoint {
                task_id: format!("t-{addr}").as_str().into(),
                node_id: NodeId::from("n2"),
                addr: addr.to_string(),
                ready: true,
                ..Default::default()
            })
            .collect(),
        services: vec![],
        data_path_port: 0,
    }
}

#[test]
fn a_plan_applied_through_netlink_reads_back_and_reconciles_to_nothing() {
    in_scratch_netns(|kernel, ns| async move {
        let none = BTreeSet::new();
        let desired = plan(
            &[front(&["10.0.1.6", "10.0.1.7"])],
            LOCAL,
            VXLAN_PORT,
            Encryption::Up,
        );
        let outcome = reconcile(&kernel, &desired, &none)
            .await
            .expect("reconcile");
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);

        let seen = kernel.observe().await.expect("observe");
        let bridge = &seen.links["shbr4097"];
        let vxlan = &seen.links["shvx4097"];
        assert_eq!(bridge.kind, LinkKind::Bridge);
        assert_eq!(bridge.mac, Some(Mac::of_ip(Ipv4Addr::new(10, 0, 1, 254))));
        assert!(bridge.up && vxlan.up);
        assert_eq!(vxlan.master, Some(bridge.index));
        assert_eq!(vxlan.mtu, 1450);
        match vxlan.kind {
            LinkKind::Vxlan(attrs) => {
                assert_eq!(
                    (
                        attrs.vni,
                        attrs.local,
                        attrs.port,
                        attrs.learning,
                        attrs.proxy
                    ),
                    (4097, Some(IpAddr::V4(LOCAL)), 4789, false, true)
                );
            }
            other => panic!("shvx4097 is {other:?}"),
        }
        assert!(seen.addresses["shbr4097"].contains(&(Ipv4Addr::new(10, 0, 1, 254), 24)));
        assert_eq!(seen.fdb["shvx4097"].len(), 3);
        assert_eq!(seen.neighbours["shvx4097"].len(), 3);

        // iproute2 sees the same.
        let link = ip_in(&ns, &["ip", "-d", "link", "show", "shvx4097"]);
        assert!(link.contains("vxlan id 4097"), "{link}");
        assert!(link.contains("local 10.99.0.11"), "{link}");
        assert!(link.contains("nolearning"), "{link}");
        assert!(link.contains("master shbr4097"), "{link}");
        let fdb = ip_in(&ns, &["bridge", "fdb", "show", "dev", "shvx4097"]);
        assert!(
            fdb.contains("02:42:0a:00:01:06 dst 10.99.0.12 self permanent"),
            "{fdb}"
        );
        let neigh = ip_in(&ns, &["ip", "neigh", "show", "dev", "shvx4097"]);
        assert!(
            neigh.contains("10.0.1.7 lladdr 02:42:0a:00:01:07 PERMANENT"),
            "{neigh}"
        );

        // Idempotent.
        let again = reconcile(&kernel, &desired, &none)
            .await
            .expect("reconcile");
        assert_eq!(again, Outcome::default());

        // A VIP added by the load balancer survives; a task that stopped loses its entries.
        ip_in(
            &ns,
            &["ip", "addr", "add", "10.0.1.2/32", "dev", "shbr4097"],
        );
        let fewer = plan(&[front(&["10.0.1.6"])], LOCAL, VXLAN_PORT, Encryption::Up);
        let outcome = reconcile(&kernel, &fewer, &none).await.expect("reconcile");
        assert_eq!(
            outcome.applied, 2,
            "one fdb and one neighbour entry removed"
        );
        let seen = kernel.observe().await.expect("observe");
        assert!(seen.addresses["shbr4097"].contains(&(Ipv4Addr::new(10, 0, 1, 2), 32)));
        let neigh = ip_in(&ns, &["ip", "neigh", "show", "dev", "shvx4097"]);
        assert!(!neigh.contains("10.0.1.7"), "{neigh}");

        // The network leaves the set: its devices go.
        let outcome = reconcile(
            &kernel,
            &plan(&[], LOCAL, VXLAN_PORT, Encryption::Up),
            &none,
        )
        .await
        .expect("reconcile");
        assert_eq!(outcome.applied, 2);
        let seen = kernel.observe().await.expect("observe");
        assert!(seen.links.is_empty(), "{:?}", seen.links.keys());
    });
}

#[test]
fn an_encrypted_network_runs_vxlan_between_tunnel_addresses_and_reconciles_to_nothing() {
    in_scratch_netns(|kernel, ns| async move {
        let none = BTreeSet::new();
        let mut net = front(&["10.0.1.6"]);
        net.network
            .spec
            .options
            .insert(shoal_types::network::ENCRYPTED_OPTION.into(), String::new());
        for node in &mut net.nodes {
            node.key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        }
        let desired = plan(&[net], LOCAL, VXLAN_PORT, Encryption::Up);
        let outcome = reconcile(&kernel, &desired, &none)
            .await
            .expect("reconcile");
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        let link = ip_in(&ns, &["ip", "-d", "link", "show", "shvx4097"]);
        assert!(link.contains("local fd5e:a1::a63:b"), "{link}");
        assert!(link.contains("mtu 64000"), "{link}");
        let fdb = ip_in(&ns, &["bridge", "fdb", "show", "dev", "shvx4097"]);
        assert!(
            fdb.contains("02:42:0a:00:01:06 dst fd5e:a1::a63:c self permanent"),
            "{fdb}"
        );
        // Read back as planned (IPv6 local and destinations): nothing to do the second time.
        let again = reconcile(&kernel, &desired, &none)
            .await
            .expect("reconcile");
        assert_eq!(again, Outcome::default());
    });
}

#[test]
fn devices_changed_behind_shoals_back_are_repaired() {
    in_scratch_netns(|kernel, ns| async move {
        let none = BTreeSet::new();
        let desired = plan(&[front(&["10.0.1.6"])], LOCAL, VXLAN_PORT, Encryption::Up);
        reconcile(&kernel, &desired, &none)
            .await
            .expect("reconcile");
        // What an engine restart or an operator might do.
        ip_in(&ns, &["ip", "link", "set", "shvx4097", "nomaster"]);
        ip_in(&ns, &["ip", "link", "set", "shbr4097", "down"]);
        ip_in(
            &ns,
            &[
                "bridge",
                "fdb",
                "del",
                "02:42:0a:00:01:06",
                "dev",
                "shvx4097",
                "dst",
                "10.99.0.12",
                "self",
            ],
        );
        let outcome = reconcile(&kernel, &desired, &none)
            .await
            .expect("reconcile");
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        assert_eq!(
            reconcile(&kernel, &desired, &none)
                .await
                .expect("reconcile"),
            Outcome::default()
        );
        let link = ip_in(&ns, &["ip", "-d", "link", "show", "shvx4097"]);
        assert!(link.contains("master shbr4097"), "{link}");
    });
}
