//! Issue 4 scenarios: multi-node clusters of real daemons on loopback addresses, sharing the
//! host's engine (each agent touches only containers labelled with its own node id).

use shoal_testkit::image::ensure_busybox;
use shoal_testkit::{TestCluster, TestDaemon, get_json, next_addr, wait_until};
use std::collections::HashSet;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(45);

fn with_logs<T>(c: &TestCluster, r: anyhow::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))
}

#[test]
fn three_managers_and_two_workers_show_five_ready_nodes_on_every_manager() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 3, 2, &[])?;
    for i in 0..3 {
        let ls = c.manager(i).shoal(&["node", "ls"]).ok()?;
        let lines: Vec<&str> = ls.stdout.lines().skip(1).collect();
        assert_eq!(lines.len(), 5, "node ls on manager {i}:\n{}", ls.stdout);
        assert_eq!(
            lines.iter().filter(|l| l.contains("Ready")).count(),
            5,
            "{}",
            ls.stdout
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("Leader")).count(),
            1,
            "{}",
            ls.stdout
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("Reachable")).count(),
            2,
            "{}",
            ls.stdout
        );
    }
    // A worker is not a manager.
    let out = c.nodes[4].shoal(&["node", "ls"]).failed()?;
    assert!(
        out.stderr.contains("Worker nodes can't be used"),
        "{}",
        out.stderr
    );
    Ok(())
}

fn create(d: &TestDaemon, args: &[&str]) -> anyhow::Result<()> {
    let mut all = vec!["service", "create", "-d"];
    all.extend_from_slice(args);
    d.shoal(&all).ok()?;
    Ok(())
}

fn wait_running(
    c: &TestCluster,
    via: usize,
    service: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut last = Vec::new();
    let r = wait_until(
        &format!("{n} running tasks of {service} (seen from node {via})"),
        CONVERGE,
        || {
            last = c.running_task_nodes(via, service).unwrap_or_default();
            last.len() == n
        },
    );
    with_logs(
        c,
        r.map_err(|e| anyhow::anyhow!("{e}; last seen on nodes {last:?}")),
    )?;
    Ok(last)
}

#[test]
fn a_service_spreads_over_all_nodes_a_role_constraint_keeps_it_on_workers_and_drain_moves_tasks()
-> anyhow::Result<()> {
    ensure_busybox()?;
    let c = TestCluster::start(BIN, 3, 2, &[])?;
    let leader = c.wait_leader(CONVERGE)?;
    let follower = (0..3).find(|i| *i != leader).unwrap_or(1);
    create(
        c.manager(follower),
        &[
            "--name",
            "spread",
            "--replicas",
            "10",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ],
    )?;
    let on = wait_running(&c, follower, "spread", 10)?;
    let distinct: HashSet<&String> = on.iter().collect();
    assert_eq!(distinct.len(), 5, "10 replicas over 5 nodes: {on:?}");

    let workers: HashSet<String> = c.node_ids[3..].iter().cloned().collect();
    create(
        c.manager(leader),
        &[
            "--name",
            "onworkers",
            "--replicas",
            "4",
            "--constraint",
            "node.role==worker",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ],
    )?;
    let on = wait_running(&c, leader, "onworkers", 4)?;
    assert!(
        on.iter().all(|n| workers.contains(n)),
        "{on:?} not all in {workers:?}"
    );

    // Drain worker 3 from a follower: its tasks move to worker 4.
    c.manager(follower)
        .shoal(&["node", "update", "--availability", "drain", &c.node_ids[3]])
        .ok()?;
    let mut last = Vec::new();
    let r = wait_until(
        "the drained worker to run no onworkers task",
        CONVERGE,
        || {
            last = c
                .running_task_nodes(leader, "onworkers")
                .unwrap_or_default();
            last.len() == 4 && last.iter().all(|n| *n == c.node_ids[4])
        },
    );
    with_logs(&c, r.map_err(|e| anyhow::anyhow!("{e}; last {last:?}")))?;
    Ok(())
}

fn service_names(d: &TestDaemon) -> anyhow::Result<HashSet<String>> {
    Ok(get_json(d, "/v1.44/services")?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Spec"]["Name"].as_str().map(str::to_string))
        .collect())
}

