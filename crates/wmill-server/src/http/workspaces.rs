//! `/api/workspaces/*` and `/api/w/{workspace}/users/*`: workspaces and their members.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{
    AddUser, CreateWorkspace, EditWorkspaceUser, User, UserWorkspaceList, Workspace, WorkspaceId,
};

use super::extract::{Authed, InWorkspace, Json, Path, Query};
use super::users::Page;
use super::{AppState, Text};
use crate::error::Result;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_workspace))
        .routes(routes!(list_workspaces))
        .routes(routes!(list_all_workspaces))
        .routes(routes!(workspace_exists))
        .routes(routes!(user_workspaces))
        .routes(routes!(automate_username_creation))
        .routes(routes!(add_user))
        .routes(routes!(list_members))
        .routes(routes!(list_usernames))
        .routes(routes!(get_member))
        .routes(routes!(update_member))
        .routes(routes!(delete_member))
}

/// Creates a workspace with the caller as admin (superadmin).
#[utoipa::path(post, path = "/api/workspaces/create", tag = "workspaces", request_body = CreateWorkspace,
    responses((status = 200, description = "`Created workspace <id>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The id is taken", body = String, content_type = "text/plain")))]
async fn create_workspace(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<CreateWorkspace>,
) -> Result<Text> {
    Ok(Text(s.svc.create_workspace(&c, req).await?))
}

/// The workspaces the caller is a member of.
#[utoipa::path(get, path = "/api/workspaces/list", tag = "workspaces", params(Page), responses((status = 200, body = Vec<Workspace>)))]
async fn list_workspaces(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<Workspace>>> {
    Ok(axum::Json(
        s.svc.list_workspaces(&c, p.page, p.per_page).await?,
    ))
}

/// Every workspace (superadmin).
#[utoipa::path(get, path = "/api/workspaces/list_as_superadmin", tag = "workspaces", params(Page),
    responses((status = 200, body = Vec<Workspace>)))]
async fn list_all_workspaces(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<Workspace>>> {
    Ok(axum::Json(
        s.svc.list_all_workspaces(&c, p.page, p.per_page).await?,
    ))
}

/// Whether a workspace exists.
#[utoipa::path(post, path = "/api/workspaces/exists", tag = "workspaces", request_body = WorkspaceId,
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn workspace_exists(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<WorkspaceId>,
) -> Result<axum::Json<bool>> {
    Ok(axum::Json(s.svc.workspace_exists(&c, &req.id).await?))
}

/// The caller's memberships.
#[utoipa::path(get, path = "/api/workspaces/users", tag = "workspaces", responses((status = 200, body = UserWorkspaceList)))]
async fn user_workspaces(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<UserWorkspaceList>> {
    Ok(axum::Json(s.svc.user_workspaces(&c).await?))
}

/// Usernames are always derived from emails on this server: `true`.
#[utoipa::path(get, path = "/api/settings/global/automate_username_creation", tag = "workspaces",
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn automate_username_creation(Authed(_c): Authed) -> axum::Json<bool> {
    axum::Json(true)
}

/// Adds a member (workspace admin); the account need not exist yet.
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/add_user", tag = "workspaces",
    params(("workspace" = String, Path)), request_body = AddUser,
    responses((status = 201, description = "`user with email <email> added`", body = String, content_type = "text/plain"),
        (status = 409, description = "Already a member", body = String, content_type = "text/plain")))]
async fn add_user(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<AddUser>,
) -> Result<(StatusCode, Text)> {
    Ok((StatusCode::CREATED, Text(s.svc.add_user(&m, req).await?)))
}

/// The workspace's members, by username.
#[utoipa::path(get, path = "/api/w/{workspace}/users/list", tag = "workspaces", params(("workspace" = String, Path), Page),
    responses((status = 200, body = Vec<User>)))]
async fn list_members(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<User>>> {
    Ok(axum::Json(
        s.svc.list_members(&m, p.page, p.per_page).await?,
    ))
}

/// The workspace's usernames.
#[utoipa::path(get, path = "/api/w/{workspace}/users/list_usernames", tag = "workspaces", params(("workspace" = String, Path), Page),
    responses((status = 200, body = Vec<String>, content_type = "application/json")))]
async fn list_usernames(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<String>>> {
    Ok(axum::Json(
        s.svc.list_usernames(&m, p.page, p.per_page).await?,
    ))
}

/// One member (workspace admin).
#[utoipa::path(get, path = "/api/w/{workspace}/users/get/{username}", tag = "workspaces",
    params(("workspace" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = User), (status = 404, description = "Not a member", body = String, content_type = "text/plain")))]
async fn get_member(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<User>> {
    Ok(axum::Json(s.svc.get_member(&m, &path.1).await?))
}

/// Changes a member's role or disables them (workspace admin).
#[utoipa::path(post, path = "/api/w/{workspace}/users/update/{username}", tag = "workspaces",
    params(("workspace" = String, Path), ("username" = String, Path)), request_body = EditWorkspaceUser,
    responses((status = 200, description = "`user <email> updated`", body = String, content_type = "text/plain"),
        (status = 409, description = "The last enabled admin", body = String, content_type = "text/plain")))]
async fn update_member(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
    Json(req): Json<EditWorkspaceUser>,
) -> Result<Text> {
    Ok(Text(s.svc.update_member(&m, &path.1, req).await?))
}

/// Removes a member with their groups and pinned tokens (workspace admin).
#[utoipa::path(delete, path = "/api/w/{workspace}/users/delete/{username}", tag = "workspaces",
    params(("workspace" = String, Path), ("username" = String, Path)),
    responses((status = 200, description = "`username <username> deleted`", body = String, content_type = "text/plain"),
        (status = 409, description = "The last enabled admin", body = String, content_type = "text/plain")))]
async fn delete_member(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<Text> {
    Ok(Text(s.svc.remove_member(&m, &path.1).await?))
}
