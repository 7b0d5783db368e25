//! Network allocation and the networks nodes are sent, against the real controllers: the
//! allocator gives networks, services, nodes and tasks their addresses; the dispatcher sends
//! each node the endpoints of its networks and follows them as tasks start and stop.

mod common;

use common::{Harness, replicated};
use shoal_manager::allocator::state::ingress_network;
use shoal_manager::control::{Control, StaticRaftView};
use shoal_types::api::{
    EndpointPortConfig, EndpointSpec, NetworkAttachmentConfig, NetworkCreateRequest, ServiceSpec,
};
use shoal_types::dispatch::{Assignments, NodeNetwork, StatusBatch, StatusUpdate};
use shoal_types::{Object, TaskState, TaskStatus};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

async fn with_ingress(h: &Harness) -> Control {
    let ingress = ingress_network("ingressid".into(), &[]);
    h.store
        .update(|tx| tx.create(Object::Network(ingress)))
        .await
        .expect("create ingress");
    Control::new(
        h.store.clone(),
        "manager".into(),
        Arc::new(StaticRaftView(None)),
    )
}

fn on_network(mut spec: ServiceSpec, net: &str, published: Option<i64>) -> ServiceSpec {
    if let Some(t) = spec.task_template.as_mut() {
        t.networks = Some(vec![NetworkAttachmentConfig {
            target: Some(net.into()),
            aliases: Some(vec!["www".into()]),
            driver_opts: None,
        }]);
    }
    spec.endpoint_spec = Some(EndpointSpec {
        mode: None,
        ports: Some(vec![EndpointPortConfig {
            target_port: Some(80),
            published_port: published,
            ..Default::default()
        }]),
    });
    spec
}

