//! One test host: its own network namespace on the set's LAN, a persistent mount namespace
//! with a private `/etc/docker` and `/run/docker/plugins`, a UTS namespace with its own
//! hostname, its own `dockerd`, and a `shoal daemon` inside against that engine.

use super::layout::{CLUSTER_PORT, LAN_BRIDGE, Layout};
use super::sys::{self, ip, run};
use crate::api::api_call;
use crate::daemon::{Cli, Launch, TestDaemon};
use crate::wait::wait_until;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// How long a host's dockerd may take to answer `/_ping` (about 0.2 s when idle; the
/// machine may be busy with parallel builds).
const ENGINE_START: Duration = Duration::from_secs(60);
/// How long a restarted dockerd may take to stop.
const ENGINE_STOP: Duration = Duration::from_secs(20);
/// The storage driver of every host's engine (works on ext4 here).
const STORAGE_DRIVER: &str = "overlay2";

/// Extra flags for every host of a set.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// More `dockerd` flags (e.g. `--live-restore`).
    pub engine_args: Vec<String>,
    /// More `shoal daemon` flags.
    pub daemon_args: Vec<String>,
}

/// One host of a [`TestHosts`](super::TestHosts) set.
pub struct TestHost {
    layout: Layout,
    index: usize,
    engine_args: Vec<String>,
    engine: Option<Child>,
    daemon: Option<TestDaemon>,
    /// Whether drop tears the host down (not when `SHOAL_KEEP_HOSTS=1`).
    pub(super) teardown: bool,
}

impl TestHost {
    /// Creates host `index` of `layout` (the fabric must exist), starts its engine, loads
    /// the image at `image_tar` into it and starts `bin daemon` inside.
    pub(super) fn start(
        layout: &Layout,
        index: usize,
        bin: &str,
        image_tar: &Path,
        opts: &HostOptions,
    ) -> anyhow::Result<TestHost> {
        let mut host = TestHost {
            layout: layout.clone(),
            index,
            engine_args: opts.engine_args.clone(),
            engine: None,
            daemon: None,
            teardown: true,
        };
        host.make_namespaces()?;
        host.start_engine()?;
        let sock = format!("unix://{}", layout.engine_socket(index).display());
        run(
            "docker",
            &[
                "-H",
                &sock,
                "load",
                "-q",
                "-i",
                &image_tar.to_string_lossy(),
            ],
        )?;
        host.daemon = Some(TestDaemon::launch(
            bin,
            Launch {
                listen_addr: format!("{}:{CLUSTER_PORT}", host.addr()),
                wrapper: layout.enter_host(index),
                extra_args: [vec!["--engine".into(), sock], opts.daemon_args.clone()].concat(),
                parent_dir: Some(layout.host_data(index)),
            },
        )?);
        Ok(host)
    }

    /// The network namespace with its veth on the LAN, then the mount and UTS namespaces.
    fn make_namespaces(&self) -> anyhow::Result<()> {
        let (l, i) = (&self.layout, self.index);
        let (ns, fab, port) = (l.host_ns(i), l.fabric_ns(), l.host_port(i));
        ip(&["netns", "add", &ns])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", &fab, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["-n", &fab, "link", "set", &port, "master", LAN_BRIDGE, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/24", self.addr()),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;

        let (run_dir, data) = (l.host_run(i), l.host_data(i));
        let etc = data.join("etc-docker");
        let plugins = run_dir.join("plugins");
        for d in [&etc, &plugins, &data.join("docker"), &run_dir.join("exec")] {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(etc.join("daemon.json"), "{}\n")?;
        std::fs::write(l.mount_ns_file(i), "")?;
        std::fs::write(l.uts_ns_file(i), "")?;
        // dockerd hard-codes /etc/docker (daemon.json, key.json) and its plugin discovery
        // path: private copies of both in a persistent mount namespace, a slave of the root
        // one so mounts made later outside still show inside.
        let script = format!(
            "hostname '{}' && mount --bind '{}' /etc/docker && mkdir -p /run/docker/plugins && mount --bind '{}' /run/docker/plugins",
            l.host_name(i),
            etc.display(),
            plugins.display()
        );
        run(
            "unshare",
            &[
                &format!("--mount={}", l.mount_ns_file(i).display()),
                &format!("--uts={}", l.uts_ns_file(i).display()),
                "--propagation",
                "slave",
                "--",
                "sh",
                "-c",
                &script,
            ],
        )?;
        Ok(())
    }

