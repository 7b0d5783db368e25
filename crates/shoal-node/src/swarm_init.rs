//! `swarm init`: the root CA, this node's certificate and key file, the raft group of one, and
//! the cluster and node objects, all created here and then only ever restored from disk.

use crate::error::NodeError;
use crate::host::HostInfo;
use crate::manager::ManagerRuntime;
use crate::paths::{Paths, write_atomic};
use crate::state::NodeState;
use crate::tls::NodeTls;
use shoal_ca::{DataKey, JoinToken, NodeKey, NodeKeyFile, Role, RootCa, UnlockKey};
use shoal_types::api::{
    ManagerStatus, NodeSpec, NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState as ApiNodeState,
    NodeStatus, Reachability, SwarmSpec, SwarmSpecCaConfig, SwarmSpecDispatcher,
    SwarmSpecEncryptionConfig, SwarmSpecOrchestration, SwarmSpecRaft,
};
use shoal_types::cluster::*;
use shoal_types::requests::InitRequest;
use shoal_types::{Cluster, ClusterId, JoinTokens, Node, NodeId, Object};
use std::time::{Duration, SystemTime};

/// A request the daemon refuses before creating anything.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InitRejected(pub String);

/// The swarm spec `init` starts from: the request's values over Swarm's defaults.
pub fn initial_spec(req: &InitRequest) -> SwarmSpec {
    let mut spec = req.spec.clone();
    if spec.name.as_deref().is_none_or(str::is_empty) {
        spec.name = Some("default".into());
    }
    let orch = spec
        .orchestration
        .get_or_insert_with(SwarmSpecOrchestration::default);
    orch.task_history_retention_limit
        .get_or_insert(DEFAULT_TASK_HISTORY);
    let raft = spec.raft.get_or_insert_with(SwarmSpecRaft::default);
    raft.snapshot_interval = raft
        .snapshot_interval
        .filter(|v| *v > 0)
        .or(Some(DEFAULT_SNAPSHOT_INTERVAL));
    raft.keep_old_snapshots.get_or_insert(0);
    raft.log_entries_for_slow_followers = raft
        .log_entries_for_slow_followers
        .filter(|v| *v > 0)
        .or(Some(DEFAULT_LOG_ENTRIES_FOR_SLOW_FOLLOWERS));
    raft.election_tick = raft
        .election_tick
        .filter(|v| *v > 0)
        .or(Some(DEFAULT_ELECTION_TICK));
    raft.heartbeat_tick = raft
        .heartbeat_tick
        .filter(|v| *v > 0)
        .or(Some(DEFAULT_HEARTBEAT_TICK));
    let disp = spec
        .dispatcher
        .get_or_insert_with(SwarmSpecDispatcher::default);
    disp.heartbeat_period = disp
        .heartbeat_period
        .filter(|v| *v > 0)
        .or(Some(DEFAULT_HEARTBEAT_NS));
    let ca = spec
        .ca_config
        .get_or_insert_with(SwarmSpecCaConfig::default);
    ca.node_cert_expiry = ca
        .node_cert_expiry
        .filter(|v| *v > 0)
        .or(Some(DEFAULT_CERT_EXPIRY_NS));
    let autolock = req.auto_lock_managers
        || spec
            .encryption_config
            .as_ref()
            .and_then(|e| e.auto_lock_managers)
            .unwrap_or(false);
    spec.encryption_config = Some(SwarmSpecEncryptionConfig {
        auto_lock_managers: Some(autolock),
    });
    spec.labels.get_or_insert_with(Default::default);
    spec
}

/// Splits `host:port`, accepting a bare host (then `default_port`).
fn split_host_port(addr: &str, default_port: u16) -> Result<(String, u16), InitRejected> {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        return Ok((sa.ip().to_string(), sa.port()));
    }
    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        return Ok((ip.to_string(), default_port));
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            let port = p
                .parse::<u16>()
                .map_err(|_| InitRejected(format!("invalid port in address {addr}")))?;
            Ok((h.to_string(), port))
        }
        _ if !addr.is_empty() && !addr.contains(':') => Ok((addr.to_string(), default_port)),
        _ => Err(InitRejected(format!("invalid address {addr}"))),
    }
}

/// The address of the interface the default route uses (no packet is sent).
fn default_route_ip() -> Option<String> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// The listen address the docker and shoal CLIs send when none is given.
pub const CLI_DEFAULT_LISTEN: &str = "0.0.0.0:2377";