#[tokio::test(start_paused = true)]
async fn services_networks_nodes_and_tasks_get_addresses_and_ports() {
    let mut h = Harness::start(5).await;
    let control = with_ingress(&h).await;
    let front = control
        .create_network(NetworkCreateRequest {
            name: "front".into(),
            ..Default::default()
        })
        .await
        .expect("create front");
    let net = control.resolve_network(&front).expect("front");
    assert_eq!(net.vni, 4097, "ingress has 4096");
    let subnet = net.ipam.config.as_ref().expect("allocated")[0]
        .subnet
        .clone()
        .unwrap_or_default();
    assert_eq!(subnet, "10.0.1.0/24");
    h.add_node("n1", &[]).await;

    let web = control
        .create_service(on_network(replicated("web", 2), "front", None))
        .await
        .expect("create web");
    h.wait_for("2 running tasks", |_| h.running(&web).len() == 2)
        .await;
    let svc = control.resolve_service("web").expect("web");
    let ep = svc.endpoint.clone().expect("endpoint");
    let vips: Vec<_> = ep
        .virtual_ips
        .iter()
        .flatten()
        .map(|v| {
            (
                v.network_id.clone().unwrap_or_default(),
                v.addr.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        vips,
        [
            ("ingressid".to_string(), "10.0.0.2/24".to_string()),
            (front.clone(), "10.0.1.2/24".to_string())
        ]
    );
    assert_eq!(
        ep.ports.as_ref().expect("ports")[0].published_port,
        Some(30000)
    );
    for t in h.running(&web) {
        let nets: Vec<_> = t.networks.iter().map(|n| n.network_id.as_str()).collect();
        assert_eq!(
            nets,
            [front.as_str(), "ingressid"],
            "spec order, ingress last"
        );
        assert!(t.networks[0].addresses[0].starts_with("10.0.1."));
        assert_eq!(t.networks[0].aliases, ["www"]);
        assert_eq!(t.endpoint.as_ref(), Some(&ep), "tasks carry the endpoint");
    }
    let n1 = h.store.view(|t| t.nodes.get("n1").cloned()).expect("n1");
    let gateways: Vec<_> = n1
        .attachments
        .iter()
        .map(|a| a.addresses[0].as_str())
        .collect();
    assert!(gateways.contains(&"10.0.1.254/24") && gateways.contains(&"10.0.0.254/24"));

    // A second service cannot take the first one's port; the control API says so at once.
    let err = control
        .create_service(on_network(replicated("api", 1), "front", Some(30000)))
        .await
        .expect_err("port taken");
    assert_eq!(
        err.to_string(),
        format!(
            "rpc error: code = InvalidArgument desc = port '30000' is already in use by service 'web' ({}) as an ingress port",
            svc.id
        )
    );
    // The network and the ingress network are in use.
    let err = control.remove_network("front").await.expect_err("in use");
    assert!(err.to_string().contains("is in use by service"), "{err}");
    let err = control.remove_network("ingress").await.expect_err("in use");
    assert!(
        err.to_string()
            .contains("ingress network cannot be removed because service"),
        "{err}"
    );
    // Removing the service frees its addresses and port.
    control.remove_service("web").await.expect("rm web");
    h.wait_for("web's tasks to go", |t| {
        t.tasks.find("service", web.as_str()).is_empty()
    })
    .await;
    let api = control
        .create_service(on_network(replicated("api", 1), "front", Some(30000)))
        .await
        .expect("port free again");
    h.wait_for("api to run", |_| h.running(&api).len() == 1)
        .await;
    control.remove_service("api").await.expect("rm api");
    h.wait_for("api's tasks to go", |t| {
        t.tasks.find("service", api.as_str()).is_empty()
    })
    .await;
    control.remove_network("front").await.expect("rm front");
    h.wait_for("n1 to lose its front address", |t| {
        t.nodes.get("n1").is_some_and(|n| n.attachments.len() == 1)
    })
    .await;
    h.stop().await;
}

async fn next_set(rx: &mut mpsc::Receiver<Assignments>) -> Assignments {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a new set within 5 s")
        .expect("stream open")
}

async fn set_where(
    rx: &mut mpsc::Receiver<Assignments>,
    what: &str,
    cond: impl Fn(&Assignments) -> bool,
) -> Assignments {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        let set = next_set(rx).await;
        if cond(&set) {
            return set;
        }
    }
}

fn net<'a>(set: &'a Assignments, name: &str) -> Option<&'a NodeNetwork> {
    set.networks.iter().find(|n| n.network.spec.name == name)
}

