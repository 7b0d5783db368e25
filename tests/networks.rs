//! Swarm network objects: create (allocated by the leader's allocator), list with filters,
//! inspect, remove; names in service specs resolved to ids; removal refused while in use; the
//! ingress network; task addresses, service VIPs and published ports; concurrent creates on
//! two managers. Through the shoal CLI, the docker CLI and the raw API.

use serde_json::Value;
use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{ApiResponse, TestCluster, TestDaemon, get_json, wait_for};
use std::collections::BTreeSet;
use std::time::Duration;

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
    let left = d.shoal(&["network", "ls", "--format", "{{.Name}}"]).ok()?;
    assert_eq!(left.stdout, "ingress\n", "only the ingress network is left");
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
    assert_eq!(subnet(&by_name("ingress")), "10.0.0.0/24");
    assert_eq!(subnet(&by_name("a")), "10.0.2.0/24", "10.0.1.0/24 is taken");
    assert_eq!(subnet(&by_name("b")), "10.0.3.0/24");
    assert_eq!(subnet(&by_name("c")), "10.0.4.0/24");
    assert_eq!(by_name("a")["IPAM"]["Config"][0]["Gateway"], "10.0.2.1");
    let vnis: BTreeSet<String> = ["ingress", "fixed", "a", "b", "c"]
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
        ["4096", "4097", "4098", "4099", "4100"]
            .map(String::from)
            .into()
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
    assert_eq!(names, ["ingress", "spare"], "no service publishes a port");

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
    assert_eq!(f.stdout, "dnet\ningress\n");
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

fn json_of(cli: shoal_testkit::Cli) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&cli.ok()?.stdout)?)
}

#[test]
fn the_ingress_network_is_made_at_init_and_recreated_with_create_ingress() -> anyhow::Result<()> {
    ensure_busybox()?;
    let d = swarm()?;
    let ing = &json_of(d.shoal(&["network", "inspect", "ingress"]))?[0];
    assert_eq!(ing["Ingress"], true);
    assert_eq!(ing["Driver"], "overlay");
    assert_eq!(subnet(ing), "10.0.0.0/24");
    assert_eq!(ing["IPAM"]["Config"][0]["Gateway"], "10.0.0.1");
    assert_eq!(
        ing["Options"]["com.docker.network.driver.overlay.vxlanid_list"],
        "4096"
    );
    let second = d
        .shoal(&["network", "create", "--ingress", "ing2"])
        .failed()?;
    assert!(
        second.stderr.contains("ingress network") && second.stderr.contains("is already present"),
        "{}",
        second.stderr
    );
    d.shoal(&[
        "service",
        "create",
        "-d",
        "--name",
        "pub",
        "-p",
        "8080:80",
        "shoal-test/busybox:latest",
        "sleep",
        "3600",
    ])
    .ok()?;
    let refused = d.shoal(&["network", "rm", "ingress"]).failed()?;
    assert!(
        refused
            .stderr
            .contains("ingress network cannot be removed because service"),
        "{}",
        refused.stderr
    );
    d.shoal(&["service", "rm", "pub"]).ok()?;
    d.shoal(&["network", "rm", "ingress"]).ok()?;
    let no_mesh = d
        .shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            "pub",
            "-p",
            "8080:80",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ])
        .failed()?;
    assert!(
        no_mesh
            .stderr
            .contains("service needs ingress network, but no ingress network is present"),
        "{}",
        no_mesh.stderr
    );
    d.shoal(&[
        "network",
        "create",
        "--ingress",
        "--subnet",
        "10.11.0.0/24",
        "mesh",
    ])
    .ok()?;
    let mesh = &json_of(d.shoal(&["network", "inspect", "mesh"]))?[0];
    assert_eq!(mesh["Ingress"], true);
    assert_eq!(subnet(mesh), "10.11.0.0/24");
    Ok(())
}

