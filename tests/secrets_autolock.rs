//! Issue 6, autolock: a restarted autolocked manager is locked until unlocked with the
//! current key; wrong keys are refused; rotation and turning autolock off take effect on the
//! key file.

mod secrets_common;

use nix::sys::signal::Signal;
use secrets_common::{CONVERGE, Swarm};
use shoal_testkit::wait_until;

const LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";

fn restart(s: &mut Swarm) -> anyhow::Result<()> {
    s.d.signal_and_wait(Signal::SIGTERM)?;
    s.d.restart()
}

fn state(s: &Swarm) -> anyhow::Result<String> {
    Ok(
        s.d.api("GET", "/info", None)?.json()?["Swarm"]["LocalNodeState"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn unlock_key(s: &Swarm) -> anyhow::Result<String> {
    Ok(s.d
        .shoal(&["swarm", "unlock-key", "-q"])
        .ok()?
        .stdout
        .trim()
        .to_string())
}

/// The key file is re-saved after the commit; wait until a restart would see `locked`.
fn wait_key_file(s: &Swarm, locked: bool) -> anyhow::Result<()> {
    let path = s.d.data_root.join("swarm/certificates/swarm-node.key");
    wait_until(
        &format!("the key file to be locked={locked}"),
        CONVERGE,
        || {
            std::fs::read_to_string(&path)
                .is_ok_and(|t| t.contains(if locked { "Locked: yes" } else { "Locked: no" }))
        },
    )
}

#[test]
fn an_autolocked_manager_restarts_locked_and_only_the_current_key_unlocks_it() -> anyhow::Result<()>
{
    let mut s = Swarm::new(&["--autolock"], &[])?;
    let key = unlock_key(&s)?;
    assert!(key.starts_with("SWMKEY-1-"), "{key}");
    s.d.shoal(&[
        "service",
        "create",
        "--detach",
        "--name",
        "keep",
        shoal_testkit::image::BUSYBOX,
        "sleep",
        "3600",
    ])
    .ok()?;
    s.running("keep")?;
    wait_key_file(&s, true)?;

    restart(&mut s)?;
    assert_eq!(state(&s)?, "locked");
    let ping = s.d.api("GET", "/_ping", None)?;
    assert_eq!(ping.header("Swarm"), Some("locked"));
    let r = s.d.api("GET", "/services", None)?;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()?["message"], LOCKED);

    let wrong = "SWMKEY-1-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (code, _, err) = s.shoal_stdin(&["swarm", "unlock"], format!("{wrong}\n").as_bytes())?;
    assert_ne!(code, 0);
    assert!(
        err.contains("swarm could not be unlocked: invalid key provided"),
        "{err}"
    );
    let r = s.d.api(
        "POST",
        "/swarm/unlock",
        Some(&format!(r#"{{"UnlockKey":"{wrong}"}}"#)),
    )?;
    assert_eq!(r.status, 401);

    let (code, _, err) = s.shoal_stdin(&["swarm", "unlock"], format!("{key}\n").as_bytes())?;
    assert_eq!(code, 0, "{err}");
    assert_eq!(state(&s)?, "active");
    s.running("keep")?;
    let svc = s.d.api("GET", "/services/keep", None)?;
    assert_eq!(svc.status, 200, "the services survived the lock");

    // Rotation: the new key unlocks, the old one no longer does.
    let path = s.d.data_root.join("swarm/certificates/swarm-node.key");
    let before = std::fs::read_to_string(&path)?;
    s.d.shoal(&["swarm", "unlock-key", "--rotate"]).ok()?;
    let rotated = unlock_key(&s)?;
    assert_ne!(rotated, key);
    wait_until("the key file to be re-wrapped", CONVERGE, || {
        std::fs::read_to_string(&path).is_ok_and(|t| t != before)
    })?;
    restart(&mut s)?;
    assert_eq!(state(&s)?, "locked");
    let (code, _, _) = s.shoal_stdin(&["swarm", "unlock"], format!("{key}\n").as_bytes())?;
    assert_ne!(code, 0, "the previous key is no longer valid");
    let (code, _, err) = s.shoal_stdin(&["swarm", "unlock"], format!("{rotated}\n").as_bytes())?;
    assert_eq!(code, 0, "{err}");

    // Turning autolock off: the next restart is not locked.
    s.d.shoal(&["swarm", "update", "--autolock=false"]).ok()?;
    wait_key_file(&s, false)?;
    restart(&mut s)?;
    wait_until("the manager to be active after restart", CONVERGE, || {
        state(&s).is_ok_and(|st| st == "active")
    })?;
    // And on again: `swarm update --autolock=true` locks the next restart with a new key.
    s.d.shoal(&["swarm", "update", "--autolock=true"]).ok()?;
    let fresh = unlock_key(&s)?;
    wait_key_file(&s, true)?;
    restart(&mut s)?;
    assert_eq!(state(&s)?, "locked");
    let (code, _, err) = s.shoal_stdin(&["swarm", "unlock"], format!("{fresh}\n").as_bytes())?;
    assert_eq!(code, 0, "{err}");
    s.running("keep")?;
    Ok(())
}
