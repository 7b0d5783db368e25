//! Swarm network objects: create with allocated subnets and VXLAN ids, list with filters,
//! inspect, remove; names in service specs resolved to ids; removal refused while in use.
//! Through the shoal CLI, the docker CLI and the raw API. (The data plane is not built yet.)

use serde_json::Value;
use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{ApiResponse, TestDaemon};
use std::collections::BTreeSet;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");

/// A swarm of one; dropping it kills the daemon, then removes the containers it started.
struct Swarm {
    d: TestDaemon,
    node_id: String,
}

impl std::ops::Deref for Swarm {
    type Target = TestDaemon;
    fn deref(&self) -> &TestDaemon {
        &self.d
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        // Teardown: failures only leave a process or containers for the next clean-up.
        let _ = self.d.signal_and_wait(nix::sys::signal::Signal::SIGKILL);
        shoal_testkit::image::sweep_node_containers(&self.node_id, 3);
    }
}

fn swarm() -> anyhow::Result<Swarm> {
    let d = TestDaemon::start(BIN)?;
    d.shoal(&["swarm", "init"]).ok()?;
    let node_id = d.api("GET", "/info", None)?.json()?["Swarm"]["NodeID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok(Swarm { d, node_id })
}

fn create(d: &TestDaemon, body: &str) -> anyhow::Result<ApiResponse> {
    d.api("POST", "/v1.44/networks/create", Some(body))
}

fn subnet(net: &Value) -> String {
    net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn networks_are_created_listed_inspected_and_removed_with_the_shoal_cli() -> anyhow::Result<()> {
    let d = swarm()?;
    let id = d
        .shoal(&["network", "create", "front"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 25, "prints the id: {id}");
    d.shoal(&[
        "network",
        "create",
        "--attachable",
        "--subnet",
        "192.168.90.0/24",
        "--gateway",
        "192.168.90.254",
        "--label",
        "team=web",
        "--opt",
        "encrypted",
        "back",
    ])
    .ok()?;

    let ls = d.shoal(&["network", "ls"]).ok()?;
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert_eq!(lines[0], "NETWORK ID     NAME      DRIVER    SCOPE");
    assert!(
        lines[1].contains("back") && lines[1].ends_with("overlay   swarm"),
        "{}",
        ls.stdout
    );
    assert!(
        lines[2].starts_with(&id[..12]) && lines[2].contains("front"),
        "{}",
        ls.stdout
    );
    let q = d
        .shoal(&["network", "ls", "-q", "--filter", "label=team=web"])
        .ok()?;
    assert_eq!(q.stdout.lines().count(), 1, "{}", q.stdout);

    let inspect = d.shoal(&["network", "inspect", "back"]).ok()?;
    let nets: Value = serde_json::from_str(&inspect.stdout)?;
    let back = &nets[0];
    assert_eq!(back["Name"], "back");
    assert_eq!(back["Scope"], "swarm");
    assert_eq!(back["Driver"], "overlay");
    assert_eq!(back["Attachable"], true);
    assert_eq!(back["Labels"]["team"], "web");
    assert_eq!(back["Options"]["encrypted"], "");
    assert_eq!(back["IPAM"]["Driver"], "default");
    assert_eq!(subnet(back), "192.168.90.0/24");
    assert_eq!(back["IPAM"]["Config"][0]["Gateway"], "192.168.90.254");
    assert_eq!(back["Containers"], serde_json::json!({}));
    assert!(back["Id"].is_string() && back.get("ID").is_none());
    let front = d.api(
        "GET",
        &format!("/v1.44/networks/{}?scope=swarm", &id[..6]),
        None,
    )?;
    assert_eq!(front.status, 200, "by id prefix: {}", front.text());
    assert_eq!(front.json()?["Name"], "front");

    let dup = d.shoal(&["network", "create", "front"]).failed()?;
    assert_eq!(
        dup.stderr.trim(),
        "Error response from daemon: network with name front already exists"
    );
    let r = create(&d, r#"{"Name":"front","Driver":"overlay"}"#)?;
    assert_eq!(r.status, 409, "{}", r.text());
    let r = create(
        &d,
        r#"{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.0.0.300/24"}]}}"#,
    )?;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()?["message"], "invalid subnet 10.0.0.300/24");
    let r = create(
        &d,
        r#"{"Name":"clash","IPAM":{"Config":[{"Subnet":"192.168.90.128/25"}]}}"#,
    )?;
    assert_eq!(r.status, 400, "overlapping subnet: {}", r.text());

    let rm = d.shoal(&["network", "rm", "front", "back"]).ok()?;
    assert_eq!(rm.stdout, "front\nback\n");
    let gone = d.shoal(&["network", "inspect", "front"]).failed()?;
    assert!(
        gone.stderr.contains("network front not found"),
        "{}",
        gone.stderr
    );
    d.shoal(&["network", "rm", "-f", "front"]).ok()?;
    assert_eq!(d.shoal(&["network", "ls", "-q"]).ok()?.stdout, "");
    Ok(())
}

#[test]
fn subnets_come_from_the_default_pool_and_vnis_are_unique() -> anyhow::Result<()> {
    let d = swarm()?;
    let r = create(
        &d,
        r#"{"Name":"fixed","IPAM":{"Config":[{"Subnet":"10.0.1.0/24"}]}}"#,
    )?;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()?["Warning"], "");
    for name in ["a", "b", "c"] {
        let r = create(
            &d,
            &format!(r#"{{"Name":"{name}","Driver":"overlay","IPAM":null}}"#),
        )?;
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.json()?["Id"].is_string());
    }
    let nets = d.api("GET", "/v1.44/networks", None)?.json()?;
    let by_name = |n: &str| {
        nets.as_array()
            .into_iter()
            .flatten()
            .find(|x| x["Name"] == n)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(subnet(&by_name("a")), "10.0.0.0/24");
    assert_eq!(subnet(&by_name("b")), "10.0.2.0/24", "10.0.1.0/24 is taken");
    assert_eq!(subnet(&by_name("c")), "10.0.3.0/24");
    assert_eq!(by_name("a")["IPAM"]["Config"][0]["Gateway"], "10.0.0.1");
    let vnis: BTreeSet<String> = ["fixed", "a", "b", "c"]
        .iter()
        .map(|n| {
            by_name(n)["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        vnis,
        ["4096", "4097", "4098", "4099"].map(String::from).into()
    );
    let bad = d.api(
        "GET",
        "/v1.44/networks?filters=%7B%22foo%22%3A%7B%22x%22%3Atrue%7D%7D",
        None,
    )?;
    assert_eq!(bad.status, 400);
    Ok(())
}

#[test]
fn a_network_in_use_by_a_service_cannot_be_removed() -> anyhow::Result<()> {
    ensure_busybox()?;
    let d = swarm()?;
    let net_id = d
        .shoal(&["network", "create", "appnet"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    d.shoal(&["network", "create", "spare"]).ok()?;
    let svc = d
        .shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            "web",
            "--network",
            "appnet",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ])
        .ok()?;
    let svc_id = svc.stdout.trim().to_string();
    let spec = d.api("GET", "/v1.44/services/web", None)?.json()?;
    assert_eq!(
        spec["Spec"]["TaskTemplate"]["Networks"][0]["Target"],
        net_id.as_str(),
        "the name in the spec is resolved to the id"
    );

    let refused = d.api("DELETE", "/v1.44/networks/appnet", None)?;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let msg = refused.json()?["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.ends_with(&format!("network {net_id} is in use by service {svc_id}")),
        "{msg}"
    );
    let dangling = d.api(
        "GET",
        "/v1.44/networks?filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D",
        None,
    )?;
    let names: Vec<String> = dangling
        .json()?
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["Name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["spare"]);

    let unknown = d
        .shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            "lost",
            "--network",
            "nope",
            "shoal-test/busybox:latest",
            "sleep",
            "1",
        ])
        .failed()?;
    assert!(
        unknown.stderr.contains("network nope not found"),
        "{}",
        unknown.stderr
    );

    d.shoal(&["service", "rm", "web"]).ok()?;
    let removed = d.api("DELETE", "/v1.44/networks/appnet", None)?;
    assert_eq!(removed.status, 204, "{}", removed.text());
    let gone = d.api("GET", "/v1.44/networks/appnet", None)?;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()?["message"], "network appnet not found");
    Ok(())
}

#[test]
fn the_docker_cli_manages_shoal_networks() -> anyhow::Result<()> {
    let d = swarm()?;
    let id = d
        .docker(&[
            "network",
            "create",
            "-d",
            "overlay",
            "--attachable",
            "--subnet",
            "10.20.0.0/16",
            "dnet",
        ])
        .ok()?
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 25, "{id}");
    let ls = d.docker(&["network", "ls"]).ok()?;
    assert!(
        ls.stdout.contains("dnet") && ls.stdout.contains("overlay   swarm"),
        "{}",
        ls.stdout
    );
    let f = d
        .docker(&[
            "network",
            "ls",
            "--filter",
            "driver=overlay",
            "--format",
            "{{.Name}}",
        ])
        .ok()?;
    assert_eq!(f.stdout, "dnet\n");
    let inspect = d
        .docker(&[
            "network",
            "inspect",
            "--format",
            "{{.Scope}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            "dnet",
        ])
        .ok()?;
    assert_eq!(inspect.stdout.trim(), "swarm 10.20.0.0/16 10.20.0.1");
    let dup = d
        .docker(&["network", "create", "-d", "overlay", "dnet"])
        .failed()?;
    assert!(
        dup.stderr.contains("network with name dnet already exists"),
        "{}",
        dup.stderr
    );
    let rm = d.docker(&["network", "rm", "dnet"]).ok()?;
    assert_eq!(rm.stdout.trim(), "dnet");
    Ok(())
}

#[test]
fn a_stack_joins_an_external_network_and_leaves_it_in_place() -> anyhow::Result<()> {
    ensure_busybox()?;
    let d = swarm()?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("ext.yml");
    std::fs::write(
        &file,
        "services:\n  app:\n    image: shoal-test/busybox:latest\n    command: [sleep, \"3600\"]\n    networks: [shared]\nnetworks:\n  shared:\n    external: true\n",
    )?;
    let file = file.to_string_lossy();
    let missing = d.shoal(&["stack", "deploy", "-c", &file, "ext"]).failed()?;
    assert_eq!(
        missing.stderr.lines().last().unwrap_or_default(),
        "network \"shared\" is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed"
    );
    let services = d.api("GET", "/v1.44/services", None)?.json()?;
    assert_eq!(services, serde_json::json!([]), "nothing was created");

    let id = d
        .shoal(&["network", "create", "shared"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let out = d.shoal(&["stack", "deploy", "-c", &file, "ext"]).ok()?;
    assert!(!out.stdout.contains("Creating network"), "{}", out.stdout);
    let svc = d.api("GET", "/v1.44/services/ext_app", None)?.json()?;
    assert_eq!(
        svc["Spec"]["TaskTemplate"]["Networks"][0]["Target"],
        id.as_str()
    );
    let rm = d.shoal(&["stack", "rm", "ext"]).ok()?;
    assert_eq!(rm.stdout, "Removing service ext_app\n");
    assert_eq!(d.api("GET", "/v1.44/networks/shared", None)?.status, 200);
    Ok(())
}
