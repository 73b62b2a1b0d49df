//! A workspace's settings and lifecycle (`/api/w/{workspace}/workspaces/*`), group owners
//! (`/api/w/{workspace}/acls/*/group_/{name}`), the archive `sync pull` reads, and the small
//! routes Windmill's UI and scripts use.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{
    AddAcl, ChangeWorkspaceName, EditAutoInvite, EditInstanceGroups, ExistsUsername,
    GroupHistoryEntry, OperatorSettings, RemoveAcl, TarballQuery, User, WorkspaceSettings,
};

use super::extract::{Authed, InWorkspace, Json, Path, Query};
use super::users::Page;
use super::{AppState, Text};
use crate::error::{Error, Result};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_acl))
        .routes(routes!(add_acl))
        .routes(routes!(remove_acl))
        .routes(routes!(group_history))
        .routes(routes!(get_settings))
        .routes(routes!(edit_auto_invite))
        .routes(routes!(edit_instance_groups))
        .routes(routes!(operator_settings))
        .routes(routes!(get_workspace_name))
        .routes(routes!(change_workspace_name))
        .routes(routes!(archive))
        .routes(routes!(unarchive))
        .routes(routes!(delete_workspace))
        .routes(routes!(leave))
        .routes(routes!(tarball))
        .routes(routes!(list_ws_specific))
        .routes(routes!(whois))
        .routes(routes!(username_to_email))
        .routes(routes!(exists_username))
        .routes(routes!(is_password_login_disabled))
        .routes(routes!(is_smtp_configured))
}

/// The only kind of object with an access list on this server.
fn group_kind(kind: &str) -> Result<()> {
    if kind == "group_" {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "this server keeps no {}: access lists are for groups (group_) only",
            crate::domain::quote(kind)
        )))
    }
}

/// A group's owners (true) and readers (false): `u/<username>` and `g/<group>`.
#[utoipa::path(get, path = "/api/w/{workspace}/acls/get/{kind}/{path}", tag = "groups", security(("bearer" = ["groups:read"])),
    params(("workspace" = String, Path), ("kind" = String, Path, description = "`group_`"), ("path" = String, Path, description = "The group's name")),
    responses((status = 200, body = BTreeMap<String, bool>)))]
async fn get_acl(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String, String)>,
) -> Result<axum::Json<BTreeMap<String, bool>>> {
    group_kind(&path.1)?;
    Ok(axum::Json(s.svc.group_acl(&m, &path.2).await?))
}

/// Makes a user or group an owner of a group (`write: true`) or a reader (admin or owner).
#[utoipa::path(post, path = "/api/w/{workspace}/acls/add/{kind}/{path}", tag = "groups", security(("bearer" = ["groups:write"])),
    params(("workspace" = String, Path), ("kind" = String, Path, description = "`group_`"), ("path" = String, Path, description = "The group's name")),
    request_body = AddAcl,
    responses((status = 200, description = "`<owner> owns group <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The last owner would be lost", body = String, content_type = "text/plain")))]
async fn add_acl(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String, String)>,
    Json(req): Json<AddAcl>,
) -> Result<Text> {
    group_kind(&path.1)?;
    Ok(Text(
        s.svc
            .set_group_grant(&m, &path.2, &req.owner, Some(req.write.unwrap_or(false)))
            .await?,
    ))
}

/// Takes a user's or group's grant on a group away (admin or owner; never the last owner
/// unless an admin does it). Nothing to remove is a success.
#[utoipa::path(post, path = "/api/w/{workspace}/acls/remove/{kind}/{path}", tag = "groups", security(("bearer" = ["groups:write"])),
    params(("workspace" = String, Path), ("kind" = String, Path, description = "`group_`"), ("path" = String, Path, description = "The group's name")),
    request_body = RemoveAcl,
    responses((status = 200, description = "`<owner> has no grant on group <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The last owner would be lost", body = String, content_type = "text/plain")))]
async fn remove_acl(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String, String)>,
    Json(req): Json<RemoveAcl>,
) -> Result<Text> {
    group_kind(&path.1)?;
    Ok(Text(
        s.svc.set_group_grant(&m, &path.2, &req.owner, None).await?,
    ))
}

/// A group's changes, newest first (from the audit log).
#[utoipa::path(get, path = "/api/w/{workspace}/groups_history/get/{name}", tag = "groups", security(("bearer" = ["groups:read"])),
    params(("workspace" = String, Path), ("name" = String, Path), Page),
    responses((status = 200, body = Vec<GroupHistoryEntry>)))]
