//! `shoal stack …`: deploy, ls, services, ps, rm, config (docker/cli
//! `cli/command/stack/swarm`). Stacks are a client-side idea: the daemon only sees services,
//! networks, secrets and configs labelled `com.docker.stack.namespace=<stack>`, and every
//! command here is a sequence of ordinary Engine API calls, as docker's.

mod deploy;
mod list;
mod plan;
mod rm;

use crate::client::{Client, Query};
use crate::output::StatusError;
use clap::{ArgAction, Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use shoal_stack::LABEL_NAMESPACE;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Deploy a new stack or update an existing stack
    #[command(visible_alias = "up")]
    Deploy(DeployArgs),
    /// List stacks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// List the services in the stack
    Services(ServicesArgs),
    /// List the tasks in the stack
    Ps(PsArgs),
    /// Remove one or more stacks
    #[command(visible_aliases = ["remove", "down"])]
    Rm(RmArgs),
    /// Outputs the final config file, after doing merges and interpolations
    Config(ConfigArgs),
}

/// `--resolve-image`: when to ask the registry for the image digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolveImage {
    Always,
    Changed,
    Never,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Path to a Compose file
    #[arg(short = 'c', long = "compose-file", required = true)]
    pub compose_files: Vec<PathBuf>,
    /// Prune services that are no longer referenced
    #[arg(long)]
    pub prune: bool,
    /// Query the registry to resolve image digest and supported platforms
    #[arg(long = "resolve-image", value_enum, default_value = "always")]
    pub resolve_image: ResolveImage,
    /// Send registry authentication details to Swarm agents
    #[arg(long = "with-registry-auth")]
    pub with_registry_auth: bool,
    /// Exit immediately instead of waiting for the stack services to converge (default true)
    #[arg(short = 'd', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub detach: Option<bool>,
    /// Suppress progress output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "STACK")]
    pub stack: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServicesArgs {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Only display IDs
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "STACK")]
    pub stack: String,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Do not map IDs to Names
    #[arg(long = "no-resolve")]
    pub no_resolve: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display task IDs
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(value_name = "STACK")]
    pub stack: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not wait for stack removal
    #[arg(short = 'd', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true")]
    pub detach: bool,
    #[arg(value_name = "STACK", required = true)]
    pub stacks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Path to a Compose file
    #[arg(short = 'c', long = "compose-file", required = true)]
    pub compose_files: Vec<PathBuf>,
    #[arg(value_name = "STACK")]
    pub stack: Option<String>,
}

pub async fn run(client: &Client, cmd: StackCommand) -> anyhow::Result<()> {
    match cmd {
        StackCommand::Deploy(a) => deploy::deploy(client, a).await,
        StackCommand::Ls(a) => list::ls(client, a).await,
        StackCommand::Services(a) => list::services(client, a).await,
        StackCommand::Ps(a) => list::ps(client, a).await,
        StackCommand::Rm(a) => rm::rm(client, a).await,
        StackCommand::Config(a) => deploy::config(a),
    }
}

/// Whether `cmd` needs the daemon (`stack config` works offline, as docker's does).
pub fn needs_daemon(cmd: &StackCommand) -> bool {
    !matches!(cmd, StackCommand::Config(_))
}

/// docker's `validateStackName`: not empty and no surrounding white space.
pub fn validate_name(stack: &str) -> Result<(), StatusError> {
    if stack.trim().is_empty() || stack.trim() != stack {
        return Err(StatusError {
            code: 1,
            message: format!("invalid stack name: {stack:?}"),
        });
    }
    Ok(())
}

/// The `filters` value selecting the objects of `stack`, plus `extra` user filters.
pub fn stack_filter(stack: &str, extra: &BTreeMap<String, BTreeMap<String, bool>>) -> String {
    let mut f: BTreeMap<String, BTreeMap<String, bool>> = extra.clone();
    f.entry("label".into())
        .or_default()
        .insert(format!("{LABEL_NAMESPACE}={stack}"), true);
    serde_json::to_string(&f).unwrap_or_default()
}

/// Lists the objects at `path` (`/services`, `/networks`, `/secrets`, `/configs`) of `stack`.
pub async fn stack_objects(client: &Client, path: &str, stack: &str) -> anyhow::Result<Vec<Value>> {
    let q = Query::new().push("filters", stack_filter(stack, &BTreeMap::new()));
    Ok(client.get_json(&q.to_path(path)).await?)
}

/// A JSON object of string labels.
pub fn labels_json<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    let m: BTreeMap<&String, &String> = labels.into_iter().collect();
    let obj: Map<String, Value> = m.into_iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_filters_add_the_namespace_label() {
        assert_eq!(
            stack_filter("app", &BTreeMap::new()),
            r#"{"label":{"com.docker.stack.namespace=app":true}}"#
        );
        let extra: BTreeMap<String, BTreeMap<String, bool>> =
            [("name".to_string(), [("web".to_string(), true)].into())].into();
        assert_eq!(
            stack_filter("app", &extra),
            r#"{"label":{"com.docker.stack.namespace=app":true},"name":{"web":true}}"#
        );
    }

    #[test]
    fn detach_takes_a_value_only_after_an_equals_sign() {
        let parse = |args: &[&str]| match crate::try_parse_from(args.iter().copied()) {
            Ok(crate::Invocation::Cli(crate::Cli {
                command: crate::Command::Stack(StackCommand::Deploy(d)),
                ..
            })) => Some((d.detach, d.stack)),
            _ => None,
        };
        let base = ["shoal", "stack", "deploy", "-c", "f.yml"];
        let with = |extra: &[&'static str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            parse(&v)
        };
        assert_eq!(with(&["app"]), Some((None, "app".into())));
        assert_eq!(with(&["-d", "app"]), Some((Some(true), "app".into())));
        assert_eq!(
            with(&["--detach=false", "app"]),
            Some((Some(false), "app".into()))
        );
    }

    #[test]
    fn stack_names_must_not_be_blank_or_padded() {
        assert!(validate_name("app").is_ok());
        assert_eq!(
            validate_name(" app").unwrap_err().message,
            "invalid stack name: \" app\""
        );
        assert!(validate_name("").is_err());
    }
}
