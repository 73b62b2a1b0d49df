//! `/api/users/tokens/*`: the caller's API tokens.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{ImpersonateToken, NewToken, ScopeDomain, TokenLabel, TokenScopes, TruncatedToken};

use super::extract::{Authed, Json, Path, Query};
use super::{AppState, Text};
use crate::error::Result;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token))
        .routes(routes!(list_tokens))
        .routes(routes!(delete_token))
        .routes(routes!(impersonate))
        .routes(routes!(update_label))
        .routes(routes!(update_scopes))
        .routes(routes!(list_scopes))
}

/// Query of the token list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenPage {
    /// Windmill's filter for tokens scripts mint for themselves; this server mints none, so
    /// it changes nothing (a client-chosen label never hides a token).
    #[allow(dead_code)]
    pub exclude_ephemeral: Option<bool>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Mints a token for the caller; the body is the token, shown this once.
#[utoipa::path(post, path = "/api/users/tokens/create", tag = "tokens", security(("bearer" = [])), request_body = NewToken,
    responses((status = 201, description = "The raw token", body = String, content_type = "text/plain"),
        (status = 400, description = "Bad expiration or label", body = String, content_type = "text/plain"),
        (status = 404, description = "The workspace does not exist", body = String, content_type = "text/plain"),
        (status = 409, description = "The workspace id is reserved (`global`)", body = String, content_type = "text/plain")))]
async fn create_token(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<NewToken>,
) -> Result<(StatusCode, Text)> {
    Ok((
        StatusCode::CREATED,
        Text(s.svc.create_token(&c, req).await?),
    ))
}

/// The caller's tokens, newest first (prefixes only).
#[utoipa::path(get, path = "/api/users/tokens/list", tag = "tokens", security(("bearer" = [])), params(TokenPage),
    responses((status = 200, body = Vec<TruncatedToken>)))]
async fn list_tokens(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<TokenPage>,
) -> Result<axum::Json<Vec<TruncatedToken>>> {
    Ok(axum::Json(s.svc.list_tokens(&c, q.page, q.per_page).await?))
}

/// Deletes one of the caller's tokens, named by its 10-character prefix or in full.
#[utoipa::path(delete, path = "/api/users/tokens/delete/{prefix_or_token}", tag = "tokens", security(("bearer" = [])),
    params(("prefix_or_token" = String, Path)),
    responses((status = 200, description = "`deleted <n> tokens [...] with prefix <prefix>`", body = String, content_type = "text/plain"),
        (status = 404, description = "No such token", body = String, content_type = "text/plain"),
        (status = 409, description = "Ambiguous prefix", body = String, content_type = "text/plain")))]
async fn delete_token(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(p): Path<String>,
) -> Result<Text> {
    Ok(Text(s.svc.delete_token(&c, &p).await?))
}

/// Mints a token acting as another account (superadmin).
#[utoipa::path(post, path = "/api/users/tokens/impersonate", tag = "tokens", security(("bearer" = ["users:admin"])), request_body = ImpersonateToken,
    responses((status = 201, description = "The raw token", body = String, content_type = "text/plain"),
        (status = 400, description = "Bad expiration or label", body = String, content_type = "text/plain"),
        (status = 404, description = "No such account", body = String, content_type = "text/plain"),
        (status = 409, description = "The account is disabled", body = String, content_type = "text/plain")))]
async fn impersonate(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<ImpersonateToken>,
) -> Result<(StatusCode, Text)> {
    Ok((StatusCode::CREATED, Text(s.svc.impersonate(&c, req).await?)))
}

/// Renames one of the caller's tokens, named by its prefix.
#[utoipa::path(post, path = "/api/users/tokens/update_label/{token_prefix}", tag = "tokens", security(("bearer" = [])),
    params(("token_prefix" = String, Path)), request_body = TokenLabel,
    responses((status = 200, description = "`label of token <prefix> updated`", body = String, content_type = "text/plain"),
        (status = 409, description = "Ambiguous prefix", body = String, content_type = "text/plain")))]
async fn update_label(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(prefix): Path<String>,
    Json(req): Json<TokenLabel>,
) -> Result<Text> {
    Ok(Text(
        s.svc.update_token_label(&c, &prefix, req.label).await?,
    ))
}

/// Changes the scopes of one of the caller's tokens: narrowing always, widening only as far
/// as the calling token's own scopes.
#[utoipa::path(post, path = "/api/users/tokens/update_scopes/{token_prefix}", tag = "tokens", security(("bearer" = [])),
    params(("token_prefix" = String, Path)), request_body = TokenScopes,
    responses((status = 200, description = "`scopes of token <prefix> updated`", body = String, content_type = "text/plain"),
        (status = 400, description = "An unknown scope", body = String, content_type = "text/plain"),
        (status = 409, description = "Ambiguous prefix", body = String, content_type = "text/plain")))]
async fn update_scopes(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(prefix): Path<String>,
    Json(req): Json<TokenScopes>,
) -> Result<Text> {
    Ok(Text(
        s.svc.update_token_scopes(&c, &prefix, req.scopes).await?,
    ))
}

/// The scopes a token may hold, by domain.
#[utoipa::path(get, path = "/api/tokens/list/scopes", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, body = Vec<ScopeDomain>)))]
async fn list_scopes(
    State(s): State<AppState>,
    Authed(_c): Authed,
) -> axum::Json<Vec<ScopeDomain>> {
    axum::Json(s.svc.list_scopes())
}
