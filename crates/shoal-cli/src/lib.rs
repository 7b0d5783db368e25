//! The docker-shaped command line of shoal and its Engine API client.
//!
//! `shoal` is one binary: `shoal daemon …` runs the daemon (the `shoal-node` crate) and
//! `shoal bench …` runs benchmarks; every other subcommand is the CLI implemented here. The
//! binary calls [`parse`] and then either starts the daemon with [`DaemonArgs`], a benchmark
//! with [`BenchArgs`], or this crate's [`run`] with the parsed [`Cli`].
//!
//! The CLI talks HTTP/1.1 to the daemon's Engine API (v1.44) on a Unix socket, the same
//! way the docker CLI does: `HEAD /_ping`, then versioned paths. Commands print what docker
//! prints (same headers, wording, exit codes); API errors appear on stderr as
//! `Error response from daemon: <message>` with exit code 1.
//!
//! Layout: [`args`] (clap), [`client`] (the API client), [`cmd`] (one module per command
//! group), [`format`]/[`timefmt`]/[`jsonfmt`]/[`template`]/[`output`] (what gets printed),
//! [`parse`] (durations, sizes, filters), [`progress`] (service convergence), [`stdcopy`]
//! (log stream framing).

pub mod args;
pub mod client;
pub mod cmd;
pub mod format;
pub mod host;
pub mod jsonfmt;
pub mod output;
pub mod parse;
pub mod progress;
pub mod stdcopy;
pub mod template;
pub mod timefmt;
pub mod values;

pub use args::{
    BenchArgs, BenchTarget, Cli, Command, DaemonArgs, Invocation, LogFormat, parse, try_parse_from,
};
pub use cmd::run;
