//! Issue 19: the built-in web view, in a real browser. Two managers serve it
//! (`--web-addr`), a worker joins, a stack is deployed; headless Chromium, driven over
//! WebDriver (chromedriver + fantoccini), logs in with `shoal web token` and follows the grid
//! live: a CLI scale, a killed task container, a scale, a rollback and a drain from the page
//! itself; a service's page shows its task history and live log tail. A wrong token is
//! refused, and so is every session after `shoal web token --rotate`. The grid's screenshot
//! is saved as `target/web-grid.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};
use shoal_testkit::TestCluster;
use shoal_testkit::image::ensure_busybox;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shoal");
/// Deadline of each wait on the page (the live-update latency itself is measured by the
/// bench, not asserted here).
const LIVE: Duration = Duration::from_secs(30);

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// chromedriver on a free port, killed on drop.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        // Teardown: it may have exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver() -> anyhow::Result<Driver> {
    let port = free_port()?;
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start chromedriver ({e}): apt-get install chromium chromium-driver"
            )
        })?;
    let driver = Driver(child, port);
    shoal_testkit::wait_until("chromedriver to listen", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })?;
    Ok(driver)
}

/// Evaluates `script` in the page until `done` accepts its value; the last value on timeout.
async fn wait_page(
    c: &fantoccini::Client,
    what: &str,
    script: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    let mut last = Value::Null;
    while start.elapsed() < LIVE {
        last = c.execute(script, vec![]).await?;
        if done(&last) {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("timed out after {LIVE:?} waiting for {what}; last seen {last}")
}

/// The task ids of the cards of `service`, as the page shows them now.
fn cards(service: &str) -> String {
    format!(
        "return Array.from(document.querySelectorAll('#grid .card[data-service=\"{service}\"]')).map(e => e.dataset.task)"
    )
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Clicks the element `css` selects, found and clicked in one script: the live fragments
/// replace their buttons at any time, so a found element may be gone when clicked.
async fn click(b: &fantoccini::Client, css: &str) -> anyhow::Result<()> {
    wait_page(
        b,
        &format!("{css} to click"),
        &format!(
            "const e = document.querySelector({}); if (!e) return false; e.click(); return true",
            json!(css)
        ),
        |v| *v == json!(true),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_view_follows_the_swarm_live_in_a_browser() -> anyhow::Result<()> {
    let image = ensure_busybox()?;
    let ports = [free_port()?, free_port()?];
    let c = TestCluster::start_with(BIN, 2, 1, &[], |i| match ports.get(i) {
        Some(p) => vec!["--web-addr".into(), format!("127.0.0.1:{p}")],
        None => Vec::new(),
    })?;
    let dir = tempfile::tempdir()?;
    let compose = dir.path().join("stack.yml");
    std::fs::write(
        &compose,
        format!(
            "services:\n  web:\n    image: {image}\n    command: [\"sh\", \"-c\", \"echo web-started; exec sleep 3600\"]\n    deploy:\n      replicas: 3\n  db:\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n"
        ),
    )?;
    let m = c.manager(0);
    m.shoal(&["stack", "deploy", "-c", &compose.to_string_lossy(), "demo"])
        .ok()?;
    // The page is served by the second manager (a follower, or the leader: either works).
    let web = c.manager(1);
    let token = web.shoal(&["web", "token"]).ok()?.stdout.trim().to_string();
    assert_eq!(token.len(), 64, "token: {token}");
    let base = format!("http://127.0.0.1:{}", ports[1]);

    let driver = start_driver()?;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]}),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await?;
    let result = drive(&browser, &c, &base, &token).await;
    if result.is_err()
        && let Ok(src) = browser.source().await
    {
        eprintln!(
            "the page at the failure ({:?}):\n{src}",
            browser.current_url().await
        );
    }
    browser.close().await?;
    result.map_err(|e| anyhow::anyhow!("{e:#}\n{}", c.logs()))
}

async fn drive(
    b: &fantoccini::Client,
    c: &TestCluster,
    base: &str,
    token: &str,
) -> anyhow::Result<()> {
    // A wrong token is refused.
    b.goto(base).await?;
    b.find(Locator::Id("token"))
        .await?
        .send_keys("0123")
        .await?;
    b.find(Locator::Id("login")).await?.click().await?;
    let err = b
        .wait()
        .at_most(LIVE)
        .for_element(Locator::Id("login-error"))
        .await?
        .text()
        .await?;
    assert_eq!(err, "Wrong token.");
    assert!(b.find_all(Locator::Id("grid")).await?.is_empty());

    // The right one opens the grid: a column per node, a card per task.
    b.find(Locator::Id("token")).await?.send_keys(token).await?;
    b.find(Locator::Id("login")).await?.click().await?;
    b.wait()
        .at_most(LIVE)
        .for_element(Locator::Id("grid"))
        .await?;
    let hostnames: Vec<String> = {
        let v = c.nodes_on(0)?;
        v.iter()
            .filter_map(|n| n["Description"]["Hostname"].as_str().map(String::from))
            .collect()
    };
    let columns = wait_page(
        b,
        "a column per node",
        "return Array.from(document.querySelectorAll('#grid .node')).map(e => e.dataset.node)",
        |v| ids(v).len() == 3,
    )
    .await?;
    for h in &hostnames {
        assert!(ids(&columns).contains(h), "no column for {h}: {columns}");
    }
    let leaders = b.find_all(Locator::Css("#grid .leader")).await?.len();
    assert_eq!(leaders, 1);
    wait_page(b, "3 cards of demo_web", &cards("demo_web"), |v| {
        ids(v).len() == 3
    })
    .await?;
    wait_page(b, "1 card of demo_db", &cards("demo_db"), |v| {
        ids(v).len() == 1
    })
    .await?;

    // `service scale` from the CLI shows up without a reload.
    b.execute("window.__marker = 1", vec![]).await?;
    let scaled = Instant::now();
    c.manager(0)
        .shoal(&["service", "scale", "--detach", "demo_web=5"])
        .ok()?;
    wait_page(b, "5 cards of demo_web", &cards("demo_web"), |v| {
        ids(v).len() == 5
    })
    .await?;
    eprintln!(
        "5 cards on the page {:?} after `service scale --detach demo_web=5` started",
        scaled.elapsed()
    );
    let same_page = b.execute("return window.__marker", vec![]).await?;
    assert_eq!(same_page, json!(1), "the page was reloaded");

    // A killed task container is replaced on the page.
    let running = wait_page(
        b,
        "5 running cards of demo_web",
        "return Array.from(document.querySelectorAll('#grid .card[data-service=\"demo_web\"][data-state=\"running\"]')).map(e => e.dataset.task)",
        |v| ids(v).len() == 5,
    )
    .await?;
    let victim = ids(&running)[0].clone();
    let killed = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.task.id={victim}"),
        ])
        .output()?;
    let container = String::from_utf8_lossy(&killed.stdout).trim().to_string();
    anyhow::ensure!(!container.is_empty(), "no container for task {victim}");
    let out = Command::new("docker").args(["kill", &container]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_page(
        b,
        "the killed task's card replaced",
        &cards("demo_web"),
        |v| {
            let now = ids(v);
            now.len() == 5 && !now.contains(&victim)
        },
    )
    .await?;

    // Scale from the page, behind its confirmation.
    click(
        b,
        "#services tr[data-service=\"demo_web\"] button[data-act=\"scale\"]",
    )
    .await?;
    let input = b.find(Locator::Id("confirm-value")).await?;
    input.clear().await?;
    input.send_keys("2").await?;
    b.find(Locator::Id("confirm-ok")).await?.click().await?;
    wait_page(
        b,
        "2 cards of demo_web after the page's scale",
        &cards("demo_web"),
        |v| ids(v).len() == 2,
    )
    .await?;
    let svc = shoal_testkit::get_json(c.manager(0), "/v1.44/services/demo_web")?;
    assert_eq!(svc["Spec"]["Mode"]["Replicated"]["Replicas"], json!(2));
    let status = b.find(Locator::Id("status")).await?.text().await?;
    assert_eq!(status, "demo_web scaled to 2");

    // Roll the service back from the page: its previous spec had 5 replicas.
    click(
        b,
        "#services tr[data-service=\"demo_web\"] button[data-act=\"rollback\"]",
    )
    .await?;
    b.find(Locator::Id("confirm-ok")).await?.click().await?;
    wait_page(
        b,
        "5 cards of demo_web after the rollback",
        &cards("demo_web"),
        |v| ids(v).len() == 5,
    )
    .await?;

    // Drain the worker from the page: its cards move away and it offers Activate.
    let worker = hostnames
        .iter()
        .zip(c.nodes_on(0)?)
        .find(|(_, n)| n["Spec"]["Role"] == json!("worker"))
        .map(|(h, n)| (h.clone(), n["ID"].as_str().unwrap_or_default().to_string()))
        .ok_or_else(|| anyhow::anyhow!("no worker node"))?;
    let node_button = format!("#grid button[data-act=\"node\"][data-id=\"{}\"]", worker.1);
    click(b, &node_button).await?;
    b.find(Locator::Id("confirm-ok")).await?.click().await?;
    let on_worker = format!(
        "return Array.from(document.querySelectorAll('#grid .node')).filter(n => n.querySelector('button[data-id=\"{}\"]')).map(n => [n.classList.contains('drain'), n.querySelectorAll('.card').length])[0]",
        worker.1
    );
    wait_page(b, "the drained worker's column empty", &on_worker, |v| {
        *v == json!([true, 0])
    })
    .await?;
    let n = shoal_testkit::get_json(c.manager(0), &format!("/v1.44/nodes/{}", worker.1))?;
    assert_eq!(n["Spec"]["Availability"], json!("drain"));
    click(b, &node_button).await?;
    b.find(Locator::Id("confirm-ok")).await?.click().await?;
    wait_page(b, "the worker active again", &on_worker, |v| {
        v[0] == json!(false)
    })
    .await?;

    // An action without the session's CSRF token is refused, even with the cookie.
    let refused = b
        .execute(
            "return fetch('/action/scale', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'id=demo_web&value=9'}).then(r => r.status)",
            vec![],
        )
        .await?;
    assert_eq!(refused, json!(403));

    // A service's page: its task history (the killed task among the old rows) and the live
    // log tail of its running tasks.
    b.find(Locator::Css("#services a[href^=\"/service/\"]"))
        .await?;
    let href = b
        .execute(
            "return Array.from(document.querySelectorAll('#services tr[data-service=\"demo_web\"] a')).map(a => a.getAttribute('href'))[0]",
            vec![],
        )
        .await?;
    b.goto(&format!("{base}{}", href.as_str().unwrap_or_default()))
        .await?;
    let history = wait_page(
        b,
        "the task history of demo_web",
        "return Array.from(document.querySelectorAll('#detail table.tasks tr[data-task]')).map(e => e.dataset.task)",
        |v| ids(v).contains(&victim),
    )
    .await?;
    assert!(ids(&history).len() >= 6, "history: {history}");
    wait_page(
        b,
        "the log tail of demo_web",
        "return document.getElementById('logs').textContent",
        |v| {
            v.as_str()
                .is_some_and(|t| t.contains("demo_web.") && t.contains("| web-started"))
        },
    )
    .await?;
    b.goto(base).await?;
    wait_page(b, "the grid again", &cards("demo_web"), |v| {
        ids(v).len() == 5
    })
    .await?;

    // The grid, as a test artifact (and the README's picture).
    let png = b.screenshot().await?;
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&target)?;
    std::fs::write(target.join("web-grid.png"), png)?;

    // Rotating the token ends the session: the page's next action is refused and a reload
    // shows the login form again.
    let rotated = c.manager(1).shoal(&["web", "token", "--rotate"]).ok()?;
    assert_ne!(rotated.stdout.trim(), token);
    let after = b
        .execute(
            "const csrf = document.querySelector('meta[name=csrf]').content; return fetch('/action/scale', {method: 'POST', credentials: 'same-origin', headers: {'X-Shoal-Csrf': csrf, 'Content-Type': 'application/x-www-form-urlencoded'}, body: 'id=demo_web&value=9'}).then(r => r.status)",
            vec![],
        )
        .await?;
    assert_eq!(after, json!(401));
    b.refresh().await?;
    b.wait()
        .at_most(LIVE)
        .for_element(Locator::Id("token"))
        .await?;
    Ok(())
}
