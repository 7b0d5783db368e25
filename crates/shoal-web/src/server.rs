//! The HTTP side: login, pages, the live stream and actions, on a TCP listener.
//!
//! Every page but the login form and the static script needs a session cookie; every POST
//! but the login needs the session's CSRF token (header `X-Shoal-Csrf`, or form field `csrf`
//! for the logout form) and, when the browser sends an `Origin`, one naming this host.
//! Actions call the same control API as `docker service scale`, `service rollback` and
//! `node update --availability`, so they are validated the same way.

use crate::auth::{COOKIE, WebAuth, constant_time_eq, cookie_value};
use crate::hub::{Fragments, Hub};
use crate::render::{self, Snapshot};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use shoal_api::Backend;
use shoal_manager::control::Rollback;
use shoal_types::api::{NodeSpecAvailabilityEnum, ServiceSpecMode, ServiceSpecModeReplicated};
use shoal_types::service::ServiceMode;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What every handler shares.
#[derive(Clone)]
pub struct WebState {
    pub backend: Arc<dyn Backend>,
    pub auth: Arc<WebAuth>,
    pub hub: Arc<Hub>,
}

/// The header carrying the CSRF token of an action.
pub const CSRF_HEADER: &str = "x-shoal-csrf";

/// The content security policy of every page: nothing from elsewhere, script only from here.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The router of the web view.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/page.js", get(script))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/service/{id}", get(service_page))
        .route("/live", get(live))
        .route("/logs/{id}", get(logs))
        .route("/action/{act}", post(action))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (k, v) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

/// Whether a request's `Origin` (if the browser sent one) is this server (`Host`). `null`
/// (an opaque origin) is refused; the pages' `Referrer-Policy: same-origin` keeps browsers
/// sending the real origin on their own POSTs.
pub fn origin_ok(origin: Option<&str>, host: Option<&str>) -> bool {
    match origin {
        None => true,
        Some(o) => {
            let o = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .unwrap_or(o);
            host.is_some_and(|h| h == o)
        }
    }
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `(session id, csrf token)` of the request's session, if it is live.
fn session(state: &WebState, h: &HeaderMap) -> Option<(String, String)> {
    let id = cookie_value(header_str(h, header::COOKIE)?, COOKIE)?;
    let csrf = state.auth.session(id)?;
    Some((id.to_string(), csrf))
}

/// The session of a POST whose CSRF token and origin check out.
fn checked_post(
    state: &WebState,
    h: &HeaderMap,
    form_csrf: Option<&str>,
) -> Result<(String, String), (StatusCode, &'static str)> {
    if !origin_ok(header_str(h, header::ORIGIN), header_str(h, header::HOST)) {
        return Err((StatusCode::FORBIDDEN, "cross-origin request refused"));
    }
    let Some((id, csrf)) = session(state, h) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "not logged in (or the session ended): reload the page",
        ));
    };
    let sent = header_str(h, CSRF_HEADER).or(form_csrf).unwrap_or_default();
    if !constant_time_eq(sent, &csrf) {
        return Err((StatusCode::FORBIDDEN, "missing or wrong CSRF token"));
    }
    Ok((id, csrf))
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, msg.into()).into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        render::SCRIPT,
    )
        .into_response()
}

