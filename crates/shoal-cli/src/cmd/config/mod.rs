//! `shoal config …`: the same commands as `secret` on `/configs` (docker/cli
//! `cli/command/config`); inspect shows the data.

use crate::client::Client;
use crate::cmd::secret::{SecretCommand, run_kind, store::Kind};

/// `config` takes exactly `secret`'s arguments.
pub type ConfigCommand = SecretCommand;

pub async fn run(client: &Client, cmd: ConfigCommand) -> anyhow::Result<()> {
    run_kind(client, Kind::Config, cmd).await
}
