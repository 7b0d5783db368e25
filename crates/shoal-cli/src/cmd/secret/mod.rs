//! `shoal secret …`: create, ls, inspect, rm (docker/cli `cli/command/secret`).

pub mod refs;
pub mod store;

use crate::client::Client;
use clap::{Args, Subcommand};
use store::Kind;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create a secret from a file or STDIN as content
    Create(CreateArgs),
    /// List secrets
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more secrets
    Inspect(InspectArgs),
    /// Remove one or more secrets
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Labels
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Name of the secret or config
    #[arg(value_name = "SECRET")]
    pub name: String,
    /// File to read the content from, or - for STDIN
    #[arg(value_name = "file|-")]
    pub file: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Print the information in a human friendly format
    #[arg(long)]
    pub pretty: bool,
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

pub async fn run(client: &Client, cmd: SecretCommand) -> anyhow::Result<()> {
    run_kind(client, Kind::Secret, cmd).await
}

/// Runs a secret-shaped command for either kind (`config` has the same commands).
pub async fn run_kind(client: &Client, kind: Kind, cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Create(a) => store::create(client, kind, &a.name, &a.file, &a.label).await,
        SecretCommand::Ls(a) => {
            store::ls(client, kind, a.quiet, &a.filter, a.format.as_deref()).await
        }
        SecretCommand::Inspect(a) => {
            store::inspect(client, kind, &a.names, a.format.as_deref(), a.pretty).await
        }
        SecretCommand::Rm(a) => store::rm(client, kind, &a.names).await,
    }
}
