//! Pure rules of the session protocol: which tasks a node is sent, when a change is worth a
//! new message, and which status updates are accepted.

use crate::allocator::state::{is_allocated, is_ingress_port, needs_ingress, protocol_of};
use shoal_store::{Event, EventKind, Tables};
use shoal_types::api::NodeState;
use shoal_types::dispatch::{NetEndpoint, NetNode, NetPort, NetService, NodeNetwork};
use shoal_types::service::proxy_protocol_ports;
use shoal_types::template::TemplateContext;
use shoal_types::{Config, Network, NodeId, Object, Secret, Service, Task, TaskState, TaskStatus};
use std::collections::{BTreeMap, BTreeSet};

/// The label `stack deploy` puts on its services: their short name also answers.
const STACK_NAMESPACE_LABEL: &str = "com.docker.stack.namespace";

/// Whether a task's addresses are live: placed on a node and not ended.
pub fn is_endpoint(task: &Task) -> bool {
    !task.node_id.is_empty()
        && task.status.state >= TaskState::Assigned
        && task.status.state <= TaskState::Running
}

/// Whether a task gets traffic: running (a task with a healthcheck only reaches RUNNING once
/// healthy; an unhealthy one fails) and meant to keep running. A task told to stop (rolling
/// update, scale down, removal) leaves the names and load balancers in the same assignment
/// round that tells its agent, which drains before stopping it, so no new connection is sent
/// to a container that is going away.
pub fn is_ready(task: &Task) -> bool {
    task.status.state == TaskState::Running && task.desired_state <= TaskState::Running
}

/// The networks `node` takes part in, complete (see [`NodeNetwork`]): each network one of
/// its tasks that has not ended is attached to, plus the ingress network while any service
/// publishes a port in ingress mode. A network on which the node has no address yet is left
/// out until the allocator gives it one.
/// Views of networks shared by every session: a network's endpoints, nodes and services are
/// the same for all its members, so they are worked out once per store state (keyed by the
/// applied index) rather than once per node.
pub type NetViews =
    parking_lot::Mutex<std::collections::HashMap<String, (u64, std::sync::Arc<NodeNetwork>)>>;

pub fn node_networks(
    t: &Tables,
    node: &NodeId,
    tasks: &[Task],
    views: &NetViews,
) -> Vec<NodeNetwork> {
    let Some(me) = t.nodes.get(node.as_str()) else {
        return Vec::new();
    };
    let mut ids: BTreeSet<&str> = tasks
        .iter()
        .filter(|t| t.status.state <= TaskState::Running)
        .flat_map(|t| t.networks.iter().map(|a| a.network_id.as_str()))
        .collect();
    let ingress = t
        .networks
        .iter()
        .find(|n| n.is_ingress() && is_allocated(n));
    let mesh = ingress.is_some() && t.services.iter().any(|s| needs_ingress(&s.spec));
    if let Some(ing) = ingress.filter(|_| mesh) {
        ids.insert(ing.id.as_str());
    }
    ids.into_iter()
        .filter_map(|id| t.networks.get(id).filter(|n| is_allocated(n)))
        .filter_map(|net| {
            let gateway = gateway_of(&me.attachments, &net.id)?;
            let shared = {
                let mut views = views.lock();
                match views.get(&net.id) {
                    Some((index, v)) if *index == t.applied_index => v.clone(),
                    _ => {
                        views.retain(|id, _| t.networks.get(id).is_some());
                        let v = std::sync::Arc::new(network_view(t, net));
                        views.insert(net.id.clone(), (t.applied_index, v.clone()));
                        v
                    }
                }
            };
            let mut view = NodeNetwork::clone(&shared);
            view.gateway = gateway.clone();
            if !view.nodes.iter().any(|n| &n.node_id == node) {
                let at = view.nodes.partition_point(|n| n.node_id < *node);
                view.nodes.insert(
                    at,
                    NetNode {
                        node_id: node.clone(),
                        addr: me.status.addr.clone().unwrap_or_default(),
                        gateway: bare(&gateway),
                        key: me.tunnel_key.clone(),
                    },
                );
            }
            Some(view)
        })
        .collect()
}

