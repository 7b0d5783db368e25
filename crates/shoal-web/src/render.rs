//! The HTML of every page and live fragment, from a [`Snapshot`] of the store: pure
//! functions, so what the browser shows is unit-tested without a browser.
//!
//! Nothing secret is rendered: no environment, no secret or config data, no join tokens; a
//! service's spec summary lists names and counts only where values may be sensitive.

use shoal_manager::control::Control;
use shoal_types::api::{
    NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState, ServiceUpdateStatusStateEnum,
};
use shoal_types::service::ServiceMode;
use shoal_types::{Node, Service, Task, TaskState};
use std::collections::HashMap;
use std::fmt::Write;

/// `Status.Err` the agent writes for a task whose container turned unhealthy.
const UNHEALTHY_ERR: &str = "unhealthy";

/// What the pages show, read in one store view.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Nodes with `ManagerStatus` filled from raft (leader, reachability).
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    pub tasks: Vec<Task>,
}

impl Snapshot {
    /// The store as `control` sees it now.
    pub fn read(control: &Control) -> Snapshot {
        let (nodes, services, tasks) = control.store().view(|t| {
            (
                t.nodes.iter().cloned().collect::<Vec<_>>(),
                t.services.iter().cloned().collect::<Vec<_>>(),
                t.tasks.iter().cloned().collect::<Vec<_>>(),
            )
        });
        Snapshot {
            nodes: nodes
                .into_iter()
                .map(|n| control.decorate_node(n))
                .collect(),
            services,
            tasks,
        }
    }
}

/// One line of the events list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// `HH:MM:SS` (UTC).
    pub at: String,
    /// `service`, `node`, `task`.
    pub kind: &'static str,
    /// `create`, `update`, `remove`, or a task's new state.
    pub action: String,
    pub name: String,
    /// What changed, if known (`replicas 3 → 5`).
    pub detail: String,
}

/// HTML-escapes text for element content and quoted attribute values. A carriage return
/// becomes a character reference (server-sent events cannot carry one).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// A stable colour (hue, 0..360) for a service name: every card of a service shares it.
pub fn hue(name: &str) -> u32 {
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let h = name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h % 360
}

/// The tag of an image reference (`nginx:1.25@sha256:…` → `1.25`; none → `latest`).
pub fn image_tag(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    match last.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag,
        _ => "latest",
    }
}

/// The image without its digest (`busybox:1.36@sha256:…` → `busybox:1.36`).
pub fn image_name(image: &str) -> &str {
    image.split('@').next().unwrap_or(image)
}

fn task_image(t: &Task) -> &str {
    t.spec
        .container_spec
        .as_ref()
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

fn service_image(s: &Service) -> &str {
    s.spec
        .task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.image.as_deref())
        .unwrap_or_default()
}

/// Health as a card shows it: `Some("healthy")`, `Some("unhealthy")`, `Some("starting")` for
/// tasks with a healthcheck, `None` without one. The agent keeps a task STARTING until its
/// container is healthy, and fails it with an "unhealthy" error when it turns unhealthy.
pub fn health(t: &Task) -> Option<&'static str> {
    if t.status.err.contains(UNHEALTHY_ERR) {
        return Some("unhealthy");
    }
    let has_check = t
        .spec
        .container_spec
        .as_ref()
        .and_then(|c| c.health_check.as_ref())
        .and_then(|h| h.test.as_ref())
        .is_some_and(|test| test.first().is_some_and(|k| k != "NONE"));
    if !has_check {
        return None;
    }
    match t.status.state {
        TaskState::Running => Some("healthy"),
        s if s < TaskState::Running => Some("starting"),
        _ => None,
    }
}

/// Whether a task gets a card in the grid: it is meant to run and has not ended.
pub fn on_grid(t: &Task) -> bool {
    t.desired_state <= TaskState::Running && !t.status.state.is_terminal() && !t.node_id.is_empty()
}

