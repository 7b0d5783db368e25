//! Root CA rotation (`swarm ca --rotate`) on a running cluster, and a sole manager renewing
//! its own certificate. Real daemons on loopback addresses, as in `tests/cluster.rs`.

use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{Cli, TestCluster, TestDaemon, get_json, next_addr, wait_until};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(60);
/// A rotation that does not converge within this is a failure, not a hang.
const ROTATE_TIMEOUT_SECS: &str = "150";

fn with_logs<T>(c: &TestCluster, r: anyhow::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))
}

/// `shoal args…` against `d`, killed after [`ROTATE_TIMEOUT_SECS`].
fn shoal_timed(d: &TestDaemon, args: &[&str]) -> Cli {
    let mut cmd = Command::new("timeout");
    cmd.arg(ROTATE_TIMEOUT_SECS)
        .arg(BIN)
        .arg("-H")
        .arg(&d.socket)
        .args(args);
    Cli::run(cmd, format!("shoal {}", args.join(" ")))
}

/// `docker args…` against `d`, killed after [`ROTATE_TIMEOUT_SECS`].
fn docker_timed(d: &TestDaemon, args: &[&str]) -> Cli {
    let mut cmd = Command::new("timeout");
    cmd.arg(ROTATE_TIMEOUT_SECS)
        .arg("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env_remove("DOCKER_CONTEXT")
        .args(args);
    Cli::run(cmd, format!("docker {}", args.join(" ")))
}

fn swarm(d: &TestDaemon) -> anyhow::Result<serde_json::Value> {
    get_json(d, "/v1.44/swarm")
}

fn certs_dir(d: &TestDaemon) -> std::path::PathBuf {
    d.data_root.join("swarm").join("certificates")
}

fn read(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("read {}: {e}", p.display()))
}