async fn group_history(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
    Query(p): Query<Page>,
) -> Result<axum::Json<Vec<GroupHistoryEntry>>> {
    Ok(axum::Json(
        s.svc.group_history(&m, &path.1, p.page, p.per_page).await?,
    ))
}

/// The workspace's identity settings: auto-invite (with the instance groups feeding it) and
/// operator settings; what was never set is absent.
#[utoipa::path(get, path = "/api/w/{workspace}/workspaces/get_settings", tag = "workspaces", security(("bearer" = ["workspaces:read"])),
    params(("workspace" = String, Path)),
    responses((status = 200, body = WorkspaceSettings)))]
async fn get_settings(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
) -> Result<axum::Json<WorkspaceSettings>> {
    Ok(axum::Json(s.svc.workspace_settings(&m).await?))
}

/// Turns auto-invite on or off (admin).
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/edit_auto_invite", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)), request_body = EditAutoInvite,
    responses((status = 200, description = "`Edit auto_invite for workspace <id>`", body = String, content_type = "text/plain")))]
async fn edit_auto_invite(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<EditAutoInvite>,
) -> Result<Text> {
    Ok(Text(s.svc.edit_auto_invite(&m, req).await?))
}

/// The instance groups whose members are members of the workspace, with their role (admin).
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/edit_instance_groups", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)), request_body = EditInstanceGroups,
    responses((status = 200, description = "`Edit instance groups for workspace <id>`", body = String, content_type = "text/plain")))]
async fn edit_instance_groups(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<EditInstanceGroups>,
) -> Result<Text> {
    Ok(Text(s.svc.edit_instance_groups(&m, req).await?))
}

/// What operators may see (admin): Windmill's flags; `groups` and `audit_logs` are enforced.
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/operator_settings", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)), request_body = BTreeMap<String, bool>,
    responses((status = 200, description = "`Operator settings updated successfully`", body = String, content_type = "text/plain")))]
async fn operator_settings(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<OperatorSettings>,
) -> Result<Text> {
    Ok(Text(s.svc.edit_operator_settings(&m, req).await?))
}

/// The workspace's name.
#[utoipa::path(get, path = "/api/w/{workspace}/workspaces/get_workspace_name", tag = "workspaces", security(("bearer" = ["workspaces:read"])),
    params(("workspace" = String, Path)),
    responses((status = 200, body = String, content_type = "text/plain")))]
async fn get_workspace_name(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
) -> Result<Text> {
    Ok(Text(s.svc.workspace_display_name(&m).await?))
}

/// Renames the workspace (admin).
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/change_workspace_name", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)), request_body = ChangeWorkspaceName,
    responses((status = 200, description = "`updated workspace name to <name>`", body = String, content_type = "text/plain")))]
async fn change_workspace_name(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Json(req): Json<ChangeWorkspaceName>,
) -> Result<Text> {
    Ok(Text(s.svc.change_workspace_name(&m, &req.new_name).await?))
}

/// Archives the workspace (admin): it leaves its members' lists of workspaces.
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/archive", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)),
    responses((status = 200, description = "`archived workspace <id>`", body = String, content_type = "text/plain")))]
async fn archive(State(s): State<AppState>, InWorkspace(m): InWorkspace) -> Result<Text> {
    Ok(Text(s.svc.archive_workspace(&m, true).await?))
}

/// Brings an archived workspace back (admin).
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/unarchive", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)),
    responses((status = 200, description = "`unarchived workspace <id>`", body = String, content_type = "text/plain")))]
async fn unarchive(State(s): State<AppState>, InWorkspace(m): InWorkspace) -> Result<Text> {
    Ok(Text(s.svc.archive_workspace(&m, false).await?))
}

/// Deletes a workspace with its members, groups and pinned tokens (superadmin); its audit
/// entries stay.
#[utoipa::path(delete, path = "/api/workspaces/delete/{workspace}", tag = "workspaces", security(("bearer" = ["workspaces:delete"])),
    params(("workspace" = String, Path)),
    responses((status = 200, description = "`deleted workspace <id>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The workspace admins", body = String, content_type = "text/plain")))]
async fn delete_workspace(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(ws): Path<String>,
) -> Result<Text> {
    Ok(Text(s.svc.delete_workspace(&c, &ws).await?))
}