/// Running and desired task counts of a service, as `service ls` shows them.
pub fn replicas(s: &Service, tasks: &[&Task]) -> (u64, u64) {
    let running = tasks
        .iter()
        .filter(|t| t.status.state == TaskState::Running && t.desired_state == TaskState::Running)
        .count() as u64;
    let desired = match s.mode() {
        ServiceMode::Replicated { replicas } => replicas,
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total,
        } => {
            let done = tasks
                .iter()
                .filter(|t| t.status.state == TaskState::Complete)
                .count() as u64;
            max_concurrent.min(total.saturating_sub(done))
        }
        ServiceMode::Global | ServiceMode::GlobalJob => tasks
            .iter()
            .filter(|t| t.desired_state == TaskState::Running)
            .count() as u64,
    };
    (running, desired)
}

/// A rolling update's state and progress (tasks of the current spec running / desired),
/// `None` when no update ran.
pub fn update_progress(s: &Service, tasks: &[&Task]) -> Option<(String, u64, u64)> {
    let st = s.update_status.as_ref()?;
    let state = st.state.unwrap_or(ServiceUpdateStatusStateEnum::EMPTY);
    if state == ServiceUpdateStatusStateEnum::EMPTY {
        return None;
    }
    let (_, desired) = replicas(s, tasks);
    let done = tasks
        .iter()
        .filter(|t| {
            t.status.state == TaskState::Running
                && t.desired_state == TaskState::Running
                && t.spec_version == s.spec_version
        })
        .count() as u64;
    Some((state.to_string(), done.min(desired), desired))
}

/// The error of the service's most recent failed or rejected task, if any.
pub fn last_error<'a>(tasks: &[&'a Task]) -> Option<&'a str> {
    tasks
        .iter()
        .filter(|t| {
            matches!(t.status.state, TaskState::Failed | TaskState::Rejected)
                && !t.status.err.is_empty()
        })
        .max_by(|a, b| a.status.timestamp.cmp(&b.status.timestamp))
        .map(|t| t.status.err.as_str())
}

/// `8080→80/tcp` for each published port.
pub fn ports(s: &Service) -> Vec<String> {
    s.endpoint
        .as_ref()
        .and_then(|e| e.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p
                .protocol
                .map(|x| x.to_string())
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| "tcp".into());
            format!(
                "{}→{}/{}",
                p.published_port.unwrap_or_default(),
                p.target_port.unwrap_or_default(),
                proto
            )
        })
        .collect()
}

fn tasks_by_service(snap: &Snapshot) -> HashMap<&str, Vec<&Task>> {
    let mut by: HashMap<&str, Vec<&Task>> = HashMap::new();
    for t in &snap.tasks {
        by.entry(t.service_id.as_str()).or_default().push(t);
    }
    by
}

fn node_role(n: &Node) -> &'static str {
    match n.spec.role {
        Some(NodeSpecRoleEnum::MANAGER) => "manager",
        _ => "worker",
    }
}

fn node_state(n: &Node) -> String {
    n.status.state.unwrap_or(NodeState::UNKNOWN).to_string()
}

fn is_leader(n: &Node) -> bool {
    n.manager_status
        .as_ref()
        .and_then(|m| m.leader)
        .unwrap_or(false)
}

/// `4 CPU · 7.8 GiB`.
pub fn resources(n: &Node) -> String {
    let r = n.description.resources.as_ref();
    let cpus = r.and_then(|r| r.nano_cpus).unwrap_or_default() as f64 / 1e9;
    let mem = r.and_then(|r| r.memory_bytes).unwrap_or_default() as f64 / (1u64 << 30) as f64;
    format!("{cpus:.0} CPU · {mem:.1} GiB")
}

