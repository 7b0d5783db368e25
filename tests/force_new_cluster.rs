//! Issue 4: `swarm init --force-new-cluster` on the last manager standing brings the swarm
//! back with all its state; the old managers no longer count, and one that is restarted does
//! not elect itself with the old membership (it rejoins the new cluster instead).

use shoal_testkit::{TestCluster, TestDaemon, get_json, wait_until};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(45);
const NO_LEADER: &str = "The swarm does not have a leader";

fn with_logs<T>(c: &TestCluster, r: anyhow::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))
}

fn names(d: &TestDaemon, path: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(get_json(d, path)?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["Spec"]["Name"].as_str().map(str::to_string))
        .collect())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn forcing_a_new_cluster_on_the_last_manager_keeps_the_state_and_old_managers_do_not_split_brain()
-> anyhow::Result<()> {
    let mut c = TestCluster::start(BIN, 3, 0, &[])?;
    c.manager(0).create_empty_service("kept").ok()?;
    let r = c.manager(0).api(
        "POST",
        "/v1.44/secrets/create",
        Some(r#"{"Name":"kept-secret","Data":"c2VjcmV0"}"#),
    )?;
    anyhow::ensure!(r.status == 201, "secret create: {} {}", r.status, r.text());
    let swarm_before = get_json(c.manager(0), "/v1.44/swarm")?;
    // Without the flag, init on a swarm member is still refused.
    let out = c.manager(0).shoal(&["swarm", "init"]).failed()?;
    assert!(
        out.stderr.contains("already part of a swarm"),
        "{}",
        out.stderr
    );

    c.kill(1)?;
    c.kill(2)?;
    let r = wait_until(
        "a write on the survivor to be refused for want of a leader",
        CONVERGE,
        || {
            let out = c.manager(0).create_empty_service("lost");
            out.code != 0 && out.stderr.contains(NO_LEADER)
        },
    );
    with_logs(&c, r)?;

    let started = Instant::now();
    let init = c
        .manager(0)
        .shoal(&["swarm", "init", "--force-new-cluster"]);
    let init = with_logs(&c, init.ok())?;
    assert!(init.stdout.contains(&c.node_ids[0]), "{}", init.stdout);
    eprintln!("force-new-cluster answered in {:?}", started.elapsed());

    // Writes work at once; the state is all there.
    with_logs(&c, c.manager(0).create_empty_service("after").ok())?;
    let services = names(c.manager(0), "/v1.44/services")?;
    assert!(
        services.contains("kept") && services.contains("after"),
        "{services:?}"
    );
    // A "lost" create that timed out waiting for its commit (rather than being refused at
    // once) may be in the log and commit now: uncommitted entries are kept (docs/cluster.md).
    assert!(names(c.manager(0), "/v1.44/secrets")?.contains("kept-secret"));
    let swarm_after = get_json(c.manager(0), "/v1.44/swarm")?;
    assert_eq!(swarm_after["ID"], swarm_before["ID"], "same cluster");
    assert_eq!(
        swarm_after["JoinTokens"], swarm_before["JoinTokens"],
        "same tokens"
    );
    assert_eq!(
        swarm_after["TLSInfo"]["TrustRoot"], swarm_before["TLSInfo"]["TrustRoot"],
        "same root CA"
    );
    // node ls: this node leads, the killed managers are no longer reachable members.
    assert_eq!(c.leader_via(0), Some(0));
    assert_eq!(
        sorted(c.manager_statuses(0)?),
        ["Leader", "Unreachable", "Unreachable"]
    );

    // A killed manager restarted with the old membership must not elect itself (the old
    // majority is gone and the survivor refuses its votes); it rejoins the new cluster.
    c.restart(1)?;
    let watch_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < watch_until {
        if let Some(l) = c.leader_via(1) {
            assert_ne!(
                l,
                1,
                "the restarted old manager elected itself\n{}",
                c.logs()
            );
        }
        assert_eq!(c.leader_via(0), Some(0), "{}", c.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut last = String::new();
    let r = wait_until(
        "the restarted manager to rejoin: Leader + Reachable + Unreachable on both, same services",
        CONVERGE,
        || {
            let s0 = c.manager_statuses(0).map(sorted);
            let s1 = c.manager_statuses(1).map(sorted);
            let v1 = names(c.manager(1), "/v1.44/services");
            last = format!("survivor {s0:?}; rejoined {s1:?}; its services {v1:?}");
            let want = ["Leader", "Reachable", "Unreachable"];
            s0.is_ok_and(|s| s == want)
                && s1.is_ok_and(|s| s == want)
                && v1.is_ok_and(|v| v.contains("after") && v.contains("kept"))
        },
    );
    with_logs(&c, r.map_err(|e| anyhow::anyhow!("{e}; last: {last}")))?;
    assert_eq!(c.leader_via(1), Some(0));
    // Writes through the rejoined manager reach the survivor.
    with_logs(&c, c.manager(1).create_empty_service("via-rejoined").ok())?;
    assert!(names(c.manager(0), "/v1.44/services")?.contains("via-rejoined"));
    Ok(())
}

#[test]
fn force_new_cluster_on_a_worker_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 1, 1, &[])?;
    let out = c.nodes[1]
        .shoal(&["swarm", "init", "--force-new-cluster"])
        .failed()?;
    assert!(out.stderr.contains("not a swarm manager"), "{}", out.stderr);
    let info = get_json(&c.nodes[1], "/v1.44/info")?;
    assert_eq!(info["Swarm"]["LocalNodeState"], "active");
    assert_eq!(info["Swarm"]["ControlAvailable"], false);
    c.manager(0).create_empty_service("still-works").ok()?;
    Ok(())
}
