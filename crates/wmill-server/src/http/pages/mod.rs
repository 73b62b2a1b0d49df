//! Pages for browsers: sign-in, the command-line clients' browser login, self-service, the
//! workspace admin's pages and the superadmin's console. Server-rendered HTML (maud,
//! escaping whatever it is given), one stylesheet and one small script served from here:
//! no request leaves the server's origin.
//!
//! - The session is the `token` cookie that sign-in sets (HttpOnly, SameSite=Lax, Secure on
//!   https). Only a plain session is taken from a cookie (no scoped, read-only, pinned or
//!   impersonation token).
//! - Every POST must come from this server's origin (`Origin`, else `Referer`) and carry the
//!   form's `csrf` field: a digest of the session token, so that it is bound to the session
//!   and needs no server-side state; the sign-in form, before any session, uses a random
//!   value in a cookie of its own (double submit).
//! - Every page says `Content-Security-Policy` without `unsafe-inline`, `frame-ancestors
//!   'none'` and `X-Frame-Options: DENY`, and a `Referrer-Policy`.
//!
//! Handlers call the service layer as the API's handlers do: the same rules, permissions and
//! audit entries, whichever door a change comes through.

mod admin;
mod audit;
mod auth;
mod me;
mod sso;
mod workspace;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use wmill_api::UserWorkspace;

use super::AppState;
use super::extract::same_origin;
use crate::error::Error;
use crate::service::{Caller, Member};

/// The policy of every page: nothing but this origin, no inline script or style, no frames.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages' routes, the stylesheet and the script.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(auth::routes())
        .merge(me::routes())
        .merge(sso::routes())
        .merge(workspace::routes())
        .merge(audit::routes())
        .merge(admin::routes())
        .layer(middleware::from_fn(page_headers))
}

async fn home(session: Option<Session>) -> Response {
    match session {
        Some(_) => see_other("/user/profile"),
        None => see_other("/user/login"),
    }
}

async fn css() -> Response {
    static_file("text/css; charset=utf-8", include_str!("app.css"))
}

async fn js() -> Response {
    static_file("text/javascript; charset=utf-8", include_str!("app.js"))
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// The headers every page (and its assets) carries; a page may set a CSP of its own.
async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    res
}

/// A 303 to `to` (a path on this server).
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// The CSRF value of a session: bound to it, unguessable without its token.
pub fn csrf_for(raw_token: &str) -> String {
    let digest = Sha256::digest(format!("wmill page form\0{raw_token}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes from the OS, as hex: the sign-in form's double-submit value and the
/// single sign-on browser binding. A missing random source is not papered over with zeros.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `token` cookie (and only the cookie: pages never take a token from a URL).
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|s| s.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_owned())
        })
}

