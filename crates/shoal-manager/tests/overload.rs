//! Services too big for the controllers' old assumptions, against the real controllers: a
//! replica count no cluster could run, and tasks too large for two hundred of them to fit in
//! one transaction. Neither may starve other services or the writes that undo them.

mod common;

use common::{Harness, replicated, replicated_job};
use shoal_store::Tables;
use shoal_types::api::ServiceSpec;
use shoal_types::dispatch::{SessionRequest, StatusBatch, StatusUpdate};
use shoal_types::{ServiceId, TaskState, TaskStatus};

/// Tasks of `service` that occupy a slot (desired state RUNNING or below).
fn runnable(t: &Tables, service: &ServiceId) -> usize {
    t.tasks
        .find("service", service.as_str())
        .iter()
        .filter(|task| task.desired_state <= TaskState::Running)
        .count()
}

fn all_tasks(t: &Tables, service: &ServiceId) -> usize {
    t.tasks.find("service", service.as_str()).len()
}

/// `spec` with an environment of about `bytes` bytes.
fn with_env_bytes(mut spec: ServiceSpec, bytes: usize) -> ServiceSpec {
    let template = spec.task_template.get_or_insert_with(Default::default);
    let container = template.container_spec.get_or_insert_with(Default::default);
    let env: Vec<String> = (0..bytes / 1024)
        .map(|i| format!("VAR{i}={}", "v".repeat(1016)))
        .collect();
    container.env = Some(env);
    spec
}

#[tokio::test(start_paused = true)]
async fn a_service_whose_tasks_overflow_a_transaction_converges_and_blocks_no_other() {
    // No node: this is about the orchestrator's writes (tasks stay pending).
    let h = Harness::start(5).await;
    // "a…" sorts before "b…": the big service is reconciled first in every pass.
    let big = h
        .create_service(with_env_bytes(replicated("a-big", 300), 16 * 1024))
        .await;
    let small = h.create_service(replicated("b-small", 2)).await;
    h.wait_for("2 tasks of the small service", |t| runnable(t, &small) == 2)
        .await;
    h.wait_for("300 tasks of the 16 KB service", |t| {
        runnable(t, &big) == 300
    })
    .await;

    // Scaling it down is as large a write in total, and splits the same way.
    h.update_service(&big, |s| s.mode = replicated("a-big", 1).mode)
        .await;
    h.wait_for("the 16 KB service scaled down to 1", |t| {
        runnable(t, &big) == 1
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn one_status_batch_for_300_tasks_with_a_16_kib_spec_commits() {
    // 300 tasks of 16 KiB are three times a raft entry: the status writer must split them.
    let h = Harness::start(5).await;
    h.add_bare_node("n1").await;
    let mut assignments = h
        .dispatcher
        .session(SessionRequest {
            node_id: "n1".into(),
            description: Default::default(),
            tunnel_key: String::new(),
        })
        .await
        .expect("a session for n1");
    let session_id = assignments
        .recv()
        .await
        .expect("first assignments")
        .session_id;
    let big = h
        .create_service(with_env_bytes(replicated("big", 300), 16 * 1024))
        .await;
    h.wait_for("300 tasks of the 16 KiB service assigned to n1", |t| {
        t.tasks
            .find("service", big.as_str())
            .iter()
            .filter(|task| {
                task.status.state == TaskState::Assigned && task.node_id.as_str() == "n1"
            })
            .count()
            == 300
    })
    .await;
    let updates: Vec<StatusUpdate> = h
        .tasks(&big)
        .into_iter()
        .map(|task| StatusUpdate {
            task_id: task.id,
            status: TaskStatus {
                state: TaskState::Running,
                ..Default::default()
            },
        })
        .collect();
    h.dispatcher
        .heartbeat(&"n1".into(), &session_id)
        .await
        .expect("heartbeat");
    h.dispatcher
        .update_status(StatusBatch {
            node_id: "n1".into(),
            session_id,
            updates,
        })
        .await
        .expect("300 status updates of 16 KiB tasks are written");
    let running = h.store.view(|t| {
        t.tasks
            .find("service", big.as_str())
            .iter()
            .filter(|task| task.status.state == TaskState::Running)
            .count()
    });
    assert_eq!(running, 300, "every reported task is running in the store");
    drop(assignments);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_billion_replicas_are_created_in_paced_steps_that_a_scale_down_interrupts() {
    // No node: tasks stay pending, as they would on a cluster far too small for them.
    let h = Harness::start(5).await;
    let huge = h.create_service(replicated("huge", 1_000_000_000)).await;
    let small = h.create_service(replicated("small", 3)).await;
    h.wait_for("3 tasks of the small service beside the huge one", |t| {
        runnable(t, &small) == 3
    })
    .await;
    h.wait_for("the huge service's first thousand tasks", |t| {
        runnable(t, &huge) >= 1000
    })
    .await;

    h.update_service(&huge, |s| s.mode = replicated("huge", 1).mode)
        .await;
    h.wait_for("the huge service scaled down to 1", |t| {
        runnable(t, &huge) == 1
    })
    .await;
    let stopped_at = h.store.view(|t| all_tasks(t, &huge));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    h.store.view(|t| {
        assert_eq!(runnable(t, &huge), 1, "no creation after the scale-down");
        assert!(
            all_tasks(t, &huge) <= stopped_at,
            "no task made after the scale-down"
        );
    });

    // Removing a service with creations in flight works too.
    let again = h.create_service(replicated("again", i64::MAX)).await;
    h.wait_for("the second huge service's first tasks", |t| {
        runnable(t, &again) >= 200
    })
    .await;
    h.delete_service(&again).await;
    h.wait_for("every task of the removed service to be stopped", |t| {
        runnable(t, &again) == 0
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_with_a_billion_concurrent_tasks_is_paced_and_can_be_removed() {
    let h = Harness::start(5).await;
    let job = h
        .create_service(replicated_job("job", 1_000_000_000, 1_000_000_000))
        .await;
    let small = h.create_service(replicated("small", 2)).await;
    h.wait_for("the small service beside the huge job", |t| {
        runnable(t, &small) == 2
    })
    .await;
    h.wait_for("the job's first thousand tasks", |t| {
        runnable(t, &job) >= 1000
    })
    .await;
    h.delete_service(&job).await;
    h.wait_for("every task of the removed job to be stopped", |t| {
        runnable(t, &job) == 0
    })
    .await;
    h.stop().await;
}
