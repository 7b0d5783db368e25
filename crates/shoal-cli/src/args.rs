//! Command-line parsing (clap derive) for the whole `shoal` binary.
//!
//! [`parse`] decides between the daemon, a benchmark and a CLI command. Usage errors exit
//! with status 125 like docker's; `--help` and `--version` exit 0.

use crate::cmd::node::NodeCommand;
use crate::cmd::service::ServiceCommand;
use crate::cmd::swarm::SwarmCommand;
use crate::cmd::system::InfoArgs;
use crate::cmd::version::VersionArgs;
use crate::host::{DEFAULT_ENGINE, DEFAULT_HOST, normalize_host};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

/// Exit status for usage errors, as docker uses.
const USAGE_EXIT: i32 = 125;

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Invocation {
    Daemon(DaemonArgs),
    Bench(BenchArgs),
    Cli(Cli),
}

/// A CLI command bound to the daemon it talks to.
#[derive(Debug)]
pub struct Cli {
    /// Path of the daemon's API socket (already normalised).
    pub host: String,
    pub command: Command,
}

/// `shoal daemon --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `shoal daemon` options.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// Daemon socket to listen on (unix:///path or a path)
    #[arg(short = 'H', long = "host", env = "SHOAL_HOST", default_value = DEFAULT_HOST, value_parser = normalize_host)]
    pub host: String,
    /// Root directory of persistent state
    #[arg(long = "data-root", default_value = "/var/lib/shoal")]
    pub data_root: PathBuf,
    /// Container engine API socket (unix:///path or a path)
    #[arg(long, default_value = DEFAULT_ENGINE, value_parser = normalize_host)]
    pub engine: String,
    /// Listen address for cluster traffic
    #[arg(long = "listen-addr", default_value = "0.0.0.0:2377")]
    pub listen_addr: String,
    /// Advertised address for cluster traffic
    #[arg(long = "advertise-addr")]
    pub advertise_addr: Option<String>,
    /// Log level (error, warn, info, debug, trace)
    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Log format: text (colour only on a terminal) or json (one object a line)
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Build the overlay data plane on this host (bridges, VXLAN, engine networks); false when
    /// several daemons share one engine and one network namespace (tasks then stay on the
    /// engine's default network)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub overlay: bool,
    /// Serve the web view of the swarm on this address (e.g. 127.0.0.1:8080; off by default).
    /// It shows cluster state and can change it: log in with `shoal web token`
    #[arg(long = "web-addr", value_name = "ADDR")]
    pub web_addr: Option<String>,
    /// Tests only: renew node certificates this long after they are installed instead of at
    /// a random 50-80 % of their validity (the shortest validity, 1h, renews after 30 min)
    #[arg(long = "cert-renew-after", hide = true, value_parser = crate::parse::duration_ns)]
    pub cert_renew_after: Option<i64>,
}

/// What `shoal bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTarget {
    /// Raft write throughput and latency
    Raft,
    /// The scheduler alone: 100,000 tasks onto 1,000 nodes
    Scheduler,
    /// `service create --replicas 30` until 30 containers run, shoal vs Docker's swarm mode
    Services,
    /// Resident memory of an idle one-node manager
    Idle,
    /// Control-plane scale: simulated agents against 3 real managers (issue 4)
    Agents,
}

/// `shoal bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to benchmark
    #[arg(value_enum)]
    pub what: BenchTarget,
    /// Number of writes per run
    #[arg(long, default_value_t = 20000)]
    pub writes: u64,
    /// Concurrent writers, one run per value
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 16, 64])]
    pub concurrency: Vec<usize>,
    /// Directory for the benchmark's data (a temporary one if absent)
    #[arg(long = "data-dir")]
    pub data_dir: Option<PathBuf>,
    /// `agents`: simulated agents (worker nodes)
    #[arg(long, default_value_t = 1000)]
    pub nodes: usize,
    /// `agents`: tasks in total, spread evenly over the services
    #[arg(long, default_value_t = 50_000)]
    pub tasks: usize,
    /// `agents`: manager daemons
    #[arg(long, default_value_t = 3)]
    pub managers: usize,
    /// `agents`: replicated services the tasks are split into
    #[arg(long, default_value_t = 10)]
    pub services: usize,
}

/// The CLI commands (everything but `daemon` and `bench`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage Swarm
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Manage Swarm nodes
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage Swarm services
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Manage Swarm secrets
    #[command(subcommand)]
    Secret(crate::cmd::secret::SecretCommand),
    /// Manage Swarm configs
    #[command(subcommand)]
    Config(crate::cmd::config::ConfigCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(crate::cmd::network::NetworkCommand),
    /// Manage Swarm stacks
    #[command(subcommand)]
    Stack(crate::cmd::stack::StackCommand),
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from the server
    Events(crate::cmd::events::EventsArgs),
    /// Print a shell completion script (bash, zsh or fish)
    Completion(crate::cmd::completion::CompletionArgs),
    /// Show the shoal version information
    Version(VersionArgs),
    /// The built-in web view (`shoal daemon --web-addr`)
    #[command(subcommand)]
    Web(crate::cmd::web::WebCommand),
}

#[derive(Debug, Parser)]
#[command(
    name = "shoal",
    version,
    about = "Docker Swarm mode, rebuilt in Rust",
    disable_help_subcommand = true
)]
struct TopArgs {
    /// Daemon socket to connect to (unix:///path or a path)
    #[arg(short = 'H', long = "host", env = "SHOAL_HOST", value_parser = normalize_host)]
    host: Option<String>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Run the shoal daemon
    Daemon(DaemonArgs),
    /// Run a benchmark
    Bench(BenchArgs),
    #[command(flatten)]
    Cli(Command),
}

