use super::*;
use crate::mac::Mac;
use crate::overlay::observed::{LinkKind, ObservedLink, VxlanAttrs};
use crate::overlay::plan::{Encryption, VXLAN_PORT, plan};
use shoal_types::Network;
use shoal_types::NodeId;
use shoal_types::dispatch::{NetEndpoint, NetNode, NodeNetwork};
use shoal_types::network::ENCRYPTED_OPTION;
use std::net::Ipv4Addr;
use std::sync::Mutex;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);

/// An in-memory kernel: applies operations to an [`Observed`] and records them. Operations
/// on links whose name is in `failing` fail.
#[derive(Default)]
struct FakeKernel {
    state: Mutex<Observed>,
    applied: Mutex<Vec<Op>>,
    failing: Vec<String>,
    next_index: Mutex<u32>,
}

impl FakeKernel {
    fn ops(&self) -> Vec<Op> {
        std::mem::take(&mut *self.applied.lock().expect("lock"))
    }
}

fn link_of(op: &Op) -> &str {
    match op {
        Op::DeleteLink { name }
        | Op::AddBridge { name, .. }
        | Op::AddVxlan { name, .. }
        | Op::SetLink { name, .. } => name,
        Op::AddAddress { link, .. }
        | Op::DeleteAddress { link, .. }
        | Op::AddFdb { link, .. }
        | Op::DeleteFdb { link, .. }
        | Op::AddNeighbour { link, .. }
        | Op::DeleteNeighbour { link, .. } => link,
    }
}

impl Kernel for FakeKernel {
    fn observe(&self) -> BoxFuture<'_, Result<Observed, NetError>> {
        let state = self.state.lock().expect("lock").clone();
        Box::pin(async move { Ok(state) })
    }

    fn apply<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Result<(), NetError>> {
        Box::pin(async move {
            if self.failing.iter().any(|f| f == link_of(op)) {
                return Err(NetError::Netlink {
                    what: format!("changing {}", link_of(op)),
                    reason: "Operation not permitted".into(),
                });
            }
            self.applied.lock().expect("lock").push(op.clone());
            let mut s = self.state.lock().expect("lock");
            let mut index = self.next_index.lock().expect("lock");
            *index += 1;
            let new_link = |name: &str, kind, mac, mtu| ObservedLink {
                index: *index,
                name: name.to_string(),
                kind,
                mac,
                mtu,
                up: false,
                master: None,
            };
            match op {
                Op::DeleteLink { name } => {
                    s.links.remove(name);
                    s.addresses.remove(name);
                    s.fdb.remove(name);
                    s.neighbours.remove(name);
                }
                Op::AddBridge { name, mac, mtu } => {
                    let link = new_link(name, LinkKind::Bridge, Some(*mac), *mtu);
                    s.links.insert(name.clone(), link);
                }
                Op::AddVxlan {
                    name,
                    vni,
                    local,
                    port,
                    mtu,
                } => {
                    let kind = LinkKind::Vxlan(VxlanAttrs {
                        vni: *vni,
                        local: Some(*local),
                        port: *port,
                        learning: false,
                        proxy: true,
                    });
                    let link = new_link(name, kind, None, *mtu);
                    s.links.insert(name.clone(), link);
                }
                Op::SetLink {
                    name,
                    mac,
                    mtu,
                    master,
                } => {
                    let master = master
                        .as_ref()
                        .and_then(|m| s.links.get(m))
                        .map(|l| l.index);
                    let link = s.links.get_mut(name).expect("link exists");
                    if mac.is_some() {
                        link.mac = *mac;
                    }
                    link.mtu = *mtu;
                    link.up = true;
                    if master.is_some() {
                        link.master = master;
                    }
                }
                Op::AddAddress {
                    link,
                    ip,
                    prefix_len,
                } => {
                    s.addresses
                        .entry(link.clone())
                        .or_default()
                        .insert((*ip, *prefix_len));
                }
                Op::DeleteAddress {
                    link,
                    ip,
                    prefix_len,
                } => {
                    s.addresses
                        .entry(link.clone())
                        .or_default()
                        .remove(&(*ip, *prefix_len));
                }
                Op::AddFdb { link, mac, dst } => {
                    s.fdb.entry(link.clone()).or_default().insert((*mac, *dst));
                }
                Op::DeleteFdb { link, mac, dst } => {
                    s.fdb.entry(link.clone()).or_default().remove(&(*mac, *dst));
                }
                Op::AddNeighbour { link, ip, mac } => {
                    s.neighbours
                        .entry(link.clone())
                        .or_default()
                        .insert((*ip, *mac));
                }
                Op::DeleteNeighbour { link, ip, mac } => {
                    s.neighbours
                        .entry(link.clone())
                        .or_default()
                        .remove(&(*ip, *mac));
                }
            }
            Ok(())
        })
    }
}

