//! Service discovery and VIP load balancing on three test hosts (one manager, two workers),
//! driven through the docker CLI: service names, stack names and aliases resolve to the VIP,
//! `tasks.<service>` to the ready tasks, `dnsrr` to task addresses; names are scoped to the
//! networks a service is on; requests to a name reach every task on every host; a killed task
//! leaves the answers within 0.5 s, new tasks get traffic within 1 s, a start-first update
//! loses no request; names the swarm does not own are forwarded upstream; and a five-service
//! voting-style stack works by service names only.

mod net_support;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use net_support::*;
use shoal_testkit::image::BUSYBOX;
use shoal_testkit::{TestHosts, wait_for, wait_until};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

/// Docker's measured time for a stopped task to leave the answers is 0.31 s; shoal's bound.
const LEAVE_ANSWERS: Duration = Duration::from_millis(500);
/// A new task must get traffic within this long of being running.
const NEW_TASK_TRAFFIC: Duration = Duration::from_secs(1);
/// How long names may take to appear after the tasks run (first assignment round).
const NAMES_SETTLE: Duration = Duration::from_secs(15);

/// Waits until `name`, asked from the container `from` through Docker's 127.0.0.11, answers
/// exactly `want`.
fn wait_answer(from: &TaskBox, name: &str, want: &[Ipv4Addr]) -> anyhow::Result<()> {
    let mut want = want.to_vec();
    want.sort();
    let mut last = None;
    let ok = wait_for(
        &format!("{name} to resolve to {want:?} in {}", from.task_name),
        NAMES_SETTLE,
        || {
            let a = resolve_in(&from.netns, DOCKER_DNS, name);
            let hit = matches!(&a, Ok(a) if a.addrs == want);
            last = Some(a);
            hit.then_some(())
        },
    );
    ok.map_err(|e| anyhow::anyhow!("{e}; last answer: {last:?}"))
}

/// Writes a compose file and deploys it with the docker CLI as stack `name`.
fn deploy_stack(hosts: &TestHosts, name: &str, compose: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("compose.yml");
    std::fs::write(&file, compose.replace("BUSYBOX", BUSYBOX))?;
    manager(hosts)
        .docker(&[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            &file.to_string_lossy(),
            name,
        ])
        .ok()?;
    Ok(())
}

const WEB_STACK: &str = r#"
version: "3.8"
services:
  web:
    image: BUSYBOX
    hostname: "{{.Task.Name}}"
    command: ["sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 80 -h /tmp"]
    deploy:
      replicas: 3
      placement:
        preferences:
          - spread: node.id
    networks:
      appnet:
        aliases: [www]
networks:
  appnet:
    external: true
"#;