#[tokio::test(start_paused = true)]
async fn a_node_is_sent_its_networks_endpoints_and_follows_them_within_a_second() {
    let h = Harness::start(5).await;
    let control = with_ingress(&h).await;
    control
        .create_network(NetworkCreateRequest {
            name: "front".into(),
            ..Default::default()
        })
        .await
        .expect("create front");
    h.add_bare_node("n9").await;
    let mut rx = h.open_session("n9", "a2V5LTE=").await;
    let first = next_set(&mut rx).await;
    assert!(first.networks.is_empty(), "no task, no published port");
    let mut spec = on_network(replicated("web", 2), "front", Some(8080));
    if let Some(c) = spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        c.hostname = Some("{{.Service.Name}}-{{.Task.Slot}}".into());
    }
    let web = control.create_service(spec).await.expect("create web");
    let set = set_where(&mut rx, "2 tasks with front and ingress", |s| {
        s.tasks.len() == 2 && net(s, "front").is_some() && net(s, "ingress").is_some()
    })
    .await;
    let front = net(&set, "front").expect("front");
    assert_eq!(front.gateway, "10.0.1.254/24");
    assert_eq!(front.endpoints.len(), 2);
    assert!(
        front
            .endpoints
            .iter()
            .all(|e| !e.ready && e.aliases == ["www"])
    );
    // Each endpoint is named by its container name and its expanded hostname template.
    let mut hostnames: Vec<&str> = front
        .endpoints
        .iter()
        .map(|e| e.names[1].as_str())
        .collect();
    hostnames.sort();
    assert_eq!(hostnames, ["web-1", "web-2"]);
    assert!(
        front
            .endpoints
            .iter()
            .all(|e| e.names[0].starts_with("web."))
    );
    assert_eq!(front.services.len(), 1);
    assert_eq!(front.services[0].vip.as_deref(), Some("10.0.1.2"));
    assert_eq!(front.services[0].ports[0].published, 8080);
    assert_eq!(front.nodes.len(), 1);
    assert_eq!(front.nodes[0].gateway, "10.0.1.254");
    // The tunnel key the node published with its session is in every network's node list.
    assert_eq!(front.nodes[0].key, "a2V5LTE=");
    let stored = h
        .store
        .view(|t| t.nodes.get("n9").map(|n| n.tunnel_key.clone()));
    assert_eq!(stored.as_deref(), Some("a2V5LTE="));
    // A new session with a new key (the node restarted: key rotation) replaces it.
    rx = h.open_session("n9", "a2V5LTI=").await;
    let set = set_where(&mut rx, "the new key in front's node list", |s| {
        net(s, "front").is_some_and(|n| n.nodes.iter().all(|n| n.key == "a2V5LTI="))
    })
    .await;

    // Both tasks run: both endpoints become ready.
    let report = |state: TaskState| {
        let tasks = set.tasks.clone();
        let session = set.session_id.clone();
        let d = h.dispatcher.clone();
        async move {
            let updates = tasks
                .iter()
                .map(|t| StatusUpdate {
                    task_id: t.id.clone(),
                    status: TaskStatus {
                        state,
                        message: "started".into(),
                        ..Default::default()
                    },
                })
                .collect();
            d.update_status(StatusBatch {
                node_id: "n9".into(),
                session_id: session,
                updates,
            })
            .await
            .expect("accepted");
        }
    };
    report(TaskState::Running).await;
    let set = set_where(&mut rx, "2 ready endpoints", |s| {
        net(s, "front").is_some_and(|n| n.endpoints.iter().filter(|e| e.ready).count() == 2)
    })
    .await;
    assert!(net(&set, "ingress").is_some_and(|n| n.endpoints.len() == 2));

    // Stop one: it leaves every endpoint list within a second.
    let gone = set.tasks[0].clone();
    let start = Instant::now();
    h.dispatcher
        .update_status(StatusBatch {
            node_id: "n9".into(),
            session_id: set.session_id.clone(),
            updates: vec![StatusUpdate {
                task_id: gone.id.clone(),
                status: TaskStatus {
                    state: TaskState::Failed,
                    message: "task: non-zero exit (1)".into(),
                    ..Default::default()
                },
            }],
        })
        .await
        .expect("accepted");
    set_where(&mut rx, "the failed task to leave front", |s| {
        net(s, "front").is_some_and(|n| n.endpoints.iter().all(|e| e.task_id != gone.id))
    })
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // Removing the service takes the networks away (no task left, no published port).
    control.remove_service(web.as_str()).await.expect("rm");
    report(TaskState::Shutdown).await;
    set_where(&mut rx, "no networks", |s| s.networks.is_empty()).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_task_stopping_on_another_node_leaves_this_nodes_endpoint_list() {
    let mut h = Harness::start(5).await;
    let control = with_ingress(&h).await;
    control
        .create_network(NetworkCreateRequest {
            name: "front".into(),
            ..Default::default()
        })
        .await
        .expect("create front");
    h.add_node("n1", &[]).await;
    h.add_bare_node("n9").await;
    let mut rx = h.open_session("n9", "").await;
    let mut spec = common::global("web");
    if let Some(t) = spec.task_template.as_mut() {
        t.networks = Some(vec![NetworkAttachmentConfig {
            target: Some("front".into()),
            aliases: None,
            driver_opts: None,
        }]);
    }
    control.create_service(spec).await.expect("create web");
    // n1's fake agent runs its task; n9 sees it as a ready endpoint of its network.
    let set = set_where(&mut rx, "n1's endpoint ready on n9", |s| {
        net(s, "front").is_some_and(|n| {
            n.endpoints
                .iter()
                .any(|e| e.node_id.as_str() == "n1" && e.ready)
        })
    })
    .await;
    let front = net(&set, "front").expect("front");
    let nodes: Vec<_> = front.nodes.iter().map(|n| n.node_id.as_str()).collect();
    assert_eq!(nodes, ["n1", "n9"]);
    assert!(net(&set, "ingress").is_none(), "no published port, no mesh");

    // Draining n1 stops its task: n9 is told without a change to its own tasks.
    let start = Instant::now();
    h.update_node("n1", |n| {
        n.spec.availability = Some(shoal_types::api::NodeSpecAvailabilityEnum::DRAIN)
    })
    .await;
    set_where(&mut rx, "n1's endpoint to leave n9's list", |s| {
        net(s, "front").is_some_and(|n| n.endpoints.iter().all(|e| e.node_id.as_str() != "n1"))
    })
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_containers_attachment_gets_an_address_and_brings_its_network_to_the_node() {
    let h = Harness::start(5).await;
    let control = with_ingress(&h).await;
    for (name, attachable) in [("front", true), ("back", false)] {
        control
            .create_network(NetworkCreateRequest {
                name: name.into(),
                attachable: Some(attachable),
                ..Default::default()
            })
            .await
            .expect("create network");
    }
    h.add_bare_node("n9").await;
    let mut rx = h.open_session("n9", "").await;
    assert!(next_set(&mut rx).await.networks.is_empty());
    let node = shoal_types::NodeId::from("n9");

    let refused = control.attach(&node, "back", "x").await.expect_err("back");
    assert_eq!(
        refused.to_string(),
        "Could not attach to network back: rpc error: code = PermissionDenied desc = network back not manually attachable"
    );
    assert!(control.attachments(&node).is_empty(), "nothing left behind");

    let att = control
        .attach(&node, "front", "/probe")
        .await
        .expect("attach");
    assert_eq!(att.status.state, TaskState::Running);
    let addr = att.networks[0].addresses[0].clone();
    assert!(
        addr.starts_with("10.0.1.") && addr.ends_with("/24"),
        "{addr}"
    );
    control
        .bind_attachment(&node, &att.id, "c0ffee")
        .await
        .expect("bind");

    // The node gets the network and the endpoint, but no task to run.
    let set = set_where(&mut rx, "front with the attachment", |s| {
        net(s, "front").is_some_and(|n| n.endpoints.len() == 1)
    })
    .await;
    assert!(set.tasks.is_empty(), "{:?}", set.tasks);
    let ep = &net(&set, "front").expect("front").endpoints[0];
    assert_eq!(ep.addr, addr.trim_end_matches("/24"));
    assert!(ep.ready);
    assert_eq!(ep.names, ["probe"]);

    // No controller takes it for an orphan of a deleted service.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let kept = control.attachments(&node);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].attachment_container(), Some("c0ffee"));
    assert_eq!(kept[0].desired_state, TaskState::Running);
    // (the node sent no heartbeat meanwhile: it comes back with a new session)
    let mut rx = h.open_session("n9", "").await;

    // The network is in use while the attachment exists.
    let busy = control.remove_network("front").await.expect_err("in use");
    assert!(busy.to_string().contains("is in use by task"), "{busy}");

    // Another node may not release it; its own node does, and the network leaves the node.
    control
        .detach(&"n1".into(), std::slice::from_ref(&att.id))
        .await
        .expect("detach by another node");
    assert_eq!(control.attachments(&node).len(), 1);
    control
        .detach(&node, std::slice::from_ref(&att.id))
        .await
        .expect("detach");
    set_where(&mut rx, "no networks", |s| s.networks.is_empty()).await;
    control.remove_network("front").await.expect("rm front");
    h.stop().await;
}