async fn index(State(state): State<WebState>, h: HeaderMap) -> Response {
    let Some((_, csrf)) = session(&state, &h) else {
        return Html(render::login(None)).into_response();
    };
    match state.backend.control() {
        Ok(control) => {
            let snap = Snapshot::read(&control);
            Html(render::overview(&snap, &state.hub.events(), &csrf)).into_response()
        }
        Err(e) => Html(render::unavailable(&e.message, &csrf)).into_response(),
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

async fn login(State(state): State<WebState>, h: HeaderMap, body: Bytes) -> Response {
    if !origin_ok(header_str(&h, header::ORIGIN), header_str(&h, header::HOST)) {
        return text(StatusCode::FORBIDDEN, "cross-origin request refused");
    }
    let f = form(&body);
    let offered = f.get("token").map(String::as_str).unwrap_or_default();
    match state.auth.login(offered) {
        Some((id, _)) => {
            let cookie = format!(
                "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
                crate::auth::SESSION_TTL.as_secs()
            );
            let mut resp = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        None => {
            tracing::warn!("web view: login with a wrong token refused");
            (
                StatusCode::UNAUTHORIZED,
                Html(render::login(Some("Wrong token."))),
            )
                .into_response()
        }
    }
}

async fn logout(State(state): State<WebState>, h: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    match checked_post(&state, &h, f.get("csrf").map(String::as_str)) {
        Ok((id, _)) => {
            state.auth.logout(&id);
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "shoal_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
                ),
            );
            resp
        }
        Err((status, msg)) => text(status, msg),
    }
}

async fn service_page(
    State(state): State<WebState>,
    Path(id): Path<String>,
    h: HeaderMap,
) -> Response {
    let Some((_, csrf)) = session(&state, &h) else {
        return Redirect::to("/").into_response();
    };
    let control = match state.backend.control() {
        Ok(c) => c,
        Err(e) => return Html(render::unavailable(&e.message, &csrf)).into_response(),
    };
    let Ok(svc) = control.resolve_service(&id) else {
        return (
            StatusCode::NOT_FOUND,
            Html(render::page(
                "not found",
                &csrf,
                None,
                &format!(
                    "<main><p class=\"err\">service {} not found</p></main>",
                    render::esc(&id)
                ),
            )),
        )
            .into_response();
    };
    let snap = Snapshot::read(&control);
    let detail = render::service_detail(&snap, svc.id.as_str()).unwrap_or_default();
    let body = format!(
        "<main><h2>Service {}</h2><div id=\"detail\">{detail}</div><h2>Logs</h2><pre class=\"logs\" id=\"logs\" data-src=\"/logs/{}\"></pre></main>",
        render::esc(svc.name()),
        render::esc(svc.id.as_str()),
    );
    let q = format!("?service={}", svc.id);
    Html(render::page(svc.name(), &csrf, Some(&q), &body)).into_response()
}

/// The SSE events that bring a page from `sent` to `now` (all of them when `sent` is `None`).
pub fn fragment_events(sent: Option<&Fragments>, now: &Fragments) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(n) = &now.notice {
        if sent.and_then(|s| s.notice.as_ref()) != Some(n) {
            out.push(("notice", n.clone()));
        }
        return out;
    }
    for (name, was, is) in [
        ("grid", sent.map(|s| &s.grid), &now.grid),
        ("services", sent.map(|s| &s.services), &now.services),
        ("events", sent.map(|s| &s.events), &now.events),
    ] {
        if was != Some(is) {
            out.push((name, is.clone()));
        }
    }
    out
}

struct LiveState {
    state: WebState,
    session: String,
    rx: tokio::sync::watch::Receiver<Arc<Fragments>>,
    sent: Option<Arc<Fragments>>,
    service: Option<String>,
    detail: Option<String>,
}

async fn live(
    State(state): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
    h: HeaderMap,
) -> Response {
    let Some((session, _)) = session(&state, &h) else {
        return text(StatusCode::UNAUTHORIZED, "not logged in");
    };
    let rx = state.hub.subscribe();
    let st = LiveState {
        state,
        session,
        rx,
        sent: None,
        service: q.get("service").cloned(),
        detail: None,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if st.sent.is_some() && st.rx.changed().await.is_err() {
            return None;
        }
        // A rotated token or a logout ends the stream.
        st.state.auth.session(&st.session)?;
        let now = st.rx.borrow_and_update().clone();
        let mut events = if st.service.is_some() {
            Vec::new()
        } else {
            fragment_events(st.sent.as_deref(), &now)
        };
        if let Some(id) = &st.service
            && let Ok(control) = st.state.backend.control()
        {
            let snap = Snapshot::read(&control);
            let detail = render::service_detail(&snap, id)
                .unwrap_or_else(|| "<p class=\"err\">This service was removed.</p>".into());
            if st.detail.as_ref() != Some(&detail) {
                st.detail = Some(detail.clone());
                events.push(("detail", detail));
            }
        }
        st.sent = Some(now);
        let items: Vec<Result<Event, std::convert::Infallible>> = events
            .into_iter()
            .map(|(name, data)| Ok(Event::default().event(name).data(data)))
            .collect();
        Some((futures::stream::iter(items), st))
    })
    .flatten();
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// Lines of a service's log tail kept per task when the stream opens.
pub const LOG_TAIL: u64 = 50;

/// One log line as the page shows it: `<task> | <line>`, without trailing newline or carriage
/// returns (server-sent events cannot carry those).
pub fn log_line(task: &str, line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    format!(
        "{task} | {}",
        text.trim_end_matches(['\n', '\r']).replace('\r', "")
    )
}