#[test]
fn names_aliases_and_tasks_resolve_per_network_and_requests_reach_every_host() -> anyhow::Result<()>
{
    let hosts = swarm("disc-names")?;
    let d = manager(&hosts);
    d.docker(&["network", "create", "-d", "overlay", "appnet"])
        .ok()?;
    d.docker(&["network", "create", "-d", "overlay", "other"])
        .ok()?;
    deploy_stack(&hosts, "stack", WEB_STACK)?;
    create_web(
        d,
        "rr",
        &[
            "--network",
            "appnet",
            "--endpoint-mode",
            "dnsrr",
            "--replicas",
            "2",
            "--hostname",
            "{{.Service.Name}}-{{.Task.Slot}}",
        ],
    )?;
    create_web(d, "both", &["--network", "appnet", "--network", "other"])?;
    create_web(d, "elsewhere", &["--network", "other"])?;
    let client = create_client(&hosts, "client", 0, &["--network", "appnet"])?;
    let oclient = create_client(&hosts, "oclient", 1, &["--network", "other"])?;
    let webs = wait_running(&hosts, "stack_web", 3)?;
    let rrs = wait_running(&hosts, "rr", 2)?;
    wait_running(&hosts, "both", 1)?;
    wait_running(&hosts, "elsewhere", 1)?;
    let mut on: Vec<usize> = webs.iter().map(|b| b.host).collect();
    on.sort();
    assert_eq!(
        on,
        [0, 1, 2],
        "web's 3 tasks are not one per host: {webs:?}"
    );

    // The service name, the stack's short name and the alias: the VIP.
    let vip = service_vip(d, "stack_web", "appnet")?;
    for name in ["stack_web", "web", "www"] {
        wait_answer(&client, name, &[vip])?;
    }
    // tasks.<service>: the three task addresses (on three hosts).
    let addrs: Vec<Ipv4Addr> = webs
        .iter()
        .map(|b| container_addr(&hosts, b, "appnet"))
        .collect::<anyhow::Result<_>>()?;
    wait_answer(&client, "tasks.stack_web", &addrs)?;
    wait_answer(&client, "tasks.web", &addrs)?;
    // dnsrr: the tasks' addresses, and no VIP in inspect.
    let rr_addrs: Vec<Ipv4Addr> = rrs
        .iter()
        .map(|b| container_addr(&hosts, b, "appnet"))
        .collect::<anyhow::Result<_>>()?;
    wait_answer(&client, "rr", &rr_addrs)?;
    let rr_vips = d
        .docker(&[
            "service",
            "inspect",
            "--format",
            "{{json .Endpoint.VirtualIPs}}",
            "rr",
        ])
        .ok()?;
    assert!(
        matches!(rr_vips.stdout.trim(), "null" | "[]"),
        "a dnsrr service has VIPs: {}",
        rr_vips.stdout
    );
    // Hostnames from a template resolve to their task: rr-1 and rr-2, one address each.
    let mut by_hostname = Vec::new();
    for name in ["rr-1", "rr-2"] {
        let got = wait_for(&format!("{name} to resolve"), NAMES_SETTLE, || {
            let a = resolve_in(&client.netns, DOCKER_DNS, name).ok()?;
            (a.addrs.len() == 1).then(|| a.addrs[0])
        })?;
        by_hostname.push(got);
    }
    by_hostname.sort();
    let mut rr_sorted = rr_addrs.clone();
    rr_sorted.sort();
    assert_eq!(by_hostname, rr_sorted, "rr-1 and rr-2 are rr's two tasks");

    // `network inspect --verbose` shows the peers, each service's VIP and its tasks, and the
    // node's own containers on the network.
    let inspect = d
        .docker(&["network", "inspect", "--verbose", "appnet"])
        .ok()?;
    let inspect: serde_json::Value = serde_json::from_str(&inspect.stdout)?;
    let net = &inspect[0];
    let peers = net["Peers"].as_array().map(Vec::len).unwrap_or_default();
    assert_eq!(peers, 3, "a peer per host: {}", net["Peers"]);
    let web = &net["Services"]["stack_web"];
    assert_eq!(web["VIP"], vip.to_string(), "{web}");
    let mut shown: Vec<Ipv4Addr> = web["Tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["EndpointIP"].as_str()?.parse().ok())
        .collect();
    shown.sort();
    let mut want = addrs.clone();
    want.sort();
    assert_eq!(shown, want, "web's tasks: {web}");
    let local = net["Containers"]
        .as_object()
        .map(|c| c.len())
        .unwrap_or_default();
    assert!(
        local >= 1,
        "the client's container on host 0: {}",
        net["Containers"]
    );

    // Scoping: a name resolves only on the networks its service is on, with that network's VIP.
    let both_app = service_vip(d, "both", "appnet")?;
    let both_other = service_vip(d, "both", "other")?;
    assert_ne!(both_app, both_other);
    wait_answer(&client, "both", &[both_app])?;
    wait_answer(&oclient, "both", &[both_other])?;
    wait_answer(
        &oclient,
        "elsewhere",
        &[service_vip(d, "elsewhere", "other")?],
    )?;
    for name in ["elsewhere", "tasks.elsewhere"] {
        let a = resolve_in(&client.netns, DOCKER_DNS, name)?;
        assert!(a.addrs.is_empty(), "{name} resolves on appnet: {a:?}");
    }
    for name in ["web", "stack_web", "tasks.web", "rr"] {
        let a = resolve_in(&oclient.netns, DOCKER_DNS, name)?;
        assert!(a.addrs.is_empty(), "{name} resolves on other: {a:?}");
    }

    // 300 requests from the client task to http://web/ (busybox wget, by name): every task
    // on every host, at least 50 each.
    let script = "i=0; while [ $i -lt 300 ]; do busybox timeout 5 wget -qO- http://web/ || echo FAILED; i=$((i+1)); done";
    let out = exec_in(&hosts, &client, &["sh", "-c", script])?;
    let bodies: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(bodies.len(), 300, "{out}");
    let names: Vec<String> = webs.iter().map(|b| b.task_name.clone()).collect();
    assert_spread(&bodies, &names, 50, "300 requests to http://web/");
    // The alias reaches the same service.
    let via_alias = exec_in(&hosts, &client, &["wget", "-qO-", "http://www/"])?;
    assert!(names.contains(&via_alias.trim().to_string()), "{via_alias}");
    Ok(())
}

#[test]
fn a_killed_task_leaves_the_answers_and_new_tasks_get_traffic_at_once() -> anyhow::Result<()> {
    let hosts = swarm("disc-churn")?;
    let d = manager(&hosts);
    d.docker(&["network", "create", "-d", "overlay", "appnet"])
        .ok()?;
    create_web(
        d,
        "web",
        &[
            "--network",
            "appnet",
            "--replicas",
            "3",
            "--placement-pref",
            "spread=node.id",
        ],
    )?;
    let client = create_client(&hosts, "client", 0, &["--network", "appnet"])?;
    let webs = wait_running(&hosts, "web", 3)?;
    let addrs: Vec<Ipv4Addr> = webs
        .iter()
        .map(|b| container_addr(&hosts, b, "appnet"))
        .collect::<anyhow::Result<_>>()?;
    wait_answer(&client, "tasks.web", &addrs)?;
    let vip = service_vip(d, "web", "appnet")?;
    let target = format!("{vip}:80");
    wait_until("web's VIP to answer from the client", NAMES_SETTLE, || {
        http_many(&client.netns, &target, 1).is_ok()
    })?;

    // Kill the task on host 2: within 0.5 s it is in no answer, and from then on no request
    // through the VIP fails (no new connection goes to it).
    let victim = webs
        .iter()
        .find(|b| b.host == 2)
        .ok_or_else(|| anyhow::anyhow!("no web task on host 2: {webs:?}"))?;
    let victim_addr = container_addr(&hosts, victim, "appnet")?;
    let load = Load::start(&client.netns, &target, Duration::from_millis(5));
    std::thread::sleep(Duration::from_millis(500));
    hosts.host(2).engine_docker(&["kill", &victim.id]).ok()?;
    let t_kill = Instant::now();
    let (ns, dead) = (client.netns.clone(), victim_addr);
    let gone = time_until(
        "the killed task to leave tasks.web",
        Duration::from_secs(5),
        Duration::from_millis(10),
        move || resolve_in(&ns, DOCKER_DNS, "tasks.web").is_ok_and(|a| !a.addrs.contains(&dead)),
    )?;
    println!("killed task left tasks.web after {gone:?}");
    assert!(
        gone <= LEAVE_ANSWERS,
        "the killed task left tasks.web after {gone:?} > {LEAVE_ANSWERS:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let samples = load.stop()?;
    let late: Vec<String> = failures(
        &samples
            .into_iter()
            .filter(|s| s.start >= t_kill + LEAVE_ANSWERS)
            .collect::<Vec<_>>(),
        t_kill,
    );
    assert!(
        late.is_empty(),
        "requests failed more than {LEAVE_ANSWERS:?} after the kill: {late:?}"
    );

    // Scale to 5: each new task gets traffic within 1 s of running.
    let before: Vec<String> = wait_running(&hosts, "web", 3)?
        .into_iter()
        .map(|b| b.task_name)
        .collect();
    let load = Load::start(&client.netns, &target, Duration::from_millis(5));
    d.docker(&["service", "update", "-d", "--replicas", "5", "web"])
        .ok()?;
    let now5 = wait_running(&hosts, "web", 5)?;
    std::thread::sleep(NEW_TASK_TRAFFIC + Duration::from_millis(500));
    let samples = load.stop()?;
    for b in now5.iter().filter(|b| !before.contains(&b.task_name)) {
        let running_at = task_running_at(d, &b.task_name)?;
        let first_hit = samples
            .iter()
            .find(|s| s.result.as_deref() == Ok(b.task_name.as_str()))
            .map(|s| s.wall)
            .ok_or_else(|| anyhow::anyhow!("new task {} got no request", b.task_name))?;
        let lag = first_hit.duration_since(running_at).unwrap_or_default();
        println!("new task {} got traffic {lag:?} after running", b.task_name);
        assert!(
            lag <= NEW_TASK_TRAFFIC,
            "new task {} got its first request {lag:?} after it ran",
            b.task_name
        );
    }
    let failed = failures(&samples, samples[0].start);
    assert!(
        failed.is_empty(),
        "requests failed while scaling up: {failed:?}"
    );

    // A start-first rolling update under a steady loop: no request fails.
    let before = names_of(&wait_running(&hosts, "web", 5)?);
    let load = Load::start(&client.netns, &target, Duration::from_millis(5));
    let t0 = Instant::now();
    start_first_update(d, "web")?;
    let after = names_of(&wait_rolled(&hosts, "web", &before, 5)?);
    std::thread::sleep(Duration::from_secs(1));
    let samples = load.stop()?;
    let failed = failures(&samples, t0);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during a start-first update: {failed:?}",
        failed.len(),
        samples.len()
    );
    let last = &samples[samples.len().saturating_sub(50)..];
    let stale: Vec<&Sample> = last
        .iter()
        .filter(|s| !s.result.as_ref().is_ok_and(|n| after.contains(n)))
        .collect();
    assert!(
        stale.is_empty(),
        "requests after the update reached {:?}, not the new tasks {after:?}",
        stale.iter().map(|s| &s.result).collect::<Vec<_>>()
    );
    Ok(())
}

/// When the task named `task_name` (`<service>.<slot>.<id>`) became running: its status
/// timestamp from the API.
fn task_running_at(d: &shoal_testkit::TestDaemon, task_name: &str) -> anyhow::Result<SystemTime> {
    let id = task_name
        .rsplit('.')
        .next()
        .ok_or_else(|| anyhow::anyhow!("task name without an id: {task_name}"))?;
    let t = d.api("GET", &format!("/tasks/{id}"), None)?.json()?;
    anyhow::ensure!(
        t["Status"]["State"] == "running",
        "task {task_name} is not running: {}",
        t["Status"]
    );
    let ts = t["Status"]["Timestamp"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("task {task_name} has no status timestamp"))?;
    humantime::parse_rfc3339_weak(ts)
        .map_err(|e| anyhow::anyhow!("timestamp {ts} of {task_name}: {e}"))
}

#[test]
fn names_the_swarm_does_not_own_are_forwarded_and_unknown_ones_are_nxdomain() -> anyhow::Result<()>
{
    let upstream_ip: Ipv4Addr = "192.0.2.7".parse()?;
    let conf = tempfile::tempdir()?;
    let mut hosts = TestHosts::start_with(BIN, "disc-upstream", 3)?;
    // Every host's resolv.conf names the fake upstream in the client namespace (the hosts
    // have private mount namespaces), then their daemons restart to read it.
    let resolv = conf.path().join("resolv.conf");
    std::fs::write(&resolv, format!("nameserver {}\n", hosts.client_addr()))?;
    let seen = fake_upstream(
        &client_ns(&hosts),
        &hosts.client_addr(),
        "ext.example.test",
        upstream_ip,
    )?;
    for i in 0..3 {
        let out = hosts.host(i).exec(&[
            "mount",
            "--bind",
            &resolv.to_string_lossy(),
            "/etc/resolv.conf",
        ]);
        anyhow::ensure!(
            out.status.success(),
            "bind resolv.conf on host {i}: {out:?}"
        );
        hosts.host_mut(i).restart_shoal()?;
    }
    hosts.init_swarm(1)?;
    let d = manager(&hosts);
    d.docker(&["network", "create", "-d", "overlay", "appnet"])
        .ok()?;
    create_web(d, "web", &["--network", "appnet"])?;
    let client = create_client(&hosts, "client", 2, &["--network", "appnet"])?;
    wait_running(&hosts, "web", 1)?;
    wait_answer(&client, "web", &[service_vip(d, "web", "appnet")?])?;

    let ext = resolve_in(&client.netns, DOCKER_DNS, "ext.example.test")?;
    assert_eq!(ext.addrs, [upstream_ip], "{ext:?}");
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    // busybox's own resolver in the container gets the same.
    let ns = exec_in(
        &hosts,
        &client,
        &["busybox", "nslookup", "ext.example.test"],
    )?;
    assert!(ns.contains("192.0.2.7"), "{ns}");
    for name in ["nosuch.example.test", "nosuchservice"] {
        let a = resolve_in(&client.netns, DOCKER_DNS, name)?;
        assert_eq!(
            (a.rcode, a.addrs.len()),
            (ResponseCode::NXDomain, 0),
            "{name}: {a:?}"
        );
    }
    // An owned name's other types: an empty answer, not an error, and not forwarded.
    let before = seen.load(std::sync::atomic::Ordering::SeqCst);
    let ns = client.netns.clone();
    let aaaa = run_in(&ns, || dns_ask(DOCKER_DNS, "web", RecordType::AAAA))?;
    assert_eq!((aaaa.rcode, aaaa.addrs.len()), (ResponseCode::NoError, 0));
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), before);
    Ok(())
}

