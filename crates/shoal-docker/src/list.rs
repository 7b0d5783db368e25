//! The adoption scan: every container labelled with a node's id, with its task and state.

use crate::call::{CALL_TIMEOUT, call};
use crate::container_config::{LABEL_NODE_ID, LABEL_TASK_ID};
use bollard::Docker;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::ListContainersOptionsBuilder;
use shoal_agent::{ExecError, ExistingContainer};
use shoal_types::{NodeId, TaskId};
use std::collections::HashMap;

/// Lists `node_id`'s containers, running or not. Running, restarting and paused ones count as
/// running; created ones have no exit code; exited ones are inspected for theirs (the list
/// summary has none).
pub(crate) async fn list_node(
    docker: &Docker,
    node_id: &NodeId,
) -> Result<Vec<ExistingContainer>, ExecError> {
    let filters = HashMap::from([("label", vec![format!("{LABEL_NODE_ID}={node_id}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let summaries = call(
        "listing containers",
        None,
        CALL_TIMEOUT,
        docker.list_containers(Some(options)),
    )
    .await?;
    let mut found = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let task_id = summary
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_TASK_ID))
            .cloned()
            .unwrap_or_default();
        let container_id = summary.id.clone().unwrap_or_default();
        if task_id.is_empty() || container_id.is_empty() {
            continue;
        }
        let (running, exit_code) = match summary.state {
            Some(
                ContainerSummaryStateEnum::RUNNING
                | ContainerSummaryStateEnum::RESTARTING
                | ContainerSummaryStateEnum::PAUSED,
            ) => (true, None),
            Some(ContainerSummaryStateEnum::CREATED) => (false, None),
            _ => {
                // The summary has no exit code; the inspection does.
                let inspect = docker.inspect_container(&container_id, None);
                match call("inspecting container", None, CALL_TIMEOUT, inspect).await {
                    Ok(i) => (false, Some(i.state.and_then(|s| s.exit_code).unwrap_or(0))),
                    Err(e) if e.is_not_found() => continue, // removed meanwhile
                    Err(e) => return Err(e),
                }
            }
        };
        found.push(ExistingContainer {
            task_id: TaskId::from(task_id),
            container_id,
            running,
            exit_code,
        });
    }
    Ok(found)
}
