//! The `shoal` binary: `shoal daemon` runs a node, `shoal bench` runs a benchmark, every other
//! subcommand is the docker-shaped CLI. All logic lives in the library crates.

mod bench;
mod daemon;

use shoal_cli::Invocation;
use std::process::ExitCode;

fn main() -> ExitCode {
    // rustls panics at first use if no process-wide provider is chosen; ring is the only one
    // in the tree (see reference/crates.md §4).
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("warning: a TLS crypto provider was already installed");
    }
    let invocation = shoal_cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match invocation {
        Invocation::Daemon(args) => runtime.block_on(daemon::run(args)),
        Invocation::Bench(args) => runtime.block_on(bench::run(args)),
        Invocation::Cli(cli) => {
            let code = runtime.block_on(shoal_cli::run(cli));
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