/// A voting-style application in five services that find each other by name only: `vote`
/// queues a vote in `redis`, `worker` moves queued votes into `db`, `result` reads `db`. The
/// two front ends publish ports. As in Docker's example voting app, `vote` and `redis` are on a
/// `frontend` network, `result` and `db` on `backend`, and only `worker` is on both. Each
/// "server" is busybox httpd with one CGI script.
const VOTING_STACK: &str = r#"
version: "3.8"
x-server: &server
  image: BUSYBOX
  command: ["sh", "-c", "busybox mkdir -p /tmp/www/cgi-bin && printf '%s\n' \"$$CGI\" > /tmp/www/cgi-bin/app && busybox chmod +x /tmp/www/cgi-bin/app && exec httpd -f -p 80 -h /tmp/www"]
services:
  redis:
    networks: [frontend]
    <<: *server
    environment:
      CGI: |
        #!/bin/sh
        echo "Content-Type: text/plain"; echo
        case "$$QUERY_STRING" in
          push=*) echo "$${QUERY_STRING#push=}" >> /tmp/queue; echo queued ;;
          pop) busybox mv /tmp/queue /tmp/taken 2>/dev/null && cat /tmp/taken && busybox rm /tmp/taken ;;
        esac
  db:
    networks: [backend]
    <<: *server
    environment:
      CGI: |
        #!/bin/sh
        echo "Content-Type: text/plain"; echo
        case "$$QUERY_STRING" in
          add=*) echo "$${QUERY_STRING#add=}" >> /tmp/votes; echo added ;;
          *) cat /tmp/votes 2>/dev/null ;;
        esac
  vote:
    networks: [frontend]
    <<: *server
    ports: ["5000:80"]
    deploy: {replicas: 2}
    environment:
      CGI: |
        #!/bin/sh
        echo "Content-Type: text/plain"; echo
        wget -qO- "http://redis/cgi-bin/app?push=$$QUERY_STRING"
  result:
    networks: [backend]
    <<: *server
    ports: ["5001:80"]
    deploy: {replicas: 2}
    environment:
      CGI: |
        #!/bin/sh
        echo "Content-Type: text/plain"; echo
        wget -qO- http://db/cgi-bin/app
  worker:
    networks: [frontend, backend]
    image: BUSYBOX
    command: ["sh", "-c", "while true; do for v in $$(wget -qO- 'http://redis/cgi-bin/app?pop'); do wget -qO- \"http://db/cgi-bin/app?add=$$v\"; done; busybox usleep 200000; done"]
