//! The allocator: the only place addresses are handed out, run by the leader alone (so two
//! managers can never give out the same subnet, VXLAN id, address or port).
//!
//! It fills, in this order: a new network's subnet and VNI; a service's endpoint (published
//! ports, virtual IPs); every node's own address on every network; and a NEW task's
//! addresses and endpoint, after which the task moves to PENDING for the scheduler (a task
//! whose networks are not allocated yet stays NEW). Addresses go back to the pools when a
//! task ends or is deleted, a node or a service is removed, a network is removed.
//!
//! The pools ([`state::Allocations`]) are rebuilt from the store when the allocator starts
//! and kept current from events afterwards; each event costs work on its own object only.

pub mod ipam;
pub mod pools;
pub mod state;

use crate::controller::{self, Controller};
use shoal_store::{Event, EventKind, StoreError, StoreHandle, Tx};
use shoal_types::{Network, NodeId, Object, ServiceId, Task, TaskId, TaskState};
use state::{AllocError, Allocations, allocate_network, is_allocated};
use std::collections::BTreeSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// `Status.Message` of a task waiting for the scheduler (SwarmKit's words).
pub const PENDING_MESSAGE: &str = "pending task scheduling";

/// `Status.Message` of a network attachment once its address is allocated.
pub const ATTACHED_MESSAGE: &str = "attached";

/// Whether the allocator should advance `task`: NEW and still wanted. A task shut down before
/// it was allocated stays NEW and is reaped.
pub fn needs_allocation(task: &Task) -> bool {
    task.status.state == TaskState::New && task.desired_state <= TaskState::Running
}

/// The allocator loop's state.
#[derive(Debug, Default)]
pub struct Allocator {
    all: bool,
    /// `None` until the first reconcile builds it from the store.
    pools: Option<Allocations>,
    networks: BTreeSet<String>,
    services: BTreeSet<ServiceId>,
    nodes: BTreeSet<NodeId>,
    all_nodes: bool,
    tasks: BTreeSet<TaskId>,
    /// Tasks waiting for a network or their service's endpoint; retried when one changes.
    waiting: BTreeSet<TaskId>,
}

/// Runs the allocator until `cancel` fires.
pub async fn run(
    store: StoreHandle,
    cancel: CancellationToken,
) -> Result<(), crate::ControllerError> {
    controller::run_controller(Allocator::default(), store, cancel).await
}

impl Controller for Allocator {
    const NAME: &'static str = "allocator";

    fn observe(&mut self, event: &Event) {
        let deleted = event.kind == EventKind::Deleted;
        match &event.object {
            Object::Task(t) => {
                if let Some(p) = self.pools.as_mut()
                    && !t.networks.is_empty()
                    && (deleted || t.status.state > TaskState::Running)
                {
                    p.release_task(t);
                }
                if !deleted && needs_allocation(t) {
                    self.tasks.insert(t.id.clone());
                }
            }
            Object::Service(s) => {
                if deleted {
                    if let Some(p) = self.pools.as_mut() {
                        p.release_service(&s.id);
                    }
                } else {
                    self.services.insert(s.id.clone());
                }
            }
            Object::Node(n) => {
                if deleted {
                    if let Some(p) = self.pools.as_mut() {
                        p.release_node(n);
                    }
                    self.nodes.remove(&n.id);
                } else {
                    let changed = match &event.old {
                        Some(Object::Node(old)) => old.attachments != n.attachments,
                        _ => true,
                    };
                    if changed {
                        self.nodes.insert(n.id.clone());
                    }
                }
            }
            Object::Network(n) => {
                if deleted {
                    if let Some(p) = self.pools.as_mut() {
                        p.remove_network(&n.id);
                    }
                    self.networks.remove(&n.id);
                    self.all_nodes = true;
                } else if !is_allocated(n) {
                    self.networks.insert(n.id.clone());
                } else if let Some(p) = self.pools.as_mut()
                    && p.add_network(n)
                {
                    self.network_ready();
                }
            }
            _ => {}
        }
    }

    fn mark_all(&mut self) {
        self.all = true;
    }

    async fn reconcile(&mut self, store: &StoreHandle, _now: Instant) -> Result<(), StoreError> {
        if std::mem::take(&mut self.all) || self.pools.is_none() {
            self.rebuild(store);
        }
        self.allocate_networks(store).await?;
        self.allocate_services(store).await?;
        self.allocate_nodes(store).await?;
        self.allocate_tasks(store).await
    }
}

