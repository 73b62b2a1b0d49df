//! `/api/w/{workspace}/groups/*`: groups and their members.

use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{CreateGroup, EditGroup, Group, GroupMember};

use super::extract::{InWorkspace, Json, Path, Query};
use super::users::Page;
use super::{AppState, Text};
use crate::error::Result;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups))
        .routes(routes!(list_names))
        .routes(routes!(get_group))
        .routes(routes!(create_group))
        .routes(routes!(update_group))
        .routes(routes!(delete_group))
        .routes(routes!(add_user))
        .routes(routes!(remove_user))
}

/// Query of `listnames`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NamesQuery {
    /// Only the caller's groups.
    pub only_member_of: Option<bool>,
    /// 1-based; 0 is treated as 1.
    pub page: Option<i64>,
    /// Default 1000, clamped to 1..=10000.
    pub per_page: Option<i64>,
}

/// Groups by name, with members.
#[utoipa::path(get, path = "/api/w/{workspace}/groups/list", tag = "groups", security(("bearer" = ["groups:read"])), params(("workspace" = String, Path), Page),
    responses((status = 200, body = Vec<Group>)))]
async fn list_groups(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<Group>>> {
    Ok(axum::Json(s.svc.list_groups(&m, p.page, p.per_page).await?))
}

/// Group names.
#[utoipa::path(get, path = "/api/w/{workspace}/groups/listnames", tag = "groups", security(("bearer" = ["groups:read"])), params(("workspace" = String, Path), NamesQuery),
    responses((status = 200, body = Vec<String>, content_type = "application/json")))]
async fn list_names(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(q): Query<NamesQuery>,
) -> Result<axum::Json<Vec<String>>> {
    Ok(axum::Json(
        s.svc
            .list_group_names(&m, q.only_member_of.unwrap_or(false), q.page, q.per_page)
            .await?,
    ))
}

/// One group.
#[utoipa::path(get, path = "/api/w/{workspace}/groups/get/{name}", tag = "groups", security(("bearer" = ["groups:read"])),
    params(("workspace" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = Group), (status = 404, description = "Unknown group", body = String, content_type = "text/plain")))]
async fn get_group(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<Group>> {
    Ok(axum::Json(s.svc.get_group(&m, &path.1).await?))
}

/// Creates a group owned by the caller.
#[utoipa::path(post, path = "/api/w/{workspace}/groups/create", tag = "groups", security(("bearer" = ["groups:write"])), params(("workspace" = String, Path)),
    request_body = CreateGroup,
    responses((status = 200, description = "`Created group <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "Name taken", body = String, content_type = "text/plain")))]
async fn create_group(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<CreateGroup>,
) -> Result<Text> {
    Ok(Text(s.svc.create_group(&m, req).await?))
}

/// Changes a group's summary (admin or owner).
#[utoipa::path(post, path = "/api/w/{workspace}/groups/update/{name}", tag = "groups", security(("bearer" = ["groups:write"])),
    params(("workspace" = String, Path), ("name" = String, Path)), request_body = EditGroup,
    responses((status = 200, description = "`Edited group <name>`", body = String, content_type = "text/plain")))]
async fn update_group(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
    Json(req): Json<EditGroup>,
) -> Result<Text> {
    Ok(Text(s.svc.update_group(&m, &path.1, req.summary).await?))
}

/// Deletes a group (admin or owner; never `all`).
#[utoipa::path(delete, path = "/api/w/{workspace}/groups/delete/{name}", tag = "groups", security(("bearer" = ["groups:delete"])),
    params(("workspace" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "`delete group at name <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "`all` cannot be deleted", body = String, content_type = "text/plain")))]
async fn delete_group(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<Text> {
    Ok(Text(s.svc.delete_group(&m, &path.1).await?))
}

/// Adds a workspace member to a group (admin or owner).
#[utoipa::path(post, path = "/api/w/{workspace}/groups/adduser/{name}", tag = "groups", security(("bearer" = ["groups:write"])),
    params(("workspace" = String, Path), ("name" = String, Path)), request_body = GroupMember,
    responses((status = 200, description = "`Added <u> to group <name>` or `<u> is already a member of group <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "`all` is managed by the membership itself", body = String, content_type = "text/plain")))]
async fn add_user(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
    Json(req): Json<GroupMember>,
) -> Result<Text> {
    Ok(Text(
        s.svc.add_group_member(&m, &path.1, &req.username).await?,
    ))
}

/// Removes someone from a group (admin or owner; never from `all`).
#[utoipa::path(post, path = "/api/w/{workspace}/groups/removeuser/{name}", tag = "groups", security(("bearer" = ["groups:write"])),
    params(("workspace" = String, Path), ("name" = String, Path)), request_body = GroupMember,
    responses((status = 200, description = "`Removed <u> from group <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "`all` is managed by the membership itself", body = String, content_type = "text/plain")))]
async fn remove_user(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
    Json(req): Json<GroupMember>,
) -> Result<Text> {
    Ok(Text(
        s.svc
            .remove_group_member(&m, &path.1, &req.username)
            .await?,
    ))
}
