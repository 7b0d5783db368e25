//! The real docker CLI against shoal (issue 2's point 6).

use shoal_testkit::TestDaemon;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");

#[test]
fn the_docker_cli_inits_and_inspects_a_shoal_swarm() -> anyhow::Result<()> {
    let d = TestDaemon::start(BIN)?;
    let init = d
        .docker(&["swarm", "init", "--advertise-addr", &d.listen_addr])
        .ok()?;
    assert!(
        init.stdout.contains("Swarm initialized: current node ("),
        "{}",
        init.stdout
    );
    assert!(
        init.stdout.contains("docker swarm join --token SWMTKN-1-"),
        "{}",
        init.stdout
    );

    let info = d.docker(&["info"]).ok()?;
    assert!(info.stdout.contains("Swarm: active"), "{}", info.stdout);
    assert!(info.stdout.contains("Is Manager: true"), "{}", info.stdout);

    let ls = d.docker(&["node", "ls"]).ok()?;
    let header = ls.stdout.lines().next().unwrap_or_default();
    for col in [
        "ID",
        "HOSTNAME",
        "STATUS",
        "AVAILABILITY",
        "MANAGER STATUS",
        "ENGINE VERSION",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        ls.stdout.contains(" * ") && ls.stdout.contains("Leader"),
        "{}",
        ls.stdout
    );

    let inspect = d.docker(&["node", "inspect", "self"]).ok()?;
    let nodes: serde_json::Value = serde_json::from_str(&inspect.stdout)?;
    assert_eq!(nodes[0]["Spec"]["Role"], "manager");
    assert_eq!(nodes[0]["Status"]["State"], "ready");
    let pretty = d.docker(&["node", "inspect", "--pretty", "self"]).ok()?;
    assert!(
        pretty.stdout.contains("Manager Status:"),
        "{}",
        pretty.stdout
    );

    let tok = d.docker(&["swarm", "join-token", "worker"]).ok()?;
    assert!(
        tok.stdout.contains("docker swarm join --token SWMTKN-1-"),
        "{}",
        tok.stdout
    );
    let q = d.docker(&["swarm", "join-token", "-q", "manager"]).ok()?;
    assert!(q.stdout.trim().starts_with("SWMTKN-1-"));

    let again = d.docker(&["swarm", "init"]).failed()?;
    assert!(
        again
            .stderr
            .contains("This node is already part of a swarm"),
        "{}",
        again.stderr
    );
    Ok(())
}