/// Decides listen and advertise addresses as `ip:port`.
pub fn addresses(
    req_listen: &str,
    req_advertise: &str,
    cfg_listen: &str,
    cfg_advertise: Option<&str>,
) -> Result<(String, String), InitRejected> {
    // The CLIs always send their default listen address; a daemon started with its own
    // `--listen-addr` keeps that one unless the request names a different address.
    let listen = if req_listen.is_empty() || req_listen == CLI_DEFAULT_LISTEN {
        cfg_listen
    } else {
        req_listen
    };
    let (lhost, lport) = split_host_port(listen, 2377)?;
    let advertise = if !req_advertise.is_empty() {
        Some(req_advertise)
    } else {
        cfg_advertise
    };
    let (ahost, aport) = match advertise {
        Some(a) => split_host_port(a, lport)?,
        None if lhost != "0.0.0.0" && lhost != "::" => (lhost.clone(), lport),
        None => (
            default_route_ip().ok_or_else(|| {
                InitRejected("could not choose an IP address to advertise since this system has no default route; use --advertise-addr".into())
            })?,
            lport,
        ),
    };
    Ok((format!("{lhost}:{lport}"), format!("{ahost}:{aport}")))
}

fn validate_request(req: &InitRequest) -> Result<(Vec<String>, u32, u32), InitRejected> {
    let pool: Vec<String> = req.default_addr_pool.clone().unwrap_or_default();
    for cidr in &pool {
        let ok = cidr.split_once('/').is_some_and(|(ip, bits)| {
            ip.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32)
        });
        if !ok {
            return Err(InitRejected(format!("invalid CIDR address: {cidr}")));
        }
    }
    let pool = if pool.is_empty() {
        vec![DEFAULT_ADDR_POOL.to_string()]
    } else {
        pool
    };
    let subnet = if req.subnet_size > 0 {
        req.subnet_size
    } else {
        DEFAULT_SUBNET_SIZE
    };
    if !(1..=29).contains(&subnet) {
        return Err(InitRejected(format!(
            "invalid subnet size {subnet}: must be between 1 and 29"
        )));
    }
    let port = if req.data_path_port > 0 {
        req.data_path_port
    } else {
        DEFAULT_DATA_PATH_PORT
    };
    if !(1024..=49151).contains(&port) {
        return Err(InitRejected(format!(
            "data path port {port} is out of the range 1024-49151"
        )));
    }
    Ok((pool, subnet, port))
}

/// Everything `init` made, for the daemon to keep.
pub struct Initialized {
    pub state: NodeState,
    pub runtime: ManagerRuntime,
    pub tls: std::sync::Arc<NodeTls>,
}

