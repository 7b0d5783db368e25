//! `shoal config …`: the same commands as `secret` on `/configs` (docker/cli
//! `cli/command/config`); inspect shows the data.

use crate::client::Client;
use crate::cmd::secret::store::Kind;
use crate::cmd::secret::{CreateArgs, InspectArgs, LsArgs, RmArgs, SecretCommand, run_kind};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Create a config from a file or STDIN
    Create(CreateArgs),
    /// List configs
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more configs
    Inspect(InspectArgs),
    /// Remove one or more configs
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

pub async fn run(client: &Client, cmd: ConfigCommand) -> anyhow::Result<()> {
    let cmd = match cmd {
        ConfigCommand::Create(a) => SecretCommand::Create(a),
        ConfigCommand::Ls(a) => SecretCommand::Ls(a),
        ConfigCommand::Inspect(a) => SecretCommand::Inspect(a),
        ConfigCommand::Rm(a) => SecretCommand::Rm(a),
    };
    run_kind(client, Kind::Config, cmd).await
}