/// The nodes × tasks grid: one column per node (managers first), one card per task on it.
pub fn grid(snap: &Snapshot) -> String {
    let names: HashMap<&str, &str> = snap
        .services
        .iter()
        .map(|s| (s.id.as_str(), s.name()))
        .collect();
    let mut by_node: HashMap<&str, Vec<&Task>> = HashMap::new();
    for t in snap.tasks.iter().filter(|t| on_grid(t)) {
        by_node.entry(t.node_id.as_str()).or_default().push(t);
    }
    let mut nodes: Vec<&Node> = snap.nodes.iter().collect();
    nodes.sort_by(|a, b| {
        (!a.is_manager(), a.display_name()).cmp(&(!b.is_manager(), b.display_name()))
    });
    let mut out = String::from("<div class=\"grid\">");
    if nodes.is_empty() {
        out.push_str("<p class=\"empty\">No nodes.</p>");
    }
    for n in nodes {
        let name = n.display_name();
        let state = node_state(n);
        let avail = n.availability().to_string();
        let engine = n
            .description
            .engine
            .as_ref()
            .and_then(|e| e.engine_version.as_deref())
            .unwrap_or("?");
        let _ = write!(
            out,
            "<div class=\"node {state} {avail}\" data-node=\"{}\"><div class=\"nodehead\"><b>{}</b>{}<br><span class=\"role\">{}</span> · <span class=\"state\">{}</span> · <span class=\"avail\">{}</span><br><small>engine {} · {}</small><br>",
            esc(name),
            esc(name),
            if is_leader(n) {
                " <span class=\"leader\" title=\"leader\">★</span>"
            } else {
                ""
            },
            node_role(n),
            esc(&state),
            esc(&avail),
            esc(engine),
            esc(&resources(n)),
        );
        let (act, label) = if n.availability() == NodeSpecAvailabilityEnum::DRAIN {
            ("active", "Activate")
        } else {
            ("drain", "Drain")
        };
        let _ = write!(
            out,
            "<button class=\"act\" data-act=\"node\" data-id=\"{}\" data-name=\"{}\" data-value=\"{act}\">{label}</button></div>",
            esc(n.id.as_str()),
            esc(name),
        );
        let mut tasks = by_node.remove(n.id.as_str()).unwrap_or_default();
        tasks.sort_by(|a, b| {
            let an = names
                .get(a.service_id.as_str())
                .copied()
                .unwrap_or_default();
            let bn = names
                .get(b.service_id.as_str())
                .copied()
                .unwrap_or_default();
            (an, a.slot, a.id.as_str()).cmp(&(bn, b.slot, b.id.as_str()))
        });
        for t in tasks {
            card(&mut out, t, names.get(t.service_id.as_str()).copied());
        }
        out.push_str("</div>");
    }
    out.push_str("</div>");
    out
}

fn card(out: &mut String, t: &Task, service: Option<&str>) {
    let svc = service.unwrap_or(t.service_annotations.name.as_str());
    let state = t.status.state.as_str();
    let health = health(t);
    let slot = if t.slot > 0 {
        format!(".{}", t.slot)
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<div class=\"card {state}{}\" style=\"--h:{}\" data-service=\"{}\" data-task=\"{}\" data-state=\"{state}\"><b>{}{}</b><br><small>{state} · {}{}</small></div>",
        health.map(|h| format!(" {h}")).unwrap_or_default(),
        hue(svc),
        esc(svc),
        esc(t.id.as_str()),
        esc(svc),
        esc(&slot),
        esc(image_tag(task_image(t))),
        health.map(|h| format!(" · {h}")).unwrap_or_default(),
    );
}

