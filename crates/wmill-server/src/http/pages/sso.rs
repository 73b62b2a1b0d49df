//! Single sign-on's routes: Windmill's wire for the UI (`GET /api/oauth/list_logins`,
//! `GET /api/oauth/login/{name}`, `POST /api/oauth/login_callback/{name}`) and the browser
//! callback page `GET /user/oauth/callback/{name}` that a provider sends the browser back
//! to. The sign-in is bound to the browser that started it by a short-lived cookie
//! (`wm_oidc`: HttpOnly, SameSite=Lax, 10 minutes) whose digest is kept with the `state`.

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{HOST, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use super::auth::safe_next;
use super::{alert, bare_page, cookie, see_other};
use crate::http::auth::session_cookie;
use crate::http::extract::Client;
use crate::http::{AppState, Text};
use crate::service::{Callback, SsoRefused};

/// The cookie binding a started sign-in to its browser.
const BINDING_COOKIE: &str = "wm_oidc";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/oauth/list_logins", get(list_logins))
        .route("/api/oauth/login/{name}", get(start))
        .route("/api/oauth/login_callback/{name}", post(callback_api))
        .route("/user/oauth/callback/{name}", get(callback_page))
}

/// Windmill's shape: `{"oauth": [{"type": NAME, "display_name": NAME}], "saml": null}`.
async fn list_logins(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    let oauth: Vec<serde_json::Value> = s
        .svc
        .oidc()
        .iter()
        .map(|p| serde_json::json!({ "type": p.spec.name, "display_name": p.spec.name }))
        .collect();
    axum::Json(serde_json::json!({ "oauth": oauth, "saml": null }))
}

/// The exact redirect URI of provider `name`: under `--public-url`, or the request's own
/// origin.
fn redirect_uri(s: &AppState, headers: &HeaderMap, https: bool, name: &str) -> Option<String> {
    let base = match &s.svc.settings().public_url {
        Some(u) => u.clone(),
        None => {
            let host = headers.get(HOST)?.to_str().ok()?;
            if host.is_empty() || host.contains(['/', '\\', '@', ' ']) {
                return None;
            }
            format!("{}://{host}", if https { "https" } else { "http" })
        }
    };
    Some(format!("{base}/user/oauth/callback/{name}"))
}

fn refusal_page(r: SsoRefused) -> Response {
    (
        r.status,
        bare_page(
            "Sign-in refused",
            html! {
                h1 { "Sign-in refused" }
                (alert(Some(&r.sentence)))
                p { a href="/user/login" { "Back to the sign-in page" } }
            },
        ),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
struct StartQuery {
    next: Option<String>,
}

/// Sends the browser to the provider (303), with the binding cookie.
async fn start(
    State(s): State<AppState>,
    client: Client,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let q: StartQuery = Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let next = safe_next(q.next.as_deref());
    let https = s.svc.settings().secure_cookies || client.https;
    let Some(redirect) = redirect_uri(&s, &parts.headers, https, &name) else {
        return refusal_page(SsoRefused {
            status: StatusCode::BAD_REQUEST,
            sentence: "This request has no usable Host header.".into(),
        });
    };
    // One binding per browser: a second tab's sign-in keeps the first one's valid.
    let browser = cookie(&parts, BINDING_COOKIE)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(super::random_hex);
    match s.svc.sso_start(&name, &browser, redirect, next).await {
        Err(e) => super::PageError::from(e).into_response(),
        Ok(Err(r)) => refusal_page(r),
        Ok(Ok(url)) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            let Ok(location) = HeaderValue::from_str(&url) else {
                return refusal_page(SsoRefused {
                    status: StatusCode::BAD_GATEWAY,
                    sentence: "The provider's authorization address is not usable.".into(),
                });
            };
            res.headers_mut().insert(LOCATION, location);
            let secure = if https { "; Secure" } else { "" };
            let c = format!(
                "{BINDING_COOKIE}={browser}; HttpOnly; SameSite=Lax; Path=/; Max-Age=600{secure}"
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                res.headers_mut().append(SET_COOKIE, v);
            }
            res
        }
    }
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The page a provider sends the browser back to: signs in and goes to `next`, or says why
/// not.
async fn callback_page(
    State(s): State<AppState>,
    client: Client,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let q: CallbackQuery = Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let browser = cookie(&parts, BINDING_COOKIE);
    let cb = Callback {
        state: q.state,
        code: q.code,
        error: q.error,
    };
    match s
        .svc
        .sso_finish(&name, cb, browser.as_deref(), client.ip)
        .await
    {
        Err(e) => super::PageError::from(e).into_response(),
        Ok(Err(r)) => refusal_page(r),
        Ok(Ok(done)) => {
            let secure = s.svc.settings().secure_cookies || client.https;
            let mut res = see_other(&done.next);
            if let Ok(v) =
                HeaderValue::from_str(&session_cookie(&done.token, done.expires_at, secure))
            {
                res.headers_mut().append(SET_COOKIE, v);
            }
            res
        }
    }
}

#[derive(Deserialize)]
struct CallbackBody {
    code: Option<String>,
    state: Option<String>,
}

/// Windmill's callback for its UI: `{code, state}` → the session token (also as cookie).
async fn callback_api(
    State(s): State<AppState>,
    client: Client,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let browser = cookie(&parts, BINDING_COOKIE);
    let bytes = match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return Text("Bad request: body too large".into()).with_status(StatusCode::BAD_REQUEST);
        }
    };
    let Ok(b) = serde_json::from_slice::<CallbackBody>(&bytes) else {
        return Text("Bad request: expected {\"code\": …, \"state\": …}".into())
            .with_status(StatusCode::BAD_REQUEST);
    };
    let cb = Callback {
        state: b.state,
        code: b.code,
        error: None,
    };
    match s
        .svc
        .sso_finish(&name, cb, browser.as_deref(), client.ip)
        .await
    {
        Err(e) => e.into_response(),
        Ok(Err(r)) => Text(format!("Not authorized: {}", r.sentence)).with_status(r.status),
        Ok(Ok(done)) => {
            let secure = s.svc.settings().secure_cookies || client.https;
            let mut res = Text(done.token.clone()).into_response();
            if let Ok(v) =
                HeaderValue::from_str(&session_cookie(&done.token, done.expires_at, secure))
            {
                res.headers_mut().append(SET_COOKIE, v);
            }
            res
        }
    }
}
