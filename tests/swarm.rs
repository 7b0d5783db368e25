//! Issue 2 scenarios against the real binary: init, restart from disk, refusals, the API's
//! wire conventions.

use nix::sys::signal::Signal;
use shoal_testkit::{TestDaemon, wait_until};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");

fn swarm_ids(d: &TestDaemon) -> anyhow::Result<(String, String, String, String)> {
    let info = d.api("GET", "/v1.44/info", None)?.json()?;
    let swarm = d.api("GET", "/v1.44/swarm", None)?.json()?;
    Ok((
        info["Swarm"]["NodeID"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        swarm["ID"].as_str().unwrap_or_default().to_string(),
        swarm["JoinTokens"]["Worker"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        swarm["JoinTokens"]["Manager"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

#[test]
fn a_swarm_survives_sigkill_with_the_same_ids_and_tokens() -> anyhow::Result<()> {
    let mut d = TestDaemon::start(BIN)?;
    let out = d.shoal(&["swarm", "init"]).ok()?;
    assert!(
        out.stdout.contains("Swarm initialized: current node ("),
        "{}",
        out.stdout
    );
    let before = swarm_ids(&d)?;
    assert!(
        before.2.starts_with("SWMTKN-1-") && before.3.starts_with("SWMTKN-1-"),
        "{before:?}"
    );
    assert_ne!(before.2, before.3);

    d.kill_and_restart()?;
    let after = swarm_ids(&d)?;
    assert_eq!(
        before, after,
        "node id, cluster id and tokens are restored from disk"
    );
    // The node is Unknown until its agent registers again (as in Docker after a restart).
    let mut last = String::new();
    let r = wait_until(
        "node ls after the restart to show this node Ready and Leader",
        Duration::from_secs(20),
        || {
            last = d
                .shoal(&["node", "ls"])
                .ok()
                .map(|c| c.stdout)
                .unwrap_or_default();
            last.contains("Ready") && last.contains("Leader")
        },
    );
    r.map_err(|e| anyhow::anyhow!("{e}; last node ls:\n{last}"))?;
    Ok(())
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_state_is_kept() -> anyhow::Result<()> {
    let mut d = TestDaemon::start(BIN)?;
    d.shoal(&["swarm", "init"]).ok()?;
    let before = swarm_ids(&d)?;
    let status = d.signal_and_wait(Signal::SIGTERM)?;
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}\n{}",
        d.log()
    );
    d.restart()?;
    assert_eq!(swarm_ids(&d)?, before);
    Ok(())
}

#[test]
fn a_second_daemon_on_the_same_data_root_is_refused() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    let out = d.run_second(&d.dir.path().join("other.sock"))?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another shoal daemon is using the data root"),
        "{err}"
    );
    Ok(())
}

#[test]
fn init_twice_and_leave_without_force_get_dockers_answers() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    let before_init = d.api("GET", "/v1.44/nodes", None)?;
    assert_eq!(before_init.status, 503);
    assert!(
        before_init
            .text()
            .contains("This node is not a swarm manager. Use \\\"docker swarm init\\\""),
        "{}",
        before_init.text()
    );

    d.shoal(&["swarm", "init"]).ok()?;
    let again = d.api("POST", "/v1.44/swarm/init", Some("{}"))?;
    assert_eq!(again.status, 503);
    assert!(
        again
            .text()
            .contains("This node is already part of a swarm"),
        "{}",
        again.text()
    );

    let ids = swarm_ids(&d)?;
    let leave = d.shoal(&["swarm", "leave"]).failed()?;
    assert!(
        leave.stderr.contains(
            "You are attempting to leave the swarm on a node that is participating as a manager"
        ),
        "{}",
        leave.stderr
    );
    assert_eq!(swarm_ids(&d)?, ids, "a refused leave changes nothing");

    d.shoal(&["swarm", "leave", "--force"]).ok()?;
    assert_eq!(d.api("GET", "/v1.44/swarm", None)?.status, 503);
    Ok(())
}

#[test]
fn the_api_speaks_dockers_wire_conventions() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    let ping = d.api("HEAD", "/_ping", None)?;
    assert_eq!(ping.status, 200);
    assert_eq!(ping.header("Api-Version"), Some("1.44"));
    assert_eq!(ping.header("Ostype"), Some("linux"));
    assert_eq!(ping.header("Swarm"), Some("inactive"));

    let missing = d.api("GET", "/v1.44/no/such/route", None)?;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("Content-Type"), Some("application/json"));
    assert_eq!(missing.json()?["message"], "page not found");

    let bad = d.api("POST", "/v1.24/swarm/init", Some("{not json"))?;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()?["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("invalid JSON"),
        "{}",
        bad.text()
    );

    let too_new = d.api("GET", "/v1.99/info", None)?;
    assert_eq!(too_new.status, 400);

    d.shoal(&["swarm", "init"]).ok()?;
    let ping = d.api("GET", "/_ping", None)?;
    assert_eq!(ping.header("Swarm"), Some("active/manager"));
    assert_eq!(ping.text(), "OK");
    let node_id = d.api("GET", "/info", None)?.json()?["Swarm"]["NodeID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for path in [
        format!("/v1.24/nodes/{node_id}"),
        format!("/v1.44/nodes/{}", &node_id[..6]),
        format!("/nodes/{node_id}"),
    ] {
        let r = d.api("GET", &path, None)?;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()?["ID"], node_id.as_str());
    }
    let nf = d.api("GET", "/v1.44/nodes/nosuchnode", None)?;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()?["message"], "node nosuchnode not found");
    Ok(())
}

