//! HTTP: one router per resource, collected with their OpenAPI descriptions, so that
//! `/api/openapi.json` is generated from the handlers themselves and cannot drift.

mod archive;
mod audit;
mod auth;
pub mod extract;
mod groups;
mod instance;
pub mod openapi;
mod pages;
mod scim;
pub mod serve;
mod settings;
mod tokens;
mod users;
mod workspaces;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::HealthStatus;

use crate::error::Error;
use crate::service::Service;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Service>,
    openapi: Arc<OnceLock<String>>,
    /// What each route needs of its caller's token, read from the OpenAPI document.
    pub requirements: Arc<openapi::Requirements>,
}

/// A `text/plain; charset=utf-8` answer.
pub struct Text(pub String);

impl Text {
    /// This text with another status than 200.
    pub fn with_status(self, status: StatusCode) -> Response {
        (status, self).into_response()
    }
}

impl IntoResponse for Text {
    fn into_response(self) -> Response {
        let mut r = self.0.into_response();
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wmill",
        description = "Windmill-compatible identity administration API: users, workspaces, groups, tokens and the audit log. \
            Mutations answer text/plain sentences; errors answer text/plain `<Kind>: <message>`."
    ),
    tags(
        (name = "auth"), (name = "users"), (name = "tokens"), (name = "workspaces"), (name = "groups"),
        (name = "audit"), (name = "scim"), (name = "server")
    )
)]
struct ApiDoc;

/// The server version, as Windmill's client prints it.
#[utoipa::path(get, path = "/api/version", tag = "server",
    responses((status = 200, description = "`CE v<version>`", body = String, content_type = "text/plain")))]
async fn version() -> Text {
    Text(format!("CE v{}", env!("CARGO_PKG_VERSION")))
}

/// Whether the server and its database are healthy (503 when the database is down).
#[utoipa::path(get, path = "/api/health/status", tag = "server",
    responses((status = 200, body = HealthStatus), (status = 503, body = HealthStatus)))]
async fn health(State(s): State<AppState>) -> (StatusCode, axum::Json<HealthStatus>) {
    let ok = s.svc.healthy().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthStatus {
        status: if ok { "healthy" } else { "unhealthy" }.into(),
        database_healthy: ok,
        audit_sinks: s.svc.audit_sink_status(ok).await,
    };
    (status, axum::Json(body))
}

/// Liveness: the process is up and answering (never looks at the database).
#[utoipa::path(get, path = "/api/health/live", tag = "server",
    responses((status = 200, description = "`live`", body = String, content_type = "text/plain")))]
async fn live() -> Text {
    Text("live".into())
}

/// Readiness: the database answers and its migrations are done (the server answers no
/// request before it has applied them), so traffic may be sent here; 503 otherwise.
#[utoipa::path(get, path = "/api/health/ready", tag = "server",
    responses((status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "`not ready: the database cannot be reached`", body = String, content_type = "text/plain")))]
