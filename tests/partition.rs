//! Issue 4: a manager cut off from the other two by a real network partition (nftables drops
//! every packet between their addresses). The minority refuses writes at once with Docker's
//! no-leader message, the majority keeps (or elects) a leader and accepts writes, and after the
//! partition heals every manager converges to the same state.

use shoal_testkit::{TestCluster, TestDaemon, get_json, wait_for, wait_until};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
const CONVERGE: Duration = Duration::from_secs(45);
/// A refused write must come back this fast ("at once", not after a call timeout).
const PROMPT: Duration = Duration::from_secs(3);
const NO_LEADER: &str = "The swarm does not have a leader";

fn with_logs<T>(c: &TestCluster, r: anyhow::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))
}

/// Service name → version index, as node `d` sees them.
fn services(d: &TestDaemon) -> anyhow::Result<BTreeMap<String, u64>> {
    let list = get_json(d, "/v1.44/services")?;
    Ok(list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            Some((
                s["Spec"]["Name"].as_str()?.to_string(),
                s["Version"]["Index"].as_u64()?,
            ))
        })
        .collect())
}

/// Waits until a service create and a node update on node `i` are both refused promptly with
/// the no-leader message (right after the cut, the node may still believe in its leader).
fn wait_writes_refused(c: &TestCluster, i: usize, what: &str) -> anyhow::Result<()> {
    let node = c.node_ids[i].clone();
    let mut last = String::new();
    let r = wait_until(
        &format!("writes on {what} (node {i}) to be refused at once for want of a leader"),
        CONVERGE,
        || {
            let started = Instant::now();
            let create = c.manager(i).create_empty_service("minority");
            let create_ok =
                create.code != 0 && create.stderr.contains(NO_LEADER) && started.elapsed() < PROMPT;
            let started = Instant::now();
            let update = c
                .manager(i)
                .shoal(&["node", "update", "--label-add", "cut=yes", &node]);
            let update_ok =
                update.code != 0 && update.stderr.contains(NO_LEADER) && started.elapsed() < PROMPT;
            last = format!(
                "service create exited {} in {:?}: {}; node update exited {}: {}",
                create.code,
                started.elapsed(),
                create.stderr.trim(),
                update.code,
                update.stderr.trim()
            );
            create_ok && update_ok
        },
    );
    with_logs(c, r.map_err(|e| anyhow::anyhow!("{e}; last: {last}")))
}

/// Waits until every manager shows service `name`: a committed write reaches each follower
/// in its own time, so a test that reads it on a given node waits for it there first.
fn wait_applied_everywhere(c: &TestCluster, name: &str) -> anyhow::Result<()> {
    let r = wait_until(
        &format!("every manager to have applied the create of service {name}"),
        CONVERGE,
        || (0..3).all(|i| services(c.manager(i)).is_ok_and(|s| s.contains_key(name))),
    );
    with_logs(c, r)
}

/// Waits until every manager shows the same services (names and versions), including
/// `must_have`, names the same running leader, and lists 1 Leader and 2 Reachable managers.
fn wait_converged(c: &TestCluster, must_have: &[&str]) -> anyhow::Result<()> {
    let mut last = String::new();
    let r = wait_until(
        "every manager to show the same services, the same leader and 3 healthy managers",
        CONVERGE,
        || {
            let views: Vec<_> = (0..3).map(|i| services(c.manager(i))).collect();
            let leaders: Vec<Option<usize>> = (0..3).map(|i| c.leader_via(i)).collect();
            let statuses: Vec<_> = (0..3).map(|i| c.manager_statuses(i)).collect();
            last = format!("services {views:?}; leaders {leaders:?}; statuses {statuses:?}");
            let Ok(first) = &views[0] else { return false };
            views.iter().all(|v| v.as_ref().ok() == Some(first))
                && must_have.iter().all(|n| first.contains_key(*n))
                && leaders[0].is_some()
                && leaders.iter().all(|l| *l == leaders[0])
                && statuses.iter().all(|s| {
                    s.as_ref().is_ok_and(|s| {
                        s.len() == 3
                            && s.iter().filter(|m| *m == "Leader").count() == 1
                            && s.iter().filter(|m| *m == "Reachable").count() == 2
                    })
                })
        },
    );
    with_logs(c, r.map_err(|e| anyhow::anyhow!("{e}; last: {last}")))
}

#[test]
fn a_partitioned_follower_refuses_writes_and_converges_after_healing() -> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 3, 0, &[])?;
    let leader = c.wait_leader(CONVERGE)?;
    c.manager(leader).create_empty_service("before").ok()?;
    let cut = (leader + 1) % 3;
    // The create is acknowledged once a majority committed it, which may not include `cut`:
    // the read asserted on the cut-off node below needs it applied there before the cut.
    wait_applied_everywhere(&c, "before")?;
    let majority: Vec<usize> = (0..3).filter(|i| *i != cut).collect();
    c.partition(&[cut], &majority)?;

    wait_writes_refused(&c, cut, "the cut-off follower")?;
    // Reads still answer on the minority.
    assert!(services(c.manager(cut))?.contains_key("before"));
    // The majority keeps its leader and takes writes through either of its managers.
    let other = majority
        .iter()
        .copied()
        .find(|i| *i != leader)
        .unwrap_or(leader);
    c.manager(other).create_empty_service("during").ok()?;
    c.manager(leader)
        .shoal(&["service", "update", "-d", "--label-add", "x=1", "before"])
        .ok()?;
    assert_eq!(c.leader_via(other), Some(leader), "{}", c.logs());

    c.heal()?;
    wait_converged(&c, &["before", "during"])?;
    assert!(!services(c.manager(cut))?.contains_key("minority"));
    // The healed node takes writes again.
    let r = wait_until("a write on the healed node to succeed", CONVERGE, || {
        c.manager(cut).create_empty_service("after").code == 0
    });
    with_logs(&c, r)?;
    wait_converged(&c, &["before", "during", "after"])?;
    Ok(())
}

#[test]
fn a_partitioned_leader_steps_down_the_majority_elects_another_and_all_converge_after_healing()
-> anyhow::Result<()> {
    let c = TestCluster::start(BIN, 3, 0, &[])?;
    let old = c.wait_leader(CONVERGE)?;
    c.manager(old).create_empty_service("before").ok()?;
    let majority: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    c.partition(&[old], &majority)?;

    let cut_at = Instant::now();
    let new = wait_for(
        "the majority to agree on a new leader among themselves",
        CONVERGE,
        || {
            let l = c.leader_via(majority[0])?;
            (l != old && c.leader_via(majority[1]) == Some(l)).then_some(l)
        },
    );
    let new = with_logs(&c, new)?;
    eprintln!("new leader {new} seen {:?} after the cut", cut_at.elapsed());
    wait_writes_refused(&c, old, "the cut-off old leader")?;
    for i in &majority {
        c.manager(*i)
            .create_empty_service(&format!("during{i}"))
            .ok()?;
    }

    c.heal()?;
    let during: Vec<String> = majority.iter().map(|i| format!("during{i}")).collect();
    let mut want: Vec<&str> = during.iter().map(String::as_str).collect();
    want.push("before");
    wait_converged(&c, &want)?;
    assert!(!services(c.manager(old))?.contains_key("minority"));
    assert_ne!(c.leader_via(old), Some(old), "{}", c.logs());
    Ok(())
}