#[test]
fn killing_the_leader_elects_another_loses_no_acknowledged_write_and_the_old_leader_rejoins()
-> anyhow::Result<()> {
    let mut c = TestCluster::start(BIN, 3, 0, &[])?;
    let leader = c.wait_leader(CONVERGE)?;
    let mut written = Vec::new();
    for i in 0..3 {
        let via = (leader + i) % 3; // writes through the leader and both followers
        let name = format!("before{i}");
        create(
            c.manager(via),
            &[
                "--name",
                &name,
                "--replicas",
                "0",
                "shoal-test/busybox:latest",
            ],
        )?;
        written.push(name);
    }
    let labelled = c.node_ids[(leader + 1) % 3].clone();
    c.manager((leader + 2) % 3)
        .shoal(&["node", "update", "--label-add", "zone=a", &labelled])
        .ok()?;

    c.kill(leader)?;
    let survivor = (leader + 1) % 3;
    let start = std::time::Instant::now();
    let r = wait_until("a write on a survivor to succeed", CONVERGE, || {
        c.manager(survivor)
            .shoal(&[
                "service",
                "create",
                "-d",
                "--name",
                "after",
                "--replicas",
                "0",
                "shoal-test/busybox:latest",
            ])
            .code
            == 0
    });
    with_logs(&c, r)?;
    eprintln!("failover: first write after {:?}", start.elapsed());
    written.push("after".into());
    let new_leader = c.wait_leader(CONVERGE)?;
    assert_ne!(new_leader, leader);
    for s in [(leader + 1) % 3, (leader + 2) % 3] {
        // A follower applies a committed entry when it learns the commit index (the next
        // append), so the survivor that did not take the write may lag it by a heartbeat.
        let mut names = HashSet::new();
        let r = wait_until(
            &format!("every acknowledged write to be applied on manager {s}"),
            Duration::from_secs(10),
            || {
                names = service_names(c.manager(s)).unwrap_or_default();
                written.iter().all(|w| names.contains(w))
            },
        );
        with_logs(
            &c,
            r.map_err(|e| anyhow::anyhow!("{e}; services there: {names:?}")),
        )?;
        let node = get_json(c.manager(s), &format!("/v1.44/nodes/{labelled}"))?;
        assert_eq!(
            node["Spec"]["Labels"]["zone"], "a",
            "label lost on manager {s}"
        );
    }

    c.restart(leader)?;
    let r = wait_until(
        "the old leader to rejoin as a follower with every write",
        CONVERGE,
        || {
            service_names(c.manager(leader)).is_ok_and(|n| written.iter().all(|w| n.contains(w)))
                && c.leader_via(leader).is_some_and(|l| l != leader)
        },
    );
    with_logs(&c, r)?;
    c.wait_managers_reachable(3)?;
    Ok(())
}

#[test]
fn a_killed_worker_is_marked_down_and_its_tasks_run_elsewhere() -> anyhow::Result<()> {
    ensure_busybox()?;
    let mut c = TestCluster::start(BIN, 1, 2, &["--dispatcher-heartbeat", "1s"])?;
    create(
        c.manager(0),
        &[
            "--name",
            "survive",
            "--replicas",
            "4",
            "--constraint",
            "node.role==worker",
            "shoal-test/busybox:latest",
            "sleep",
            "3600",
        ],
    )?;
    let on = wait_running(&c, 0, "survive", 4)?;
    assert!(on.contains(&c.node_ids[1]), "{on:?}");
    let lost = c.node_ids[1].clone();
    c.kill(1)?;
    let r = wait_until("the killed worker to be marked down", CONVERGE, || {
        get_json(c.manager(0), &format!("/v1.44/nodes/{lost}"))
            .is_ok_and(|n| n["Status"]["State"] == "down")
    });
    with_logs(&c, r)?;
    let mut last = Vec::new();
    let r = wait_until("4 running tasks, none on the lost worker", CONVERGE, || {
        last = c.running_task_nodes(0, "survive").unwrap_or_default();
        last.len() == 4 && !last.contains(&lost)
    });
    with_logs(&c, r.map_err(|e| anyhow::anyhow!("{e}; last {last:?}")))?;
    Ok(())
}

#[test]
fn a_wrong_rotated_or_foreign_token_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 1, 0, &[])?;
    let other = TestCluster::start(BIN, 1, 0, &[])?;
    let d = TestDaemon::start_at(BIN, &next_addr())?;
    let old = c.worker_token.clone();
    c.manager(0)
        .shoal(&["swarm", "join-token", "--rotate", "-q", "worker"])
        .ok()?;
    let mut wrong = c.manager_token.clone();
    wrong.truncate(wrong.len() - 3);
    wrong.push_str("abc");
    let join = |token: &str| {
        d.shoal(&[
            "swarm",
            "join",
            "--token",
            token,
            "--listen-addr",
            &d.listen_addr,
            "--advertise-addr",
            &d.listen_addr,
            &c.manager(0).listen_addr,
        ])
        .failed()
    };
    for token in [old.as_str(), wrong.as_str()] {
        let out = join(token)?;
        assert!(
            out.stderr.contains(
                "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"
            ),
            "{}",
            out.stderr
        );
    }
    // Another swarm's token pins another root CA: refused before any token is sent.
    let out = join(&other.worker_token)?;
    assert!(out.stderr.contains("Root CA"), "{}", out.stderr);
    assert_eq!(c.nodes_on(0)?.len(), 1, "a refused join created no node");
    let info = get_json(&d, "/v1.44/info")?;
    assert_eq!(info["Swarm"]["LocalNodeState"], "inactive");
    Ok(())
}

