//! `/api/users/*`: instance users, for superadmins.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{CreateUser, GlobalUserInfo, SetPassword, UpdateInstanceUser};

use super::extract::{Authed, Json, Path, Query};
use super::{AppState, Text};
use crate::error::Result;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(delete_user))
        .routes(routes!(update_user))
        .routes(routes!(list_users))
        .routes(routes!(set_password_of))
        .routes(routes!(user_exists))
}

/// `page` and `per_page` of a list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// 1-based; 0 is treated as 1.
    pub page: Option<i64>,
    /// Default 1000, clamped to 1..=10000.
    pub per_page: Option<i64>,
}

/// Creates an instance account (superadmin).
#[utoipa::path(post, path = "/api/users/create", tag = "users", security(("bearer" = ["users:write"])), request_body = CreateUser,
    responses((status = 201, description = "`email <email> created`", body = String, content_type = "text/plain"),
        (status = 409, description = "The email is taken", body = String, content_type = "text/plain")))]
async fn create_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<CreateUser>,
) -> Result<(StatusCode, Text)> {
    Ok((StatusCode::CREATED, Text(s.svc.create_user(&c, req).await?)))
}

/// Deletes an account with its memberships and tokens (superadmin).
#[utoipa::path(delete, path = "/api/users/delete/{email}", tag = "users", security(("bearer" = ["users:delete"])), params(("email" = String, Path)),
    responses((status = 200, description = "`email <email> deleted`", body = String, content_type = "text/plain"),
        (status = 404, description = "Unknown email", body = String, content_type = "text/plain"),
        (status = 409, description = "Last superadmin", body = String, content_type = "text/plain")))]
async fn delete_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
) -> Result<Text> {
    Ok(Text(s.svc.delete_user(&c, &email).await?))
}

/// Changes an account (superadmin). Disabling revokes all its tokens.
#[utoipa::path(post, path = "/api/users/update/{email}", tag = "users", security(("bearer" = ["users:write"])), params(("email" = String, Path)),
    request_body = UpdateInstanceUser,
    responses((status = 200, description = "`email <email> updated`", body = String, content_type = "text/plain"),
        (status = 404, description = "Unknown email", body = String, content_type = "text/plain"),
        (status = 409, description = "Last superadmin", body = String, content_type = "text/plain")))]
async fn update_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
    Json(req): Json<UpdateInstanceUser>,
) -> Result<Text> {
    Ok(Text(s.svc.update_user(&c, &email, req).await?))
}

/// Every account, superadmins first, then by email (superadmin).
#[utoipa::path(get, path = "/api/users/list_as_super_admin", tag = "users", security(("bearer" = ["users:read"])), params(Page),
    responses((status = 200, body = Vec<GlobalUserInfo>)))]
async fn list_users(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<GlobalUserInfo>>> {
    Ok(axum::Json(s.svc.list_users(&c, p.page, p.per_page).await?))
}

/// Sets another account's password (superadmin).
#[utoipa::path(post, path = "/api/users/set_password_of/{email}", tag = "users", security(("bearer" = ["users:admin"])), params(("email" = String, Path)),
    request_body = SetPassword,
    responses((status = 200, description = "`password of <email> updated`", body = String, content_type = "text/plain")))]
async fn set_password_of(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
    Json(req): Json<SetPassword>,
) -> Result<Text> {
    Ok(Text(
        s.svc
            .set_password_of(&c, &email, req.password, req.revoke_tokens.unwrap_or(false))
            .await?,
    ))
}

/// Whether an account exists.
#[utoipa::path(get, path = "/api/users/exists/{email}", tag = "users", security(("bearer" = ["users:read"])), params(("email" = String, Path)),
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn user_exists(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
) -> Result<axum::Json<bool>> {
    Ok(axum::Json(s.svc.user_exists(&c, &email).await?))
}
