//! An in-memory engine for agent scenarios.

use super::NODE;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use shoal_agent::{
    ExecError, Executor, ExistingContainer, ExitStatus, LogLine, LogOptions, Started,
};
use shoal_types::api::NodeDescription;
use shoal_types::{NodeId, Task, TaskId};
use std::collections::{HashMap, HashSet};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Created,
    Running,
    Exited(i64),
}

struct FakeContainer {
    id: String,
    node_id: NodeId,
    phase: Phase,
    exit: watch::Sender<Option<i64>>,
}

#[derive(Default)]
struct ExecState {
    containers: HashMap<TaskId, FakeContainer>,
    next_id: usize,
    creates: usize,
    prepares: usize,
    missing_images: HashSet<String>,
}

/// An engine in memory: containers keyed by task (names are deterministic), exits driven by
/// the test with [`FakeExecutor::exit`].
#[derive(Default)]
pub struct FakeExecutor {
    state: Mutex<ExecState>,
}

impl FakeExecutor {
    pub fn with_missing_image(self, image: &str) -> Self {
        self.state.lock().missing_images.insert(image.into());
        self
    }

    /// A container left by an earlier agent.
    pub fn insert(&self, task_id: &str, phase: Phase) {
        let mut st = self.state.lock();
        st.next_id += 1;
        let id = format!("old{}", st.next_id);
        let exit = watch::channel(match phase {
            Phase::Exited(c) => Some(c),
            _ => None,
        })
        .0;
        st.containers.insert(
            TaskId::from(task_id),
            FakeContainer {
                id,
                node_id: NodeId::from(NODE),
                phase,
                exit,
            },
        );
    }

    /// The container's process ends with `code`.
    pub fn exit(&self, task_id: &str, code: i64) {
        let mut st = self.state.lock();
        if let Some(c) = st.containers.get_mut(&TaskId::from(task_id)) {
            c.phase = Phase::Exited(code);
            c.exit.send_replace(Some(code));
        }
    }

    pub fn phase(&self, task_id: &str) -> Option<Phase> {
        self.state
            .lock()
            .containers
            .get(&TaskId::from(task_id))
            .map(|c| c.phase)
    }

    pub fn container_count(&self) -> usize {
        self.state.lock().containers.len()
    }

    pub fn creates(&self) -> usize {
        self.state.lock().creates
    }

    pub fn prepares(&self) -> usize {
        self.state.lock().prepares
    }
}

fn not_found(task: &TaskId) -> ExecError {
    ExecError::NotFound(format!("No such container: {task}"))
}

impl Executor for FakeExecutor {
    fn describe(&self) -> BoxFuture<'_, Result<NodeDescription, ExecError>> {
        Box::pin(async {
            Ok(NodeDescription {
                hostname: Some("fake".into()),
                ..Default::default()
            })
        })
    }

    fn prepare<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            st.prepares += 1;
            let image = shoal_agent::spec::image(task).to_string();
            if st.missing_images.contains(&image) {
                return Err(ExecError::ImageNotFound(format!("No such image: {image}")));
            }
            if st.containers.contains_key(&task.id) {
                return Ok(()); // name conflict: adopt
            }
            st.next_id += 1;
            st.creates += 1;
            let id = format!("c{}", st.next_id);
            let exit = watch::channel(None).0;
            st.containers.insert(
                task.id.clone(),
                FakeContainer {
                    id,
                    node_id: task.node_id.clone(),
                    phase: Phase::Created,
                    exit,
                },
            );
            Ok(())
        })
    }

    fn start<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<Started, ExecError>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            let c = st
                .containers
                .get_mut(&task.id)
                .ok_or_else(|| not_found(&task.id))?;
            c.phase = Phase::Running;
            c.exit.send_replace(None);
            Ok(Started {
                container_id: c.id.clone(),
                pid: 4242,
            })
        })
    }

    fn wait<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<ExitStatus, ExecError>> {
        Box::pin(async move {
            let (id, mut rx) = {
                let st = self.state.lock();
                let c = st
                    .containers
                    .get(&task.id)
                    .ok_or_else(|| not_found(&task.id))?;
                (c.id.clone(), c.exit.subscribe())
            };
            let code = rx
                .wait_for(Option::is_some)
                .await
                .map_err(|_| not_found(&task.id))?
                .unwrap_or(0);
            Ok(ExitStatus {
                container_id: id,
                exit_code: code,
                error: String::new(),
            })
        })
    }

    fn shutdown<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            let c = st
                .containers
                .get_mut(&task.id)
                .ok_or_else(|| not_found(&task.id))?;
            if c.phase == Phase::Running {
                c.phase = Phase::Exited(143);
                c.exit.send_replace(Some(143));
            }
            Ok(())
        })
    }

    fn remove<'a>(&'a self, task: &'a Task) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            self.state
                .lock()
                .containers
                .remove(&task.id)
                .map(|_| ())
                .ok_or_else(|| not_found(&task.id))
        })
    }

    fn remove_existing<'a>(
        &'a self,
        container: &'a ExistingContainer,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut st = self.state.lock();
            st.containers
                .remove(&container.task_id)
                .map(|_| ())
                .ok_or_else(|| not_found(&container.task_id))
        })
    }

    fn list<'a>(
        &'a self,
        node_id: &'a NodeId,
    ) -> BoxFuture<'a, Result<Vec<ExistingContainer>, ExecError>> {
        Box::pin(async move {
            let st = self.state.lock();
            Ok(st
                .containers
                .iter()
                .filter(|(_, c)| &c.node_id == node_id)
                .map(|(task_id, c)| ExistingContainer {
                    task_id: task_id.clone(),
                    container_id: c.id.clone(),
                    running: c.phase == Phase::Running,
                    exit_code: match c.phase {
                        Phase::Exited(code) => Some(code),
                        _ => None,
                    },
                })
                .collect())
        })
    }

    fn logs(
        &self,
        _task: &Task,
        _options: LogOptions,
    ) -> BoxStream<'static, Result<LogLine, ExecError>> {
        Box::pin(futures::stream::empty())
    }
}