#[test]
fn a_worker_is_promoted_then_demoted_back() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 1, 1, &[])?;
    let worker = c.node_ids[1].clone();
    c.manager(0).shoal(&["node", "promote", &worker]).ok()?;
    let r = wait_until(
        "the promoted worker to serve node ls as a Reachable manager",
        CONVERGE,
        || {
            c.manager_statuses(1).is_ok_and(|s| {
                s.len() == 2
                    && s.contains(&"Leader".to_string())
                    && s.contains(&"Reachable".to_string())
            })
        },
    );
    with_logs(&c, r)?;
    // The promoted node's manager certificate, as an attacker holding its data root would use
    // it: while a manager it may hand the leader proposals.
    let old_cert = ManagerIdentity::read(&c.nodes[1].data_root)?;
    let leader = c.manager(0).listen_addr.clone();
    old_cert
        .propose(&leader)
        .map_err(|e| anyhow::anyhow!("an empty proposal from a manager: {e}"))?;
    c.manager(0).shoal(&["node", "demote", &worker]).ok()?;
    let r = wait_until("the demoted node to be a worker again", CONVERGE, || {
        get_json(&c.nodes[1], "/v1.44/info").is_ok_and(|i| {
            i["Swarm"]["ControlAvailable"] == false && i["Swarm"]["LocalNodeState"] == "active"
        }) && c.manager_statuses(0).is_ok_and(|s| s.len() == 1)
    });
    with_logs(&c, r)?;
    // Its old certificate still says manager (it is valid for 90 days): the leader refuses it
    // at once, by the node's role in the store, not the certificate's OU.
    let refused = old_cert
        .propose(&leader)
        .expect_err("a demoted node's old manager certificate is refused");
    assert!(
        refused.contains("forbidden"),
        "refused as forbidden: {refused}"
    );
    // The last manager cannot be demoted.
    let me = c.node_ids[0].clone();
    let out = c.manager(0).shoal(&["node", "demote", &me]).failed()?;
    assert!(out.stderr.contains("last manager"), "{}", out.stderr);
    Ok(())
}

/// A node's cluster-channel identity read from its data root (certificate, key, root CA).
struct ManagerIdentity {
    client: shoal_cluster::ClusterClient,
}

impl ManagerIdentity {
    fn read(data_root: &std::path::Path) -> anyhow::Result<Self> {
        let certs = data_root.join("swarm/certificates");
        let root = std::fs::read_to_string(certs.join("swarm-root-ca.crt"))?;
        let cert = std::fs::read_to_string(certs.join("swarm-node.crt"))?;
        let key = shoal_ca::keyfile::NodeKeyFile::load(&certs.join("swarm-node.key"), None)?;
        let config = shoal_ca::tls::client_config(&root, &cert, &key.node_key_pem)?;
        let tls = std::sync::Arc::new(shoal_cluster::TlsCell::new(config));
        Ok(Self {
            client: shoal_cluster::ClusterClient::new(tls),
        })
    }