/// The services table.
pub fn services(snap: &Snapshot) -> String {
    let by = tasks_by_service(snap);
    let mut list: Vec<&Service> = snap.services.iter().collect();
    list.sort_by(|a, b| a.name().cmp(b.name()));
    if list.is_empty() {
        return "<p class=\"empty\">No services.</p>".into();
    }
    let mut out = String::from(
        "<table class=\"services\"><thead><tr><th>Name</th><th>Mode</th><th>Replicas</th><th>Image</th><th>Ports</th><th>Update</th><th></th></tr></thead><tbody>",
    );
    let none = Vec::new();
    for s in list {
        let tasks = by.get(s.id.as_str()).unwrap_or(&none);
        let (running, desired) = replicas(s, tasks);
        let ok = if running >= desired { "ok" } else { "short" };
        let _ = write!(
            out,
            "<tr data-service=\"{}\"><td><a href=\"/service/{}\">{}</a></td><td>{}</td><td class=\"{ok}\"><span class=\"running\">{running}</span>/<span class=\"desired\">{desired}</span></td><td>{}</td><td>{}</td><td>",
            esc(s.name()),
            esc(s.id.as_str()),
            esc(s.name()),
            s.mode().name(),
            esc(image_name(service_image(s))),
            esc(&ports(s).join(", ")),
        );
        if let Some((state, done, of)) = update_progress(s, tasks) {
            let _ = write!(
                out,
                "{}<progress max=\"{of}\" value=\"{done}\"></progress> {done}/{of}",
                esc(&state)
            );
        }
        if let Some(err) = last_error(tasks) {
            let _ = write!(out, "<div class=\"err\">{}</div>", esc(err));
        }
        out.push_str("</td><td>");
        if let ServiceMode::Replicated { replicas } = s.mode() {
            let _ = write!(
                out,
                "<button class=\"act\" data-act=\"scale\" data-id=\"{}\" data-name=\"{}\" data-value=\"{replicas}\">Scale</button> ",
                esc(s.id.as_str()),
                esc(s.name()),
            );
        }
        if s.previous_spec.is_some() {
            let _ = write!(
                out,
                "<button class=\"act\" data-act=\"rollback\" data-id=\"{}\" data-name=\"{}\">Roll back</button>",
                esc(s.id.as_str()),
                esc(s.name()),
            );
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The events list, newest first.
pub fn events(list: &[EventLine]) -> String {
    if list.is_empty() {
        return "<p class=\"empty\">No events since this manager's web view started.</p>".into();
    }
    let mut out = String::from("<ul class=\"events\">");
    for e in list.iter().rev() {
        let _ = write!(
            out,
            "<li><time>{}</time> <span class=\"kind\">{}</span> <b>{}</b> {}{}</li>",
            esc(&e.at),
            e.kind,
            esc(&e.action),
            esc(&e.name),
            if e.detail.is_empty() {
                String::new()
            } else {
                format!(" <small>{}</small>", esc(&e.detail))
            }
        );
    }
    out.push_str("</ul>");
    out
}

/// One service's page body: spec summary and task history (as `service ps`), or `None` if
/// there is no such service.
pub fn service_detail(snap: &Snapshot, id: &str) -> Option<String> {
    let s = snap.services.iter().find(|s| s.id.as_str() == id)?;
    let by = tasks_by_service(snap);
    let none = Vec::new();
    let tasks = by.get(s.id.as_str()).unwrap_or(&none);
    let (running, desired) = replicas(s, tasks);
    let hosts: HashMap<&str, &str> = snap
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.display_name()))
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "<dl class=\"spec\"><dt>Image</dt><dd>{}</dd><dt>Mode</dt><dd>{}</dd><dt>Replicas</dt><dd>{running}/{desired}</dd><dt>Ports</dt><dd>{}</dd>",
        esc(image_name(service_image(s))),
        s.mode().name(),
        esc(&ports(s).join(", ")),
    );
    let tt = s.spec.task_template.as_ref();
    if let Some(p) = tt
        .and_then(|t| t.placement.as_ref())
        .and_then(|p| p.constraints.as_ref())
    {
        let _ = write!(out, "<dt>Constraints</dt><dd>{}</dd>", esc(&p.join(", ")));
    }
    if let Some(u) = s.spec.update_config.as_ref() {
        let _ = write!(
            out,
            "<dt>Update</dt><dd>parallelism {}, delay {}s, on failure {}, order {}</dd>",
            u.parallelism.unwrap_or(1),
            u.delay.unwrap_or_default() / 1_000_000_000,
            esc(&u
                .failure_action
                .map(|a| a.to_string())
                .unwrap_or_else(|| "pause".into())),
            esc(&u
                .order
                .map(|o| o.to_string())
                .unwrap_or_else(|| "stop-first".into())),
        );
    }
    let nets = tt.and_then(|t| t.networks.as_ref()).map_or(0, Vec::len);
    let secrets = tt
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.secrets.as_ref())
        .map_or(0, Vec::len);
    let _ = write!(
        out,
        "<dt>Networks</dt><dd>{nets}</dd><dt>Secrets</dt><dd>{secrets} (names and data are not shown)</dd>"
    );
    if let Some((state, done, of)) = update_progress(s, tasks) {
        let _ = write!(
            out,
            "<dt>Update status</dt><dd>{} <progress max=\"{of}\" value=\"{done}\"></progress> {done}/{of}</dd>",
            esc(&state)
        );
    }
    out.push_str("</dl>");
    let mut history: Vec<&Task> = tasks.to_vec();
    // As `service ps`: by slot (or node), newest first within it.
    history.sort_by(|a, b| {
        (
            a.slot,
            a.node_id.as_str(),
            std::cmp::Reverse(&a.meta.created_at),
        )
            .cmp(&(
                b.slot,
                b.node_id.as_str(),
                std::cmp::Reverse(&b.meta.created_at),
            ))
    });
    out.push_str("<table class=\"tasks\"><thead><tr><th>ID</th><th>Name</th><th>Image</th><th>Node</th><th>Desired</th><th>Current</th><th>Error</th></tr></thead><tbody>");
    let mut prev: Option<(u64, &str)> = None;
    for t in history {
        let key = (t.slot, t.node_id.as_str());
        let older = prev == Some(key);
        prev = Some(key);
        let id = t.id.as_str();
        let _ = write!(
            out,
            "<tr class=\"{}\" data-task=\"{}\"><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} <small>{}</small></td><td class=\"err\">{}</td></tr>",
            if older { "old" } else { "cur" },
            esc(id),
            esc(&id[..id.len().min(12)]),
            if older { "\\_ " } else { "" },
            esc(&t.display_name()),
            esc(image_name(task_image(t))),
            esc(hosts.get(t.node_id.as_str()).copied().unwrap_or_default()),
            t.desired_state.as_str(),
            t.status.state.as_str(),
            esc(&t.status.timestamp),
            esc(&t.status.err),
        );
    }
    out.push_str("</tbody></table>");
    Some(out)
}

