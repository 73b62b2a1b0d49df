//! `/api/auth/*` and the caller's own identity: login, logout, whoami, email, own password.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{GlobalUserInfo, Login, SetPassword, UserInfo};

use super::extract::{Authed, Client, InWorkspace, Json, RawToken};
use super::{AppState, Text};
use crate::clock::to_ts;
use crate::error::{Error, Result};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout_post, logout_get))
        .routes(routes!(whoami))
        .routes(routes!(whoami_in_workspace))
        .routes(routes!(email))
        .routes(routes!(set_password))
}

fn cookie(value: String) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(SET_COOKIE, v);
    }
    h
}

/// Exchanges an email and password for a session token (also set as cookie `token`).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Login,
    responses(
        (status = 200, description = "The session token", body = String, content_type = "text/plain"),
        (status = 400, description = "`Bad request: Invalid login`", body = String, content_type = "text/plain"),
        (status = 429, description = "Too many attempts", body = String, content_type = "text/plain"),
        (status = 503, description = "Too many password checks waiting", body = String, content_type = "text/plain")))]
async fn login(
    State(s): State<AppState>,
    client: Client,
    body: std::result::Result<Json<Login>, Error>,
) -> Result<(HeaderMap, Text)> {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            s.svc.malformed_login(client.ip).await?;
            return Err(e);
        }
    };
    let out = s.svc.login(&req.email, req.password, client.ip).await?;
    let secure = s.svc.settings().secure_cookies || client.https;
    let headers = cookie(session_cookie(&out.token, out.expires_at, secure));
    Ok((headers, Text(out.token)))
}

/// The `Set-Cookie` value of a session: HttpOnly, SameSite=Lax, Secure over https.
pub(crate) fn session_cookie(
    token: &str,
    expires_at: crate::clock::Micros,
    secure: bool,
) -> String {
    let expires = to_ts(expires_at).format("%a, %d %b %Y %H:%M:%S GMT");
    let secure = if secure { "; Secure" } else { "" };
    format!("token={token}; HttpOnly; SameSite=Lax; Path=/; Expires={expires}{secure}")
}

/// The `Set-Cookie` value that ends a session cookie.
pub(crate) const CLEAR_SESSION_COOKIE: &str =
    "token=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT";

async fn logout(s: AppState, raw: String) -> Result<(HeaderMap, Text)> {
    s.svc.logout(&raw).await?;
    let headers = cookie(CLEAR_SESSION_COOKIE.into());
    Ok((headers, Text("logged out successfully".into())))
}

/// Deletes the presented token and clears the cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, description = "`logged out successfully`", body = String, content_type = "text/plain"),
        (status = 401, description = "No token", body = String, content_type = "text/plain")))]
async fn logout_post(
    State(s): State<AppState>,
    RawToken(raw): RawToken,
) -> Result<(HeaderMap, Text)> {
    logout(s, raw).await
}

/// Same as `POST /api/auth/logout`.
#[utoipa::path(get, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, description = "`logged out successfully`", body = String, content_type = "text/plain"),
        (status = 401, description = "No token", body = String, content_type = "text/plain")))]
async fn logout_get(
    State(s): State<AppState>,
    RawToken(raw): RawToken,
) -> Result<(HeaderMap, Text)> {
    logout(s, raw).await
}

/// The caller's instance account.
#[utoipa::path(get, path = "/api/users/whoami", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = GlobalUserInfo), (status = 401, description = "Not authorized")))]
async fn whoami(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<GlobalUserInfo>> {
    Ok(axum::Json(s.svc.whoami(&c)))
}

/// The caller as a member of the workspace.
#[utoipa::path(get, path = "/api/w/{workspace}/users/whoami", tag = "auth", security(("bearer" = [])),
    params(("workspace" = String, Path)),
    responses((status = 200, body = UserInfo), (status = 401, description = "Not a member")))]
async fn whoami_in_workspace(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
) -> Result<axum::Json<UserInfo>> {
    Ok(axum::Json(s.svc.whoami_in_workspace(&m).await?))
}

/// The caller's email.
#[utoipa::path(get, path = "/api/users/email", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = String, content_type = "text/plain")))]
async fn email(Authed(c): Authed) -> Text {
    Text(c.email)
}

/// Changes the caller's own password.
#[utoipa::path(post, path = "/api/users/setpassword", tag = "auth", security(("bearer" = ["users:admin"])), request_body = SetPassword,
    responses((status = 200, description = "`password of <email> updated`", body = String, content_type = "text/plain")))]
async fn set_password(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<SetPassword>,
) -> Result<Text> {
    Ok(Text(
        s.svc
            .set_own_password(&c, req.password, req.revoke_tokens.unwrap_or(false))
            .await?,
    ))
}