fn gateway_of(atts: &[shoal_types::NetworkAttachment], net: &str) -> Option<String> {
    atts.iter()
        .find(|a| a.network_id == net)
        .and_then(|a| a.addresses.first().cloned())
}

fn bare(addr: &str) -> String {
    addr.split('/').next().unwrap_or_default().to_string()
}

/// The container hostname `task`'s spec sets (`--hostname`), with its templates expanded as
/// the node will expand them (`{{.Node.Hostname}}`, `{{.Task.Slot}}`, …); `None` when the spec
/// sets none or its template cannot be expanded (the node then rejects the task).
fn hostname(t: &Tables, task: &Task) -> Option<String> {
    let template = task
        .spec
        .container_spec
        .as_ref()
        .and_then(|c| c.hostname.as_deref())
        .filter(|h| !h.is_empty())?;
    let description = t.nodes.get(task.node_id.as_str()).map(|n| &n.description);
    let platform = description.and_then(|d| d.platform.as_ref());
    fn field(v: Option<&String>) -> &str {
        v.map(String::as_str).unwrap_or_default()
    }
    let ctx = TemplateContext::new(
        task,
        field(description.and_then(|d| d.hostname.as_ref())),
        field(platform.and_then(|p| p.os.as_ref())),
        field(platform.and_then(|p| p.architecture.as_ref())),
    );
    ctx.expand(template).ok().filter(|h| !h.is_empty())
}

/// One network as its members see it (without the member's own gateway): its endpoints, the
/// nodes that have it up, its services.
pub fn network_view(t: &Tables, net: &Network) -> NodeNetwork {
    let mut endpoints = Vec::new();
    let mut members: BTreeSet<&str> = BTreeSet::new();
    let mut services: BTreeSet<&str> = BTreeSet::new();
    for task in t.tasks.find("network", &net.id) {
        if !is_endpoint(task) {
            continue;
        }
        let Some(att) = task.networks.iter().find(|a| a.network_id == net.id) else {
            continue;
        };
        // An attachment answers to its container's name, when `docker run --name` gave one.
        let mut names: Vec<String> = if task.is_attachment() {
            Some(task.name.clone())
                .filter(|n| !n.is_empty())
                .into_iter()
                .collect()
        } else {
            vec![task.container_name()]
        };
        names.extend(hostname(t, task));
        members.insert(task.node_id.as_str());
        services.insert(task.service_id.as_str());
        endpoints.push(NetEndpoint {
            task_id: task.id.clone(),
            service_id: task.service_id.clone(),
            node_id: task.node_id.clone(),
            addr: att.ip().map(|ip| ip.to_string()).unwrap_or_default(),
            ready: is_ready(task),
            names,
            aliases: att.aliases.clone(),
            dns: task
                .spec
                .container_spec
                .as_ref()
                .and_then(|c| c.dns_config.as_ref())
                .and_then(|d| d.nameservers.clone())
                .unwrap_or_default(),
        });
    }
    if net.is_ingress() {
        for n in t.nodes.iter() {
            if n.status.state == Some(NodeState::READY)
                && n.status.addr.as_deref().is_some_and(|a| !a.is_empty())
            {
                members.insert(n.id.as_str());
            }
        }
        for s in t.services.iter().filter(|s| needs_ingress(&s.spec)) {
            services.insert(s.id.as_str());
        }
    }
    let nodes = members
        .into_iter()
        .filter_map(|id| {
            let n = t.nodes.get(id)?;
            Some(NetNode {
                node_id: n.id.clone(),
                addr: n.status.addr.clone().unwrap_or_default(),
                gateway: bare(&gateway_of(&n.attachments, &net.id)?),
                // empty until the node has published one: the data plane then leaves it
                // out of the encrypted peers (never clear text)
                key: n.tunnel_key.clone(),
            })
        })
        .collect();
    let services = services
        .into_iter()
        .filter_map(|id| t.services.get(id))
        .map(|s| net_service(s, &net.id))
        .collect();
    NodeNetwork {
        network: net.clone(),
        gateway: String::new(),
        nodes,
        endpoints,
        services,
        data_path_port: t
            .cluster()
            .and_then(|c| u16::try_from(c.data_path_port).ok())
            .unwrap_or(0),
    }
}

