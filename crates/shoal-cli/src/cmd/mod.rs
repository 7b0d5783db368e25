//! The commands, one module per group, and [`run`], which executes one of them and turns
//! its outcome into docker's stderr text and exit code.

pub mod completion;
pub mod config;
pub mod events;
pub mod network;
pub mod node;
pub mod secret;
pub mod service;
pub mod stack;
pub mod swarm;
pub mod system;
pub mod task;
pub mod version;
pub mod web;

use crate::args::{Cli, Command};
use crate::client::{ApiError, Client};
use crate::output::StatusError;
use std::io::Write;

/// Runs one CLI command and returns the process exit code.
///
/// Like the docker CLI, it pings the daemon first (negotiating the API version), except for
/// `version` and `info`, which print the client half even when the daemon is unreachable.
pub async fn run(cli: Cli) -> i32 {
    let mut client = Client::new(&cli.host);
    let result = async {
        let offline = matches!(&cli.command, Command::Stack(c) if !stack::needs_daemon(c))
            || matches!(cli.command, Command::Completion(_));
        if !offline && !matches!(cli.command, Command::Version(_) | Command::Info(_)) {
            client.ping().await?;
        }
        dispatch(&mut client, cli.command).await
    }
    .await;
    match result {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

async fn dispatch(client: &mut Client, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Swarm(c) => swarm::run(client, c).await,
        Command::Node(c) => node::run(client, c).await,
        Command::Service(c) => service::run(client, c).await,
        Command::Secret(c) => secret::run(client, c).await,
        Command::Config(c) => config::run(client, c).await,
        Command::Network(c) => network::run(client, c).await,
        Command::Stack(c) => stack::run(client, c).await,
        Command::Info(a) => system::info(client, a).await,
        Command::Events(a) => events::events(client, a).await,
        Command::Completion(a) => completion::completion(a),
        Command::Version(a) => version::version(client, a).await,
        Command::Web(c) => web::run(client, c).await,
    }
}

/// Prints an error as docker does and returns its exit code.
fn report(err: &anyhow::Error) -> i32 {
    if let Some(s) = err.downcast_ref::<StatusError>() {
        if !s.message.is_empty() {
            eprintln_safe(&s.message);
        }
        return s.code;
    }
    if let Some(api) = err.downcast_ref::<ApiError>() {
        eprintln_safe(&api.to_string());
        return 1;
    }
    eprintln_safe(&format!("{err:#}"));
    1
}

/// Writes to stdout. Errors (a closed pipe) are ignored, as docker ignores them: nobody is
/// reading any more.
pub fn emit(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// Writes a line to stderr, ignoring a closed stderr for the same reason.
pub fn eprintln_safe(s: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{s}");
}

/// Joins several failures into one exit-1 error, docker's `errors.Join`.
pub fn join_errors(errs: Vec<anyhow::Error>) -> anyhow::Result<()> {
    if errs.is_empty() {
        return Ok(());
    }
    let message = errs.iter().map(error_text).collect::<Vec<_>>().join("\n");
    Err(StatusError { code: 1, message }.into())
}

/// The text docker shows for an error.
pub fn error_text(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ApiError>() {
        Some(api) => api.to_string(),
        None => format!("{e:#}"),
    }
}
