//! Unit tests of the rendering: what each fragment shows for a small cluster.

use super::*;
use shoal_types::api::{
    EngineDescription, HealthConfig, ManagerStatus, NodeDescription, NodeSpec, NodeStatus,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceUpdateStatus,
    TaskSpec, TaskSpecContainerSpec,
};
use shoal_types::{NodeId, ServiceId, TaskId};

fn node(id: &str, host: &str, manager: bool, leader: bool) -> Node {
    Node {
        id: NodeId::from(id),
        spec: NodeSpec {
            role: Some(if manager {
                NodeSpecRoleEnum::MANAGER
            } else {
                NodeSpecRoleEnum::WORKER
            }),
            availability: Some(NodeSpecAvailabilityEnum::ACTIVE),
            ..Default::default()
        },
        description: NodeDescription {
            hostname: Some(host.into()),
            engine: Some(EngineDescription {
                engine_version: Some("27.1.0".into()),
                ..Default::default()
            }),
            resources: Some(ResourceObject {
                nano_cpus: Some(4_000_000_000),
                memory_bytes: Some(8 << 30),
                ..Default::default()
            }),
            ..Default::default()
        },
        status: NodeStatus {
            state: Some(NodeState::READY),
            ..Default::default()
        },
        manager_status: manager.then(|| ManagerStatus {
            leader: Some(leader),
            ..Default::default()
        }),
        raft_id: u64::from(manager),
        ..Default::default()
    }
}

