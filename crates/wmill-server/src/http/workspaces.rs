//! `/api/workspaces/*` and `/api/w/{workspace}/users/*`: workspaces and their members.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{
    AddUser, CreateServiceAccount, CreateWorkspace, EditWorkspaceUser, ServiceAccountToken, User,
    UserWorkspaceList, Workspace, WorkspaceId,
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
        .routes(routes!(create_service_account))
        .routes(routes!(service_account_token))
}

/// Creates a workspace with the caller as admin (superadmin).
#[utoipa::path(post, path = "/api/workspaces/create", tag = "workspaces", security(("bearer" = ["workspaces:write"])), request_body = CreateWorkspace,
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
#[utoipa::path(get, path = "/api/workspaces/list", tag = "workspaces", security(("bearer" = ["workspaces:read"])), params(Page), responses((status = 200, body = Vec<Workspace>)))]
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
#[utoipa::path(get, path = "/api/workspaces/list_as_superadmin", tag = "workspaces", security(("bearer" = ["workspaces:read"])), params(Page),
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
#[utoipa::path(post, path = "/api/workspaces/exists", tag = "workspaces", security(("bearer" = ["workspaces:read"])), request_body = WorkspaceId,
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn workspace_exists(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<WorkspaceId>,
) -> Result<axum::Json<bool>> {
    Ok(axum::Json(s.svc.workspace_exists(&c, &req.id).await?))
}

/// The caller's memberships.
#[utoipa::path(get, path = "/api/workspaces/users", tag = "workspaces", security(("bearer" = ["workspaces:read"])), responses((status = 200, body = UserWorkspaceList)))]
async fn user_workspaces(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<UserWorkspaceList>> {
    Ok(axum::Json(s.svc.user_workspaces(&c).await?))
}

/// Usernames are always derived from emails on this server: `true`.
#[utoipa::path(get, path = "/api/settings/global/automate_username_creation", tag = "workspaces", security(("bearer" = ["settings:read"])),
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn automate_username_creation(Authed(_c): Authed) -> axum::Json<bool> {
    axum::Json(true)
}

/// Adds a member (workspace admin); the account need not exist yet.
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/add_user", tag = "workspaces", security(("bearer" = ["users:write"])),
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
#[utoipa::path(get, path = "/api/w/{workspace}/users/list", tag = "workspaces", security(("bearer" = ["users:read"])), params(("workspace" = String, Path), Page),
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
#[utoipa::path(get, path = "/api/w/{workspace}/users/list_usernames", tag = "workspaces", security(("bearer" = ["users:read"])), params(("workspace" = String, Path), Page),
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
#[utoipa::path(get, path = "/api/w/{workspace}/users/get/{username}", tag = "workspaces", security(("bearer" = ["users:read"])),
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
#[utoipa::path(post, path = "/api/w/{workspace}/users/update/{username}", tag = "workspaces", security(("bearer" = ["users:write"])),
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
#[utoipa::path(delete, path = "/api/w/{workspace}/users/delete/{username}", tag = "workspaces", security(("bearer" = ["users:delete"])),
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

/// Creates a service account of the workspace (workspace admin).
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/create_service_account", tag = "workspaces",
    security(("bearer" = ["users:write"])), params(("workspace" = String, Path)), request_body = CreateServiceAccount,
    responses((status = 201, description = "`service account <username> created`", body = String, content_type = "text/plain"),
        (status = 409, description = "The username is taken", body = String, content_type = "text/plain")))]
async fn create_service_account(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<CreateServiceAccount>,
) -> Result<(StatusCode, Text)> {
    Ok((
        StatusCode::CREATED,
        Text(s.svc.create_service_account(&m, req).await?),
    ))
}

/// Mints a token for a service account of the workspace (workspace admin); the body is the
/// token, shown this once.
#[utoipa::path(post, path = "/api/w/{workspace}/users/impersonate_service_account", tag = "workspaces",
    security(("bearer" = ["users:admin"])), params(("workspace" = String, Path)), request_body = ServiceAccountToken,
    responses((status = 201, description = "The raw token", body = String, content_type = "text/plain"),
        (status = 400, description = "Bad expiration, label or scope", body = String, content_type = "text/plain"),
        (status = 409, description = "The service account is disabled", body = String, content_type = "text/plain")))]
async fn service_account_token(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<ServiceAccountToken>,
) -> Result<(StatusCode, Text)> {
    Ok((
        StatusCode::CREATED,
        Text(s.svc.service_account_token(&m, req).await?),
    ))
}