/// `GET /logs/{service}`: the last [`LOG_TAIL`] lines of each of the service's current tasks,
/// then new lines as they come, as server-sent `log` events.
async fn logs(State(state): State<WebState>, Path(id): Path<String>, h: HeaderMap) -> Response {
    if session(&state, &h).is_none() {
        return text(StatusCode::UNAUTHORIZED, "not logged in");
    }
    let control = match state.backend.control() {
        Ok(c) => c,
        Err(e) => return text(e.status, e.message),
    };
    let svc = match control.resolve_service(&id) {
        Ok(s) => s,
        Err(e) => {
            let e = shoal_api::ApiError::from(e);
            return text(e.status, e.message);
        }
    };
    let tasks: Vec<shoal_types::Task> = control
        .tasks()
        .into_iter()
        .filter(|t| {
            t.service_id == svc.id
                && t.desired_state <= shoal_types::TaskState::Running
                && (t.status.state >= shoal_types::TaskState::Starting
                    || t.status.container_status.is_some())
        })
        .collect();
    let req = shoal_api::backend::LogRequest {
        follow: true,
        stdout: true,
        stderr: true,
        tail: Some(LOG_TAIL),
        ..Default::default()
    };
    let mut streams = Vec::new();
    for task in tasks {
        let name = task.display_name();
        let lines = match state.backend.task_logs(task, req.clone()).await {
            Ok(s) => s
                .map(move |item| match item {
                    Ok(l) => log_line(&name, &l.line),
                    Err(e) => log_line(&name, format!("error reading logs: {e}").as_bytes()),
                })
                .boxed(),
            Err(e) => futures::stream::once(async move {
                log_line(&name, format!("no logs: {}", e.message).as_bytes())
            })
            .boxed(),
        };
        streams.push(lines);
    }
    let stream = futures::stream::select_all(streams)
        .map(|line| Ok::<_, std::convert::Infallible>(Event::default().event("log").data(line)));
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// An action's parameters as the page posts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Scale {
        service: String,
        replicas: u64,
    },
    Rollback {
        service: String,
    },
    Availability {
        node: String,
        to: NodeSpecAvailabilityEnum,
    },
}

/// Parses `/action/{act}` with its form (`id`, `value`).
pub fn parse_action(act: &str, f: &HashMap<String, String>) -> Result<Action, String> {
    let id = f
        .get("id")
        .filter(|s| !s.is_empty())
        .ok_or("the action names no service or node")?
        .clone();
    let value = f
        .get("value")
        .map(String::as_str)
        .unwrap_or_default()
        .trim();
    match act {
        "scale" => {
            let replicas = value
                .parse::<u64>()
                .map_err(|_| format!("invalid replicas value {value:?}: want a whole number"))?;
            Ok(Action::Scale {
                service: id,
                replicas,
            })
        }
        "rollback" => Ok(Action::Rollback { service: id }),
        "node" => {
            let to = match value {
                "active" => NodeSpecAvailabilityEnum::ACTIVE,
                "drain" => NodeSpecAvailabilityEnum::DRAIN,
                "pause" => NodeSpecAvailabilityEnum::PAUSE,
                other => {
                    return Err(format!(
                        "invalid availability {other:?}: want active, pause or drain"
                    ));
                }
            };
            Ok(Action::Availability { node: id, to })
        }
        other => Err(format!("unknown action {other:?}")),
    }
}

async fn action(
    State(state): State<WebState>,
    Path(act): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, msg)) = checked_post(&state, &h, None) {
        return text(status, msg);
    }
    let action = match parse_action(&act, &form(&body)) {
        Ok(a) => a,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    match run_action(&state, &action).await {
        Ok(msg) => {
            tracing::info!(?action, "web view action");
            text(StatusCode::OK, msg)
        }
        Err(e) => text(e.status, e.message),
    }
}

async fn run_action(state: &WebState, action: &Action) -> Result<String, shoal_api::ApiError> {
    let control = state.backend.control()?;
    match action {
        Action::Scale { service, replicas } => {
            let svc = control.resolve_service(service)?;
            if !matches!(svc.mode(), ServiceMode::Replicated { .. }) {
                return Err(shoal_api::ApiError::bad_request(format!(
                    "scale can only be used with replicated mode; {} is {}",
                    svc.name(),
                    svc.mode().name()
                )));
            }
            let mut spec = svc.spec.clone();
            spec.mode = Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(i64::try_from(*replicas).unwrap_or(i64::MAX)),
                }),
                ..Default::default()
            });
            control
                .update_service(
                    svc.id.as_str(),
                    svc.meta.version.index,
                    spec,
                    Rollback::None,
                )
                .await?;
            Ok(format!("{} scaled to {replicas}", svc.name()))
        }
        Action::Rollback { service } => {
            let svc = control.resolve_service(service)?;
            control
                .update_service(
                    svc.id.as_str(),
                    svc.meta.version.index,
                    svc.spec.clone(),
                    Rollback::Previous,
                )
                .await?;
            Ok(format!("{} rolling back", svc.name()))
        }
        Action::Availability { node, to } => {
            let n = control.resolve_node(node)?;
            let mut spec = n.spec.clone();
            spec.availability = Some(*to);
            control
                .update_node(n.id.as_str(), n.meta.version.index, spec)
                .await?;
            Ok(format!("node {} set to {to}", n.display_name()))
        }
    }
}