/// The ids of the running tasks of `service`, as node `via` sees them.
fn running_tasks(c: &TestCluster, via: usize, service: &str) -> BTreeSet<String> {
    let path = format!("/v1.44/tasks?filters=%7B%22service%22%3A%7B%22{service}%22%3Atrue%7D%7D");
    get_json(&c.nodes[via], &path)
        .ok()
        .and_then(|t| t.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|t| t["Status"]["State"] == "running" && t["DesiredState"] == "running")
        .filter_map(|t| t["ID"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn rotating_the_root_ca_keeps_the_cluster_running_and_replaces_the_root_and_tokens()
-> anyhow::Result<()> {
    ensure_busybox()?;
    let c = TestCluster::start(BIN, 3, 1, &[])?;
    let leader = c.wait_leader(CONVERGE)?;
    let follower = (leader + 1) % 3;
    let r = c.manager(follower).shoal(&[
        "service",
        "create",
        "-d",
        "--name",
        "steady",
        "--replicas",
        "4",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ]);
    r.ok()?;
    let mut tasks = BTreeSet::new();
    let r = wait_until("4 running tasks of steady", CONVERGE, || {
        tasks = running_tasks(&c, follower, "steady");
        tasks.len() == 4
    });
    with_logs(&c, r)?;
    let before = swarm(c.manager(0))?;
    let old_root = before["TLSInfo"]["TrustRoot"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(old_root.contains("BEGIN CERTIFICATE"), "{before}");
    assert_eq!(before["RootRotationInProgress"], false);
    let old_worker_token = before["JoinTokens"]["Worker"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Rotate through the leader while writing through a follower.
    let (rotated, written) = std::thread::scope(|s| {
        let rot = s.spawn(|| shoal_timed(c.manager(leader), &["swarm", "ca", "--rotate"]));
        let mut written = Vec::new();
        let mut i = 0;
        while !rot.is_finished() {
            let name = format!("during{i}");
            let out = c.manager(follower).create_empty_service(&name);
            assert_eq!(out.code, 0, "write during rotation: {}", out.stderr);
            written.push(name);
            i += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        (rot.join(), written)
    });
    let rotated = rotated.map_err(|_| anyhow::anyhow!("rotation thread panicked"))?;
    let rotated = with_logs(&c, rotated.ok())?;
    assert!(!written.is_empty(), "no write happened during the rotation");
    eprintln!(
        "rotation output:\n{}\n{} writes during it",
        rotated.stdout,
        written.len()
    );

    let after = swarm(c.manager(follower))?;
    let new_root = after["TLSInfo"]["TrustRoot"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(new_root, old_root, "the root changed");
    assert_eq!(after["RootRotationInProgress"], false);
    assert!(
        rotated.stdout.trim_end().ends_with(new_root.trim()),
        "`swarm ca --rotate` ends with the new root:\n{}",
        rotated.stdout
    );
    assert!(rotated.stdout.contains("rotated TLS certificates"));

    // Every node holds a certificate of the new root and trusts only it, by the API and on disk.
    for i in 0..3 {
        let sw = swarm(c.manager(i))?;
        assert_eq!(sw["TLSInfo"], after["TLSInfo"], "manager {i}");
        for n in c.nodes_on(i)? {
            let t = &n["Description"]["TLSInfo"];
            assert_eq!(t["TrustRoot"], new_root.as_str(), "node {}", n["ID"]);
            assert_eq!(
                t["CertIssuerPublicKey"], after["TLSInfo"]["CertIssuerPublicKey"],
                "node {}",
                n["ID"]
            );
        }
    }
    let r = wait_until(
        "every node to trust only the new root on disk",
        CONVERGE,
        || {
            c.nodes.iter().all(|d| {
                read(&certs_dir(d).join("swarm-root-ca.crt"))
                    .is_ok_and(|r| shoal_ca::normalize_pem(&r).ok().as_deref() == Some(&new_root))
            })
        },
    );
    with_logs(&c, r)?;
    for d in &c.nodes {
        let chain = read(&certs_dir(d).join("swarm-node.crt"))?;
        assert!(
            shoal_ca::issued_by(&chain, &new_root)?,
            "{} holds a certificate of the new root",
            d.listen_addr
        );
    }

    // The service never restarted, and writes through a follower still work.
    assert_eq!(running_tasks(&c, follower, "steady"), tasks);
    c.manager(follower).create_empty_service("after").ok()?;
    let names: BTreeSet<String> = get_json(c.manager(leader), "/v1.44/services")?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Spec"]["Name"].as_str().map(str::to_string))
        .collect();
    for w in written.iter().chain(std::iter::once(&"after".to_string())) {
        assert!(names.contains(w), "{w} missing: {names:?}");
    }

    // The old join token is refused; the new one joins a fresh node.
    let new_worker_token = after["JoinTokens"]["Worker"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(new_worker_token, old_worker_token);
    let fresh = TestDaemon::start_at(BIN, &next_addr())?;
    let join = |token: &str| {
        fresh.shoal(&[
            "swarm",
            "join",
            "--token",
            token,
            "--listen-addr",
            &fresh.listen_addr,
            "--advertise-addr",
            &fresh.listen_addr,
            &c.manager(follower).listen_addr,
        ])
    };
    let out = join(&old_worker_token).failed()?;
    assert!(
        out.stderr.contains("Root CA") || out.stderr.contains("valid join token"),
        "{}",
        out.stderr
    );
    join(&new_worker_token).ok()?;
    let chain = read(&certs_dir(&fresh).join("swarm-node.crt"))?;
    assert!(shoal_ca::issued_by(&chain, &new_root)?);
    let fresh_id = get_json(&fresh, "/v1.44/info")?["Swarm"]["NodeID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = wait_until("the freshly joined node to be Ready", CONVERGE, || {
        get_json(c.manager(leader), &format!("/v1.44/nodes/{fresh_id}"))
            .is_ok_and(|n| n["Status"]["State"] == "ready")
    });
    let r = r.map_err(|e| anyhow::anyhow!("{e}\nfresh node log:\n{}", fresh.log()));
    with_logs(&c, r)?;
    shoal_testkit::image::remove_node_containers(&fresh_id);

    // The docker CLI prints the root.
    let out = c.manager(follower).docker(&["swarm", "ca"]).ok()?;
    assert_eq!(out.stdout.trim(), new_root.trim());
    Ok(())
}

#[test]
fn a_sole_manager_renews_its_own_certificate_and_rotates_its_root_with_the_docker_cli()
-> anyhow::Result<()> {
    let mut d = TestDaemon::start_at(BIN, &next_addr())?;
    d.signal_and_wait(nix::sys::signal::Signal::SIGKILL)?;
    d.extra_args = vec!["--cert-renew-after".into(), "2s".into()];
    d.restart()?;
    d.shoal(&["swarm", "init", "--cert-expiry", "1h"]).ok()?;
    let cert_path = certs_dir(&d).join("swarm-node.crt");
    let first = read(&cert_path)?;
    let info = shoal_ca::CertInfo::parse(&first)?;
    assert_eq!(
        info.not_after.duration_since(info.not_before)?,
        Duration::from_secs(2 * 3600),
        "1h validity, backdated 1h"
    );
    let mut seen = vec![first];
    for round in 0..2 {
        let r = wait_until(
            &format!("renewal {} of the sole manager's certificate", round + 1),
            CONVERGE,
            || read(&cert_path).is_ok_and(|c| !seen.contains(&c)),
        );
        r.map_err(|e| anyhow::anyhow!("{e}\n{}", d.log()))?;
        seen.push(read(&cert_path)?);
    }
    assert!(d.log().contains("renewed (signed locally)"), "{}", d.log());
    let renewed = shoal_ca::CertInfo::parse(seen.last().map_or("", String::as_str))?;
    assert_eq!(renewed.role, shoal_ca::Role::Manager);
    assert_eq!(renewed.node_id, info.node_id);
    // The node still serves and writes.
    d.shoal(&["node", "ls"]).ok()?;
    d.create_empty_service("afterrenewal").ok()?;

    // `docker swarm ca --rotate` on a single manager converges and prints the new root.
    let old_root = swarm(&d)?["TLSInfo"]["TrustRoot"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let out = docker_timed(&d, &["swarm", "ca", "--rotate"]);
    let out = out
        .ok()
        .map_err(|e| anyhow::anyhow!("{e}\ndaemon log:\n{}", d.log()))?;
    let sw = swarm(&d)?;
    let new_root = sw["TLSInfo"]["TrustRoot"].as_str().unwrap_or_default();
    assert_ne!(new_root, old_root);
    assert!(
        out.stdout.trim_end().ends_with(new_root.trim()),
        "docker prints the new root last:\n{}",
        out.stdout
    );
    let chain = read(&cert_path)?;
    assert!(shoal_ca::issued_by(&chain, new_root)?);
    // Bad input changes nothing.
    let out = d
        .shoal(&["swarm", "ca", "--ca-cert", "/nonexistent"])
        .failed()?;
    assert!(out.stderr.contains("--rotate"), "{}", out.stderr);
    let key = certs_dir(&d).join("swarm-root-ca.crt");
    let out = d
        .shoal(&[
            "swarm",
            "ca",
            "--rotate",
            "--ca-cert",
            key.to_str().unwrap_or_default(),
        ])
        .failed()?;
    assert!(out.stderr.contains("--ca-key"), "{}", out.stderr);
    assert_eq!(swarm(&d)?["TLSInfo"], sw["TLSInfo"]);

    // `--ca-cert/--ca-key`: a key that does not match is refused and changes nothing; a
    // matching pair becomes the root.
    let mine = shoal_ca::RootCa::generate(std::time::SystemTime::now())?;
    let other = shoal_ca::RootCa::generate(std::time::SystemTime::now())?;
    let (cert_file, key_file, bad_key) = (
        d.dir.path().join("ca.crt"),
        d.dir.path().join("ca.key"),
        d.dir.path().join("other.key"),
    );
    std::fs::write(&cert_file, mine.cert_pem())?;
    std::fs::write(&key_file, mine.key_pem())?;
    std::fs::write(&bad_key, other.key_pem())?;
    let path = |p: &Path| p.to_str().unwrap_or_default().to_string();
    let out = d
        .shoal(&[
            "swarm",
            "ca",
            "--rotate",
            "--ca-cert",
            &path(&cert_file),
            "--ca-key",
            &path(&bad_key),
        ])
        .failed()?;
    assert!(out.stderr.contains("key does not match"), "{}", out.stderr);
    assert_eq!(swarm(&d)?["TLSInfo"], sw["TLSInfo"], "nothing changed");
    let out = shoal_timed(
        &d,
        &[
            "swarm",
            "ca",
            "--rotate",
            "-q",
            "--ca-cert",
            &path(&cert_file),
            "--ca-key",
            &path(&key_file),
        ],
    )
    .ok()
    .map_err(|e| anyhow::anyhow!("{e}\ndaemon log:\n{}", d.log()))?;
    assert_eq!(out.stdout, mine.cert_pem(), "-q prints only the new root");
    assert!(shoal_ca::issued_by(&read(&cert_path)?, mine.cert_pem())?);
    d.shoal(&["swarm", "leave", "--force"]).ok()?;
    Ok(())
}