/// A service as a network's members see it: names, VIP there, published ports.
pub fn net_service(s: &Service, net: &str) -> NetService {
    let mut aliases: Vec<String> = s
        .spec
        .task_template
        .as_ref()
        .and_then(|t| t.networks.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.target.as_deref() == Some(net))
        .flat_map(|a| a.aliases.clone().unwrap_or_default())
        .collect();
    if let Some(ns) = s
        .spec
        .labels
        .as_ref()
        .and_then(|l| l.get(STACK_NAMESPACE_LABEL))
        && let Some(short) = s.name().strip_prefix(&format!("{ns}_"))
        && !aliases.iter().any(|a| a == short)
    {
        aliases.push(short.to_string());
    }
    let endpoint = s.endpoint.as_ref();
    let vip = endpoint
        .and_then(|e| e.virtual_ips.as_ref())
        .into_iter()
        .flatten()
        .find(|v| v.network_id.as_deref() == Some(net))
        .and_then(|v| v.addr.as_deref())
        .map(bare);
    // the control API refuses a label that is not a list of the service's ingress TCP ports
    let proxied = proxy_protocol_ports(&s.spec).unwrap_or_default();
    let ports = endpoint
        .and_then(|e| e.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let published = p
                .published_port
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(0);
            let protocol = protocol_of(p);
            let ingress = is_ingress_port(p);
            Some(NetPort {
                protocol: protocol.to_string(),
                target: u16::try_from(p.target_port?).ok()?,
                published,
                ingress,
                proxy_protocol: ingress && protocol == "tcp" && proxied.contains(&published),
            })
        })
        .collect();
    NetService {
        service_id: s.id.clone(),
        name: s.name().to_string(),
        aliases,
        vip,
        ports,
    }
}

/// The networks whose members an event may concern: an endpoint appearing, leaving or
/// changing readiness; a service's names, VIPs or ports; a node's addresses or state; a
/// network itself. `everyone` is set when the ingress network may come or go on every node.
pub fn touched_networks(event: &Event, out: &mut BTreeSet<String>, everyone: &mut bool) {
    match (&event.object, &event.old) {
        (Object::Task(new), old) => {
            let old = match old {
                Some(Object::Task(o)) => Some(o),
                _ => None,
            };
            let key = |t: &Task| {
                (
                    is_endpoint(t),
                    is_ready(t),
                    t.node_id.clone(),
                    t.networks.clone(),
                )
            };
            let relevant = match (event.kind, old) {
                (EventKind::Updated, Some(o)) => key(o) != key(new),
                _ => is_endpoint(new),
            };
            if relevant {
                for t in std::iter::once(new).chain(old) {
                    out.extend(t.networks.iter().map(|a| a.network_id.clone()));
                }
            }
        }
        (Object::Service(new), old) => {
            let old = match old {
                Some(Object::Service(o)) => Some(o),
                _ => None,
            };
            if let Some(o) = old
                && o.spec == new.spec
                && o.endpoint == new.endpoint
            {
                return;
            }
            if needs_ingress(&new.spec) != old.is_some_and(|o| needs_ingress(&o.spec))
                || (event.kind != EventKind::Updated && needs_ingress(&new.spec))
            {
                *everyone = true;
            }
            for s in std::iter::once(new).chain(old) {
                out.extend(
                    s.endpoint
                        .iter()
                        .flat_map(|e| e.virtual_ips.iter().flatten())
                        .filter_map(|v| v.network_id.clone()),
                );
                out.extend(crate::allocator::state::spec_network_ids(&s.spec));
            }
        }
        (Object::Node(new), old) => {
            let old = match old {
                Some(Object::Node(o)) => Some(o),
                _ => None,
            };
            if let Some(o) = old
                && o.status.addr == new.status.addr
                && o.status.state == new.status.state
                && o.attachments == new.attachments
                && o.tunnel_key == new.tunnel_key
            {
                return;
            }
            for n in std::iter::once(new).chain(old) {
                out.extend(n.attachments.iter().map(|a| a.network_id.clone()));
            }
        }
        (Object::Network(n), _) => {
            if n.is_ingress() {
                *everyone = true;
            }
            out.insert(n.id.clone());
        }
        _ => {}
    }
}

