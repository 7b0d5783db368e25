//! Swarm event messages and moby's filter on them.

use super::*;
use shoal_types::{Node, Service};

fn service(replicas: u64, image: &str, update: Option<&str>) -> Object {
    let mut v = json!({
        "ID": "svc1",
        "CreatedAt": "2026-01-02T03:04:05Z",
        "UpdatedAt": "2026-01-02T03:04:06Z",
        "Version": {"Index": 1},
        "Spec": {
            "Name": "web",
            "Mode": {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"ContainerSpec": {"Image": image}},
        },
    });
    if let Some(state) = update {
        v["UpdateStatus"] = json!({"State": state, "Message": ""});
    }
    match serde_json::from_value::<Service>(v) {
        Ok(s) => Object::Service(s),
        Err(e) => panic!("test service does not parse: {e}"),
    }
}

fn node(state: &str, availability: &str) -> Object {
    let v = json!({
        "ID": "node1",
        "CreatedAt": "2026-01-02T03:04:05Z",
        "UpdatedAt": "2026-01-02T03:04:06Z",
        "Version": {"Index": 1},
        "Spec": {"Role": "worker", "Availability": availability},
        "Description": {"Hostname": "host-a"},
        "Status": {"State": state},
    });
    match serde_json::from_value::<Node>(v) {
        Ok(n) => Object::Node(n),
        Err(e) => panic!("test node does not parse: {e}"),
    }
}

fn event(kind: EventKind, object: Object, old: Option<Object>) -> Event {
    Event {
        index: 7,
        kind,
        object,
        old,
    }
}

#[test]
fn a_created_service_is_a_swarm_create_event_with_its_name() {
    let msg = swarm_message(
        &event(EventKind::Created, service(1, "a:1", None), None),
        SystemTime::now(),
    );
    let Some(msg) = msg else {
        panic!("no message for a service");
    };
    assert_eq!(msg["Type"], "service");
    assert_eq!(msg["Action"], "create");
    assert_eq!(msg["scope"], "swarm");
    assert_eq!(msg["Actor"]["ID"], "svc1");
    assert_eq!(msg["Actor"]["Attributes"], json!({"name": "web"}));
    // moby stamps a create with the object's CreatedAt.
    assert_eq!(msg["time"], 1767323045);
}

#[test]
fn a_service_update_names_the_changed_fields_old_and_new() {
    let old = service(1, "a:1", None);
    let new = service(3, "a:2", Some("updating"));
    let Some(msg) = swarm_message(
        &event(EventKind::Updated, new, Some(old)),
        SystemTime::now(),
    ) else {
        panic!("no message for a service update");
    };
    assert_eq!(msg["Action"], "update");
    assert_eq!(
        msg["Actor"]["Attributes"],
        json!({
            "name": "web",
            "image.old": "a:1", "image.new": "a:2",
            "replicas.old": "1", "replicas.new": "3",
            "updatestate.new": "updating",
        })
    );
}

#[test]
fn a_node_update_reports_state_and_availability_changes() {
    let Some(msg) = swarm_message(
        &event(
            EventKind::Updated,
            node("down", "drain"),
            Some(node("ready", "active")),
        ),
        SystemTime::now(),
    ) else {
        panic!("no message for a node update");
    };
    assert_eq!(msg["Type"], "node");
    assert_eq!(
        msg["Actor"]["Attributes"],
        json!({
            "name": "host-a",
            "state.old": "ready", "state.new": "down",
            "availability.old": "active", "availability.new": "drain",
        })
    );
}

#[test]
fn a_removal_is_stamped_now_and_tasks_are_not_reported() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let Some(msg) = swarm_message(
        &event(EventKind::Deleted, node("down", "active"), None),
        now,
    ) else {
        panic!("no message for a node removal");
    };
    assert_eq!(msg["Action"], "remove");
    assert_eq!(msg["time"], 1_800_000_000u64);
    let task = Object::Task(shoal_types::Task::default());
    assert!(swarm_message(&event(EventKind::Created, task, None), now).is_none());
}

fn filters(raw: &str) -> Filters {
    match Filters::parse(Some(&raw.to_string()), FILTER_KEYS) {
        Ok(f) => f,
        Err(e) => panic!("filters {raw} do not parse: {e}"),
    }
}

#[test]
fn filters_select_as_moby_does() {
    let svc = json!({"Type": "service", "Action": "update", "scope": "swarm",
        "Actor": {"ID": "svc1", "Attributes": {"name": "web"}}});
    let container = json!({"Type": "container", "Action": "exec_start: sh", "scope": "local",
        "Actor": {"ID": "c1", "Attributes": {"name": "box", "team": "a"}}});
    let yes = |f: &str, m: &Value| assert!(include(&filters(f), m), "{f} should let {m} through");
    let no = |f: &str, m: &Value| assert!(!include(&filters(f), m), "{f} should drop {m}");
    yes("{}", &svc);
    yes(r#"{"scope":{"swarm":true}}"#, &svc);
    no(r#"{"scope":{"swarm":true}}"#, &container);
    yes(r#"{"type":{"service":true}}"#, &svc);
    no(r#"{"type":{"node":true}}"#, &svc);
    yes(r#"{"event":{"update":true}}"#, &svc);
    no(r#"{"event":{"create":true}}"#, &svc);
    yes(r#"{"event":{"exec_start":true}}"#, &container);
    // service= matches the id or the name by prefix, and drops every other type.
    yes(r#"{"service":{"we":true}}"#, &svc);
    yes(r#"{"service":{"svc1":true}}"#, &svc);
    no(r#"{"service":{"db":true}}"#, &svc);
    no(r#"{"service":{"web":true}}"#, &container);
    no(r#"{"node":{"n1":true}}"#, &svc);
    // label= looks at the actor's attributes: swarm events carry none.
    yes(r#"{"label":{"team=a":true}}"#, &container);
    no(r#"{"label":{"team=a":true}}"#, &svc);
}
