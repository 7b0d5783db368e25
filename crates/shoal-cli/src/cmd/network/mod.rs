//! `shoal network …`: create, ls, inspect, rm (docker/cli `cli/command/network`). shoal
//! networks are swarm-scoped overlays, so `create` defaults to the `overlay` driver.

mod create;
mod ls;

use crate::client::{Client, Query, segment};
use crate::cmd::{emit, error_text, join_errors};
use crate::output::{StatusError, render_inspect};
use clap::{Args, Subcommand};

pub use create::create_body;
pub use ls::render_ls;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "overlay")]
    pub driver: String,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long)]
    pub scope: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=overlay")
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short, long)]
    pub verbose: bool,
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

pub async fn run(client: &Client, cmd: NetworkCommand) -> anyhow::Result<()> {
    match cmd {
        NetworkCommand::Create(a) => create::create(client, a).await,
        NetworkCommand::Ls(a) => ls::ls(client, a).await,
        NetworkCommand::Inspect(a) => inspect(client, a).await,
        NetworkCommand::Rm(a) => rm(client, a).await,
    }
}

async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<()> {
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for n in &a.networks {
        let path = Query::new()
            .push_if(a.verbose, "verbose", "true")
            .to_path(&format!("/networks/{}", segment(n)));
        match client.get_raw(&path).await {
            Ok(raw) => raws.push(raw),
            Err(e) => errs.push(error_text(&e.into())),
        }
    }
    emit(&render_inspect(a.format.as_deref(), &raws)?);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(StatusError {
            code: 1,
            message: errs.join("\n"),
        }
        .into())
    }
}

async fn rm(client: &Client, a: RmArgs) -> anyhow::Result<()> {
    let mut errs = Vec::new();
    for n in &a.networks {
        match client.delete(&format!("/networks/{}", segment(n))).await {
            Ok(()) => emit(&format!("{n}\n")),
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => errs.push(e.into()),
        }
    }
    join_errors(errs)
}