/// The tasks of `placed` an agent runs: all but network attachments, which reserve an address
/// for a container the node's engine runs by itself (they only add their network and
/// endpoint to the node's set).
pub fn agent_tasks(placed: Vec<Task>) -> Vec<Task> {
    placed.into_iter().filter(|t| !t.is_attachment()).collect()
}

/// The complete set a node must know about: every task placed on it that has reached
/// ASSIGNED (running ones and ones to stop, ended ones until the reaper deletes them), in id
/// order. Tasks below ASSIGNED are not sent: they may not fit the node (SwarmKit keeps their
/// secrets from it for the same reason).
pub fn assigned_tasks(tables: &Tables, node: &NodeId) -> Vec<Task> {
    tables
        .tasks
        .find("node", node.as_str())
        .into_iter()
        .filter(|t| t.status.state >= TaskState::Assigned)
        .cloned()
        .collect()
}

/// The secrets and configs the tasks of `tasks` that may still run (desired state at most
/// RUNNING) reference, each once, in id order. A node gets these and nothing else: SwarmKit
/// likewise ships only the dependencies of a node's own tasks, and drops them with the last
/// task that needs them. References to objects no longer in the store are skipped (the
/// object was removed after its last service; a running container keeps its files).
pub fn referenced(tables: &Tables, tasks: &[Task]) -> (Vec<Secret>, Vec<Config>) {
    let mut secrets = BTreeMap::new();
    let mut configs = BTreeMap::new();
    let live = tasks
        .iter()
        .filter(|t| t.desired_state <= TaskState::Running);
    for cs in live.filter_map(|t| t.spec.container_spec.as_ref()) {
        for id in cs
            .secrets
            .iter()
            .flatten()
            .filter_map(|r| r.secret_id.as_deref())
        {
            if let Some(s) = tables.secrets.get(id) {
                secrets.entry(id.to_string()).or_insert_with(|| s.clone());
            }
        }
        for id in cs
            .configs
            .iter()
            .flatten()
            .filter_map(|r| r.config_id.as_deref())
        {
            if let Some(c) = tables.configs.get(id) {
                configs.entry(id.to_string()).or_insert_with(|| c.clone());
            }
        }
    }
    (
        secrets.into_values().collect(),
        configs.into_values().collect(),
    )
}

/// Whether two versions of a task look the same to the agent: everything but the observed
/// status (which the agent itself reports) and the store metadata. SwarmKit's
/// `TasksEqualStable`.
pub fn same_for_agent(a: &Task, b: &Task) -> bool {
    a.id == b.id
        && a.desired_state == b.desired_state
        && a.node_id == b.node_id
        && a.spec_version == b.spec_version
        && a.slot == b.slot
        && a.service_id == b.service_id
        && a.job_iteration == b.job_iteration
        && (a.status.state >= TaskState::Assigned) == (b.status.state >= TaskState::Assigned)
        && a.spec == b.spec
        && a.service_annotations == b.service_annotations
        && a.labels == b.labels
}

/// Whether two assignment sets differ for the agent.
pub fn sets_differ(a: &[Task], b: &[Task]) -> bool {
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| !same_for_agent(x, y))
}

/// Whether `event` may change the assignment set of `node`.
pub fn concerns_node(event: &Event, node: &NodeId) -> bool {
    let Object::Task(new) = &event.object else {
        return false;
    };
    let old = match &event.old {
        Some(Object::Task(t)) => Some(t),
        _ => None,
    };
    let on_node = &new.node_id == node || old.is_some_and(|o| &o.node_id == node);
    if !on_node {
        return false;
    }
    match (event.kind, old) {
        (EventKind::Updated, Some(old)) => !same_for_agent(old, new),
        _ => true,
    }
}