/// Why a page cannot be shown: sign in first, or a refusal shown as a page.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: to the sign-in page, then back to this path.
    SignIn(String),
    /// A refusal or a failure, with the server's sentence.
    Refused(StatusCode, String),
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        let status = e.status();
        let message = match &e {
            Error::Internal(_) | Error::Unavailable(_) => {
                // Logged with an incident id by the API's own rendering.
                let res = e.into_response();
                return PageError::Refused(
                    res.status(),
                    "Something went wrong on the server; its log has the details.".into(),
                );
            }
            _ => e.message(),
        };
        PageError::Refused(status, message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn(next) => {
                see_other(&format!("/user/login?next={}", encode_component(&next)))
            }
            PageError::Refused(status, message) => {
                let body = html! {
                    h1 { "That did not work" }
                    p role="alert" class="error" { (message) }
                    p { a href="/user/profile" { "Back to your profile" } }
                };
                (status, bare_page("Refused", body)).into_response()
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A signed-in person: the caller behind the session cookie, the form value that proves a
/// POST came from one of our pages, and the workspaces to show in the navigation.
pub struct Session {
    pub caller: Caller,
    pub raw: String,
    pub csrf: String,
    pub workspaces: Vec<UserWorkspace>,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let here = parts
            .uri
            .path_and_query()
            .map_or("/user/profile", |p| p.as_str())
            .to_owned();
        let back = if parts.method == Method::GET {
            here
        } else {
            "/user/profile".to_owned()
        };
        let Some(raw) = cookie(parts, "token") else {
            return Err(PageError::SignIn(back));
        };
        let Ok(caller) = state.svc.authenticate(&raw).await else {
            return Err(PageError::SignIn(back));
        };
        // A cookie carries what sign-in set: a plain session, nothing narrower or borrowed.
        if caller.pinned.is_some()
            || caller.read_only
            || caller.impersonator.is_some()
            || caller.scopes.to_stored().is_some()
        {
            return Err(PageError::SignIn(back));
        }
        if !matches!(parts.method, Method::GET | Method::HEAD)
            && !same_origin(parts, state.svc.settings())
        {
            return Err(PageError::Refused(
                StatusCode::FORBIDDEN,
                "This form was sent from another site; nothing was changed.".into(),
            ));
        }
        let workspaces = state
            .svc
            .user_workspaces(&caller)
            .await
            .map(|l| l.workspaces)
            .unwrap_or_default();
        Ok(Session {
            csrf: csrf_for(&raw),
            caller,
            raw,
            workspaces,
        })
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Session {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, PageError> {
        match <Session as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(s) => Ok(Some(s)),
            Err(PageError::SignIn(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Session {
    /// The caller as a member of `ws` (refused as the API would refuse it).
    pub async fn member(&self, state: &AppState, ws: &str) -> Result<Member, PageError> {
        Ok(state.svc.workspace_member(&self.raw, ws).await?)
    }

    /// The page, inside the layout with this person's navigation.
    pub fn page(&self, title: &str, body: Markup) -> Response {
        layout(Some(self), title, body).into_response()
    }

    /// The hidden field every POST form carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

/// A POST form from one of our pages: the session, checked for origin and CSRF value, the
/// form's fields as pairs (repeated names kept, e.g. checkboxes) and parsed as `T`.
pub struct Post<T> {
    pub session: Session,
    pub form: T,
    pub pairs: Vec<(String, String)>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Post<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let pairs = form_pairs(Request::from_parts(parts, body), state).await?;
        let csrf = pairs
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        if csrf != Some(session.csrf.as_str()) {
            return Err(PageError::Refused(
                StatusCode::FORBIDDEN,
                "This form is out of date or was not sent by one of this server's pages; nothing was changed. Reload the page and try again.".into(),
            ));
        }
        let form = parse_pairs(&pairs)?;
        Ok(Post {
            session,
            form,
            pairs,
        })
    }
}

/// A form body as pairs: `application/x-www-form-urlencoded`, at most 64 KiB.
pub async fn form_pairs(
    req: Request,
    state: &AppState,
) -> Result<Vec<(String, String)>, PageError> {
    let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
        .await
        .map_err(|e| PageError::Refused(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(pairs)
}

/// The pairs as `T` (the last value of a repeated name wins; empty fields are absent).
pub fn parse_pairs<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, PageError> {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if k != "csrf" && !v.is_empty() {
            map.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| {
        PageError::Refused(
            StatusCode::BAD_REQUEST,
            format!("The form is missing something: {e}"),
        )
    })
}

/// Every value of a repeated field (checkboxes).
pub fn all_of<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A page without navigation (sign-in, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    layout(None, title, body)
}

/// The frame of every page.
fn layout(session: Option<&Session>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · wmill" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header {
                    a class="brand" href="/" { "wmill" }
                    @if let Some(s) = session {
                        (nav(s))
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

fn nav(s: &Session) -> Markup {
    html! {
        nav aria-label="Main" {
            ul {
                li { a href="/user/profile" { "Profile" } }
                li { a href="/user/tokens" { "Tokens" } }
                @for w in &s.workspaces {
                    li class="ws" {
                        span class="ws-name" { (w.name) }
                        ul {
                            li { a href={ "/w/" (w.id) "/members" } aria-label={ "Members of " (w.name) } { "Members" } }
                            li { a href={ "/w/" (w.id) "/groups" } aria-label={ "Groups of " (w.name) } { "Groups" } }
                            li { a href={ "/w/" (w.id) "/audit" } aria-label={ "Audit log of " (w.name) } { "Audit log" } }
                        }
                    }
                }
                @if s.caller.super_admin {
                    li { a href="/admin/users" { "Users" } }
                    li { a href="/admin/workspaces" { "Workspaces" } }
                }
            }
            form id="logout" method="post" action="/user/logout" {
                (s.csrf_field())
                button type="submit" class="link" { "Sign out" }
            }
        }
    }
}

/// A sentence the server said, next to a form: `role="alert"` so that it is read out.
pub fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p role="alert" class="error" { (m) }
        }
    }
}

/// A sentence saying what just happened.
pub fn notice(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p role="status" class="notice" { (m) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_values_are_bound_to_the_session() {
        let a = csrf_for("wm_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let b = csrf_for("wm_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(!a.contains("aaaa"));
    }

    #[test]
    fn pages_escape_what_people_typed() {
        let m = html! { p { ("<script>alert(1)</script>") } };
        assert_eq!(
            m.into_string(),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        );
    }

    #[test]
    fn next_paths_are_encoded() {
        assert_eq!(encode_component("/w/a b?x=1&y"), "/w/a%20b%3Fx%3D1%26y");
    }
}
