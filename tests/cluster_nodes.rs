//! Issue 4: joining through the real docker CLI, and `node rm --force` of a node that is still
//! up (its tasks move, its certificate is refused, it leaves the swarm and stops its tasks).

use shoal_testkit::image::{ensure_busybox, node_containers};
use shoal_testkit::{TestCluster, TestDaemon, get_json, next_addr, wait_until};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(45);

fn with_logs<T>(c: &TestCluster, r: anyhow::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))
}

#[test]
fn the_docker_cli_joins_a_worker_and_a_manager_and_lists_them() -> anyhow::Result<()> {
    let mut c = TestCluster::start(BIN, 1, 0, &[])?;
    let via = c.manager(0).listen_addr.clone();
    // The manager first: `TestCluster` keeps managers ahead of workers in `nodes`.
    for (token, role) in [
        (c.manager_token.clone(), "manager"),
        (c.worker_token.clone(), "worker"),
    ] {
        let d = TestDaemon::start_at(BIN, &next_addr())?;
        let out = d
            .docker(&[
                "swarm",
                "join",
                "--token",
                &token,
                "--listen-addr",
                &d.listen_addr,
                "--advertise-addr",
                &d.listen_addr,
                &via,
            ])
            .ok()?;
        assert!(
            out.stdout
                .contains(&format!("This node joined a swarm as a {role}.")),
            "{}",
            out.stdout
        );
        c.nodes.push(d);
        let i = c.nodes.len() - 1;
        c.node_ids.push(c.node_id(i)?);
        if role == "manager" {
            c.managers += 1;
        }
    }
    with_logs(&c, c.wait_all_ready())?;
    with_logs(&c, c.wait_managers_reachable(2))?;
    // The manager that joined through docker serves `docker node ls` itself.
    let ls = c.nodes[1].docker(&["node", "ls"]).ok()?;
    assert_eq!(ls.stdout.lines().count(), 4, "{}", ls.stdout);
    assert_eq!(ls.stdout.matches("Ready").count(), 3, "{}", ls.stdout);
    assert!(
        ls.stdout.contains("Leader") && ls.stdout.contains("Reachable"),
        "{}",
        ls.stdout
    );
    // A second join is refused with docker's message and changes nothing.
    let out = c.nodes[2]
        .docker(&["swarm", "join", "--token", &c.worker_token, &via])
        .failed()?;
    assert!(
        out.stderr.contains("This node is already part of a swarm."),
        "{}",
        out.stderr
    );
    // The worker leaves through docker; the manager sees it down.
    let worker = c.node_ids[2].clone();
    let out = c.nodes[2].docker(&["swarm", "leave"]).ok()?;
    assert!(
        out.stdout.contains("Node left the swarm."),
        "{}",
        out.stdout
    );
    let r = wait_until("the worker that left to be down", CONVERGE, || {
        get_json(c.manager(0), &format!("/v1.44/nodes/{worker}"))
            .is_ok_and(|n| n["Status"]["State"] == "down")
    });
    with_logs(&c, r)?;
    Ok(())
}

#[test]
fn node_rm_force_of_a_live_worker_moves_its_tasks_and_the_node_leaves() -> anyhow::Result<()> {
    let image = ensure_busybox()?;
    let c = TestCluster::start(BIN, 1, 1, &["--dispatcher-heartbeat", "1s"])?;
    let worker = c.node_ids[1].clone();
    c.manager(0)
        .shoal(&[
            "service",
            "create",
            "-d",
            "--name",
            "live",
            "--replicas",
            "2",
            image,
            "sleep",
            "600",
        ])
        .ok()?;
    let r = wait_until("one task of live on each node", CONVERGE, || {
        c.running_task_nodes(0, "live")
            .is_ok_and(|n| n.len() == 2 && n.contains(&worker) && n.contains(&c.node_ids[0]))
    });
    with_logs(&c, r)?;
    // Refused without --force (the node is up), nothing changes.
    let out = c.manager(0).shoal(&["node", "rm", &worker]).failed()?;
    assert!(
        out.stderr.contains("is not down and can't be removed"),
        "{}",
        out.stderr
    );
    assert_eq!(c.nodes_on(0)?.len(), 2);
    c.manager(0)
        .docker(&["node", "rm", "--force", &worker])
        .ok()?;
    assert_eq!(c.nodes_on(0)?.len(), 1, "the node is gone at once");
    let r = wait_until(
        "both tasks of live to run on the manager, and the removed node to leave the swarm and stop its containers",
        CONVERGE,
        || {
            c.running_task_nodes(0, "live")
                .is_ok_and(|n| n.len() == 2 && n.iter().all(|id| *id == c.node_ids[0]))
                && get_json(&c.nodes[1], "/v1.44/info")
                    .is_ok_and(|i| i["Swarm"]["LocalNodeState"] == "inactive")
                && node_containers(&worker).is_empty()
        },
    );
    with_logs(&c, r)?;
    assert_eq!(
        c.nodes_on(0)?.len(),
        1,
        "the removed node did not come back"
    );
    Ok(())
}
