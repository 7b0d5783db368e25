//! `shoal service …` (docker/cli `cli/command/service`).

use crate::client::Client;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List services
    #[command(visible_alias = "list")]
    Ls,
}

pub async fn run(_client: &Client, _cmd: ServiceCommand) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