/// Whether an agent's report may replace the stored status: observed state only moves
/// forward; a report of the same state may refresh the message or container status.
pub fn moves_forward(current: &TaskStatus, update: &TaskStatus) -> bool {
    update.state > current.state || (update.state == current.state && update != current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_protocol_label_marks_only_its_published_ingress_tcp_ports() {
        use shoal_types::api::{
            EndpointPortConfig, EndpointPortConfigProtocolEnum as Proto,
            EndpointPortConfigPublishModeEnum as Mode, ServiceEndpoint,
        };
        let port = |published: i64, proto: Proto, mode: Mode| EndpointPortConfig {
            target_port: Some(80),
            published_port: Some(published),
            protocol: Some(proto),
            publish_mode: Some(mode),
            ..Default::default()
        };
        let mut s = Service::default();
        s.spec.labels = Some(
            [(
                shoal_types::service::PROXY_PROTOCOL_LABEL.to_string(),
                "8080,9000,8090".to_string(),
            )]
            .into(),
        );
        s.endpoint = Some(ServiceEndpoint {
            ports: Some(vec![
                port(8080, Proto::TCP, Mode::INGRESS),
                port(8081, Proto::TCP, Mode::INGRESS),
                port(9000, Proto::UDP, Mode::INGRESS),
                port(8090, Proto::TCP, Mode::HOST),
            ]),
            ..Default::default()
        });
        let marked: Vec<(u16, bool)> = net_service(&s, "ingress")
            .ports
            .iter()
            .map(|p| (p.published, p.proxy_protocol))
            .collect();
        assert_eq!(
            marked,
            [(8080, true), (8081, false), (9000, false), (8090, false)]
        );
    }

    fn status(state: TaskState, message: &str) -> TaskStatus {
        TaskStatus {
            state,
            message: message.into(),
            ..Default::default()
        }
    }

    #[test]
    fn observed_state_only_moves_forward() {
        let running = status(TaskState::Running, "started");
        assert!(moves_forward(&status(TaskState::Assigned, ""), &running));
        assert!(!moves_forward(&running, &status(TaskState::Starting, "")));
        assert!(
            !moves_forward(&running, &running),
            "a repeat changes nothing"
        );
        assert!(moves_forward(
            &running,
            &status(TaskState::Running, "healthy")
        ));
        assert!(moves_forward(
            &running,
            &status(TaskState::Failed, "task: non-zero exit (1)")
        ));
    }

    #[test]
    fn a_running_task_told_to_stop_is_no_longer_ready() {
        let mut t = Task {
            id: "t1".into(),
            node_id: "n1".into(),
            status: status(TaskState::Starting, ""),
            desired_state: TaskState::Running,
            ..Default::default()
        };
        assert!(!is_ready(&t), "not running yet");
        t.status = status(TaskState::Running, "started");
        assert!(is_ready(&t));
        t.desired_state = TaskState::Shutdown;
        assert!(!is_ready(&t), "told to stop: drained at once");
        assert!(is_endpoint(&t), "still an endpoint until it stops");
    }

    #[test]
    fn a_status_report_does_not_change_the_set_but_a_desired_state_does() {
        let t = Task {
            id: "t1".into(),
            node_id: "n1".into(),
            status: status(TaskState::Assigned, ""),
            desired_state: TaskState::Running,
            ..Default::default()
        };
        let mut reported = t.clone();
        reported.status = status(TaskState::Running, "started");
        assert!(same_for_agent(&t, &reported));
        let mut stopping = t.clone();
        stopping.desired_state = TaskState::Shutdown;
        assert!(!same_for_agent(&t, &stopping));
        let mut not_yet = t.clone();
        not_yet.status = status(TaskState::Pending, "");
        assert!(
            !same_for_agent(&not_yet, &t),
            "reaching ASSIGNED adds the task to the set"
        );
    }
}
