//! Status reports of every node, coalesced into few store writes.
//!
//! One write per agent batch costs a raft round (an fsync on a majority) for what is often a
//! single task: with a thousand nodes each reporting its tasks one step at a time, the leader
//! spends its time in raft, not in the dispatcher (`shoal bench agents` ran at ~200 tasks/s).
//! Like SwarmKit's dispatcher (`processUpdates`), every batch received goes to one queue; a
//! writer drains whatever is queued when it is free, keeps the furthest report per task, and
//! writes them in transactions of at most [`MAX_CHANGES_PER_TX`](batch::MAX_CHANGES_PER_TX) tasks, fewer when the tasks
//! are large (each task carries its spec, so two hundred tasks of a service with a 16 KiB spec
//! are over a raft entry; see [`BatchSize`]). An agent's call returns once its updates are
//! committed (or with the write's error, and the agent sends them again).

use super::assignments::moves_forward;
use crate::batch::{self, BatchSize};
use shoal_store::{StoreError, StoreHandle};
use shoal_types::dispatch::StatusUpdate;
use shoal_types::{NodeId, Object, TaskId, TaskStatus};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Agent batches waiting for the writer; senders wait when it is full.
pub(super) const QUEUE: usize = 4096;
/// Most updates drained into one round of writes, so callers hear back in bounded time.
const MAX_UPDATES_PER_ROUND: usize = 10_000;

/// One agent batch and the caller waiting for its outcome.
pub(super) struct Pending {
    pub node_id: NodeId,
    pub updates: Vec<StatusUpdate>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// The furthest report per task and reporting node (a node's report about a task it does not
/// hold must not hide the holder's). Reports only move forward, so the furthest one carries
/// everything an earlier one would have written.
pub(super) fn merge(batch: &[Pending]) -> Vec<(TaskId, NodeId, TaskStatus)> {
    let mut merged: HashMap<(&TaskId, &NodeId), &TaskStatus> = HashMap::new();
    for p in batch {
        for u in &p.updates {
            let key = (&u.task_id, &p.node_id);
            match merged.get(&key) {
                Some(s) if s.state > u.status.state => {}
                _ => {
                    merged.insert(key, &u.status);
                }
            }
        }
    }
    let mut out: Vec<_> = merged
        .into_iter()
        .map(|((t, n), s)| (t.clone(), n.clone(), s.clone()))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// Writes `updates`: forward-only, only for tasks assigned to the reporting node. Each
/// transaction holds as many updates as fit: the size of the first task it changes lowers the
/// count, and a transaction the store still finds too large is split (see [`BatchSize`]).
async fn write(
    store: &StoreHandle,
    updates: &[(TaskId, NodeId, TaskStatus)],
) -> Result<(), StoreError> {
    let mut size = BatchSize::default();
    let mut rest = updates;
    while !rest.is_empty() {
        let mut used = 0;
        size.update(store, |tx, limit| {
            let sample = rest
                .iter()
                .find_map(|(id, _, _)| tx.task(id.as_str()))
                .map_or(0, |task| batch::encoded_len(&task));
            used = limit.min(batch::changes_that_fit(sample)).min(rest.len());
            stage(tx, &rest[..used])
        })
        .await?;
        rest = &rest[used..];
    }
    Ok(())
}

/// Stages `updates` in `tx`, skipping reports that do not move a task forward or come from a
/// node the task is not assigned to.
fn stage(
    tx: &mut shoal_store::Tx<'_>,
    updates: &[(TaskId, NodeId, TaskStatus)],
) -> Result<(), StoreError> {
    for (task_id, node_id, status) in updates {
        let Some(mut task) = tx.task(task_id.as_str()) else {
            continue;
        };
        if &task.node_id != node_id {
            tracing::warn!(node.id = %node_id, task.id = %task.id, "status for a task not assigned to this node ignored");
            continue;
        }
        if !moves_forward(&task.status, status) {
            continue;
        }
        tracing::debug!(task.id = %task.id, service.id = %task.service_id, state = %status.state, "task status");
        task.status = status.clone();
        tx.update(Object::Task(task))?;
    }
    Ok(())
}

/// Runs until `cancel` fires; queued callers then see their sender dropped.
pub(super) async fn run(
    store: &StoreHandle,
    rx: &mut mpsc::Receiver<Pending>,
    cancel: &CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            p = rx.recv() => match p {
                Some(p) => p,
                None => return,
            },
        };
        let mut count = first.updates.len();
        let mut batch = vec![first];
        while count < MAX_UPDATES_PER_ROUND {
            match rx.try_recv() {
                Ok(p) => {
                    count += p.updates.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let updates = merge(&batch);
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = write(store, &updates) => r,
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, batches = batch.len(), updates = count, "writing task status failed; agents will resend");
        }
        for p in batch {
            // The caller may have given up (its request timed out); it resends then.
            let _ = p.done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::TaskState;

    fn pending(node: &str, updates: &[(&str, TaskState)]) -> Pending {
        Pending {
            node_id: node.into(),
            updates: updates
                .iter()
                .map(|(t, s)| StatusUpdate {
                    task_id: (*t).into(),
                    status: TaskStatus {
                        state: *s,
                        ..Default::default()
                    },
                })
                .collect(),
            done: oneshot::channel().0,
        }
    }

    #[test]
    fn queued_reports_merge_to_the_furthest_state_per_task_and_node() {
        let batch = vec![
            pending(
                "n1",
                &[("t1", TaskState::Preparing), ("t2", TaskState::Preparing)],
            ),
            pending("n1", &[("t1", TaskState::Running)]),
            pending("n1", &[("t2", TaskState::Assigned)]),
            // Another node's report about t2 is kept apart (the write ignores it), so it can
            // never hide the holder's.
            pending(
                "n2",
                &[("t3", TaskState::Starting), ("t2", TaskState::Failed)],
            ),
        ];
        let merged: Vec<(String, String, TaskState)> = merge(&batch)
            .into_iter()
            .map(|(t, n, s)| (t.to_string(), n.to_string(), s.state))
            .collect();
        assert_eq!(
            merged,
            vec![
                ("t1".into(), "n1".into(), TaskState::Running),
                ("t2".into(), "n1".into(), TaskState::Preparing),
                ("t2".into(), "n2".into(), TaskState::Failed),
                ("t3".into(), "n2".into(), TaskState::Starting),
            ]
        );
    }
}