async fn ready(State(s): State<AppState>) -> Response {
    if s.svc.healthy().await {
        Text("ready".into()).into_response()
    } else {
        Text("not ready: the database cannot be reached".into())
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "server",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi(State(s): State<AppState>) -> Response {
    // Written on the first request (a third of a megabyte an idle server need not hold).
    let body = s
        .openapi
        .get_or_init(|| {
            serde_json::to_string_pretty(&openapi_doc(s.svc.settings())).unwrap_or_default()
        })
        .clone();
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

async fn not_found(req: Request) -> Error {
    Error::NotFound(format!(
        "no route for {} {}",
        req.method(),
        loggable_path(req.uri().path())
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let text = format!(
        "Method not allowed: {} is not allowed on {}",
        req.method(),
        loggable_path(req.uri().path())
    );
    Text(text).with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// A path fit for the log and for error texts: a segment that could be a token (they are
/// accepted in the token-deletion path) is cut to its public prefix, counted in characters
/// (a byte offset could fall inside a character), and the whole is cut to 200 characters.
fn loggable_path(path: &str) -> String {
    let cut: String = path
        .split('/')
        .map(|seg| {
            if seg.starts_with("wm_") && seg.chars().count() > wmill_api::TOKEN_PREFIX_LEN {
                let prefix: String = seg.chars().take(wmill_api::TOKEN_PREFIX_LEN).collect();
                format!("{prefix}…")
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    if cut.chars().count() > 200 {
        let mut short: String = cut.chars().take(200).collect();
        short.push('…');
        short
    } else {
        cut
    }
}

/// Around every request, in one layer (each `from_fn` layer costs a boxed future per
/// request): the request gets an id (see [`request_id`]), echoed in the answer's
/// `x-request-id`, carried by every log line written while it is answered (a span) and used
/// as the incident id of its error texts; a handler that panics answers 500 like any internal fault instead of dropping
/// the connection (no input should reach a panic; this is the net under that rule); every
/// answer says `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`; and, at
/// debug level, method, path (never the query: it may hold a token), status and time are
/// logged.
async fn around(req: Request, next: Next) -> Response {
    // When debug is off, no path is built for nothing.
    let logged = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        (
            Instant::now(),
            req.method().clone(),
            loggable_path(req.uri().path()),
        )
    });
    let id = request_id(req.headers().get(X_REQUEST_ID));
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let span = tracing::info_span!("request", request_id = %id);
    let run = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
    let answered = crate::error::REQUEST_ID
        .scope(
            id.clone(),
            tracing::Instrument::instrument(run, span.clone()),
        )
        .await;
    let _entered = span.enter();
    let mut res = match answered {
        Ok(res) => res,
        Err(_) => crate::error::REQUEST_ID.sync_scope(id.clone(), || {
            Error::internal("a request handler panicked").into_response()
        }),
    };
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(X_REQUEST_ID, v);
    }
    crate::metrics::request(
        method.as_str(),
        &route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some((started, method, path)) = logged {
        tracing::debug!(%method, %path, status = res.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    }
    res
}

/// The header carrying a request's id, in and out.
const X_REQUEST_ID: axum::http::HeaderName = axum::http::HeaderName::from_static("x-request-id");

/// A request's id: the client's (or its proxy's) `x-request-id` when it is 1 to 64
/// letters, digits, `-`, `_` or `.` (nothing else reaches the log), a random one otherwise.
fn request_id(given: Option<&HeaderValue>) -> String {
    given
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
        .map_or_else(crate::error::random_id, str::to_string)
}

/// Every route with its OpenAPI description.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(version))
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(openapi))
        .merge(auth::router())
        .merge(users::router())
        .merge(tokens::router())
        .merge(workspaces::router())
        .merge(groups::router())
        .merge(instance::router())
        .merge(settings::router())
        .merge(audit::router())
        .merge(scim::token_router())
}

/// The OpenAPI document of the API, completed for these settings (see [`openapi`]).
pub fn openapi_doc(settings: &crate::config::Settings) -> serde_json::Value {
    let doc = api_router().split_for_parts().1;
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    openapi::complete(&mut v, settings);
    v
}

/// The application, without a socket (tests drive it with `oneshot`).
pub fn app(svc: Arc<Service>) -> Router {
    let (router, _) = api_router().split_for_parts();
    let doc = openapi_doc(svc.settings());
    let requirements = Arc::new(openapi::route_requirements(&doc));
    drop(doc);
    let state = AppState {
        svc,
        openapi: Arc::new(OnceLock::new()),
        requirements,
    };
    router
        .merge(pages::router())
        .merge(scim::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(around))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_paths_are_cut_for_the_log() {
        let raw = crate::token::mint().raw;
        let logged = super::loggable_path(&format!("/api/users/tokens/delete/{raw}"));
        assert_eq!(logged, format!("/api/users/tokens/delete/{}…", &raw[..10]));
        assert_eq!(
            super::loggable_path("/api/w/admins/groups/get/wm_team"),
            "/api/w/admins/groups/get/wm_team"
        );
    }

    #[test]
    fn paths_with_multibyte_characters_are_cut_on_characters() {
        // The 10th byte of this segment falls inside "é": a byte cut would panic.
        assert_eq!(super::loggable_path("/api/wm_abcdefé"), "/api/wm_abcdefé");
        assert_eq!(
            super::loggable_path("/api/wm_ééééééééééé"),
            "/api/wm_ééééééé…"
        );
        let long = format!("/{}", "é".repeat(500));
        assert_eq!(super::loggable_path(&long).chars().count(), 201);
    }
}