    /// Hands the leader at `addr` an empty proposal (`/raft/propose`); the error as text.
    fn propose(&self, addr: &str) -> Result<(), String> {
        let req = shoal_cluster::ProposeRequest {
            proposal: shoal_store::Proposal::default(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let resp = rt
            .block_on(self.client.propose(addr, &req))
            .map_err(|e| e.to_string())?;
        resp.result.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[test]
fn a_removed_down_node_cannot_reconnect() -> anyhow::Result<()> {
    let mut c = TestCluster::start(BIN, 1, 1, &["--dispatcher-heartbeat", "1s"])?;
    let worker = c.node_ids[1].clone();
    let out = c.manager(0).shoal(&["node", "rm", &worker]).failed()?;
    assert!(out.stderr.contains("is not down"), "{}", out.stderr);
    c.kill(1)?;
    let r = wait_until("the killed worker to be marked down", CONVERGE, || {
        get_json(c.manager(0), &format!("/v1.44/nodes/{worker}"))
            .is_ok_and(|n| n["Status"]["State"] == "down")
    });
    with_logs(&c, r)?;
    c.manager(0).shoal(&["node", "rm", &worker]).ok()?;
    c.restart(1)?;
    let r = wait_until(
        "the removed node to be refused and leave the swarm",
        CONVERGE,
        || {
            get_json(&c.nodes[1], "/v1.44/info")
                .is_ok_and(|i| i["Swarm"]["LocalNodeState"] == "inactive")
        },
    );
    let r = r.map_err(|e| anyhow::anyhow!("{e}\nremoved node log:\n{}", c.nodes[1].log()));
    with_logs(&c, r)?;
    assert_eq!(
        c.nodes_on(0)?.len(),
        1,
        "the removed node did not come back"
    );
    assert!(
        c.nodes[1].log().contains("removed from the swarm"),
        "{}",
        c.nodes[1].log()
    );
    Ok(())
}

#[test]
fn the_docker_cli_works_against_a_follower() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 3, 0, &[])?;
    let leader = c.wait_leader(CONVERGE)?;
    let f = c.manager((leader + 1) % 3);
    let ls = f.docker(&["node", "ls"]).ok()?;
    assert_eq!(ls.stdout.lines().count(), 4, "{}", ls.stdout);
    assert!(
        ls.stdout.contains("Leader") && ls.stdout.contains("Reachable"),
        "{}",
        ls.stdout
    );
    f.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "viadocker",
        "--replicas",
        "0",
        "shoal-test/busybox:latest",
    ])
    .ok()?;
    let ls = f.docker(&["service", "ls"]).ok()?;
    assert!(ls.stdout.contains("viadocker"), "{}", ls.stdout);
    // The third manager applies the write once it is replicated to it (the majority that
    // acknowledged it may not have included it).
    let other = c.manager((leader + 2) % 3);
    let r = wait_until("the third manager to have viadocker", CONVERGE, || {
        service_names(other).is_ok_and(|s| s.contains("viadocker"))
    });
    with_logs(&c, r)?;
    f.docker(&["node", "update", "--label-add", "x=y", &c.node_ids[leader]])
        .ok()?;
    Ok(())
}

#[test]
fn without_a_majority_writes_fail_at_once_and_reads_still_answer() -> anyhow::Result<()> {
    let mut c = TestCluster::start(BIN, 3, 0, &[])?;
    create(
        c.manager(0),
        &[
            "--name",
            "kept",
            "--replicas",
            "0",
            "shoal-test/busybox:latest",
        ],
    )?;
    c.kill(1)?;
    c.kill(2)?;
    let r = wait_until(
        "a write on the lone manager to be refused for want of a leader",
        CONVERGE,
        || {
            let started = std::time::Instant::now();
            let out = c.manager(0).shoal(&[
                "service",
                "create",
                "-d",
                "--name",
                "lost",
                "--replicas",
                "0",
                "shoal-test/busybox:latest",
            ]);
            out.code != 0
                && out.stderr.contains("The swarm does not have a leader")
                && started.elapsed() < Duration::from_secs(3)
        },
    );
    with_logs(&c, r)?;
    assert!(
        service_names(c.manager(0))?.contains("kept"),
        "reads answer"
    );
    c.restart(1)?;
    let r = wait_until(
        "writes to work again once a majority is back",
        CONVERGE,
        || {
            c.manager(0)
                .shoal(&[
                    "service",
                    "create",
                    "-d",
                    "--name",
                    "back",
                    "--replicas",
                    "0",
                    "shoal-test/busybox:latest",
                ])
                .code
                == 0
        },
    );
    with_logs(&c, r)?;
    Ok(())
}

#[test]
fn a_worker_leaves_and_a_manager_leaves_with_force_out_of_raft() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 3, 1, &[])?;
    c.nodes[3].shoal(&["swarm", "leave"]).ok()?;
    let info = get_json(&c.nodes[3], "/v1.44/info")?;
    assert_eq!(info["Swarm"]["LocalNodeState"], "inactive");

    let leader = c.wait_leader(CONVERGE)?;
    let follower = (leader + 1) % 3;
    let out = c.manager(follower).shoal(&["swarm", "leave"]).failed()?;
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    c.manager(follower)
        .shoal(&["swarm", "leave", "--force"])
        .ok()?;
    let r = wait_until(
        "the remaining managers to show 2 managers, Leader and Reachable",
        CONVERGE,
        || {
            [leader, (leader + 2) % 3].iter().all(|i| {
                c.manager_statuses(*i).is_ok_and(|mut s| {
                    s.sort();
                    s == ["Leader", "Reachable"]
                })
            })
        },
    );
    with_logs(&c, r)?;
    // Still a working majority of two.
    create(
        c.manager((leader + 2) % 3),
        &[
            "--name",
            "afterleave",
            "--replicas",
            "0",
            "shoal-test/busybox:latest",
        ],
    )?;
    Ok(())
}
