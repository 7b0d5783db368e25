//! The progress updaters against hand-made task lists.

use super::*;
use serde_json::json;

fn task(slot: i64, node: &str, state: &str, desired: &str) -> Value {
    json!({"Slot": slot, "NodeID": node, "DesiredState": desired, "Status": {"State": state}})
}

fn texts(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| format!("{}: {}", m.id, m.text))
        .collect()
}

#[test]
fn replicated_service_converges_when_every_slot_runs() {
    let service = json!({"Spec": {"Mode": {"Replicated": {"Replicas": 2}}}});
    let mut u = Updater::for_service(&service).expect("replicated");
    let active: HashSet<String> = ["n1".to_string()].into();
    let mut out = Vec::new();
    let tasks = vec![
        task(1, "n1", "running", "running"),
        task(2, "n1", "preparing", "running"),
    ];
    assert!(
        !u.update(&service, &tasks, &active, false, &mut out)
            .expect("ok")
    );
    assert_eq!(
        texts(&out),
        vec![
            "overall progress: 0 out of 2 tasks",
            "1/2:  ",
            "2/2:  ",
            "1/2: running  ",
            "2/2: preparing",
            "overall progress: 1 out of 2 tasks",
        ]
    );
    let mut out = Vec::new();
    let tasks = vec![
        task(1, "n1", "running", "running"),
        task(2, "n1", "running", "running"),
    ];
    assert!(
        u.update(&service, &tasks, &active, false, &mut out)
            .expect("ok")
    );
    assert_eq!(
        out.last().map(|m| m.text.as_str()),
        Some("2 out of 2 tasks")
    );
}

#[test]
fn tasks_on_down_nodes_and_old_tasks_are_ignored() {
    let service = json!({"Spec": {"Mode": {"Replicated": {"Replicas": 1}}}});
    let mut u = Updater::for_service(&service).expect("replicated");
    let active: HashSet<String> = ["n1".to_string()].into();
    let tasks = vec![
        task(1, "gone", "running", "running"),
        task(1, "n1", "shutdown", "shutdown"),
    ];
    let mut out = Vec::new();
    assert!(
        !u.update(&service, &tasks, &active, false, &mut out)
            .expect("ok")
    );
}

#[test]
fn errors_replace_bars_and_are_truncated() {
    let service = json!({"Spec": {"Mode": {"Replicated": {"Replicas": 1}}}});
    let mut u = Updater::for_service(&service).expect("replicated");
    let mut t = task(1, "", "rejected", "running");
    t["Status"]["Err"] = json!("x".repeat(100));
    let mut out = Vec::new();
    u.update(&service, &[t], &HashSet::new(), false, &mut out)
        .expect("ok");
    assert_eq!(out[2].text, format!("{}…", "x".repeat(74)));
}

#[test]
fn a_missing_replica_count_is_an_error() {
    assert!(Updater::for_service(&json!({"Spec": {"Mode": {"Replicated": {}}}})).is_err());
}

#[test]
fn global_service_counts_nodes() {
    let service = json!({"Spec": {"Mode": {"Global": {}}}});
    let mut u = Updater::for_service(&service).expect("global");
    let active: HashSet<String> = ["n1".to_string(), "n2".to_string()].into();
    let mut out = Vec::new();
    assert!(
        !u.update(&service, &[], &active, false, &mut out)
            .expect("ok")
    );
    assert_eq!(texts(&out), vec!["overall progress: waiting for new tasks"]);
    let tasks = vec![
        task(0, "n1", "running", "running"),
        task(0, "n2", "running", "running"),
    ];
    let mut out = Vec::new();
    assert!(
        u.update(&service, &tasks, &active, false, &mut out)
            .expect("ok")
    );
}

#[test]
fn replicated_jobs_count_completions() {
    let service = json!({"Spec": {"Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 2}}},
                         "JobStatus": {"JobIteration": {"Index": 7}}});
    let mut u = Updater::for_service(&service).expect("job");
    let mut t1 = task(0, "n1", "complete", "complete");
    t1["JobIteration"] = json!({"Index": 7});
    let mut t2 = task(1, "n1", "complete", "complete");
    t2["JobIteration"] = json!({"Index": 7});
    let mut out = Vec::new();
    assert!(
        u.update(&service, &[t1, t2], &HashSet::new(), false, &mut out)
            .expect("ok")
    );
    assert!(texts(&out).contains(&"job progress: 2 out of 2 complete".to_string()));
}
