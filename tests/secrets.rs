//! Issue 6: secrets and configs reach exactly the containers that use them, on a read-only
//! tmpfs, byte for byte; the API and both CLIs manage them as Docker does.

mod secrets_common;

use secrets_common::{Swarm, b64, exec};
use shoal_testkit::wait_until;

const PAYLOAD: &str = "s3cr3t-PAYLOAD-7f2c";

#[test]
fn a_secret_appears_byte_for_byte_on_a_read_only_tmpfs_only_in_its_service() -> anyhow::Result<()> {
    let s = Swarm::new(&[], &[])?;
    let (code, id, err) = s.shoal_stdin(&["secret", "create", "db", "-"], PAYLOAD.as_bytes())?;
    anyhow::ensure!(code == 0 && !id.trim().is_empty(), "secret create: {err}");
    let binary: Vec<u8> = b"\0bin\0ary\xff\x00end\n".to_vec();
    let (code, _, err) = s.shoal_stdin(&["secret", "create", "bin", "-"], &binary)?;
    anyhow::ensure!(code == 0, "binary secret create: {err}");

    s.d.shoal(&[
        "service",
        "create",
        "--detach",
        "--name",
        "app",
        "--secret",
        "db",
        "--secret",
        "source=db,target=alias,mode=0400",
        "--secret",
        "source=db,target=suid,mode=04755",
        "--secret",
        "bin",
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    s.d.shoal(&[
        "service",
        "create",
        "--detach",
        "--name",
        "other",
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    let app = s.running("app")?;
    let other = s.running("other")?;

    for file in ["/run/secrets/db", "/run/secrets/alias"] {
        let (ok, bytes, err) = exec(&app, &["cat", file])?;
        anyhow::ensure!(ok, "cat {file}: {err}");
        assert_eq!(
            bytes,
            PAYLOAD.as_bytes(),
            "{file} holds exactly the payload"
        );
    }
    let (ok, bytes, err) = exec(&app, &["cat", "/run/secrets/bin"])?;
    anyhow::ensure!(ok, "cat bin: {err}");
    assert_eq!(bytes, binary, "binary secrets keep their NUL bytes");

    let (_, mode, _) = exec(&app, &["stat", "-c", "%a %u %g", "/run/secrets/alias"])?;
    assert_eq!(String::from_utf8_lossy(&mode).trim(), "400 0 0");
    let (_, mode, _) = exec(&app, &["stat", "-c", "%a", "/run/secrets/db"])?;
    assert_eq!(
        String::from_utf8_lossy(&mode).trim(),
        "444",
        "default mode 0444"
    );
    let (_, mode, _) = exec(&app, &["stat", "-c", "%a", "/run/secrets/suid"])?;
    assert_eq!(
        String::from_utf8_lossy(&mode).trim(),
        "755",
        "only the permission bits of mode=04755 are kept (no setuid)"
    );

    let (_, mounts, _) = exec(&app, &["cat", "/proc/mounts"])?;
    let mounts = String::from_utf8_lossy(&mounts).into_owned();
    let line = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/run/secrets"))
        .ok_or_else(|| anyhow::anyhow!("/run/secrets not mounted:\n{mounts}"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[2], "tmpfs", "{line}");
    for option in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(
            fields[3].split(',').any(|o| o == option),
            "{option} in the container: {line}"
        );
    }
    let (ok, _, _) = exec(&app, &["sh", "-c", "echo x > /run/secrets/new"])?;
    assert!(!ok, "the secrets mount is read-only");

    let (ok, bytes, _) = exec(&other, &["cat", "/run/secrets/db"])?;
    assert!(
        !ok && bytes.is_empty(),
        "another service's container cannot read it"
    );

    let inspect = std::process::Command::new("docker")
        .args(["inspect", &app])
        .output()?;
    assert!(
        !String::from_utf8_lossy(&inspect.stdout).contains(PAYLOAD),
        "the engine's container metadata does not hold the secret"
    );

    let refused = s.d.shoal(&["secret", "rm", "db"]).failed()?;
    assert!(
        refused
            .stderr
            .contains("secret 'db' is in use by the following service: app"),
        "{}",
        refused.stderr
    );
    s.d.shoal(&["service", "rm", "app"]).ok()?;
    s.d.shoal(&["secret", "rm", "db", "bin"]).ok()?;
    wait_until("app's container to go", secrets_common::CONVERGE, || {
        s.containers("app").is_empty()
    })?;
    Ok(())
}

#[test]
fn the_secrets_api_behaves_like_dockers() -> anyhow::Result<()> {
    let s = Swarm::new(&[], &[])?;
    let body = format!(
        r#"{{"Name":"db","Labels":{{"a":"1"}},"Data":"{}"}}"#,
        b64(PAYLOAD.as_bytes())
    );
    let r = s.d.api("POST", "/v1.44/secrets/create", Some(&body))?;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()?["ID"].as_str().unwrap_or_default().to_string();

    let dup = s.d.api("POST", "/v1.44/secrets/create", Some(&body))?;
    assert_eq!(dup.status, 409);
    assert_eq!(
        dup.json()?["message"],
        "rpc error: code = AlreadyExists desc = secret db already exists"
    );
    let bad = s.d.api(
        "POST",
        "/secrets/create",
        Some(r#"{"Name":"-x","Data":"eA=="}"#),
    )?;
    assert_eq!(bad.status, 400, "{}", bad.text());
    let empty =
        s.d.api("POST", "/secrets/create", Some(r#"{"Name":"e","Data":""}"#))?;
    assert_eq!(empty.status, 400, "{}", empty.text());

    let got = s.d.api("GET", "/v1.44/secrets/db", None)?;
    assert_eq!(got.status, 200);
    let v = got.json()?;
    assert!(v["Spec"].get("Data").is_none(), "no Data in inspect: {v}");
    assert!(!got.text().contains(&b64(PAYLOAD.as_bytes())));
    let version = v["Version"]["Index"].as_u64().unwrap_or_default();
    let list = s.d.api(
        "GET",
        "/secrets?filters=%7B%22names%22%3A%7B%22db%22%3Atrue%7D%7D",
        None,
    )?;
    assert_eq!(list.json()?.as_array().map(Vec::len), Some(1));
    assert!(!list.text().contains(&b64(PAYLOAD.as_bytes())));

    let same = format!(
        r#"{{"Name":"db","Labels":{{"b":"2"}},"Data":"{}"}}"#,
        b64(PAYLOAD.as_bytes())
    );
    let r = s.d.api(
        "POST",
        &format!("/secrets/{id}/update?version={version}"),
        Some(&same),
    )?;
    assert_eq!(
        r.status,
        200,
        "labels may change, same Data re-sent: {}",
        r.text()
    );
    let v = s.d.api("GET", &format!("/secrets/{id}"), None)?.json()?;
    assert_eq!(v["Spec"]["Labels"], serde_json::json!({"b": "2"}));
    let version = v["Version"]["Index"].as_u64().unwrap_or_default();
    let changed = r#"{"Name":"db","Labels":{},"Data":"eHg="}"#;
    let r = s.d.api(
        "POST",
        &format!("/secrets/{id}/update?version={version}"),
        Some(changed),
    )?;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()?["message"],
        "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
    );

    let svc = r#"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Secrets":[{"File":{"Name":"db","UID":"0","GID":"0","Mode":292},"SecretID":"nope","SecretName":"ghost"}]}}}"#;
    let r = s.d.api("POST", "/services/create", Some(svc))?;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("secret not found: ghost"), "{}", r.text());

    let conf = format!(r#"{{"Name":"app.conf","Data":"{}"}}"#, b64(b"key=value\n"));
    let r = s.d.api("POST", "/configs/create", Some(&conf))?;
    assert_eq!(r.status, 201, "{}", r.text());
    let c = s.d.api("GET", "/configs/app.conf", None)?.json()?;
    assert_eq!(
        c["Spec"]["Data"],
        b64(b"key=value\n"),
        "configs do return their data"
    );

    assert_eq!(s.d.api("DELETE", "/secrets/db", None)?.status, 204);
    assert_eq!(s.d.api("DELETE", "/configs/app.conf", None)?.status, 204);
    assert_eq!(s.d.api("GET", "/secrets/db", None)?.status, 404);
    Ok(())
}

#[test]
fn the_docker_cli_manages_secrets_and_configs_and_uses_them() -> anyhow::Result<()> {
    let s = Swarm::new(&[], &[])?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("payload");
    std::fs::write(&file, PAYLOAD)?;
    let path = file.to_string_lossy().into_owned();
    s.d.docker(&["secret", "create", "--label", "team=a", "dsec", &path])
        .ok()?;
    s.d.docker(&["config", "create", "dconf", &path]).ok()?;
    let ls = s.d.docker(&["secret", "ls"]).ok()?;
    assert!(ls.stdout.contains("dsec"), "{}", ls.stdout);
    let cls = s.d.docker(&["config", "ls"]).ok()?;
    assert!(cls.stdout.contains("dconf"), "{}", cls.stdout);
    let insp = s.d.docker(&["secret", "inspect", "dsec"]).ok()?;
    assert!(
        insp.stdout.contains("\"team\": \"a\"") && !insp.stdout.contains(&b64(PAYLOAD.as_bytes()))
    );
    let pretty =
        s.d.docker(&["config", "inspect", "--pretty", "dconf"])
            .ok()?;
    assert!(
        pretty.stdout.contains(PAYLOAD),
        "config data is shown: {}",
        pretty.stdout
    );
    let ours = s.d.shoal(&["secret", "ls"]).ok()?;
    assert!(
        ours.stdout.starts_with("ID")
            && ours.stdout.contains("DRIVER")
            && ours.stdout.contains("dsec"),
        "{}",
        ours.stdout
    );

    s.d.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        "dweb",
        "--secret",
        "source=dsec,target=token,mode=0400",
        "--config",
        "source=dconf,target=/etc/app.conf",
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    let c = s.running("dweb")?;
    let (ok, bytes, err) = exec(&c, &["cat", "/run/secrets/token"])?;
    anyhow::ensure!(ok, "{err}");
    assert_eq!(bytes, PAYLOAD.as_bytes());
    let (ok, bytes, err) = exec(&c, &["cat", "/etc/app.conf"])?;
    anyhow::ensure!(ok, "{err}");
    assert_eq!(bytes, PAYLOAD.as_bytes());

    let refused = s.d.docker(&["config", "rm", "dconf"]).failed()?;
    assert!(
        refused
            .stderr
            .contains("is in use by the following service: dweb"),
        "{}",
        refused.stderr
    );
    s.d.docker(&["service", "rm", "dweb"]).ok()?;
    s.d.docker(&["secret", "rm", "dsec"]).ok()?;
    s.d.docker(&["config", "rm", "dconf"]).ok()?;
    Ok(())
}

#[test]
fn service_update_adds_and_removes_secrets_and_configs() -> anyhow::Result<()> {
    let s = Swarm::new(&[], &[])?;
    for (kind, name, data) in [
        ("secret", "one", "first"),
        ("secret", "two", "second"),
        ("config", "cfg", "conf-data"),
    ] {
        let (code, _, err) = s.shoal_stdin(&[kind, "create", name, "-"], data.as_bytes())?;
        anyhow::ensure!(code == 0, "{kind} create {name}: {err}");
    }
    s.d.shoal(&[
        "service",
        "create",
        "--detach",
        "--name",
        "upd",
        "--secret",
        "one",
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    let before = s.running("upd")?;
    s.d.shoal(&[
        "service",
        "update",
        "--detach",
        "--secret-rm",
        "one",
        "--secret-add",
        "source=two,target=renamed,mode=0440",
        "--config-add",
        "source=cfg,target=/etc/cfg.txt",
        "upd",
    ])
    .ok()?;
    let spec = s.d.api("GET", "/services/upd", None)?.json()?;
    let secrets = &spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"];
    assert_eq!(secrets.as_array().map(Vec::len), Some(1), "{secrets}");
    assert_eq!(secrets[0]["SecretName"], "two");
    assert_eq!(secrets[0]["File"]["Mode"], 0o440);
    let after = secrets_common::wait_for_other(&s, "upd", &before)?;
    let (ok, bytes, err) = exec(&after, &["cat", "/run/secrets/renamed"])?;
    anyhow::ensure!(ok, "{err}");
    assert_eq!(bytes, b"second");
    let (ok, _, _) = exec(&after, &["cat", "/run/secrets/one"])?;
    assert!(!ok, "the removed secret is gone from the new task");
    let (ok, bytes, err) = exec(&after, &["cat", "/etc/cfg.txt"])?;
    anyhow::ensure!(ok, "{err}");
    assert_eq!(bytes, b"conf-data");
    s.d.shoal(&["secret", "rm", "one"]).ok()?;
    Ok(())
}

#[test]
fn a_task_that_fails_to_prepare_leaves_no_tmpfs_behind() -> anyhow::Result<()> {
    let s = Swarm::new(&[], &[])?;
    let (code, _, err) = s.shoal_stdin(&["secret", "create", "lost", "-"], PAYLOAD.as_bytes())?;
    anyhow::ensure!(code == 0, "{err}");
    s.d.shoal(&[
        "service",
        "create",
        "--detach",
        "--name",
        "broken",
        "--secret",
        "lost",
        "shoal-test/does-not-exist:latest",
    ])
    .ok()?;
    wait_until("a rejected task", secrets_common::CONVERGE, || {
        s.d.api("GET", "/tasks", None)
            .and_then(|r| r.json())
            .is_ok_and(|v| v.to_string().contains("\"rejected\""))
    })?;
    let dir = s.d.data_root.join("task-files");
    let mounted = || {
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(&*dir.to_string_lossy()))
    };
    wait_until(
        "no task tmpfs to stay mounted",
        secrets_common::CONVERGE,
        || !mounted(),
    )?;
    Ok(())
}