networks:
  frontend:
  backend:
"#;

#[test]
fn a_five_service_voting_stack_works_by_names_across_hosts() -> anyhow::Result<()> {
    let hosts = swarm("disc-vote")?;
    deploy_stack(&hosts, "vote", VOTING_STACK)?;
    for (svc, n) in [
        ("vote_redis", 1),
        ("vote_db", 1),
        ("vote_vote", 2),
        ("vote_result", 2),
        ("vote_worker", 1),
    ] {
        wait_running(&hosts, svc, n)?;
    }
    let mut on: Vec<usize> = task_boxes(&hosts, "vote_vote")?
        .into_iter()
        .chain(task_boxes(&hosts, "vote_result")?)
        .chain(task_boxes(&hosts, "vote_redis")?)
        .chain(task_boxes(&hosts, "vote_db")?)
        .chain(task_boxes(&hosts, "vote_worker")?)
        .map(|b| b.host)
        .collect();
    on.sort();
    on.dedup();
    assert_eq!(on, [0, 1, 2], "the stack does not span the three hosts");

    // A vote through each host's published port 5000; all show in the result on each host's
    // port 5001.
    let client = client_ns(&hosts);
    let addrs: Vec<String> = hosts.hosts().iter().map(|h| h.addr()).collect();
    for (i, a) in addrs.iter().enumerate() {
        let target = format!("{a}:5000");
        let voted = wait_for(&format!("a vote through {target}"), NAMES_SETTLE, || {
            let t = target.clone();
            run_in(&client, move || {
                http_get(&t, &format!("/cgi-bin/app?voter{i}"))
            })
            .ok()
            .filter(|b| b == "queued")
        })?;
        assert_eq!(voted, "queued");
    }
    for a in &addrs {
        let target = format!("{a}:5001");
        wait_until(
            &format!("all three votes in the result on {target}"),
            NAMES_SETTLE,
            || {
                let t = target.clone();
                run_in(&client, move || http_get(&t, "/cgi-bin/app")).is_ok_and(|body| {
                    (0..3).all(|i| body.lines().any(|l| l == format!("voter{i}")))
                })
            },
        )?;
    }
    Ok(())
}
