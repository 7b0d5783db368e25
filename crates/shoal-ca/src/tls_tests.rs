//! In-memory handshakes between the configs in `tls.rs`.

use std::time::SystemTime;

use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;
use crate::node_cert::{DEFAULT_NODE_CERT_VALIDITY, NodeKey, Role};
use crate::root::RootCa;

struct Node {
    cert_pem: String,
    key_pem: String,
}

fn node(root: &RootCa, id: &str, role: Role) -> Node {
    let key = NodeKey::generate().expect("key");
    let cert_pem = root
        .sign_csr(
            &key.csr_pem().expect("csr"),
            id,
            role,
            "cluster1",
            DEFAULT_NODE_CERT_VALIDITY,
            SystemTime::now(),
        )
        .expect("sign");
    Node {
        cert_pem,
        key_pem: key.key_pem,
    }
}

/// Run one handshake plus a ping; returns (server result with peer identity, client result).
async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> (Result<Option<CertInfo>, String>, Result<(), String>) {
    let (c, s) = duplex(64 * 1024);
    let server_side = async move {
        let mut tls = TlsAcceptor::from(server)
            .accept(s)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| peer_identity(c));
        peer.transpose().map_err(|e| e.to_string())
    };
    let client_side = async move {
        let name = ServerName::try_from(MANAGER_SERVER_NAME).map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(client)
            .connect(name, c)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok(())
    };
    tokio::join!(server_side, client_side)
}

#[tokio::test]
async fn mutual_tls_handshake_succeeds_and_reveals_peer_identity() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let manager = node(&root, "mgr1", Role::Manager);
    let worker = node(&root, "wrk1", Role::Worker);
    let server =
        server_config(root.cert_pem(), &manager.cert_pem, &manager.key_pem).expect("server");
    let client = client_config(root.cert_pem(), &worker.cert_pem, &worker.key_pem).expect("client");
    let (s, c) = handshake(server, client).await;
    c.expect("client side");
    let peer = s
        .expect("server side")
        .expect("client presented a certificate");
    assert_eq!(peer.node_id, "wrk1");
    assert_eq!(peer.role, Role::Worker);
    assert_eq!(peer.cluster_id, "cluster1");
}

#[tokio::test]
async fn client_cert_from_another_ca_is_refused() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let rogue_root = RootCa::generate(SystemTime::now()).expect("rogue root");
    let manager = node(&root, "mgr1", Role::Manager);
    let rogue = node(&rogue_root, "wrk9", Role::Manager);
    let server =
        server_config(root.cert_pem(), &manager.cert_pem, &manager.key_pem).expect("server");
    // The rogue trusts the real root, so only the server's client check can fail.
    let client = client_config(root.cert_pem(), &rogue.cert_pem, &rogue.key_pem).expect("client");
    let (s, _) = handshake(server, client).await;
    assert!(s.is_err(), "server accepted a foreign client cert: {s:?}");
}

#[tokio::test]
async fn server_from_another_ca_is_refused_by_client() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let rogue_root = RootCa::generate(SystemTime::now()).expect("rogue root");
    let rogue_mgr = node(&rogue_root, "mgr9", Role::Manager);
    let worker = node(&root, "wrk1", Role::Worker);
    let server = server_config(
        rogue_root.cert_pem(),
        &rogue_mgr.cert_pem,
        &rogue_mgr.key_pem,
    )
    .expect("server");
    let client = client_config(root.cert_pem(), &worker.cert_pem, &worker.key_pem).expect("client");
    let (_, c) = handshake(server, client).await;
    assert!(c.is_err());
}

#[tokio::test]
async fn worker_cert_is_not_a_manager_server() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let worker_as_server = node(&root, "wrk2", Role::Worker);
    let worker = node(&root, "wrk1", Role::Worker);
    let server = server_config(
        root.cert_pem(),
        &worker_as_server.cert_pem,
        &worker_as_server.key_pem,
    )
    .expect("server");
    let client = client_config(root.cert_pem(), &worker.cert_pem, &worker.key_pem).expect("client");
    let (_, c) = handshake(server, client).await;
    assert!(
        c.is_err(),
        "client accepted a worker cert for swarm-manager"
    );
}

#[tokio::test]
async fn pinned_client_accepts_only_the_pinned_root() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let manager = node(&root, "mgr1", Role::Manager);
    let server =
        server_config_allow_anonymous(root.cert_pem(), &manager.cert_pem, &manager.key_pem)
            .expect("server");

    let (s, c) = handshake(
        server.clone(),
        pinned_client_config(root.digest()).expect("pinned"),
    )
    .await;
    c.expect("pinned client with the right digest");
    assert_eq!(
        s.expect("server side"),
        None,
        "bootstrap client has no cert"
    );

    let (_, c) = handshake(server, pinned_client_config([0u8; 32]).expect("pinned")).await;
    assert!(c.is_err());
}

#[tokio::test]
async fn strict_server_refuses_a_client_without_certificate() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let manager = node(&root, "mgr1", Role::Manager);
    let server =
        server_config(root.cert_pem(), &manager.cert_pem, &manager.key_pem).expect("server");
    let (s, _) = handshake(server, pinned_client_config(root.digest()).expect("pinned")).await;
    assert!(s.is_err());
}

#[tokio::test]
async fn anonymous_server_still_checks_presented_client_certs() {
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let rogue_root = RootCa::generate(SystemTime::now()).expect("rogue root");
    let manager = node(&root, "mgr1", Role::Manager);
    let rogue = node(&rogue_root, "wrk9", Role::Manager);
    let worker = node(&root, "wrk1", Role::Worker);
    let server =
        server_config_allow_anonymous(root.cert_pem(), &manager.cert_pem, &manager.key_pem)
            .expect("server");
    let bad = client_config(root.cert_pem(), &rogue.cert_pem, &rogue.key_pem).expect("client");
    let (s, _) = handshake(server.clone(), bad).await;
    assert!(s.is_err());
    let good = client_config(root.cert_pem(), &worker.cert_pem, &worker.key_pem).expect("client");
    let (s, c) = handshake(server, good).await;
    c.expect("client");
    assert_eq!(s.expect("server").expect("peer").node_id, "wrk1");
}

#[tokio::test]
async fn pinned_client_refuses_a_replayed_root_cert() {
    // An impostor presents the real (public) root certificate in its chain, but
    // its own leaf is signed by a different CA.
    let root = RootCa::generate(SystemTime::now()).expect("root");
    let rogue_root = RootCa::generate(SystemTime::now()).expect("rogue root");
    let impostor = node(&rogue_root, "mgr9", Role::Manager);
    let chain = format!("{}{}", impostor.cert_pem, root.cert_pem());
    let server = server_config_allow_anonymous(rogue_root.cert_pem(), &chain, &impostor.key_pem)
        .expect("server");
    let (_, c) = handshake(server, pinned_client_config(root.digest()).expect("pinned")).await;
    assert!(c.is_err());
}

#[test]
fn peer_identity_needs_a_certificate() {
    assert!(peer_identity(&[]).is_err());
}
