//! Issue 7 scenarios: stacks deployed from compose files onto a swarm of one, as real
//! containers, with `shoal stack …` and with the docker CLI's `docker stack …`.

mod stack_support;

use serde_json::Value;
use shoal_testkit::image::BUSYBOX;
use shoal_testkit::{Cli, wait_until};
use stack_support::{
    CONVERGE, Fixture, STACK, TAG_V2, fetch, fetch_page, id_of_named, name_of, normalized,
};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_shoal");

#[test]
fn a_stack_deploys_redeploys_without_restarts_and_updates_only_what_changed() -> anyhow::Result<()>
{
    let f = Fixture::new()?;
    let out = f.deploy("app", &[])?;
    for line in [
        "Creating network app_default",
        "Creating network app_front",
        "Creating secret app_pass",
        "Creating config app_page",
        "Creating service app_web",
        "Creating service app_worker",
    ] {
        assert!(out.stdout.contains(line), "{line}:\n{}", out.stdout);
    }
    assert!(
        out.stderr
            .contains("Ignoring unsupported options: depends_on"),
        "{}",
        out.stderr
    );
    f.wait_running("app_web", 2)?;
    f.wait_running("app_worker", 1)?;

    // Objects are named <stack>_<name> and labelled; specs carry resolved ids.
    let services = f.stack_objects("services", "app")?;
    let networks = f.stack_objects("networks", "app")?;
    let secrets = f.stack_objects("secrets", "app")?;
    let configs = f.stack_objects("configs", "app")?;
    let names = |v: &[Value]| {
        v.iter()
            .map(|o| name_of(o).to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        names(&services),
        ["app_web".into(), "app_worker".into()].into()
    );
    assert_eq!(
        names(&networks),
        ["app_default".into(), "app_front".into()].into()
    );
    assert_eq!(names(&secrets), ["app_pass".into()].into());
    assert_eq!(names(&configs), ["app_page".into()].into());
    let web = f.get("/v1.44/services/app_web")?;
    let worker = f.get("/v1.44/services/app_worker")?;
    assert_eq!(web["Spec"]["Labels"]["com.docker.stack.image"], BUSYBOX);
    assert_eq!(web["Spec"]["Mode"]["Replicated"]["Replicas"], 2);
    let tt = &web["Spec"]["TaskTemplate"];
    assert_eq!(
        tt["Networks"][0]["Target"],
        id_of_named(&networks, "app_front").as_str()
    );
    assert_eq!(tt["Networks"][0]["Aliases"][0], "web");
    assert_eq!(
        tt["ContainerSpec"]["Configs"][0]["ConfigID"],
        id_of_named(&configs, "app_page").as_str()
    );
    let wt = &worker["Spec"]["TaskTemplate"];
    assert_eq!(
        wt["Networks"][0]["Target"],
        id_of_named(&networks, "app_default").as_str()
    );
    assert_eq!(
        wt["ContainerSpec"]["Secrets"][0]["SecretID"],
        id_of_named(&secrets, "app_pass").as_str()
    );
    assert_eq!(wt["ContainerSpec"]["Env"][0], "GREETING=from-dotenv");
    let page = fetch_page(&f.containers("app_web")[0])?;
    assert!(page.contains("hello from a config"), "{page}");

    // Redeploying the same files changes nothing.
    let web_tasks = f.running_tasks("app_web")?;
    let worker_tasks = f.running_tasks("app_worker")?;
    let out = f.deploy("app", &[])?;
    assert!(
        out.stdout.contains("Updating service app_web (id: "),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Creating"), "{}", out.stdout);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(f.running_tasks("app_web")?, web_tasks, "web restarted");
    assert_eq!(
        f.running_tasks("app_worker")?,
        worker_tasks,
        "worker restarted"
    );

    // A new image for the worker updates the worker only.
    f.deploy("app", &[("WORKER_TAG", "stk-v2")])?;
    wait_until("a new worker task", CONVERGE, || {
        f.running_tasks("app_worker")
            .is_ok_and(|t| !t.is_empty() && t.is_disjoint(&worker_tasks))
    })?;
    f.wait_running("app_worker", 1)?;
    let worker = f.get("/v1.44/services/app_worker")?;
    let image = worker["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or_default();
    assert!(image.starts_with(TAG_V2), "{image}");
    assert_eq!(f.running_tasks("app_web")?, web_tasks, "web restarted");

    // --prune removes a service dropped from the files.
    let without_worker = STACK
        .split("  worker:")
        .next()
        .unwrap_or_default()
        .to_string()
        + "networks:\n  front:\n    attachable: true\nconfigs:\n  page:\n    file: ./index.html\n";
    std::fs::write(f.file("stack.yml"), without_worker)?;
    let out = f.deploy("app", &[])?;
    assert!(!out.stdout.contains("Removing"), "no prune without --prune");
    let file = f.file("stack.yml");
    let out =
        f.d.shoal(&[
            "stack",
            "deploy",
            "--prune",
            "-c",
            &file.to_string_lossy(),
            "app",
        ])
        .ok()?;
    assert!(
        out.stdout.contains("Removing service app_worker"),
        "{}",
        out.stdout
    );
    assert_eq!(
        names(&f.stack_objects("services", "app")?),
        ["app_web".into()].into()
    );
    wait_until("the worker's container to go", CONVERGE, || {
        f.containers("app_worker").is_empty()
    })?;
    assert_eq!(f.running_tasks("app_web")?, web_tasks, "web restarted");
    Ok(())
}

#[test]
fn stack_ls_services_ps_and_rm_leave_nothing_behind() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    f.deploy("app", &[])?;
    f.wait_running("app_web", 2)?;
    f.wait_running("app_worker", 1)?;

    let ls = f.d.shoal(&["stack", "ls"]).ok()?;
    assert_eq!(ls.stdout, "NAME      SERVICES\napp       2\n");
    wait_until("stack services to show 2/2 and 1/1", CONVERGE, || {
        let s = f.d.shoal(&["stack", "services", "app"]).stdout;
        s.contains("2/2") && s.contains("1/1")
    })?;
    let services = f.d.shoal(&["stack", "services", "app"]).ok()?;
    let lines: Vec<&str> = services.stdout.lines().collect();
    assert!(lines[0].starts_with("ID "), "{}", services.stdout);
    assert!(lines[1].contains("app_web") && lines[1].contains("replicated"));
    assert!(lines[2].contains("app_worker") && lines[2].contains(BUSYBOX));
    let q = f.d.shoal(&["stack", "services", "-q", "app"]).ok()?;
    assert_eq!(q.stdout.lines().count(), 2);
    let ps = f.d.shoal(&["stack", "ps", "app"]).ok()?;
    for name in ["app_web.1", "app_web.2", "app_worker.1"] {
        assert!(ps.stdout.contains(name), "{name}:\n{}", ps.stdout);
    }
    assert_eq!(ps.stdout.matches("Running").count(), 6, "{}", ps.stdout);

    // Secrets are immutable: a changed file is refused with Docker's message.
    std::fs::write(f.file("pass.txt"), "changed\n")?;
    let file = f.file("stack.yml");
    let refused =
        f.d.shoal(&["stack", "deploy", "-c", &file.to_string_lossy(), "app"])
            .failed()?;
    assert!(
        refused
            .stderr
            .contains("failed to update secret app_pass: Error response from daemon:")
            && refused
                .stderr
                .contains("only updates to Labels are allowed"),
        "{}",
        refused.stderr
    );

    let rm = f.d.shoal(&["stack", "rm", "--detach=false", "app"]).ok()?;
    assert_eq!(
        rm.stdout,
        "Removing service app_web\nRemoving service app_worker\nRemoving secret app_pass\n\
         Removing config app_page\nRemoving network app_default\nRemoving network app_front\n"
    );
    for kind in ["services", "networks", "secrets", "configs"] {
        assert_eq!(
            f.stack_objects(kind, "app")?,
            Vec::<Value>::new(),
            "{kind} left"
        );
    }
    assert!(f.containers("app_web").is_empty() && f.containers("app_worker").is_empty());
    let none = f.d.shoal(&["stack", "ps", "app"]).failed()?;
    assert_eq!(none.stderr.trim(), "nothing found in stack: app");
    let again = f.d.shoal(&["stack", "rm", "app"]).ok()?;
    assert_eq!(again.stderr.trim(), "Nothing found in stack: app");
    assert_eq!(
        f.d.shoal(&["stack", "ls"]).ok()?.stdout,
        "NAME      SERVICES\n"
    );
    Ok(())
}

#[test]
fn bad_files_are_reported_with_file_and_line_and_create_nothing() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let write = |name: &str, text: &str| -> anyhow::Result<String> {
        let p = f.file(name);
        std::fs::write(&p, text)?;
        Ok(p.to_string_lossy().into_owned())
    };
    let unknown = write(
        "unknown.yml",
        "services:\n  web:\n    image: a\n    deploy:\n      replica: 2\n",
    )?;
    let out =
        f.d.shoal(&["stack", "deploy", "-c", &unknown, "app"])
            .failed()?;
    assert_eq!(
        out.stderr.trim(),
        format!("{unknown}:5:7: unknown key \"replica\" in services.web.deploy")
    );
    let malformed = write("bad.yml", "services:\n  web:\n    image: [a\n")?;
    let out =
        f.d.shoal(&["stack", "deploy", "-c", &malformed, "app"])
            .failed()?;
    assert!(
        out.stderr.starts_with(&format!("{malformed}:")),
        "{}",
        out.stderr
    );
    let required = write(
        "req.yml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n",
    )?;
    let out =
        f.d.shoal(&["stack", "deploy", "-c", &required, "app"])
            .failed()?;
    assert!(out.stderr.contains("set IMAGE"), "{}", out.stderr);
    for kind in ["services", "networks", "secrets", "configs"] {
        assert_eq!(
            f.stack_objects(kind, "app")?,
            Vec::<Value>::new(),
            "{kind} created"
        );
    }
    Ok(())
}

#[test]
fn stack_config_prints_the_merged_interpolated_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let a = dir.path().join("a.yml");
    let b = dir.path().join("b.yml");
    std::fs::write(
        &a,
        "services:\n  web:\n    image: busybox:${TAG:-1.36}\n    environment:\n      MODE: ${MODE}\n      LEVEL: ${LEVEL-info}\n",
    )?;
    std::fs::write(&b, "services:\n  web:\n    deploy:\n      replicas: 3\n")?;
    std::fs::write(dir.path().join(".env"), "MODE=dotenv\nTAG=from-dotenv\n")?;
    let mut cmd = Command::new(BIN);
    // No daemon: `stack config` works offline, as docker's does.
    cmd.args(["-H", "/nonexistent.sock", "stack", "config", "-c"])
        .arg(&a)
        .arg("-c")
        .arg(&b)
        .env("TAG", "from-env");
    let out = Cli::run(cmd, "shoal stack config".into()).ok()?;
    let want = "services:\n  web:\n    image: busybox:from-env\n    environment:\n      LEVEL: info\n      MODE: dotenv\n    deploy:\n      replicas: 3\n";
    assert!(out.stdout.contains(want), "{}", out.stdout);
    Ok(())
}