#[test]
fn swarm_update_checks_the_version_and_keeps_unset_fields() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    d.shoal(&["swarm", "init", "--task-history-limit", "7"])
        .ok()?;
    d.shoal(&["swarm", "update", "--dispatcher-heartbeat", "10s"])
        .ok()?;
    let swarm = d.api("GET", "/swarm", None)?.json()?;
    assert_eq!(
        swarm["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"],
        7
    );
    assert_eq!(
        swarm["Spec"]["Dispatcher"]["HeartbeatPeriod"],
        10_000_000_000i64
    );
    let stale = d.api(
        "POST",
        "/swarm/update?version=1",
        Some(&swarm["Spec"].to_string()),
    )?;
    assert!(stale.status >= 400);
    assert!(
        stale.text().contains("update out of sequence"),
        "{}",
        stale.text()
    );

    let worker = swarm["JoinTokens"]["Worker"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rotated = d
        .shoal(&["swarm", "join-token", "--rotate", "-q", "worker"])
        .ok()?;
    assert_ne!(rotated.stdout.trim(), worker);
    assert!(rotated.stdout.trim().starts_with("SWMTKN-1-"));
    Ok(())
}

#[test]
fn a_corrupted_raft_file_stops_start_up_with_its_name() -> anyhow::Result<()> {
    let mut d = TestDaemon::start(BIN)?;
    d.shoal(&["swarm", "init"]).ok()?;
    d.signal_and_wait(Signal::SIGTERM)?;
    let raft = d.data_root.join("swarm/raft/raft.redb");
    let len = std::fs::metadata(&raft)?.len();
    let f = std::fs::OpenOptions::new().write(true).open(&raft)?;
    f.set_len(len / 3)?;
    drop(f);
    let out = d.start_expecting_failure()?;
    assert!(
        !out.status.success(),
        "the daemon must not start on a truncated raft file"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(raft.to_str().unwrap_or_default()),
        "the error names the file: {err}"
    );
    Ok(())
}

#[test]
fn spec_labels_never_reach_the_disk_in_clear() -> anyhow::Result<()> {
    const MARK: &str = "shoal-plaintext-canary-5f1e2d";
    let mut d = TestDaemon::start(BIN)?;
    let body = format!(
        r#"{{"ListenAddr":"{}","AdvertiseAddr":"{}","Spec":{{"Labels":{{"canary":"{MARK}"}}}}}}"#,
        d.listen_addr, d.listen_addr
    );
    let r = d.api("POST", "/v1.44/swarm/init", Some(&body))?;
    assert_eq!(r.status, 200, "{}", r.text());
    let swarm = d.api("GET", "/swarm", None)?.json()?;
    assert_eq!(swarm["Spec"]["Labels"]["canary"], MARK);
    d.signal_and_wait(Signal::SIGTERM)?;
    let hits = grep_dir(&d.data_root, MARK.as_bytes())?;
    assert!(hits.is_empty(), "found the canary in clear in {hits:?}");
    d.restart()?;
    assert_eq!(
        d.api("GET", "/swarm", None)?.json()?["Spec"]["Labels"]["canary"],
        MARK,
        "and it is still readable"
    );
    Ok(())
}

fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            hits.extend(grep_dir(&path, needle)?);
        } else if path.is_file() {
            let bytes = std::fs::read(&path)?;
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path);
            }
        }
    }
    Ok(hits)
}