/// Creates the swarm. On any failure after files were written, the swarm directory is removed
/// so the node stays `inactive`.
pub async fn init(
    paths: &Paths,
    host: &HostInfo,
    req: &InitRequest,
    listen: String,
    advertise: String,
) -> Result<Initialized, NodeError> {
    let (pool, subnet, data_port) = validate_request(req).map_err(|e| NodeError::Other(e.0))?;
    let spec = initial_spec(req);
    shoal_manager::control::validate_swarm_spec(&spec)
        .map_err(|e| NodeError::Other(e.to_string()))?;
    let result = create(
        paths, host, req, spec, listen, advertise, pool, subnet, data_port,
    )
    .await;
    if result.is_err() {
        // Best effort: leave no half-made swarm behind.
        let _ = std::fs::remove_dir_all(paths.swarm());
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn create(
    paths: &Paths,
    host: &HostInfo,
    req: &InitRequest,
    spec: SwarmSpec,
    listen: String,
    advertise: String,
    pool: Vec<String>,
    subnet: u32,
    data_port: u32,
) -> Result<Initialized, NodeError> {
    let now = SystemTime::now();
    let expiry = Duration::from_nanos(
        spec.ca_config
            .as_ref()
            .and_then(|c| c.node_cert_expiry)
            .unwrap_or(DEFAULT_CERT_EXPIRY_NS) as u64,
    );
    let autolock = spec
        .encryption_config
        .as_ref()
        .and_then(|e| e.auto_lock_managers)
        .unwrap_or(false);

    let (node_id, cluster_id, raft_id, unlock, dek) = {
        let mut rng = rand::rng();
        let node_id = NodeId::generate(&mut rng);
        let cluster_id = ClusterId::generate(&mut rng);
        let raft_id = loop {
            let id: u64 = rand::Rng::random(&mut rng);
            if id != 0 {
                break id;
            }
        };
        (
            node_id,
            cluster_id,
            raft_id,
            autolock.then(|| UnlockKey::generate(&mut rng)),
            DataKey::generate(&mut rng),
        )
    };
    let root = RootCa::generate(now)?;
    let digest = root.digest();
    let (worker, manager) = {
        let mut rng = rand::rng();
        (
            JoinToken::generate(&digest, &mut rng),
            JoinToken::generate(&digest, &mut rng),
        )
    };
    let node_key = NodeKey::generate()?;
    let csr = node_key.csr_pem()?;
    let cert = root.sign_csr(
        &csr,
        node_id.as_str(),
        Role::Manager,
        cluster_id.as_str(),
        expiry,
        now,
    )?;

    crate::paths::create_private_dir(&paths.certs())
        .map_err(NodeError::io("create", paths.certs()))?;
    write_atomic(
        &paths.root_ca(),
        root.cert_pem().as_bytes(),
        crate::paths::PRIVATE_FILE,
    )
    .map_err(NodeError::io("write", paths.root_ca()))?;
    write_atomic(
        &paths.node_cert(),
        cert.as_bytes(),
        crate::paths::PRIVATE_FILE,
    )
    .map_err(NodeError::io("write", paths.node_cert()))?;
    let dek_bytes = *dek.as_bytes();
    NodeKeyFile {
        node_key_pem: node_key.key_pem.clone(),
        dek,
    }
    .save(&paths.node_key(), unlock.as_ref(), &mut rand::rng())?;

    let state = NodeState {
        node_id: node_id.to_string(),
        cluster_id: cluster_id.to_string(),
        role: "manager".into(),
        raft_id,
        listen_addr: listen,
        advertise_addr: advertise.clone(),
        managers: vec![advertise.clone()],
    };
    let tls = std::sync::Arc::new(
        NodeTls::new(
            root.cert_pem().to_string(),
            cert.clone(),
            node_key.key_pem.clone(),
        )?
        .with_listen_addr(&state.listen_addr),
    );
    let runtime = ManagerRuntime::open(paths, &state, &dek_bytes, &tls).await?;
    runtime.raft.initialize_single().await?;
    runtime.wait_leader().await?;

    let cluster = Cluster {
        id: cluster_id,
        spec,
        root_ca: stored_root_ca(&root, &digest),
        join_tokens: JoinTokens { worker, manager },
        default_addr_pool: pool,
        subnet_size: subnet,
        data_path_port: data_port,
        unlock_key: unlock.map(|k| k.to_string()).unwrap_or_default(),
        ..Default::default()
    };
    let availability = match req.availability {
        Some(a) if a != NodeSpecAvailabilityEnum::EMPTY => a,
        _ => NodeSpecAvailabilityEnum::ACTIVE,
    };
    let adv_ip = advertise
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_else(|| advertise.clone());
    let node = Node {
        id: node_id,
        spec: NodeSpec {
            name: None,
            labels: Some(Default::default()),
            role: Some(NodeSpecRoleEnum::MANAGER),
            availability: Some(availability),
        },
        description: host.description(),
        status: NodeStatus {
            state: Some(ApiNodeState::READY),
            message: None,
            addr: Some(adv_ip),
        },
        manager_status: Some(ManagerStatus {
            leader: Some(true),
            reachability: Some(Reachability::REACHABLE),
            addr: Some(advertise),
        }),
        raft_id,
        ..Default::default()
    };
    // Docker's routing-mesh network; the leader's allocator gives it its VNI (the first one).
    let ingress = shoal_manager::allocator::state::ingress_network(
        shoal_types::new_id(&mut rand::rng()),
        &cluster.default_addr_pool,
    );
    runtime
        .store
        .update(|tx| {
            tx.create(Object::Cluster(cluster))?;
            tx.create(Object::Network(ingress))?;
            tx.create(Object::Node(node))
        })
        .await?;
    // The membership record is written last: its presence means "this node is in a swarm".
    state.save(paths)?;
    Ok(Initialized {
        state,
        runtime,
        tls,
    })
}

fn stored_root_ca(root: &RootCa, digest: &[u8; 32]) -> shoal_types::RootCa {
    shoal_types::RootCa {
        ca_cert: root.cert_pem().to_string(),
        ca_key: root.key_pem().to_string(),
        ca_cert_hash: hex::encode(digest),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_an_empty_spec() {
        let spec = initial_spec(&InitRequest::default());
        assert_eq!(spec.name.as_deref(), Some("default"));
        assert_eq!(
            spec.orchestration
                .and_then(|o| o.task_history_retention_limit),
            Some(5)
        );
        assert_eq!(
            spec.dispatcher.and_then(|d| d.heartbeat_period),
            Some(5_000_000_000)
        );
        assert_eq!(
            spec.ca_config.and_then(|c| c.node_cert_expiry),
            Some(DEFAULT_CERT_EXPIRY_NS)
        );
        assert_eq!(spec.raft.and_then(|r| r.snapshot_interval), Some(10_000));
    }

    #[test]
    fn addresses_default_to_the_listen_port() {
        let (l, a) = addresses("", "10.1.2.3", "0.0.0.0:2377", None).unwrap();
        assert_eq!(l, "0.0.0.0:2377");
        assert_eq!(a, "10.1.2.3:2377");
        let (_, a) = addresses("127.0.0.5:4000", "", "0.0.0.0:2377", None).unwrap();
        assert_eq!(a, "127.0.0.5:4000");
    }

    #[test]
    fn bad_pools_and_ports_are_refused() {
        let req = InitRequest {
            default_addr_pool: Some(vec!["10.0.0.0/40".into()]),
            ..Default::default()
        };
        assert!(validate_request(&req).is_err());
        let req = InitRequest {
            data_path_port: 80,
            ..Default::default()
        };
        assert!(validate_request(&req).is_err());
    }
}