fn network(id: &str, name: &str, vni: u32, subnet: u8, remote_tasks: &[&str]) -> NodeNetwork {
    let mut network = Network {
        id: id.into(),
        vni,
        ..Default::default()
    };
    network.spec.name = name.into();
    NodeNetwork {
        network,
        gateway: format!("10.0.{subnet}.254/24"),
        nodes: vec![
            NetNode {
                node_id: NodeId::from("n1"),
                addr: LOCAL.to_string(),
                gateway: format!("10.0.{subnet}.254"),
                ..Default::default()
            },
            NetNode {
                node_id: NodeId::from("n2"),
                addr: "10.99.0.12".into(),
                gateway: format!("10.0.{subnet}.253"),
                ..Default::default()
            },
        ],
        endpoints: remote_tasks
            .iter()
            .map(|addr| NetEndpoint {
                task_id: format!("t{addr}").as_str().into(),
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

#[tokio::test]
async fn reconciling_twice_changes_nothing_the_second_time() {
    let kernel = FakeKernel::default();
    let set = [
        network("net1", "front", 4097, 1, &["10.0.1.6"]),
        network("net2", "back", 4098, 2, &["10.0.2.6", "10.0.2.7"]),
    ];
    let plan = plan(&set, LOCAL, VXLAN_PORT, Encryption::Up);
    let first = reconcile(&kernel, &plan, &BTreeSet::new())
        .await
        .expect("reconcile");
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert_eq!(first.applied, kernel.ops().len());
    let state = kernel.observe().await.expect("observe");
    let vx = &state.links["shvx4098"];
    assert_eq!(vx.master, Some(state.links["shbr4098"].index));
    assert_eq!(
        state.neighbours["shvx4098"],
        [
            (
                Ipv4Addr::new(10, 0, 2, 6),
                Mac::of_ip(Ipv4Addr::new(10, 0, 2, 6))
            ),
            (
                Ipv4Addr::new(10, 0, 2, 7),
                Mac::of_ip(Ipv4Addr::new(10, 0, 2, 7))
            ),
            (
                Ipv4Addr::new(10, 0, 2, 253),
                Mac::of_ip(Ipv4Addr::new(10, 0, 2, 253))
            ),
        ]
        .into()
    );

    let second = reconcile(&kernel, &plan, &BTreeSet::new())
        .await
        .expect("reconcile");
    assert_eq!(second, Outcome::default());
    assert_eq!(kernel.ops(), vec![]);
}

#[tokio::test]
async fn a_network_that_leaves_the_set_is_torn_down() {
    let kernel = FakeKernel::default();
    let both = [
        network("net1", "front", 4097, 1, &[]),
        network("net2", "back", 4098, 2, &[]),
    ];
    reconcile(
        &kernel,
        &plan(&both, LOCAL, VXLAN_PORT, Encryption::Up),
        &BTreeSet::new(),
    )
    .await
    .expect("reconcile");
    kernel.ops();
    reconcile(
        &kernel,
        &plan(&both[..1], LOCAL, VXLAN_PORT, Encryption::Up),
        &BTreeSet::new(),
    )
    .await
    .expect("reconcile");
    assert_eq!(
        kernel.ops(),
        vec![
            Op::DeleteLink {
                name: "shvx4098".into()
            },
            Op::DeleteLink {
                name: "shbr4098".into()
            },
        ]
    );
}

#[tokio::test]
async fn a_failing_network_is_reported_and_the_others_are_built() {
    let kernel = FakeKernel {
        failing: vec!["shvx4098".into()],
        ..Default::default()
    };
    let mut secret = network("net3", "vault", 4099, 3, &[]);
    secret
        .network
        .spec
        .options
        .insert(ENCRYPTED_OPTION.into(), String::new());
    let set = [
        network("net1", "front", 4097, 1, &[]),
        network("net2", "back", 4098, 2, &[]),
        secret,
    ];
    let unavailable = Encryption::Unavailable("encrypted overlay: no node key");
    let outcome = reconcile(
        &kernel,
        &plan(&set, LOCAL, VXLAN_PORT, unavailable),
        &BTreeSet::new(),
    )
    .await
    .expect("reconcile");
    assert_eq!(
        outcome.failed.keys().collect::<Vec<_>>(),
        vec!["net2", "net3"]
    );
    assert_eq!(
        outcome.failed["net2"],
        "changing shvx4098: Operation not permitted"
    );
    assert!(outcome.failed["net3"].contains("network vault is encrypted"));
    let state = kernel.observe().await.expect("observe");
    assert!(state.links.contains_key("shvx4097"));
    assert!(!state.links.contains_key("shbr4099"));
}