fn image_spec(image: &str) -> TaskSpec {
    TaskSpec {
        container_spec: Some(TaskSpecContainerSpec {
            image: Some(image.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service(id: &str, name: &str, replicas: i64) -> Service {
    Service {
        id: ServiceId::from(id),
        spec: ServiceSpec {
            name: Some(name.into()),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(replicas),
                }),
                ..Default::default()
            }),
            task_template: Some(image_spec("busybox:1.36@sha256:abc")),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn task(id: &str, svc: &str, name: &str, slot: u64, node: &str, state: TaskState) -> Task {
    let mut t = Task {
        id: TaskId::from(id),
        service_id: ServiceId::from(svc),
        slot,
        node_id: NodeId::from(node),
        desired_state: TaskState::Running,
        spec: image_spec("busybox:1.36@sha256:abc"),
        ..Default::default()
    };
    t.status.state = state;
    t.service_annotations.name = name.into();
    t
}

fn cluster() -> Snapshot {
    Snapshot {
        nodes: vec![
            node("n3", "worker-1", false, false),
            node("n1", "mgr-1", true, true),
            node("n2", "mgr-2", true, false),
        ],
        services: vec![service("s1", "web", 3), service("s2", "db", 1)],
        tasks: vec![
            task("t1", "s1", "web", 1, "n1", TaskState::Running),
            task("t2", "s1", "web", 2, "n2", TaskState::Running),
            task("t3", "s1", "web", 3, "n3", TaskState::Starting),
            task("t4", "s2", "db", 1, "n3", TaskState::Running),
        ],
    }
}

#[test]
fn escaping_covers_markup_quotes_and_carriage_returns() {
    assert_eq!(
        esc("<a href=\"x\">'&'</a>\r"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;&#13;"
    );
}

#[test]
fn image_tags_drop_digests_and_default_to_latest() {
    assert_eq!(image_tag("busybox:1.36@sha256:abc"), "1.36");
    assert_eq!(image_tag("registry:5000/app"), "latest");
    assert_eq!(image_tag("registry:5000/app:v2"), "v2");
    assert_eq!(image_name("busybox:1.36@sha256:abc"), "busybox:1.36");
}

#[test]
fn hue_is_stable_and_in_range() {
    assert_eq!(hue("web"), hue("web"));
    assert!(hue("web") < 360);
}

#[test]
fn the_grid_has_a_column_per_node_managers_first_and_a_card_per_task() {
    let html = grid(&cluster());
    assert_eq!(html.matches("class=\"node ").count(), 3);
    let mgr = html.find("data-node=\"mgr-1\"").expect("mgr-1 column");
    let worker = html.find("data-node=\"worker-1\"").expect("worker column");
    assert!(mgr < worker, "managers come first");
    assert_eq!(html.matches("data-service=\"web\"").count(), 3);
    assert_eq!(html.matches("data-service=\"db\"").count(), 1);
    assert_eq!(html.matches("class=\"leader\"").count(), 1);
    assert!(html.contains("engine 27.1.0 · 4 CPU · 8.0 GiB"), "{html}");
    assert!(html.contains("<b>web.1</b>"));
    assert!(html.contains("running · 1.36"));
    assert!(html.contains(">Drain<"));
}

#[test]
fn ended_and_unassigned_tasks_get_no_card() {
    let mut snap = cluster();
    snap.tasks.push({
        let mut t = task("t5", "s1", "web", 1, "n1", TaskState::Failed);
        t.desired_state = TaskState::Shutdown;
        t
    });
    snap.tasks
        .push(task("t6", "s1", "web", 4, "", TaskState::Pending));
    let html = grid(&snap);
    assert!(!html.contains("t5"));
    assert!(!html.contains("t6"));
}

#[test]
fn a_drained_node_offers_activate() {
    let mut snap = cluster();
    snap.nodes[0].spec.availability = Some(NodeSpecAvailabilityEnum::DRAIN);
    let html = grid(&snap);
    assert!(html.contains("data-value=\"active\">Activate<"), "{html}");
}

#[test]
fn health_follows_the_healthcheck_and_the_unhealthy_error() {
    let mut t = task("t1", "s1", "web", 1, "n1", TaskState::Running);
    assert_eq!(health(&t), None);
    if let Some(c) = t.spec.container_spec.as_mut() {
        c.health_check = Some(HealthConfig {
            test: Some(vec!["CMD".into(), "true".into()]),
            ..Default::default()
        });
    }
    assert_eq!(health(&t), Some("healthy"));
    t.status.state = TaskState::Starting;
    assert_eq!(health(&t), Some("starting"));
    t.status.state = TaskState::Failed;
    t.status.err = "task: unhealthy container".into();
    assert_eq!(health(&t), Some("unhealthy"));
}

#[test]
fn services_show_replicas_image_ports_progress_and_last_error() {
    let mut snap = cluster();
    snap.services[0].update_status = Some(ServiceUpdateStatus {
        state: Some(ServiceUpdateStatusStateEnum::UPDATING),
        ..Default::default()
    });
    snap.services[0].previous_spec = Some(snap.services[0].spec.clone());
    let mut failed = task("t9", "s1", "web", 3, "n3", TaskState::Failed);
    failed.desired_state = TaskState::Shutdown;
    failed.status.err = "task: non-zero exit (1)".into();
    failed.status.timestamp = "2026-01-01T00:00:00Z".into();
    snap.tasks.push(failed);
    let html = services(&snap);
    let web = html.find("data-service=\"web\"").expect("web row");
    let db = html.find("data-service=\"db\"").expect("db row");
    assert!(db < web, "sorted by name");
    assert!(html.contains("<span class=\"running\">2</span>/<span class=\"desired\">3</span>"));
    assert!(
        html.contains("busybox:1.36<"),
        "image without digest: {html}"
    );
    assert!(html.contains("updating<progress max=\"3\" value=\"2\"></progress> 2/3"));
    assert!(html.contains("<div class=\"err\">task: non-zero exit (1)</div>"));
    assert!(html.contains("data-act=\"scale\""));
    assert!(html.contains("data-act=\"rollback\" data-id=\"s1\""));
    assert!(!html.contains("data-act=\"rollback\" data-id=\"s2\""));
}

#[test]
fn published_ports_read_published_to_target() {
    use shoal_types::api::{EndpointPortConfig, EndpointPortConfigProtocolEnum, ServiceEndpoint};
    let mut s = service("s1", "web", 1);
    s.endpoint = Some(ServiceEndpoint {
        ports: Some(vec![EndpointPortConfig {
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            target_port: Some(80),
            published_port: Some(8080),
            ..Default::default()
        }]),
        ..Default::default()
    });
    assert_eq!(ports(&s), ["8080→80/tcp"]);
}

#[test]
fn names_are_escaped_everywhere() {
    let mut snap = cluster();
    snap.services[0].spec.name = Some("<script>".into());
    snap.nodes[0].description.hostname = Some("<img>".into());
    let all = format!("{}{}", grid(&snap), services(&snap));
    assert!(!all.contains("<script>"));
    assert!(!all.contains("<img>"));
}

#[test]
fn service_detail_lists_history_newest_first_without_secret_data() {
    let mut snap = cluster();
    let mut old = task("t0", "s1", "web", 1, "n1", TaskState::Failed);
    old.desired_state = TaskState::Shutdown;
    old.meta.created_at = "2026-01-01T00:00:00Z".into();
    snap.tasks[0].meta.created_at = "2026-01-02T00:00:00Z".into();
    snap.tasks.push(old);
    if let Some(c) = snap.services[0]
        .spec
        .task_template
        .as_mut()
        .and_then(|t| t.container_spec.as_mut())
    {
        c.env = Some(vec!["PASSWORD=hunter2".into()]);
    }
    let html = service_detail(&snap, "s1").expect("detail");
    let cur = html.find("data-task=\"t1\"").expect("current task");
    let old = html.find("data-task=\"t0\"").expect("old task");
    assert!(cur < old);
    assert!(html.contains("\\_ web.1"));
    assert!(!html.contains("hunter2"));
    assert!(service_detail(&snap, "nope").is_none());
}

#[test]
fn events_are_listed_newest_first() {
    let e = |n: &str| EventLine {
        at: "10:00:00".into(),
        kind: "service",
        action: "update".into(),
        name: n.into(),
        detail: "replicas 3 → 5".into(),
    };
    let html = events(&[e("first"), e("second")]);
    assert!(html.find("second") < html.find("first"));
    assert!(html.contains("replicas 3 → 5"));
    assert!(events(&[]).contains("No events"));
}

#[test]
fn pages_carry_the_csrf_token_and_the_live_stream() {
    let html = overview(&cluster(), &[], "tok123");
    assert!(html.contains("<meta name=\"csrf\" content=\"tok123\">"));
    assert!(html.contains("data-live=\"/live\""));
    assert!(html.contains("id=\"grid\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    let login = login(Some("Wrong token."));
    assert!(login.contains("id=\"login-error\""));
    assert!(!login.contains("csrf"));
}
