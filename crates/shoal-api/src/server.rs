//! The router, the version-prefix handling and the Unix-socket listener.

use crate::backend::Backend;
use crate::error::ApiError;
use crate::routes;
use crate::socket::ApiSocket;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tower::Layer;

/// The API version shoal speaks (Docker Engine 25.0): every CLI release accepts it.
pub const API_VERSION: &str = "1.44";
/// The oldest version accepted in a path prefix (moby's absolute floor).
pub const MIN_API_VERSION: &str = "1.24";
/// `Server` header value.
pub const SERVER: &str = concat!("shoal/", env!("CARGO_PKG_VERSION"), " (linux)");

/// All routes, unprefixed; [`serve_unix`] adds the `/v1.xx` handling.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    Router::new()
        .merge(routes::system::routes())
        .merge(routes::swarm::routes())
        .merge(routes::nodes::routes())
        .merge(routes::services::routes())
        .merge(routes::tasks::routes())
        .merge(routes::networks::routes())
        .merge(routes::secrets::routes())
        .merge(routes::configs::routes())
        .merge(routes::containers::routes())
        .route("/events", axum::routing::get(crate::events::events))
        .fallback(crate::passthrough::fallback)
        .method_not_allowed_fallback(|| async { ApiError::not_found("page not found") })
        .with_state(backend)
}

use crate::passthrough::parse_version;

/// Strips `/v<major>.<minor>` and checks the range, then adds the headers moby sends on every
/// response (`Api-Version`, `Ostype`, `Server`).
pub(crate) async fn versioned(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let requested = crate::passthrough::RequestedUri(req.uri().clone());
    req.extensions_mut().insert(requested);
    if let Some(rest) = path.strip_prefix("/v") {
        let (ver, tail) = rest
            .split_once('/')
            .map(|(v, t)| (v, format!("/{t}")))
            .unwrap_or((rest, "/".to_string()));
        if let Some(v) = parse_version(ver) {
            let max = parse_version(API_VERSION).unwrap_or((1, 44));
            let min = parse_version(MIN_API_VERSION).unwrap_or((1, 24));
            if v > max {
                return with_headers(
                    ApiError::bad_request(format!(
                        "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
                    ))
                    .into_response(),
                );
            }
            if v < min {
                return with_headers(
                    ApiError::bad_request(format!(
                        "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
                    ))
                    .into_response(),
                );
            }
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail,
            };
            if let Ok(uri) = pq.parse::<Uri>() {
                *req.uri_mut() = uri;
            }
        }
    }
    with_headers(next.run(req).await)
}

/// Responses passed through from the engine keep the engine's own values.
fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        ("Api-Version", API_VERSION),
        ("Ostype", "linux"),
        ("Server", SERVER),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    resp
}

/// Serves `router` on the claimed Unix socket until `shutdown` resolves. The socket file is
/// removed when `socket` is dropped, if it is still ours (see [`ApiSocket`]).
pub async fn serve_unix(
    mut socket: ApiSocket,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let std_listener = socket.take_listener().ok_or_else(|| {
        std::io::Error::other(format!(
            "the API socket {} is already being served",
            socket.path().display()
        ))
    })?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(std_listener)?;
    let app = axum::middleware::from_fn(versioned).layer(router);
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