#[test]
fn services_get_task_addresses_vips_and_published_ports() -> anyhow::Result<()> {
    ensure_busybox()?;
    let d = swarm()?;
    let net_id = d
        .shoal(&["network", "create", "--subnet", "10.30.0.0/24", "appnet"])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let web_id = d
        .shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            "web",
            "--replicas",
            "2",
            "--network",
            "appnet",
            "-p",
            "8080:80",
            "-p",
            "443",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ])
        .ok()?
        .stdout
        .trim()
        .to_string();
    let svc = wait_for(
        "web's endpoint to be allocated",
        Duration::from_secs(10),
        || {
            let s = &json_of(d.shoal(&["service", "inspect", "web"])).ok()?[0];
            (s["Endpoint"]["VirtualIPs"].as_array()?.len() == 2).then(|| s.clone())
        },
    )?;
    let ep = &svc["Endpoint"];
    assert_eq!(ep["Spec"]["Mode"], "vip");
    assert_eq!(ep["VirtualIPs"][0]["Addr"], "10.0.0.2/24", "ingress first");
    assert_eq!(ep["VirtualIPs"][1]["NetworkID"], net_id.as_str());
    assert_eq!(ep["VirtualIPs"][1]["Addr"], "10.30.0.2/24");
    assert_eq!(ep["Ports"][0]["PublishedPort"], 8080);
    assert_eq!(ep["Ports"][0]["PublishMode"], "ingress");
    assert_eq!(ep["Ports"][1]["TargetPort"], 443);
    assert_eq!(ep["Ports"][1]["PublishedPort"], 30000, "first dynamic port");
    let ls = d.shoal(&["service", "ls", "--format", "{{.Ports}}"]).ok()?;
    assert_eq!(ls.stdout.trim(), "*:8080->80/tcp, *:30000->443/tcp");

    // Every task has an address in the network's subnet, then one on ingress.
    let tasks = wait_for("2 allocated tasks", Duration::from_secs(10), || {
        let t = d.api("GET", "/v1.44/tasks", None).ok()?.json().ok()?;
        let t = t.as_array()?.clone();
        (t.len() == 2
            && t.iter().all(|x| {
                x["NetworksAttachments"]
                    .as_array()
                    .is_some_and(|a| a.len() == 2)
            }))
        .then_some(t)
    })?;
    let mut addrs = BTreeSet::new();
    for t in &tasks {
        let a = &t["NetworksAttachments"];
        assert_eq!(a[0]["NetworkID"], net_id.as_str());
        let addr = a[0]["Addresses"][0].as_str().unwrap_or_default();
        assert!(
            addr.starts_with("10.30.0.") && addr.ends_with("/24"),
            "{addr}"
        );
        assert!(
            a[1]["Addresses"][0]
                .as_str()
                .unwrap_or_default()
                .starts_with("10.0.0.")
        );
        addrs.insert(addr.to_string());
        assert_eq!(t["Endpoint"]["Ports"][0]["PublishedPort"], 8080);
    }
    assert_eq!(addrs.len(), 2, "distinct addresses: {addrs:?}");

    // A port another service publishes is refused with swarmkit's words.
    let clash = d
        .docker(&[
            "service",
            "create",
            "-d",
            "--name",
            "api",
            "-p",
            "8080:80",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ])
        .failed()?;
    assert!(
        clash.stderr.contains(&format!(
            "port '8080' is already in use by service 'web' ({web_id}) as an ingress port"
        )),
        "{}",
        clash.stderr
    );
    let docker_ls = d
        .docker(&["service", "ls", "--format", "{{.Ports}}"])
        .ok()?;
    assert_eq!(docker_ls.stdout.trim(), "*:8080->80/tcp, *:30000->443/tcp");
    Ok(())
}

#[test]
fn concurrent_creates_on_two_managers_never_share_a_subnet_or_vni() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 2, 0, &[])?;
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .flat_map(|m| (0..4).map(move |i| (m, i)))
            .map(|(m, i)| {
                let d = c.manager(m);
                scope.spawn(move || {
                    let body = format!(r#"{{"Name":"m{m}n{i}","Driver":"overlay"}}"#);
                    d.api("POST", "/v1.44/networks/create", Some(&body))
                        .map(|r| r.status)
                        .unwrap_or(0)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).collect()
    });
    assert!(
        statuses.iter().all(|s| *s == 201),
        "{statuses:?}\n{}",
        c.logs()
    );
    let nets = wait_for("9 allocated networks", Duration::from_secs(10), || {
        let nets = get_json(c.manager(1), "/v1.44/networks").ok()?;
        let nets = nets.as_array()?.clone();
        (nets.len() == 9 && nets.iter().all(|n| !subnet(n).is_empty())).then_some(nets)
    })?;
    let subnets: BTreeSet<String> = nets.iter().map(subnet).collect();
    let vnis: BTreeSet<String> = nets
        .iter()
        .map(|n| {
            n["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(subnets.len(), 9, "distinct subnets: {subnets:?}");
    assert_eq!(vnis.len(), 9, "distinct VNIs: {vnis:?}");
    Ok(())
}

#[test]
fn swarm_init_sets_the_default_address_pool() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    d.shoal(&[
        "swarm",
        "init",
        "--default-addr-pool",
        "10.20.0.0/16",
        "--default-addr-pool-mask-length",
        "26",
    ])
    .ok()?;
    let ing = &json_of(d.shoal(&["network", "inspect", "ingress"]))?[0];
    assert_eq!(
        subnet(ing),
        "10.20.0.0/26",
        "ingress comes from the pool too"
    );
    d.shoal(&["network", "create", "small"]).ok()?;
    let small = &json_of(d.shoal(&["network", "inspect", "small"]))?[0];
    assert_eq!(subnet(small), "10.20.0.64/26");
    assert_eq!(small["IPAM"]["Config"][0]["Gateway"], "10.20.0.65");
    Ok(())
}