    /// Starts this host's dockerd inside its namespaces and waits for `/_ping`.
    fn start_engine(&mut self) -> anyhow::Result<()> {
        let (l, i) = (&self.layout, self.index);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.engine_log_path())?;
        let socket = l.engine_socket(i);
        let enter = l.enter_host(i);
        let child = Command::new(&enter[0])
            .args(&enter[1..])
            .arg("dockerd")
            .args(["--config-file", "/etc/docker/daemon.json", "--data-root"])
            .arg(l.host_data(i).join("docker"))
            .arg("--exec-root")
            .arg(l.host_run(i).join("exec"))
            .arg("--pidfile")
            .arg(l.host_run(i).join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--cgroup-parent", &l.cgroup_parent(i)])
            .args(["--storage-driver", STORAGE_DRIVER])
            .args(&self.engine_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run nsenter … dockerd: {e}"))?;
        // nsenter execs dockerd: the child's pid is dockerd's.
        std::fs::write(l.engine_pid_file(i), child.id().to_string())?;
        let engine = self.engine.insert(child);
        let mut exited = None;
        let res = wait_until(
            &format!("dockerd of {} to answer /_ping", l.host_name(i)),
            ENGINE_START,
            || {
                if let Ok(Some(status)) = engine.try_wait() {
                    exited = Some(status);
                    return true;
                }
                api_call(&socket, "GET", "/_ping", None).is_ok_and(|r| r.status == 200)
            },
        );
        if let Some(status) = exited {
            self.engine = None;
            anyhow::bail!(
                "dockerd of {} exited with {status}; log:\n{}",
                self.name(),
                self.engine_log()
            );
        }
        res.map_err(|e| anyhow::anyhow!("{e}; log:\n{}", self.engine_log()))
    }

    fn engine_log_path(&self) -> std::path::PathBuf {
        self.layout.host_run(self.index).join("dockerd.log")
    }

    /// The tail of this host's dockerd log (for failure messages).
    pub fn engine_log(&self) -> String {
        let log = std::fs::read_to_string(self.engine_log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The host's name (also its hostname, so `node ls` tells hosts apart).
    pub fn name(&self) -> String {
        self.layout.host_name(self.index)
    }

    /// The host's LAN address.
    pub fn addr(&self) -> String {
        self.layout.host_ip(self.index)
    }

    /// The host's network namespace (`/run/netns/<ns>`).
    pub fn netns(&self) -> String {
        self.layout.host_ns(self.index)
    }

    /// The `shoal daemon` running inside the host.
    pub fn daemon(&self) -> &TestDaemon {
        self.daemon
            .as_ref()
            .expect("invariant: a host's daemon exists from start to drop")
    }

    /// The host's own dockerd socket.
    pub fn engine_socket(&self) -> std::path::PathBuf {
        self.layout.engine_socket(self.index)
    }

    /// The docker CLI against the host's own dockerd (not shoal).
    pub fn engine_docker(&self, args: &[&str]) -> Cli {
        let mut cmd = Command::new("docker");
        cmd.env_remove("DOCKER_CONTEXT")
            .arg("-H")
            .arg(format!("unix://{}", self.engine_socket().display()))
            .args(args);
        Cli::run(
            cmd,
            format!("docker (engine of {}) {}", self.name(), args.join(" ")),
        )
    }

    /// Runs `cmd` inside the host's network, mount and UTS namespaces.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        let enter = self.layout.enter_host(self.index);
        exec_output(Command::new(&enter[0]).args(&enter[1..]).args(cmd))
    }

    /// Cuts the host off the LAN: its veth leaves the LAN bridge, so every packet to or
    /// from it is lost silently (the link stays up, as behind a broken switch).
    pub fn cut_link(&self) -> anyhow::Result<()> {
        let port = self.layout.host_port(self.index);
        ip(&[
            "-n",
            &self.layout.fabric_ns(),
            "link",
            "set",
            &port,
            "nomaster",
        ])
    }

    /// Puts the host back on the LAN.
    pub fn restore_link(&self) -> anyhow::Result<()> {
        let port = self.layout.host_port(self.index);
        ip(&[
            "-n",
            &self.layout.fabric_ns(),
            "link",
            "set",
            &port,
            "master",
            LAN_BRIDGE,
        ])
    }

    /// SIGKILLs the host's shoal daemon and starts it again on the same data root.
    pub fn restart_shoal(&mut self) -> anyhow::Result<()> {
        self.daemon
            .as_mut()
            .expect("invariant: a host's daemon exists from start to drop")
            .kill_and_restart()
    }

    /// Stops the host's dockerd (SIGTERM, as a service restart does) and starts it again;
    /// namespaces, links and data stay.
    pub fn restart_engine(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.engine.take() {
            sys::stop_child(&mut child, ENGINE_STOP);
        }
        self.start_engine()
    }
}

/// Runs a prepared command to completion; a failure to start becomes an output with exit
/// code 127 and the reason on stderr, so callers check one thing.
pub(super) fn exec_output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| {
        use std::os::unix::process::ExitStatusExt;
        Output {
            status: std::process::ExitStatus::from_raw(127 << 8),
            stdout: Vec::new(),
            stderr: format!("cannot run: {e}").into_bytes(),
        }
    })
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if !self.teardown {
            // Kept for debugging: leak the handles so the daemon is neither killed nor its
            // directory removed (`remove_leftover_test_hosts` cleans up later).
            std::mem::forget(self.daemon.take());
            return;
        }
        // The daemon first (its drop kills it), then the engine and everything else.
        self.daemon = None;
        sys::teardown_host(&self.layout, self.index, self.engine.as_mut());
    }
}
