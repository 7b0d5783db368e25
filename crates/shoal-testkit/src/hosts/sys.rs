//! The system side of test hosts: running `ip`, `mount`, `nsenter`; stopping processes; and
//! tearing a set down from its [`Layout`] alone (used by drop and by leftover cleanup alike).

use super::layout::{DATA_ROOT, Layout, RUN_ROOT};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long dockerd may take to stop on SIGTERM before it is killed (it waits 10 s per
/// container that ignores SIGTERM; containers are removed before, so this is generous).
const ENGINE_STOP: Duration = Duration::from_secs(20);

/// Runs `program args` and fails with its stderr unless it exits 0.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip args`.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args).map(drop)
}

/// Whether the network namespace `name` exists.
pub fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

/// Whether `path` is a mount point in this process's mount namespace.
pub fn is_mount_point(path: &Path) -> bool {
    let p = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_ref()))
}

/// Whether process `pid` runs (a zombie does not: a killed child of ours that nobody reaped
/// must not hold up a teardown).
pub fn alive(pid: i32) -> bool {
    pid > 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
}

/// Reads a pid file; `None` when missing or unreadable.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// SIGTERM our child, wait up to `grace`, then SIGKILL; always reaps it.
pub fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // Teardown: the process may have exited between the check and the signal.
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Teardown: see above; wait() reaps it either way.
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM a process that is not our child, wait up to `grace`, then SIGKILL.
fn stop_pid(pid: i32, grace: Duration) {
    if !alive(pid) {
        return;
    }
    // Teardown: a process that is already gone needs nothing.
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && alive(pid) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Teardown: see above.
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// SIGKILLs every process in network namespace `ns`.
fn kill_netns_processes(ns: &str) {
    let pids = run("ip", &["netns", "pids", ns]).unwrap_or_default();
    for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // Teardown: whatever runs there was started for this host.
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Kills every process in the cgroup `parent` (every v1 hierarchy) and removes its dirs.
fn remove_cgroups(parent: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for h in hierarchies.flatten() {
        let dir = h.path().join(parent.trim_start_matches('/'));
        if !dir.is_dir() {
            continue;
        }
        for _ in 0..50 {
            kill_cgroup_tree(&dir);
            if rmdir_tree(&dir) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn kill_cgroup_tree(dir: &Path) {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // Teardown: the container processes of a host being removed.
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            kill_cgroup_tree(&e.path());
        }
    }
}

/// Removes a cgroup dir and its children, deepest first; whether it is gone.
fn rmdir_tree(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            rmdir_tree(&e.path());
        }
    }
    std::fs::remove_dir(dir).is_ok() || !dir.exists()
}

/// Unmounts `path` (lazily if busy); a path that is not mounted is fine.
fn unmount(path: &Path) {
    if is_mount_point(path)
        && Command::new("umount")
            .arg(path)
            .output()
            .map_or(true, |o| !o.status.success())
    {
        // Teardown: the lazy unmount is the last resort; a failure leaves the mount for
        // the leftover cleanup to report.
        let _ = Command::new("umount").arg("-l").arg(path).output();
    }
}

/// Removes every container of the engine at `socket` (if it answers).
pub fn remove_engine_containers(socket: &Path) {
    let host = format!("unix://{}", socket.display());
    let Ok(ids) = run("docker", &["-H", &host, "ps", "-aq"]) else {
        return;
    };
    let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    if !ids.is_empty() {
        let mut args = vec!["-H", host.as_str(), "rm", "-f"];
        args.extend(ids);
        if let Err(e) = run("docker", &args) {
            eprintln!("test hosts: removing containers: {e}");
        }
    }
}

/// Tears host `i` down: containers, its dockerd (`engine`: our child if we have it, else the
/// recorded pid), every process left in its namespace and cgroups, its namespaces, dirs.
pub fn teardown_host(layout: &Layout, i: usize, engine: Option<&mut Child>) {
    let socket = layout.engine_socket(i);
    if socket.exists() {
        remove_engine_containers(&socket);
    }
    match engine {
        Some(child) => stop_child(child, ENGINE_STOP),
        None => {
            if let Some(pid) = read_pid(&layout.engine_pid_file(i)) {
                stop_pid(pid, ENGINE_STOP);
            }
        }
    }
    let ns = layout.host_ns(i);
    if netns_exists(&ns) {
        kill_netns_processes(&ns);
    }
    remove_cgroups(&layout.cgroup_parent(i));
    unmount(&layout.mount_ns_file(i));
    unmount(&layout.uts_ns_file(i));
    if netns_exists(&ns)
        && let Err(e) = ip(&["netns", "del", &ns])
    {
        eprintln!("test hosts: {e}");
    }
    remove_dir(&layout.host_run(i));
    remove_dir(&layout.host_data(i));
}

/// Tears down what is left of the whole set: every host found on disk, the client and
/// fabric namespaces, the private runtime mount and the dirs.
pub fn teardown_set(layout: &Layout) {
    let hosts = host_indexes(layout);
    std::thread::scope(|s| {
        for i in hosts {
            s.spawn(move || teardown_host(layout, i, None));
        }
    });
    for ns in [layout.client_ns(), layout.fabric_ns()] {
        if netns_exists(&ns) {
            kill_netns_processes(&ns);
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("test hosts: {e}");
            }
        }
    }
    unmount(&layout.run_dir());
    remove_dir(&layout.run_dir());
    remove_dir(&layout.data_dir());
    // Parents are shared by other sets: removed only once empty.
    for root in [RUN_ROOT, DATA_ROOT] {
        // Teardown: fails while another set still lives there, which is fine.
        let _ = std::fs::remove_dir(root);
    }
}

/// Indexes of the hosts of `layout` that left a dir or a namespace behind.
fn host_indexes(layout: &Layout) -> Vec<usize> {
    let mut found = std::collections::BTreeSet::new();
    for dir in [layout.run_dir(), layout.data_dir()] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(i) = name.strip_prefix('h').and_then(|n| n.parse().ok()) {
                    found.insert(i);
                }
            }
        }
    }
    let ns_prefix = format!("{}{}-h", super::layout::NS_PREFIX, layout.prefix);
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = name.strip_prefix(&ns_prefix).and_then(|n| n.parse().ok()) {
                found.insert(i);
            }
        }
    }
    found.into_iter().collect()
}

fn remove_dir(dir: &Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        eprintln!("test hosts: cannot remove {}: {e}", dir.display());
    }
}

/// Prefixes of every set found on this machine (runtime dirs, data dirs, fabric namespaces).
pub fn existing_prefixes() -> Vec<String> {
    let mut found = std::collections::BTreeSet::new();
    for root in [RUN_ROOT, DATA_ROOT] {
        if let Ok(entries) = std::fs::read_dir(root) {
            found.extend(
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(p) = name
                .strip_prefix(super::layout::NS_PREFIX)
                .and_then(|n| n.strip_suffix("-fabric"))
            {
                found.insert(p.to_string());
            }
        }
    }
    found.into_iter().collect()
}