impl Allocator {
    /// Rebuilds the pools from a fresh view and marks everything that may need work.
    fn rebuild(&mut self, store: &StoreHandle) {
        let (pools, networks, services, tasks) = store.view(|t| {
            let mut nets: Vec<&Network> = t.networks.iter().filter(|n| !is_allocated(n)).collect();
            nets.sort_by_key(|n| n.meta.version.index);
            (
                Allocations::from_tables(t),
                nets.iter().map(|n| n.id.clone()).collect(),
                t.services.iter().map(|s| s.id.clone()).collect(),
                t.tasks
                    .iter()
                    .filter(|t| needs_allocation(t))
                    .map(|t| t.id.clone())
                    .collect(),
            )
        });
        self.pools = Some(pools);
        self.networks = networks;
        self.services = services;
        self.tasks = tasks;
        self.waiting.clear();
        self.all_nodes = true;
    }

    /// A network became allocated: every node needs an address on it, and whatever waited
    /// for it may proceed.
    fn network_ready(&mut self) {
        self.all_nodes = true;
        self.tasks.append(&mut self.waiting);
    }

    fn pools(&mut self) -> &mut Allocations {
        self.pools.get_or_insert_with(Allocations::default)
    }

    async fn allocate_networks(&mut self, store: &StoreHandle) -> Result<(), StoreError> {
        let mut ids: Vec<(u64, String)> = store.view(|t| {
            self.networks
                .iter()
                .filter_map(|id| {
                    t.networks
                        .get(id)
                        .map(|n| (n.meta.version.index, id.clone()))
                })
                .collect()
        });
        self.networks.clear();
        // In creation order, one at a time: each sees the subnets of the ones before it.
        ids.sort();
        for (_, id) in ids {
            let (allocated, _) = controller::update_retrying(store, |tx| {
                let Some(Object::Network(net)) = tx.get(shoal_types::Kind::Network, &id) else {
                    return Ok(None);
                };
                if is_allocated(&net) {
                    return Ok(Some(net));
                }
                let cluster = tx.cluster();
                let all: Vec<&Network> = tx.tables().networks.iter().collect();
                match allocate_network(&net, &all, cluster.as_ref()) {
                    Ok(done) => {
                        tx.update(Object::Network(done.clone()))?;
                        Ok(Some(done))
                    }
                    Err(err) => {
                        tracing::error!(network = %net.spec.name, error = %err, "cannot allocate the network");
                        Ok(None)
                    }
                }
            })
            .await?;
            if let Some(net) = allocated
                && self.pools().add_network(&net)
            {
                tracing::info!(network = %net.spec.name, vni = net.vni, "network allocated");
                self.network_ready();
            }
        }
        Ok(())
    }

    async fn allocate_services(&mut self, store: &StoreHandle) -> Result<(), StoreError> {
        let ids: Vec<ServiceId> = std::mem::take(&mut self.services).into_iter().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let mut changed = false;
        let pools = self.pools.get_or_insert_with(Allocations::default);
        controller::update_in_batches(store, &ids, |tx, id| {
            let Some(mut svc) = tx.service(id.as_str()) else {
                return Ok(());
            };
            match pools.endpoint(&svc) {
                Ok(ep) => {
                    if svc.endpoint.as_ref() != Some(&ep) {
                        svc.endpoint = Some(ep);
                        tx.update(Object::Service(svc))?;
                    }
                    changed = true;
                }
                Err(AllocError::Waiting(what)) => {
                    tracing::debug!(service = %id, waiting = %what, "service endpoint waits");
                }
                Err(AllocError::Failed(err)) => {
                    tracing::error!(service = %id, error = %err, "cannot allocate the service's endpoint");
                }
            }
            Ok(())
        })
        .await?;
        if changed {
            self.tasks.append(&mut self.waiting);
        }
        Ok(())
    }