/// The caller leaves the workspace (never its last admin).
#[utoipa::path(post, path = "/api/w/{workspace}/workspaces/leave", tag = "workspaces", security(("bearer" = ["workspaces:write"])),
    params(("workspace" = String, Path)),
    responses((status = 200, description = "`left workspace <id>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The last admin", body = String, content_type = "text/plain")))]
async fn leave(State(s): State<AppState>, InWorkspace(m): InWorkspace) -> Result<Text> {
    Ok(Text(s.svc.leave_workspace(&m).await?))
}

/// The workspace as `sync pull` reads it (admin): a zip of `users/<email>.user.json`,
/// `groups/<name>.group.json` and `settings.json`, as asked; every other kind is empty here.
/// `archive_type=tar` is refused (`Invalid Archive Type`): the client then stays with zip.
#[utoipa::path(get, path = "/api/w/{workspace}/workspaces/tarball", tag = "workspaces", security(("bearer" = ["workspaces:read"])),
    params(("workspace" = String, Path), TarballQuery),
    responses((status = 200, description = "A zip archive", body = Vec<u8>, content_type = "application/zip")))]
async fn tarball(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(q): Query<TarballQuery>,
) -> Result<Response> {
    match q.archive_type.as_deref() {
        None | Some("zip") => {}
        Some(other) => {
            return Err(Error::BadRequest(format!(
                "Invalid Archive Type {}: this server answers zip",
                crate::domain::quote(other)
            )));
        }
    }
    let files = s
        .svc
        .sync_files(
            &m,
            q.include_users.unwrap_or(false),
            q.include_groups.unwrap_or(false),
            q.include_settings.unwrap_or(false),
        )
        .await?;
    let zip = super::archive::zip(&files).map_err(Error::internal)?;
    let disposition = format!("attachment; filename=\"{}.zip\"", m.workspace);
    Ok((
        [
            (CONTENT_TYPE, "application/zip".to_string()),
            (CONTENT_DISPOSITION, disposition),
        ],
        zip,
    )
        .into_response())
}

/// Workspace-specific items of Windmill's sync (variables and resources kept per workspace):
/// this server keeps none.
#[utoipa::path(get, path = "/api/w/{workspace}/workspaces/list_ws_specific", tag = "workspaces", security(("bearer" = ["workspaces:read"])),
    params(("workspace" = String, Path)),
    responses((status = 200, body = Vec<String>, content_type = "application/json")))]
async fn list_ws_specific(InWorkspace(_m): InWorkspace) -> axum::Json<Vec<String>> {
    axum::Json(Vec::new())
}

/// One member of the workspace, for any member.
#[utoipa::path(get, path = "/api/w/{workspace}/users/whois/{username}", tag = "users", security(("bearer" = ["users:read"])),
    params(("workspace" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = User)))]
async fn whois(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<User>> {
    Ok(axum::Json(s.svc.whois(&m, &path.1).await?))
}

/// The email of a member of the workspace.
#[utoipa::path(get, path = "/api/w/{workspace}/users/username_to_email/{username}", tag = "users", security(("bearer" = ["users:read"])),
    params(("workspace" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = String, content_type = "text/plain")))]
async fn username_to_email(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<Text> {
    Ok(Text(s.svc.username_to_email(&m, &path.1).await?))
}

/// Whether a username is taken in a workspace.
#[utoipa::path(post, path = "/api/workspaces/exists_username", tag = "workspaces", security(("bearer" = ["workspaces:read"])),
    request_body = ExistsUsername,
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn exists_username(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<ExistsUsername>,
) -> Result<axum::Json<bool>> {
    Ok(axum::Json(
        s.svc.username_exists(&c, &req.id, &req.username).await?,
    ))
}

/// Whether signing in with a password is off for everyone but superadmins
/// (`--password-login disabled`).
#[utoipa::path(get, path = "/api/auth/is_password_login_disabled", tag = "auth",
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn is_password_login_disabled(State(s): State<AppState>) -> axum::Json<bool> {
    axum::Json(s.svc.settings().password_login_disabled)
}

/// Whether the server sends email: it does not.
#[utoipa::path(get, path = "/api/auth/is_smtp_configured", tag = "auth",
    responses((status = 200, body = bool, content_type = "application/json")))]
async fn is_smtp_configured() -> axum::Json<bool> {
    axum::Json(false)
}
