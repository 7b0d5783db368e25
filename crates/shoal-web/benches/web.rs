//! The web view at size (issue 19): 50 services, 500 running tasks, 20 simulated nodes in an
//! in-process store behind the real web server, loaded by headless Chromium over WebDriver.
//! Measures page load (navigation start → load event) and first contentful paint, then the
//! time from a store write to the grid changing in the page (a MutationObserver stamps the
//! change with the wall clock, which the bench shares). Targets: < 1 s each.
//!
//! `cargo bench -p shoal-web --bench web` (needs `chromium` and `chromium-driver`).

use fantoccini::{ClientBuilder, Locator};
use futures::future::BoxFuture;
use serde_json::json;
use shoal_api::backend::{LogRequest, LogStream};
use shoal_api::{ApiError, Backend, LocalState};
use shoal_manager::control::{Control, StaticRaftView};
use shoal_store::{LocalProposer, MemoryStore, StoreHandle};
use shoal_types::api::{
    NodeDescription, NodeSpec, NodeSpecRoleEnum, NodeState, NodeStatus, ServiceSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
};
use shoal_types::requests::{InitRequest, JoinRequest};
use shoal_types::{Cluster, Node, Object, Service, Task, TaskState};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NODES: usize = 20;
const SERVICES: usize = 50;
const PER_SERVICE: usize = 10;
const UPDATES: usize = 20;

struct Bench(Arc<Control>);

impl Backend for Bench {
    fn local_state(&self) -> LocalState {
        LocalState::Active { manager: true }
    }
    fn control(&self) -> Result<Arc<Control>, ApiError> {
        Ok(self.0.clone())
    }
    fn info(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { json!({}) })
    }
    fn version(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { json!({}) })
    }
    fn init(&self, _: InitRequest) -> BoxFuture<'_, Result<String, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("bench")) })
    }
    fn join(&self, _: JoinRequest) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("bench")) })
    }
    fn leave(&self, _: bool) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("bench")) })
    }
    fn unlock(&self, _: String) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("bench")) })
    }
    fn distribution(&self, _: String) -> BoxFuture<'_, Result<serde_json::Value, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("bench")) })
    }
    fn task_logs(&self, _: Task, _: LogRequest) -> BoxFuture<'_, Result<LogStream, ApiError>> {
        Box::pin(async { Err(ApiError::unavailable("bench")) })
    }
}