/// Serves the web view on `listener` until `cancel`, with the store watcher behind it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    backend: Arc<dyn Backend>,
    auth: Arc<WebAuth>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let hub = Arc::new(Hub::default());
    let watcher = tokio::spawn(hub.clone().run(backend.clone(), cancel.clone()));
    let app = router(WebState { backend, auth, hub });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await;
    cancel.cancel();
    if let Err(e) = watcher.await {
        tracing::error!(error = %e, "web view store watcher failed");
    }
    served
}

/// The token endpoints served on the daemon's API socket (the CLI's `shoal web token`):
/// `GET /shoal/web/token` and `POST /shoal/web/token/rotate`, both `{"Token": "…"}`. The
/// socket is root's, as the token file is.
pub fn token_routes(auth: Arc<WebAuth>) -> Router {
    async fn show(State(auth): State<Arc<WebAuth>>) -> Response {
        axum::Json(serde_json::json!({ "Token": auth.token() })).into_response()
    }
    async fn rotate(State(auth): State<Arc<WebAuth>>) -> Response {
        match auth.rotate() {
            Ok(t) => axum::Json(serde_json::json!({ "Token": t })).into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({ "message": e.to_string() })),
            )
                .into_response(),
        }
    }
    Router::new()
        .route("/shoal/web/token", get(show))
        .route("/shoal/web/token/rotate", post(rotate))
        .with_state(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_the_task_and_no_line_breaks_at_the_end() {
        assert_eq!(log_line("web.1", b"hello\r\n"), "web.1 | hello");
        assert_eq!(log_line("web.1", b"a\rb"), "web.1 | ab");
        assert_eq!(log_line("web.1", &[0xff, b'x']), "web.1 | \u{fffd}x");
    }

    #[test]
    fn origin_must_name_this_host_when_sent() {
        assert!(origin_ok(None, Some("127.0.0.1:8080")));
        assert!(origin_ok(
            Some("http://127.0.0.1:8080"),
            Some("127.0.0.1:8080")
        ));
        assert!(!origin_ok(
            Some("http://evil.example"),
            Some("127.0.0.1:8080")
        ));
        assert!(!origin_ok(Some("http://127.0.0.1:8080"), None));
        assert!(!origin_ok(Some("null"), Some("127.0.0.1:8080")));
    }

    fn f(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn actions_parse_with_errors_that_name_the_problem() {
        assert_eq!(
            parse_action("scale", &f(&[("id", "web"), ("value", "5")])),
            Ok(Action::Scale {
                service: "web".into(),
                replicas: 5
            })
        );
        let e = parse_action("scale", &f(&[("id", "web"), ("value", "-1")])).unwrap_err();
        assert!(e.contains("invalid replicas"), "{e}");
        assert_eq!(
            parse_action("node", &f(&[("id", "n1"), ("value", "drain")])),
            Ok(Action::Availability {
                node: "n1".into(),
                to: NodeSpecAvailabilityEnum::DRAIN
            })
        );
        assert!(parse_action("node", &f(&[("id", "n1"), ("value", "off")])).is_err());
        assert_eq!(
            parse_action("rollback", &f(&[("id", "web")])),
            Ok(Action::Rollback {
                service: "web".into()
            })
        );
        assert!(parse_action("rollback", &f(&[])).is_err());
        assert!(parse_action("remove", &f(&[("id", "web")])).is_err());
    }

    #[test]
    fn only_changed_fragments_are_sent() {
        let a = Fragments {
            grid: "g1".into(),
            services: "s1".into(),
            events: "e1".into(),
            notice: None,
            generation: 1,
        };
        let all: Vec<_> = fragment_events(None, &a).into_iter().map(|e| e.0).collect();
        assert_eq!(all, ["grid", "services", "events"]);
        let b = Fragments {
            grid: "g2".into(),
            ..a.clone()
        };
        let some: Vec<_> = fragment_events(Some(&a), &b)
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(some, ["grid"]);
        let n = Fragments {
            notice: Some("not a manager".into()),
            ..Fragments::default()
        };
        assert_eq!(
            fragment_events(Some(&a), &n),
            [("notice", "not a manager".to_string())]
        );
    }
}