/// The whole `shoal` command tree, as clap sees it (for completion scripts).
pub fn command() -> clap::Command {
    TopArgs::command()
}

/// Parses `std::env::args`; prints usage errors and exits on failure.
pub fn parse() -> Invocation {
    match try_parse_from(std::env::args_os()) {
        Ok(inv) => inv,
        Err(e) => {
            let code = if e.use_stderr() { USAGE_EXIT } else { 0 };
            // Printing can only fail if the terminal is gone; the exit code still tells.
            let _ = e.print();
            std::process::exit(code);
        }
    }
}

/// Parses the given arguments (the first is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Invocation, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = TopArgs::command().try_get_matches_from(args)?;
    let top = TopArgs::from_arg_matches(&matches)?;
    Ok(match top.command {
        Top::Daemon(mut d) => {
            // `shoal -H x daemon` means the same as `shoal daemon -H x`.
            if let Some(h) = top.host
                && !given_on_command_line(matches.subcommand_matches("daemon"), "host")
            {
                d.host = h;
            }
            Invocation::Daemon(d)
        }
        Top::Bench(b) => Invocation::Bench(b),
        Top::Cli(command) => Invocation::Cli(Cli {
            host: top.host.unwrap_or_else(|| DEFAULT_HOST.to_string()),
            command,
        }),
    })
}

fn given_on_command_line(m: Option<&ArgMatches>, id: &str) -> bool {
    m.and_then(|m| m.value_source(id)) == Some(ValueSource::CommandLine)
}

/// Prints the help of a (sub)command, e.g. `["swarm", "update"]`, as docker does when a
/// command needs at least one flag.
pub fn print_help(path: &[&str]) {
    fn find(cmd: clap::Command, path: &[&str]) -> clap::Command {
        match path.split_first() {
            Some((name, rest)) => match cmd.find_subcommand(name) {
                Some(sub) => find(sub.clone(), rest),
                None => cmd,
            },
            None => cmd,
        }
    }
    let mut cmd = find(TopArgs::command(), path);
    // Help goes to stdout; a closed stdout leaves nothing to report to.
    let _ = cmd.print_help();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Invocation {
        try_parse_from(args.iter().copied()).expect("valid arguments")
    }

    #[test]
    fn daemon_arguments_have_docker_like_defaults() {
        let Invocation::Daemon(d) =
            parse(&["shoal", "daemon", "--engine", "unix:///run/podman.sock"])
        else {
            panic!("not a daemon invocation");
        };
        assert_eq!(
            d.host,
            std::env::var("SHOAL_HOST")
                .map(|h| normalize_host(&h).expect("valid"))
                .unwrap_or(DEFAULT_HOST.into())
        );
        assert_eq!(d.engine, "/run/podman.sock");
        assert_eq!(d.data_root, PathBuf::from("/var/lib/shoal"));
        assert_eq!(d.listen_addr, "0.0.0.0:2377");
        assert_eq!(d.log_level, "info");
        assert_eq!(d.advertise_addr, None);
        assert!(d.overlay);
        let Invocation::Daemon(d) = parse(&["shoal", "daemon", "--overlay=false"]) else {
            panic!("not a daemon invocation");
        };
        assert!(!d.overlay);
    }

    #[test]
    fn a_host_before_daemon_applies_to_it() {
        let Invocation::Daemon(d) = parse(&["shoal", "-H", "unix:///tmp/a.sock", "daemon"]) else {
            panic!("not a daemon invocation");
        };
        assert_eq!(d.host, "/tmp/a.sock");
        let Invocation::Daemon(d) =
            parse(&["shoal", "-H", "/tmp/a.sock", "daemon", "-H", "/tmp/b.sock"])
        else {
            panic!("not a daemon invocation");
        };
        assert_eq!(d.host, "/tmp/b.sock");
    }

    #[test]
    fn bench_defaults() {
        let Invocation::Bench(b) = parse(&["shoal", "bench", "raft"]) else {
            panic!("not a bench invocation");
        };
        assert_eq!(b.what, BenchTarget::Raft);
        assert_eq!(b.writes, 20000);
        assert_eq!(b.concurrency, vec![1, 16, 64]);
        let Invocation::Bench(b) = parse(&["shoal", "bench", "raft", "--concurrency", "2,4"])
        else {
            panic!("not a bench invocation");
        };
        assert_eq!(b.concurrency, vec![2, 4]);
        let Invocation::Bench(b) = parse(&["shoal", "bench", "agents", "--nodes", "10"]) else {
            panic!("not a bench invocation");
        };
        assert_eq!(
            (b.what, b.nodes, b.tasks, b.managers, b.services),
            (BenchTarget::Agents, 10, 50_000, 3, 10)
        );
    }

    #[test]
    fn cli_commands_carry_the_normalised_host() {
        let Invocation::Cli(c) = parse(&["shoal", "-H", "unix:///tmp/x.sock", "node", "ls"]) else {
            panic!("not a cli invocation");
        };
        assert_eq!(c.host, "/tmp/x.sock");
        assert!(matches!(c.command, Command::Node(_)));
    }

    #[test]
    fn usage_errors_are_reported() {
        assert!(try_parse_from(["shoal", "swarm", "join"]).is_err());
        assert!(try_parse_from(["shoal", "nonsense"]).is_err());
    }

    #[test]
    fn the_command_tree_is_consistent() {
        TopArgs::command().debug_assert();
    }
}
