//! Engine networks and container attachment against the machine's real engine: two shoal
//! networks become labelled bridge networks, a task joins both with its cluster addresses and
//! gets the node's gateway as DNS server, and the networks go once unused. Everything made is
//! removed on drop, even on failure.

#![allow(clippy::unwrap_used)]

use shoal_agent::Executor;
use shoal_docker::networks::LABEL_NETWORK_ID;
use shoal_docker::testing::ensure_busybox_image;
use shoal_docker::{DockerExecutor, EngineNetworkSpec, EngineNetworks};
use shoal_types::api::{TaskSpec, TaskSpecContainerSpec};
use shoal_types::{NetworkAttachment, NodeId, ServiceId, Task, TaskId};
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

const SOCKET: &str = "/var/run/docker.sock";

/// Removes the test's container and networks when dropped.
struct Cleanup {
    container: String,
    networks: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.container])
            .output(); // best effort: already gone is fine
        for n in &self.networks {
            let _ = std::process::Command::new("docker")
                .args(["network", "rm", n])
                .output(); // likewise
        }
    }
}

fn spec(tag: u32, index: u32, octet: u32) -> EngineNetworkSpec {
    EngineNetworkSpec {
        network_id: format!("shoaltest{tag}n{index}"),
        name: format!("shoaltest{tag}n{index}"),
        bridge: format!("shbr{}", 15_000_000 + tag * 2 + index),
        subnet: format!("10.213.{octet}.0/24"),
        gateway: format!("10.213.{octet}.254"),
        mtu: 1450,
        internal: index == 1,
        ingress: false,
    }
}

#[tokio::test]
async fn a_task_joins_its_networks_with_its_addresses_and_the_networks_go_when_unused() {
    let exec = DockerExecutor::connect(SOCKET).await.unwrap();
    ensure_busybox_image(exec.docker()).await.unwrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let tag = nanos % 400_000;
    let octet = 100 + (nanos % 70) * 2;
    let specs = [spec(tag, 0, octet), spec(tag, 1, octet + 1)];
    let node = NodeId::from(format!("netnode{tag}").as_str());
    let mut task = Task {
        id: TaskId::from(format!("nettask{tag}").as_str()),
        service_id: ServiceId::from("svcnet0123456"),
        node_id: node,
        slot: 1,
        spec: TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(shoal_docker::testing::TEST_IMAGE.into()),
                command: Some(vec!["busybox".into(), "sleep".into(), "60".into()]),
                ..Default::default()
            }),
            ..Default::default()
        },
        networks: specs
            .iter()
            .map(|s| NetworkAttachment {
                network_id: s.network_id.clone(),
                addresses: vec![format!("{}5/24", &s.subnet[..s.subnet.len() - 4])],
                aliases: vec!["web".into()],
            })
            .collect(),
        ..Default::default()
    };
    task.service_annotations.name = format!("shoaltestsvc{tag}");
    let _cleanup = Cleanup {
        container: task.container_name(),
        networks: specs.iter().map(|s| s.name.clone()).collect(),
    };

    let networks = EngineNetworks::new(exec.docker().clone());
    for s in &specs {
        networks.ensure(s).await.unwrap();
        // idempotent
        networks.ensure(s).await.unwrap();
    }
    networks.publish(&specs);
    let exec = exec.with_engine_networks(networks.clone());

    exec.prepare(&task).await.unwrap();
    exec.start(&task).await.unwrap();
    let inspect = exec
        .docker()
        .inspect_container(&task.container_name(), None)
        .await
        .unwrap();
    let joined = inspect.network_settings.unwrap().networks.unwrap();
    for s in &specs {
        let endpoint = &joined[&s.name];
        let prefix = &s.subnet[..s.subnet.len() - 4];
        assert_eq!(
            endpoint.ip_address.as_deref(),
            Some(format!("{prefix}5").as_str())
        );
        assert_eq!(endpoint.gateway.as_deref(), Some(s.gateway.as_str()));
        // Docker derives the MAC from the address, as remote nodes expect.
        let octet: u8 = prefix
            .trim_end_matches('.')
            .rsplit('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            endpoint.mac_address.as_deref(),
            Some(format!("02:42:0a:d5:{octet:02x}:05").as_str())
        );
        // No engine aliases: the engine's resolver would answer the service's names with this
        // container's own address; shoal's resolver answers them (with the VIP).
        assert!(
            !endpoint
                .aliases
                .as_ref()
                .is_some_and(|a| a.contains(&"web".to_string())),
            "{:?}",
            endpoint.aliases
        );
    }
    let dns = inspect.host_config.unwrap().dns.unwrap();
    assert_eq!(dns, vec![specs[0].gateway.clone()]);
    let engine_net = exec
        .docker()
        .inspect_network(&specs[1].name, None)
        .await
        .unwrap();
    assert_eq!(engine_net.internal, Some(true));
    assert_eq!(
        engine_net.labels.unwrap()[LABEL_NETWORK_ID],
        specs[1].network_id
    );

    // Busy networks stay (their bridges are reported), unused ones go.
    // Other shoal networks on this engine (other tests) count as wanted: only ours may go.
    let listed = std::process::Command::new("docker")
        .args([
            "network",
            "ls",
            "--filter",
            &format!("label={LABEL_NETWORK_ID}"),
        ])
        .args([
            "--format",
            &format!("{{{{.Label \"{LABEL_NETWORK_ID}\"}}}}"),
        ])
        .output()
        .unwrap();
    let wanted: BTreeSet<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_string)
        .filter(|id| specs.iter().all(|s| &s.network_id != id))
        .collect();
    let busy = networks.remove_unwanted(&wanted).await.unwrap();
    for s in &specs {
        assert!(busy.contains(&s.bridge), "{busy:?}");
    }
    exec.shutdown(&task).await.unwrap();
    exec.remove(&task).await.unwrap();
    let busy = networks.remove_unwanted(&wanted).await.unwrap();
    for s in &specs {
        assert!(!busy.contains(&s.bridge), "{busy:?}");
        assert!(
            exec.docker().inspect_network(&s.name, None).await.is_err(),
            "{} still exists",
            s.name
        );
    }
}
