//! The real docker CLI against shoal: the swarm commands shoal serves, and everything else
//! passed through to the node's engine (containers, exec, logs, images, networks, system df).

use shoal_testkit::TestDaemon;
use shoal_testkit::image::ensure_busybox;
use shoal_testkit::wait_for;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Containers a test made on the engine, removed even when the test fails.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            // Teardown straight on the engine: a container already gone is fine.
            let _ = Command::new("docker")
                .env_remove("DOCKER_HOST")
                .args(["rm", "-f", name])
                .output();
        }
    }
}

/// The docker CLI against `d` under a pseudo-terminal (`script`), for `-it` commands.
fn docker_in_pty(d: &TestDaemon, cmdline: &str) -> anyhow::Result<String> {
    let out = Command::new("script")
        .args(["-qec", &format!("docker {cmdline}"), "/dev/null"])
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "`docker {cmdline}` in a pty failed: {}\n{text}",
        out.status
    );
    Ok(text)
}

#[test]
fn the_whole_docker_cli_works_through_the_shoal_socket() -> anyhow::Result<()> {
    let image = ensure_busybox()?;
    let d = TestDaemon::start(BIN)?;
    d.docker(&["swarm", "init", "--advertise-addr", &d.listen_addr])
        .ok()?;
    let name = format!("shoal-passthrough-{}", std::process::id());
    let _cleanup = Containers(vec![name.clone()]);

    // run -d, ps, inspect: containers pass through.
    d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        image,
        "sh",
        "-c",
        "echo first; sleep 1; echo second; exec sleep 600",
    ])
    .ok()?;
    let ps = d.docker(&["ps", "--format", "{{.Names}}"]).ok()?;
    assert!(ps.stdout.lines().any(|l| l == name), "{}", ps.stdout);
    let inspect = d.docker(&["inspect", &name]).ok()?;
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout)?;
    assert_eq!(v[0]["State"]["Running"], true, "{}", inspect.stdout);

    // logs -f streams: the second line arrives a second after the first, while following.
    let mut follow = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .args(["logs", "-f", &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = follow
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let followed = wait_for(
        "`docker logs -f` to stream both lines",
        Duration::from_secs(20),
        || {
            while let Ok(l) = rx.try_recv() {
                lines.push(l);
            }
            (lines.len() >= 2).then(|| lines.clone())
        },
    );
    let still_following = follow.try_wait()?.is_none();
    // The follower never ends on its own; stop it before asserting.
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(followed?, ["first", "second"]);
    assert!(still_following, "docker logs -f ended instead of following");

    // exec -it: a hijacked, upgraded connection under a pseudo-terminal, both directions.
    let exec = docker_in_pty(&d, &format!("exec -it {name} sh -c 'echo answer=$((6*7))'"))?;
    assert!(exec.contains("answer=42"), "{exec}");
    let tty = docker_in_pty(&d, &format!("exec -it {name} busybox tty"))?;
    assert!(tty.contains("/dev/pts/"), "exec -it has a terminal: {tty}");
    // stdin reaches the container over the spliced connection, and its close ends the exec.
    let mut cat = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .args(["exec", "-i", &name, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = cat.stdin.take() {
        use std::io::Write;
        stdin.write_all(b"through the splice\n")?;
    }
    let cat = cat.wait_with_output()?;
    assert!(cat.status.success());
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "through the splice\n");

    // run --rm: attach, start, wait, remove.
    let rm_name = format!("{name}-rm");
    let run = d
        .docker(&[
            "run",
            "--rm",
            "--name",
            &rm_name,
            image,
            "echo",
            "hello from run",
        ])
        .ok()?;
    assert_eq!(run.stdout, "hello from run\n");
    let gone = d
        .docker(&["ps", "-a", "--filter", &format!("name={rm_name}"), "-q"])
        .ok()?;
    assert_eq!(gone.stdout.trim(), "", "--rm removed the container");

    let images = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()?;
    assert!(
        images.stdout.lines().any(|l| l == image),
        "{}",
        images.stdout
    );
    let df = d.docker(&["system", "df"]).ok()?;
    assert!(df.stdout.starts_with("TYPE"), "{}", df.stdout);
    assert!(df.stdout.contains("Images"), "{}", df.stdout);

    // Merged answers: local and swarm networks; the engine's info with the swarm section.
    let nets = d
        .docker(&["network", "ls", "--format", "{{.Name}} {{.Scope}}"])
        .ok()?;
    for want in ["bridge local", "host local", "none local", "ingress swarm"] {
        assert!(
            nets.stdout.lines().any(|l| l == want),
            "{want}: {}",
            nets.stdout
        );
    }
    let bridge = d.docker(&["network", "inspect", "bridge"]).ok()?;
    assert!(
        bridge.stdout.contains("\"Scope\": \"local\""),
        "{}",
        bridge.stdout
    );
    let info = d
        .docker(&[
            "info",
            "--format",
            "{{.ServerVersion}} {{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ])
        .ok()?;
    let engine_version = Command::new("docker")
        .env_remove("DOCKER_HOST")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()?;
    let engine_version = String::from_utf8_lossy(&engine_version.stdout)
        .trim()
        .to_string();
    assert_eq!(info.stdout.trim(), format!("{engine_version} active true"));
    let version = d
        .docker(&[
            "version",
            "--format",
            "{{range .Server.Components}}{{.Name}} {{end}}",
        ])
        .ok()?;
    assert!(version.stdout.starts_with("Engine "), "{}", version.stdout);
    assert!(version.stdout.contains("shoal "), "{}", version.stdout);
    Ok(())
}

#[test]
fn a_dead_engine_gives_an_error_at_once_and_the_socket_is_root_only() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("no-engine.sock");
    let d = TestDaemon::launch(
        BIN,
        shoal_testkit::Launch {
            listen_addr: shoal_testkit::next_addr(),
            extra_args: vec!["--engine".into(), format!("unix://{}", missing.display())],
            ..Default::default()
        },
    )?;
    let mode = std::fs::metadata(&d.socket)?.permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "the shoal socket opens the engine to no one else"
    );
    let started = Instant::now();
    let ps = d.docker(&["ps"]).failed()?;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "docker ps hung"
    );
    assert!(
        ps.stderr.contains(
            "Error response from daemon: Cannot connect to the container engine at unix://"
        ) && ps.stderr.contains("no-engine.sock"),
        "{}",
        ps.stderr
    );
    // shoal's own routes still answer.
    d.docker(&["info"]).ok()?;
    Ok(())
}

/// `docker events` against `d` in the background; its lines arrive on the returned channel.
fn follow_events(
    d: &TestDaemon,
    args: &[&str],
) -> anyhow::Result<(std::process::Child, std::sync::mpsc::Receiver<String>)> {
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
        .arg("events")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

#[test]
fn docker_events_reports_swarm_and_engine_events() -> anyhow::Result<()> {
    let image = ensure_busybox()?;
    let d = TestDaemon::start(BIN)?;
    d.docker(&["swarm", "init", "--advertise-addr", &d.listen_addr])
        .ok()?;
    let format = "{{.Scope}} {{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes \"replicas.new\"}}";
    let (mut swarm_only, swarm_rx) =
        follow_events(&d, &["--filter", "scope=swarm", "--format", format])?;
    let (mut all, all_rx) = follow_events(&d, &["--format", format])?;
    // The followers connect asynchronously: give them a moment before the changes.
    std::thread::sleep(Duration::from_millis(800));
    d.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "evweb",
        "--replicas",
        "0",
        image,
        "sleep",
        "60",
    ])
    .ok()?;
    d.docker(&["service", "scale", "-d", "evweb=0"]).ok()?;
    d.docker(&["service", "update", "-d", "--replicas", "2", "evweb"])
        .ok()?;
    let secret = tempfile::NamedTempFile::new()?;
    std::fs::write(secret.path(), "s3cret")?;
    d.docker(&[
        "secret",
        "create",
        "evsecret",
        &secret.path().display().to_string(),
    ])
    .ok()?;
    d.docker(&["network", "create", "-d", "overlay", "evnet"])
        .ok()?;
    d.docker(&["service", "rm", "evweb"]).ok()?;
    let name = format!("shoal-events-{}", std::process::id());
    let _cleanup = Containers(vec![name.clone()]);
    d.docker(&["run", "--rm", "--name", &name, image, "true"])
        .ok()?;

    let want_swarm = [
        "swarm service create evweb",
        "swarm service update evweb 2",
        "swarm secret create evsecret",
        "swarm network create evnet",
        "swarm service remove evweb",
    ];
    let collect = |rx: &std::sync::mpsc::Receiver<String>, want: &[&str], what: &str| {
        let mut seen: Vec<String> = Vec::new();
        let r = wait_for(what, Duration::from_secs(20), || {
            while let Ok(l) = rx.try_recv() {
                seen.push(l.trim_end().to_string());
            }
            want.iter()
                .all(|w| seen.iter().any(|l| l == w))
                .then(|| seen.clone())
        });
        (r, seen)
    };
    let (swarm_seen, swarm_lines) = collect(&swarm_rx, &want_swarm, "the swarm events");
    let container_start = format!("local container start {name}");
    let (all_seen, all_lines) = collect(
        &all_rx,
        &["swarm service create evweb", container_start.as_str()],
        "swarm and engine events on one stream",
    );
    for child in [&mut swarm_only, &mut all] {
        // The followers never end on their own.
        let _ = child.kill();
        let _ = child.wait();
    }
    let swarm_seen = swarm_seen.map_err(|e| anyhow::anyhow!("{e}: {swarm_lines:?}"))?;
    all_seen.map_err(|e| anyhow::anyhow!("{e}: {all_lines:?}"))?;
    assert!(
        swarm_seen.iter().all(|l| l.starts_with("swarm ")),
        "scope=swarm lets only swarm events through: {swarm_seen:?}"
    );
    assert!(
        !swarm_seen.iter().any(|l| l.contains(" task ")),
        "tasks are not events: {swarm_seen:?}"
    );

    // --until ends the stream, and --since replays the engine's history up to it.
    let until = SystemTimeSecs::now() + 1;
    let since = until - 120;
    let started = Instant::now();
    let replay = d
        .docker(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--format",
            format,
        ])
        .ok()?;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "--until ended it"
    );
    assert!(
        replay
            .stdout
            .lines()
            .any(|l| l.trim_end() == container_start),
        "{}",
        replay.stdout
    );

    // `shoal events`: the same stream in docker's default line format.
    let until = (SystemTimeSecs::now() + 2).to_string();
    let (mut shoal_events, shoal_rx) = {
        let mut child = Command::new(BIN)
            .args(["-H", &d.socket.display().to_string(), "events", "--filter"])
            .args(["scope=swarm", "--until", &until])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    };
    std::thread::sleep(Duration::from_millis(500));
    let created = d.docker(&[
        "secret",
        "create",
        "evsecret2",
        &secret.path().display().to_string(),
    ]);
    let status = wait_for(
        "`shoal events --until` to end",
        Duration::from_secs(15),
        || shoal_events.try_wait().ok().flatten(),
    );
    if status.is_err() {
        let _ = shoal_events.kill();
        let _ = shoal_events.wait();
    }
    let id = created.ok()?.stdout.trim().to_string();
    assert!(status?.success());
    // The reader thread ends once the exited process's pipe is drained.
    let mut lines: Vec<String> = Vec::new();
    while let Ok(l) = shoal_rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(l);
    }
    let want = format!(" secret create {id} (name=evsecret2)");
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(&want) && l.contains('T') && l.contains('Z')),
        "{want} in {lines:?}"
    );
    Ok(())
}

/// Unix seconds now.
struct SystemTimeSecs;

impl SystemTimeSecs {
    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

#[test]
fn daemon_logs_are_plain_text_or_json_lines_off_a_terminal() -> anyhow::Result<()> {
    // The test daemon's stderr is a file: no colour codes in text logs.
    let text = TestDaemon::start(BIN)?;
    text.docker(&["swarm", "init", "--advertise-addr", &text.listen_addr])
        .ok()?;
    let log = text.log();
    assert!(!log.is_empty() && !log.contains('\u{1b}'), "{log}");
    drop(text);

    let json = TestDaemon::launch(
        BIN,
        shoal_testkit::Launch {
            listen_addr: shoal_testkit::next_addr(),
            extra_args: vec!["--log-format".into(), "json".into()],
            ..Default::default()
        },
    )?;
    json.docker(&["swarm", "init", "--advertise-addr", &json.listen_addr])
        .ok()?;
    let log = json.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the daemon logged nothing");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("not a JSON log line ({e}): {line}"))?;
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    Ok(())
}
