//! Docker's service templates: `{{.Service.Name}}`, `{{.Task.Slot}}`, … in a task's
//! hostname, environment values and mount paths (swarmkit `template/context.go`). The node
//! expands them when it creates the container; the dispatcher expands hostnames the same way
//! for the DNS names it sends.
//!
//! Only field references are supported, which is what `docker service create --hostname`
//! and friends document; anything else is an error that rejects the task, as Go's
//! `text/template` would.

use crate::Task;

/// The values a template can refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateContext {
    pub service_id: String,
    pub service_name: String,
    pub node_id: String,
    pub node_hostname: String,
    pub node_os: String,
    pub node_arch: String,
    pub task_id: String,
    /// `<service>.<slot>.<task id>` (or the node id in place of the slot).
    pub task_name: String,
    /// The slot, or the node id for global services.
    pub task_slot: String,
}

/// A template that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {template:?}: {reason}")]
pub struct TemplateError {
    pub template: String,
    pub reason: String,
}

impl TemplateContext {
    /// The context of `task` on a node with this hostname, OS and architecture.
    pub fn new(task: &Task, node_hostname: &str, node_os: &str, node_arch: &str) -> Self {
        let task_slot = if task.slot > 0 {
            task.slot.to_string()
        } else {
            task.node_id.to_string()
        };
        Self {
            service_id: task.service_id.to_string(),
            service_name: task.service_annotations.name.clone(),
            node_id: task.node_id.to_string(),
            node_hostname: node_hostname.to_string(),
            node_os: node_os.to_string(),
            node_arch: node_arch.to_string(),
            task_id: task.id.to_string(),
            task_name: task.container_name(),
            task_slot,
        }
    }

    fn field(&self, path: &str) -> Option<&str> {
        Some(match path {
            ".Service.ID" => &self.service_id,
            ".Service.Name" => &self.service_name,
            ".Node.ID" => &self.node_id,
            ".Node.Hostname" => &self.node_hostname,
            ".Node.Platform.OS" => &self.node_os,
            ".Node.Platform.Architecture" => &self.node_arch,
            ".Task.ID" => &self.task_id,
            ".Task.Name" => &self.task_name,
            ".Task.Slot" => &self.task_slot,
            _ => return None,
        })
    }

    /// Replaces every `{{ .Field }}` (spaces and `-` trim markers allowed) in `template`.
    pub fn expand(&self, template: &str) -> Result<String, TemplateError> {
        let error = |reason: String| TemplateError {
            template: template.to_string(),
            reason,
        };
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| error("unclosed action".into()))?;
            let action = after[..close]
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            let value = self
                .field(action)
                .ok_or_else(|| error(format!("can't evaluate {action:?}")))?;
            out.push_str(value);
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands the value of each `KEY=value` entry (keys are left alone, as swarmkit does).
    pub fn expand_env(&self, env: &[String]) -> Result<Vec<String>, TemplateError> {
        env.iter()
            .map(|entry| match entry.split_once('=') {
                Some((key, value)) => Ok(format!("{key}={}", self.expand(value)?)),
                None => Ok(entry.clone()),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{NodeId, ServiceId, TaskId};

    fn ctx(slot: u64) -> TemplateContext {
        let mut task = Task {
            id: TaskId::from("t123"),
            service_id: ServiceId::from("s456"),
            node_id: NodeId::from("n789"),
            slot,
            ..Default::default()
        };
        task.service_annotations.name = "web".into();
        TemplateContext::new(&task, "host1", "linux", "x86_64")
    }

    #[test]
    fn every_documented_field_expands() {
        let c = ctx(2);
        let cases = [
            ("{{.Service.Name}}", "web"),
            ("{{.Service.ID}}", "s456"),
            ("{{.Task.Name}}", "web.2.t123"),
            ("{{.Task.ID}}", "t123"),
            ("{{.Task.Slot}}", "2"),
            ("{{.Node.ID}}", "n789"),
            ("{{.Node.Hostname}}", "host1"),
            (
                "{{.Node.Platform.OS}}/{{.Node.Platform.Architecture}}",
                "linux/x86_64",
            ),
        ];
        for (template, want) in cases {
            assert_eq!(c.expand(template).unwrap(), want, "{template}");
        }
    }

    #[test]
    fn text_around_and_spaces_inside_actions_are_kept_and_ignored() {
        assert_eq!(
            ctx(3)
                .expand("{{ .Service.Name }}-{{.Task.Slot}}.local")
                .unwrap(),
            "web-3.local"
        );
        assert_eq!(ctx(3).expand("{{- .Task.Slot -}}").unwrap(), "3");
        assert_eq!(ctx(3).expand("plain").unwrap(), "plain");
    }

    #[test]
    fn a_global_task_uses_the_node_id_as_slot() {
        let c = ctx(0);
        assert_eq!(c.expand("{{.Task.Slot}}").unwrap(), "n789");
        assert_eq!(c.expand("{{.Task.Name}}").unwrap(), "web.n789.t123");
    }

    #[test]
    fn unknown_fields_and_unclosed_actions_are_errors() {
        assert!(ctx(1).expand("{{.Service.Nope}}").is_err());
        assert!(ctx(1).expand("{{.Task.ID").is_err());
    }

    #[test]
    fn only_env_values_are_expanded() {
        let env = vec!["SLOT={{.Task.Slot}}".to_string(), "NOVALUE".to_string()];
        assert_eq!(ctx(4).expand_env(&env).unwrap(), vec!["SLOT=4", "NOVALUE"]);
    }
}