#[test]
fn the_docker_cli_deploys_the_same_specs_as_shoal_and_removes_its_stack() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let file = f.file("stack.yml");
    let file = file.to_string_lossy();
    // docker's stack deploy reads no `.env` file; the environment is common ground.
    f.deploy("sh", &[("GREETING", "hi")])?;
    let docker_deploy = || {
        let mut docker = Command::new("docker");
        docker
            .env("DOCKER_HOST", format!("unix://{}", f.d.socket.display()))
            .env("GREETING", "hi")
            .env_remove("DOCKER_CONTEXT")
            .args(["stack", "deploy", "-c", &file, "dk"]);
        Cli::run(docker, "docker stack deploy".into()).ok()
    };
    let out = docker_deploy()?;
    assert!(
        out.stdout.contains("Creating service dk_worker"),
        "{}",
        out.stdout
    );
    for svc in ["web", "worker"] {
        assert_eq!(
            normalized(&f, "sh", svc)?,
            normalized(&f, "dk", svc)?,
            "{svc}"
        );
    }
    f.wait_running("dk_web", 2)?;
    f.wait_running("dk_worker", 1)?;

    // The docker CLI's redeploy is a no-op on the daemon too.
    let tasks = f.running_tasks("dk_worker")?;
    docker_deploy()?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(f.running_tasks("dk_worker")?, tasks);

    let ls = f.d.docker(&["stack", "ls"]).ok()?;
    assert!(
        ls.stdout.contains("dk        2") && ls.stdout.contains("sh        2"),
        "{}",
        ls.stdout
    );
    let services = f.d.docker(&["stack", "services", "dk"]).ok()?;
    assert!(services.stdout.contains("dk_web"), "{}", services.stdout);
    let ps = f.d.docker(&["stack", "ps", "dk"]).ok()?;
    assert!(ps.stdout.contains("dk_worker.1"), "{}", ps.stdout);
    let rm = f.d.docker(&["stack", "rm", "dk"]).ok()?;
    assert!(
        rm.stdout.contains("Removing network dk_front"),
        "{}",
        rm.stdout
    );
    for kind in ["services", "networks", "secrets", "configs"] {
        assert_eq!(
            f.stack_objects(kind, "dk")?,
            Vec::<Value>::new(),
            "{kind} left"
        );
    }
    assert_eq!(
        f.stack_objects("services", "sh")?.len(),
        2,
        "the other stack stays"
    );
    Ok(())
}

#[test]
fn the_example_stack_deploys_and_serves() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/stack.yml");
    let out = f
        .shoal_env(
            &["stack", "deploy", "-c", example, "shop"],
            &[("IMAGE", BUSYBOX)],
        )
        .ok()?;
    assert!(
        out.stdout.contains("Creating service shop_worker"),
        "{}",
        out.stdout
    );
    for (service, n) in [
        ("shop_front", 2),
        ("shop_api", 2),
        ("shop_worker", 1),
        ("shop_db", 1),
    ] {
        f.wait_running(service, n)?;
    }
    let page = fetch_page(&f.containers("shop_front")[0])?;
    assert!(page.contains("hello from a shoal stack"), "{page}");
    let status = fetch(&f.containers("shop_api")[0], "/cgi-bin/status")?;
    assert!(
        status.contains("\"db_password_mounted\":true") && status.contains("\"db_host\":\"db\""),
        "{status}"
    );
    let api = f.get("/v1.44/services/shop_api")?;
    assert_eq!(
        api["Spec"]["TaskTemplate"]["Placement"]["Constraints"][0],
        "node.role == manager"
    );
    assert_eq!(api["Spec"]["UpdateConfig"]["Order"], "stop-first");
    Ok(())
}