    async fn allocate_nodes(&mut self, store: &StoreHandle) -> Result<(), StoreError> {
        let ids: Vec<NodeId> = if std::mem::take(&mut self.all_nodes) {
            self.nodes.clear();
            store.view(|t| t.nodes.iter().map(|n| n.id.clone()).collect())
        } else {
            std::mem::take(&mut self.nodes).into_iter().collect()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let pools = self.pools.get_or_insert_with(Allocations::default);
        controller::update_in_batches(store, &ids, |tx, id| {
            let Some(mut node) = tx.node(id.as_str()) else {
                return Ok(());
            };
            let attachments = pools.node_attachments(&node);
            if node.attachments != attachments {
                node.attachments = attachments;
                tx.update(Object::Node(node))?;
            }
            Ok(())
        })
        .await
    }

    async fn allocate_tasks(&mut self, store: &StoreHandle) -> Result<(), StoreError> {
        let ids: Vec<TaskId> = std::mem::take(&mut self.tasks).into_iter().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let stamp = controller::timestamp(store);
        let mut waiting = BTreeSet::new();
        let pools = self.pools.get_or_insert_with(Allocations::default);
        controller::update_in_batches(store, &ids, |tx, id| {
            waiting.remove(id);
            match allocate_task(tx, pools, id, &stamp) {
                Ok(()) => Ok(()),
                Err(TaskOutcome::Store(e)) => Err(e),
                Err(TaskOutcome::Wait(what)) => {
                    tracing::debug!(task = %id, waiting = %what, "task allocation waits");
                    waiting.insert(id.clone());
                    Ok(())
                }
            }
        })
        .await?;
        self.waiting.append(&mut waiting);
        Ok(())
    }
}

enum TaskOutcome {
    Store(StoreError),
    Wait(String),
}

impl From<StoreError> for TaskOutcome {
    fn from(e: StoreError) -> Self {
        TaskOutcome::Store(e)
    }
}

/// Gives task `id` its addresses and its service's endpoint, and moves it to PENDING.
fn allocate_task(
    tx: &mut Tx<'_>,
    pools: &mut Allocations,
    id: &TaskId,
    stamp: &str,
) -> Result<(), TaskOutcome> {
    let Some(mut task) = tx.task(id.as_str()) else {
        return Ok(());
    };
    if !needs_allocation(&task) {
        return Ok(());
    }
    if task.is_attachment() {
        return allocate_attachment(tx, pools, task, stamp);
    }
    let Some(svc) = tx.service(task.service_id.as_str()) else {
        // Its service is gone: the orchestrator shuts the task down.
        return Ok(());
    };
    // The service's endpoint first: the task carries it.
    let endpoint = match pools.endpoint(&svc) {
        Ok(ep) => ep,
        Err(AllocError::Waiting(what)) => return Err(TaskOutcome::Wait(what)),
        Err(AllocError::Failed(err)) => return Err(TaskOutcome::Wait(err)),
    };
    if svc.endpoint.as_ref() != Some(&endpoint) {
        return Err(TaskOutcome::Wait("its service's endpoint".into()));
    }
    match pools.task_networks(&task, &svc) {
        Ok(networks) => task.networks = networks,
        Err(AllocError::Waiting(what)) => return Err(TaskOutcome::Wait(what)),
        Err(AllocError::Failed(err)) => {
            tracing::error!(task = %id, error = %err, "cannot allocate the task's addresses");
            return Err(TaskOutcome::Wait(err));
        }
    }
    task.endpoint = Some(endpoint);
    task.status.state = TaskState::Pending;
    task.status.message = PENDING_MESSAGE.to_string();
    task.status.timestamp = stamp.to_string();
    tx.update(Object::Task(task))?;
    Ok(())
}

/// A network attachment gets its address on its one network and is RUNNING at once: it is
/// already bound to its node and nothing runs for it (the container is the engine's).
fn allocate_attachment(
    tx: &mut Tx<'_>,
    pools: &mut Allocations,
    mut task: Task,
    stamp: &str,
) -> Result<(), TaskOutcome> {
    match pools.task_networks(&task, &shoal_types::Service::default()) {
        Ok(networks) if !networks.is_empty() => task.networks = networks,
        Ok(_) => {
            // Its network is gone (or was the ingress network): nothing to hold.
            tracing::warn!(task = %task.id, "network attachment names no attachable network");
            return Ok(());
        }
        Err(AllocError::Waiting(what)) => return Err(TaskOutcome::Wait(what)),
        Err(AllocError::Failed(err)) => {
            tracing::error!(task = %task.id, error = %err, "cannot allocate the attachment's address");
            return Err(TaskOutcome::Wait(err));
        }
    }
    task.status.state = TaskState::Running;
    task.status.message = ATTACHED_MESSAGE.to_string();
    task.status.timestamp = stamp.to_string();
    tx.update(Object::Task(task))?;
    Ok(())
}