/// The stylesheet (inlined in every page) and the script (served at `/page.js`), both
/// embedded in the binary: no external assets.
pub const STYLE: &str = include_str!("../assets/style.css");
pub const SCRIPT: &str = include_str!("../assets/page.js");

/// A whole page around `body`. `csrf` goes into a meta tag the script sends back with
/// actions; `live` is the query of the live stream (`None`: no live updates).
pub fn page(title: &str, csrf: &str, live: Option<&str>, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"csrf\" content=\"{}\"><title>{} · shoal</title><style>{STYLE}</style></head><body{}><header><a href=\"/\">shoal</a> <span>{}</span><form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button>Log out</button></form></header><div id=\"status\" role=\"status\"></div>{body}<div id=\"confirm\" hidden><p id=\"confirm-text\"></p><input id=\"confirm-value\" type=\"number\" min=\"0\" hidden><button id=\"confirm-ok\">Confirm</button> <button id=\"confirm-cancel\">Cancel</button></div><script src=\"/page.js\"></script></body></html>",
        esc(csrf),
        esc(title),
        live.map(|q| format!(" data-live=\"/live{}\"", esc(q)))
            .unwrap_or_default(),
        esc(title),
        esc(csrf),
    )
}

/// The overview: grid, services and events.
pub fn overview(snap: &Snapshot, events_list: &[EventLine], csrf: &str) -> String {
    let body = format!(
        "<main><section><h2>Nodes</h2><div id=\"grid\">{}</div></section><section><h2>Services</h2><div id=\"services\">{}</div></section><section><h2>Events</h2><div id=\"events\">{}</div></section></main>",
        grid(snap),
        services(snap),
        events(events_list),
    );
    page("swarm", csrf, Some(""), &body)
}

/// A page that says why there is nothing to show (this node is not a manager, …).
pub fn unavailable(reason: &str, csrf: &str) -> String {
    page(
        "unavailable",
        csrf,
        Some(""),
        &format!(
            "<main><p class=\"err\">{}</p><div id=\"grid\"></div><div id=\"services\"></div><div id=\"events\"></div></main>",
            esc(reason)
        ),
    )
}

/// The login form, with an error line after a failed attempt.
pub fn login(error: Option<&str>) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Log in · shoal</title><style>{STYLE}</style></head><body><main class=\"login\"><h1>shoal</h1><form method=\"post\" action=\"/login\"><label>Token <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" autofocus></label> <button id=\"login\">Log in</button></form>{}<p><small>Print the token on a manager with <code>shoal web token</code>.</small></p></main></body></html>",
        error
            .map(|e| format!("<p class=\"err\" id=\"login-error\">{}</p>", esc(e)))
            .unwrap_or_default()
    )
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
