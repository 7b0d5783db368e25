//! `shoal node …`: ls, inspect, ps, update, promote, demote, rm (docker/cli
//! `cli/command/node`).
mod inspect;
mod ls;
mod ps;
mod update;

use crate::client::Client;
use clap::{Args, Subcommand};

pub use inspect::pretty;
pub use ls::render_ls;

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List nodes in the swarm
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more nodes
    Inspect(InspectArgs),
    /// List tasks running on one or more nodes, defaults to current node
    Ps(PsArgs),
    /// Update a node
    Update(UpdateArgs),
    /// Promote one or more nodes to manager in the swarm
    Promote(NodesArg),
    /// Demote one or more nodes from manager in the swarm
    Demote(NodesArg),
    /// Remove one or more nodes from the swarm
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
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
    /// Nodes to inspect ("self" is the current node)
    #[arg(value_name = "self|NODE", required = true)]
    pub nodes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Do not map IDs to Names
    #[arg(long = "no-resolve")]
    pub no_resolve: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display task IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print tasks using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Nodes (default: the current node)
    #[arg(value_name = "NODE")]
    pub nodes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Availability of the node ("active", "pause", "drain")
    #[arg(long)]
    pub availability: Option<String>,
    /// Add or update a node label ("key=value")
    #[arg(long = "label-add")]
    pub label_add: Vec<String>,
    /// Remove a node label if exists
    #[arg(long = "label-rm")]
    pub label_rm: Vec<String>,
    /// Role of the node ("worker", "manager")
    #[arg(long)]
    pub role: Option<String>,
    /// The node to update
    #[arg(value_name = "NODE")]
    pub node: String,
}

#[derive(Debug, Args)]
pub struct NodesArg {
    #[arg(value_name = "NODE", required = true)]
    pub nodes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force remove a node from the swarm
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NODE", required = true)]
    pub nodes: Vec<String>,
}

pub async fn run(client: &Client, cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Ls(a) => ls::ls(client, a).await,
        NodeCommand::Inspect(a) => inspect::inspect(client, a).await,
        NodeCommand::Ps(a) => ps::ps(client, a).await,
        NodeCommand::Update(a) => update::update(client, a).await,
        NodeCommand::Promote(a) => update::set_role(client, a.nodes, "manager").await,
        NodeCommand::Demote(a) => update::set_role(client, a.nodes, "worker").await,
        NodeCommand::Rm(a) => update::rm(client, a).await,
    }
}
