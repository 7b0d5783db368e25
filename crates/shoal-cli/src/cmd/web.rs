//! `shoal web token [--rotate]`: the login token of the daemon's web view
//! (`shoal daemon --web-addr`). The CLI asks the daemon over its API socket (root's, as the
//! token file `<data-root>/web-token` is): `GET /shoal/web/token`, or
//! `POST /shoal/web/token/rotate`, which writes a new token and ends every web session.

use super::emit;
use crate::client::Client;
use clap::{Args, Subcommand};
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum WebCommand {
    /// Print the web view's login token
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Replace the token with a new one and log every web session out
    #[arg(long)]
    pub rotate: bool,
}

pub async fn run(client: &mut Client, cmd: WebCommand) -> anyhow::Result<()> {
    match cmd {
        WebCommand::Token(a) => {
            let v: Value = if a.rotate {
                client
                    .post_json("/shoal/web/token/rotate", &serde_json::json!({}))
                    .await?
            } else {
                client.get_json("/shoal/web/token").await?
            };
            let token = v["Token"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("the daemon's answer has no token: {v}"))?;
            emit(&format!("{token}\n"));
            Ok(())
        }
    }
}
