//! Property-based fuzzing of everything the Engine API parses from a client: JSON bodies of
//! every write route, query strings (`filters`, `version`, booleans) and path ids, driven
//! through the real router against a real control API on an in-memory store. The property:
//! no input panics a handler, and nothing but a 2xx or a 4xx comes back (a 5xx would mean a
//! client's bytes reached a code path that does not expect them). Bounded case counts keep it
//! a CI test.

use crate::backend::{Backend, LocalState, LogRequest, LogStream};
use crate::error::ApiError;
use axum::body::Body;
use futures::future::BoxFuture;
use http::{Method, Request};
use proptest::prelude::*;
use shoal_manager::control::{Control, StaticRaftView};
use shoal_store::{LocalProposer, MemoryStore, StoreHandle};
use shoal_types::requests::{InitRequest, JoinRequest};
use shoal_types::{Cluster, Object};
use std::sync::Arc;
use tower::ServiceExt;

/// A manager node with a real control API over an in-memory store; node-level operations
/// answer as a node that cannot do them.
struct FuzzBackend {
    control: Arc<Control>,
}

impl Backend for FuzzBackend {
    fn local_state(&self) -> LocalState {
        LocalState::Active { manager: true }
    }
    fn control(&self) -> Result<Arc<Control>, ApiError> {
        Ok(self.control.clone())
    }
    fn info(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::json!({}) })
    }
    fn version(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::json!({}) })
    }
    fn init(&self, _req: InitRequest) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("already part of a swarm")) })
    }
    fn join(&self, _req: JoinRequest) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("already part of a swarm")) })
    }
    fn leave(&self, _force: bool) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("not leaving in a fuzz test")) })
    }
    fn unlock(&self, _key: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::bad_request("swarm is not locked")) })
    }
    fn distribution(&self, name: String) -> BoxFuture<'_, Result<serde_json::Value, ApiError>> {
        Box::pin(async move { Err(ApiError::not_found(format!("no such image: {name}"))) })
    }
    fn task_logs(
        &self,
        _task: shoal_types::Task,
        _req: LogRequest,
    ) -> BoxFuture<'_, Result<LogStream, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("no engine in a fuzz test")) })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn router() -> axum::Router {
    let store = Arc::new(MemoryStore::new());
    let handle = StoreHandle::new(store.clone(), Arc::new(LocalProposer::new(store)));
    handle
        .update(|tx| {
            tx.create(Object::Cluster(Cluster {
                id: "cluster".into(),
                ..Default::default()
            }))
        })
        .await
        .expect("create cluster");
    let control = Arc::new(Control::new(
        handle,
        "node1".into(),
        Arc::new(StaticRaftView(Some(1))),
    ));
    crate::router(Arc::new(FuzzBackend { control }))
}