fn image() -> TaskSpec {
    TaskSpec {
        container_spec: Some(TaskSpecContainerSpec {
            image: Some("busybox:1.36".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn task(i: usize, svc: usize) -> Task {
    let mut t = Task {
        id: format!("task{i:05}").into(),
        service_id: format!("svc{svc:02}").into(),
        slot: (i % PER_SERVICE + 1) as u64,
        node_id: format!("node{:02}", i % NODES).into(),
        desired_state: TaskState::Running,
        spec: image(),
        ..Default::default()
    };
    t.status.state = TaskState::Running;
    t.service_annotations.name = format!("service-{svc:02}");
    t
}

async fn populate(store: &StoreHandle) -> anyhow::Result<()> {
    store
        .update(|tx| {
            tx.create(Object::Cluster(Cluster {
                id: "cluster".into(),
                ..Default::default()
            }))?;
            for n in 0..NODES {
                tx.create(Object::Node(Node {
                    id: format!("node{n:02}").into(),
                    spec: NodeSpec {
                        role: Some(if n < 3 {
                            NodeSpecRoleEnum::MANAGER
                        } else {
                            NodeSpecRoleEnum::WORKER
                        }),
                        ..Default::default()
                    },
                    description: NodeDescription {
                        hostname: Some(format!("host-{n:02}")),
                        ..Default::default()
                    },
                    status: NodeStatus {
                        state: Some(NodeState::READY),
                        ..Default::default()
                    },
                    ..Default::default()
                }))?;
            }
            for s in 0..SERVICES {
                tx.create(Object::Service(Service {
                    id: format!("svc{s:02}").into(),
                    spec: ServiceSpec {
                        name: Some(format!("service-{s:02}")),
                        mode: Some(ServiceSpecMode {
                            replicated: Some(ServiceSpecModeReplicated {
                                replicas: Some(PER_SERVICE as i64),
                            }),
                            ..Default::default()
                        }),
                        task_template: Some(image()),
                        ..Default::default()
                    },
                    ..Default::default()
                }))?;
            }
            for i in 0..SERVICES * PER_SERVICE {
                tx.create(Object::Task(task(i, i / PER_SERVICE)))?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // Teardown: it may have exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn millis_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    let med = v.get(v.len() / 2).copied().unwrap_or_default();
    let max = v.last().copied().unwrap_or_default();
    println!(
        "{name}: median {med:.0} ms, max {max:.0} ms ({} runs)",
        v.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mem = Arc::new(MemoryStore::new());
    let store = StoreHandle::new(mem.clone(), Arc::new(LocalProposer::new(mem)));
    populate(&store).await?;
    let control = Arc::new(Control::new(
        store.clone(),
        "node00".into(),
        Arc::new(StaticRaftView(None)),
    ));
    let dir = tempfile::tempdir()?;
    let auth = Arc::new(shoal_web::WebAuth::load_or_create(dir.path())?);
    let token = auth.token();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let cancel = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(shoal_web::serve(
        listener,
        Arc::new(Bench(control)),
        auth,
        cancel.clone(),
    ));

    let port = free_port()?;
    let _driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]}),
    );
    let b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?;
    let result = async {
        b.goto(&base).await?;
        b.find(Locator::Id("token")).await?.send_keys(&token).await?;
        b.find(Locator::Id("login")).await?.click().await?;
        b.wait().for_element(Locator::Id("grid")).await?;
        let cards = b
            .execute("return document.querySelectorAll('#grid .card').length", vec![])
            .await?;
        println!(
            "{SERVICES} services, {} tasks, {NODES} nodes: {cards} cards on the page",
            SERVICES * PER_SERVICE
        );
        let (mut load, mut paint) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            b.goto(&base).await?;
            b.wait().for_element(Locator::Id("grid")).await?;
            let t = b
                .execute(
                    "const n = performance.getEntriesByType('navigation')[0]; const p = performance.getEntriesByName('first-contentful-paint')[0]; return [n.loadEventEnd || n.domContentLoadedEventEnd, p ? p.startTime : -1]",
                    vec![],
                )
                .await?;
            load.push(t[0].as_f64().unwrap_or(-1.0));
            paint.push(t[1].as_f64().unwrap_or(-1.0));
        }
        summary("page load (navigation start → load event)", load);
        summary("first contentful paint", paint);
        // Wait for the live stream, then stamp every change of the grid.
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.execute(
            "window.__changes = []; new MutationObserver(() => window.__changes.push(Date.now())).observe(document.getElementById('grid'), {childList: true, subtree: true}); return 0",
            vec![],
        )
        .await?;
        let mut lat = Vec::new();
        for k in 0..UPDATES {
            let before = b.execute("return window.__changes.length", vec![]).await?;
            let before = before.as_u64().unwrap_or_default();
            let i = SERVICES * PER_SERVICE + k;
            let t = task(i, k % SERVICES);
            let wrote = millis_now();
            store.update(move |tx| tx.create(Object::Task(t))).await?;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let v = b
                    .execute(
                        &format!("return window.__changes.length > {before} ? window.__changes[{before}] : null"),
                        vec![],
                    )
                    .await?;
                if let Some(at) = v.as_f64() {
                    lat.push(at - wrote);
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "update {k} never reached the page");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        summary("store write → grid changed in the page", lat);
        anyhow::Ok(())
    }
    .await;
    b.close().await?;
    cancel.cancel();
    server.await??;
    result
}
