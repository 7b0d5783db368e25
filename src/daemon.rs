//! `shoal daemon`: logging, signals, and the node.

use shoal_cli::{DaemonArgs, LogFormat};
use shoal_node::{Daemon, DaemonConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// Logs to stderr: text, coloured only when stderr is a terminal (a journal or a file gets
/// no escape codes), or one JSON object a line.
fn init_logging(level: &str, format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},openraft=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
}

pub async fn run(args: DaemonArgs) -> ExitCode {
    init_logging(&args.log_level, args.log_format);
    match shoal_node::fd_limit::raise_to_hard_limit() {
        Ok(l) => tracing::info!(
            soft_before = l.soft_before,
            soft = l.soft,
            hard = l.hard,
            "open-file limit"
        ),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    if let Some(ns) = args.cert_renew_after.filter(|ns| *ns > 0) {
        shoal_node::tls::set_renew_after(std::time::Duration::from_nanos(ns as u64));
    }
    let config = DaemonConfig {
        socket: PathBuf::from(&args.host),
        data_root: args.data_root.clone(),
        engine: PathBuf::from(&args.engine),
        listen_addr: args.listen_addr.clone(),
        advertise_addr: args.advertise_addr.clone(),
        overlay: args.overlay,
        web_addr: args.web_addr.clone(),
    };
    let daemon = match Daemon::start(config).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("shoal daemon: {e}");
            return ExitCode::FAILURE;
        }
    };
    match daemon.run(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("daemon stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shoal daemon: {e}");
            ExitCode::FAILURE
        }
    }
}