/// Field names the Engine API's write bodies use, so generated objects reach deep into specs.
const KEYS: &[&str] = &[
    "Name",
    "Labels",
    "TaskTemplate",
    "ContainerSpec",
    "Image",
    "Command",
    "Args",
    "Env",
    "Mode",
    "Replicated",
    "Replicas",
    "Global",
    "ReplicatedJob",
    "MaxConcurrent",
    "TotalCompletions",
    "Networks",
    "Target",
    "Aliases",
    "EndpointSpec",
    "Ports",
    "Protocol",
    "TargetPort",
    "PublishedPort",
    "PublishMode",
    "UpdateConfig",
    "RollbackConfig",
    "Parallelism",
    "Delay",
    "FailureAction",
    "Order",
    "Monitor",
    "MaxFailureRatio",
    "RestartPolicy",
    "Condition",
    "MaxAttempts",
    "Window",
    "Placement",
    "Constraints",
    "Preferences",
    "Spread",
    "SpreadDescriptor",
    "MaxReplicas",
    "Resources",
    "Limits",
    "Reservations",
    "NanoCPUs",
    "MemoryBytes",
    "Secrets",
    "Configs",
    "File",
    "UID",
    "GID",
    "SecretID",
    "SecretName",
    "ConfigID",
    "ConfigName",
    "Data",
    "Driver",
    "Options",
    "IPAM",
    "Config",
    "Subnet",
    "Gateway",
    "IPRange",
    "Internal",
    "Attachable",
    "Ingress",
    "Healthcheck",
    "Test",
    "Interval",
    "Timeout",
    "Retries",
    "StartPeriod",
    "Mounts",
    "Source",
    "Type",
    "ReadOnly",
    "Hostname",
    "DNSConfig",
    "Nameservers",
    "Role",
    "Availability",
    "Orchestration",
    "TaskHistoryRetentionLimit",
    "Raft",
    "Dispatcher",
    "HeartbeatPeriod",
    "CAConfig",
    "NodeCertExpiry",
    "EncryptionConfig",
    "AutoLockManagers",
    "Templating",
    "ForceUpdate",
    "Mode",
    "Mode",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
        (-1e20f64..1e20).prop_map(|n| serde_json::json!(n)),
        "[a-z0-9=:./_-]{0,12}".prop_map(serde_json::Value::String),
        prop::sample::select(vec![
            "busybox",
            "tcp",
            "udp",
            "ingress",
            "host",
            "vip",
            "dnsrr",
            "node.role==manager",
            "10.0.0.0/24",
            "10.0.0.1",
            "10.0.0.0/33",
            "pause",
            "continue",
            "rollback",
            "start-first",
            "stop-first",
            "any",
            "on-failure",
            "none",
            "overlay",
            "bridge",
            "1s",
            "-1",
            "999999999999999999999",
            "worker",
            "manager",
            "drain",
            "active",
        ])
        .prop_map(|s| serde_json::Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// The write routes and what they take in their path and query.
const WRITES: &[&str] = &[
    "/services/create",
    "/services/x/update?version=1",
    "/networks/create",
    "/secrets/create",
    "/configs/create",
    "/swarm/update?version=1",
    "/nodes/node1/update?version=1",
    "/secrets/x/update?version=1",
    "/swarm/init",
    "/swarm/join",
    "/swarm/unlock",
];

fn check(status: http::StatusCode, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        status.is_success() || status.is_client_error() || status.as_u16() == 503,
        "{what} answered {status}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn write_bodies_never_panic_or_fail_the_server(
        route in prop::sample::select(WRITES),
        body in json_value(),
        raw in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let app = router().await;
            let bytes = match raw {
                Some(raw) => raw,
                None => serde_json::to_vec(&body).expect("json"),
            };
            let req = Request::builder()
                .method(Method::POST)
                .uri(format!("/v1.44{route}"))
                .header("content-type", "application/json")
                .body(Body::from(bytes))
                .expect("request");
            let resp = app.oneshot(req).await.expect("infallible");
            check(resp.status(), route)
        })?;
    }

    #[test]
    fn query_strings_never_panic(
        path in prop::sample::select(vec!["/services", "/tasks", "/nodes", "/networks", "/secrets", "/configs", "/services/x", "/tasks/x", "/nodes/x/update", "/services/x/update", "/services/x/logs"]),
        key in prop::sample::select(vec!["filters", "version", "insertDefaults", "status", "rollback", "registryAuthFrom", "tail", "since", "follow", "force"]),
        value in "[ -~]{0,40}",
        method in prop::sample::select(vec![Method::GET, Method::POST, Method::DELETE]),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let app = router().await;
            let q: String = url_encode(&value);
            let req = Request::builder()
                .method(method)
                .uri(format!("/v1.44{path}?{key}={q}"))
                .body(Body::from("{}"))
                .expect("request");
            let resp = app.oneshot(req).await.expect("infallible");
            check(resp.status(), path)
        })?;
    }

    #[test]
    fn filters_parse_any_text_without_panicking(raw in "[ -~]{0,60}", json in json_value()) {
        let _ = crate::filters::Filters::parse(Some(&raw), &["name", "id", "label"]);
        let _ = crate::filters::Filters::parse(Some(&json.to_string()), &["name", "id", "label"]);
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
