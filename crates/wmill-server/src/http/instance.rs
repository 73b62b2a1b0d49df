//! `/api/groups/*` (instance groups) and the instance-wide user routes: export and
//! overwrite, rename, change of email, username info, usage.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{
    ChangeEmail, CreateInstanceGroup, ExportQuery, ExportedInstanceGroup, ExportedUser,
    InstanceGroup, InstanceGroupMember, InstanceGroupWithWorkspaces, OverwriteQuery,
    OverwriteReport, RenameUser, UpdateInstanceGroup, UsernameInfo,
};

use super::extract::{Authed, Json, JsonList, Path, Query, Superadmin};
use super::{AppState, Text};
use crate::error::Result;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups))
        .routes(routes!(list_with_workspaces))
        .routes(routes!(get_group))
        .routes(routes!(create_group))
        .routes(routes!(update_group))
        .routes(routes!(delete_group))
        .routes(routes!(add_user))
        .routes(routes!(remove_user))
        .routes(routes!(export_groups))
        .routes(routes!(overwrite_groups))
        .routes(routes!(export_users))
        .routes(routes!(overwrite_users))
        .routes(routes!(rename_user))
        .routes(routes!(change_email))
        .routes(routes!(username_info))
        .routes(routes!(usage))
}

/// Instance groups, by name.
#[utoipa::path(get, path = "/api/groups/list", tag = "instance groups", security(("bearer" = ["groups:read"])),
    responses((status = 200, body = Vec<InstanceGroup>)))]
async fn list_groups(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<Vec<InstanceGroup>>> {
    Ok(axum::Json(s.svc.list_instance_groups(&c).await?))
}

/// Instance groups with the workspaces they feed.
#[utoipa::path(get, path = "/api/groups/list_with_workspaces", tag = "instance groups", security(("bearer" = ["groups:read"])),
    responses((status = 200, body = Vec<InstanceGroupWithWorkspaces>)))]
async fn list_with_workspaces(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<Vec<InstanceGroupWithWorkspaces>>> {
    Ok(axum::Json(
        s.svc.list_instance_groups_with_workspaces(&c).await?,
    ))
}

/// One instance group.
#[utoipa::path(get, path = "/api/groups/get/{name}", tag = "instance groups", security(("bearer" = ["groups:read"])),
    params(("name" = String, Path)),
    responses((status = 200, body = InstanceGroupWithWorkspaces)))]
async fn get_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
) -> Result<axum::Json<InstanceGroupWithWorkspaces>> {
    Ok(axum::Json(s.svc.get_instance_group(&c, &name).await?))
}

/// Creates an instance group (superadmin).
#[utoipa::path(post, path = "/api/groups/create", tag = "instance groups", security(("bearer" = ["groups:write"])),
    request_body = CreateInstanceGroup,
    responses((status = 200, description = "`Created instance group <name>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The name is taken", body = String, content_type = "text/plain")))]
async fn create_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Json(req): Json<CreateInstanceGroup>,
) -> Result<Text> {
    Ok(Text(s.svc.create_instance_group(&c, req).await?))
}

/// Changes an instance group's summary and instance role (superadmin).
#[utoipa::path(post, path = "/api/groups/update/{name}", tag = "instance groups", security(("bearer" = ["groups:write"])),
    params(("name" = String, Path)), request_body = UpdateInstanceGroup,
    responses((status = 200, description = "`Updated instance group <name>`", body = String, content_type = "text/plain")))]
async fn update_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
    Json(req): Json<UpdateInstanceGroup>,
) -> Result<Text> {
    Ok(Text(s.svc.update_instance_group(&c, &name, req).await?))
}

/// Deletes an instance group and the memberships it made (superadmin).
#[utoipa::path(delete, path = "/api/groups/delete/{name}", tag = "instance groups", security(("bearer" = ["groups:delete"])),
    params(("name" = String, Path)),
    responses((status = 200, description = "`Deleted instance group <name>`", body = String, content_type = "text/plain")))]
async fn delete_group(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
) -> Result<Text> {
    Ok(Text(s.svc.delete_instance_group(&c, &name).await?))
}

/// Adds an account to an instance group (superadmin).
#[utoipa::path(post, path = "/api/groups/adduser/{name}", tag = "instance groups", security(("bearer" = ["groups:write"])),
    params(("name" = String, Path)), request_body = InstanceGroupMember,
    responses((status = 200, description = "`Added <email> to instance group <name>`", body = String, content_type = "text/plain")))]
async fn add_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
    Json(req): Json<InstanceGroupMember>,
) -> Result<Text> {
    Ok(Text(
        s.svc
            .set_instance_group_member(&c, &name, &req.email, true)
            .await?,
    ))
}

/// Removes an account from an instance group (superadmin).
#[utoipa::path(post, path = "/api/groups/removeuser/{name}", tag = "instance groups", security(("bearer" = ["groups:write"])),
    params(("name" = String, Path)), request_body = InstanceGroupMember,
    responses((status = 200, description = "`Removed <email> from instance group <name>`", body = String, content_type = "text/plain")))]
async fn remove_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(name): Path<String>,
    Json(req): Json<InstanceGroupMember>,
) -> Result<Text> {
    Ok(Text(
        s.svc
            .set_instance_group_member(&c, &name, &req.email, false)
            .await?,
    ))
}

/// Every instance group as exported (superadmin).
#[utoipa::path(get, path = "/api/groups/export", tag = "instance groups", security(("bearer" = ["groups:read"])),
    responses((status = 200, body = Vec<ExportedInstanceGroup>)))]
async fn export_groups(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<Vec<ExportedInstanceGroup>>> {
    Ok(axum::Json(s.svc.export_instance_groups(&c).await?))
}

/// Makes the instance groups exactly these, all or nothing (superadmin); with `dry_run`,
/// only says what would change.
#[utoipa::path(post, path = "/api/groups/overwrite", tag = "instance groups", security(("bearer" = ["groups:write"])),
    params(OverwriteQuery), request_body = Vec<ExportedInstanceGroup>,
    responses((status = 200, body = OverwriteReport)))]
async fn overwrite_groups(
    State(s): State<AppState>,
    Superadmin(c): Superadmin,
    Query(q): Query<OverwriteQuery>,
    JsonList(groups): JsonList<ExportedInstanceGroup>,
) -> Result<axum::Json<OverwriteReport>> {
    Ok(axum::Json(
        s.svc
            .overwrite_instance_groups(&c, groups, q.dry_run.unwrap_or(false))
            .await?,
    ))
}

/// Every account as exported, with its password hash (argon2 PHC) unless
/// `include_password_hash=false` (superadmin; audited).
#[utoipa::path(get, path = "/api/users/export", tag = "users", security(("bearer" = ["users:admin"])),
    params(ExportQuery),
    responses((status = 200, body = Vec<ExportedUser>)))]
async fn export_users(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<ExportQuery>,
) -> Result<axum::Json<Vec<ExportedUser>>> {
    Ok(axum::Json(
        s.svc
            .export_users(&c, q.include_password_hash.unwrap_or(true))
            .await?,
    ))
}

/// Makes the instance's accounts exactly these (service accounts aside), all or nothing
/// (superadmin); with `dry_run`, only says what would change.
#[utoipa::path(post, path = "/api/users/overwrite", tag = "users", security(("bearer" = ["users:admin"])),
    params(OverwriteQuery), request_body = Vec<ExportedUser>,
    responses((status = 200, body = OverwriteReport),
        (status = 409, description = "It would leave no enabled superadmin", body = String, content_type = "text/plain")))]
async fn overwrite_users(
    State(s): State<AppState>,
    Superadmin(c): Superadmin,
    Query(q): Query<OverwriteQuery>,
    JsonList(users): JsonList<ExportedUser>,
) -> Result<axum::Json<OverwriteReport>> {
    Ok(axum::Json(
        s.svc
            .overwrite_users(&c, users, q.dry_run.unwrap_or(false))
            .await?,
    ))
}

/// Gives an account another username, in every workspace (superadmin).
#[utoipa::path(post, path = "/api/users/rename/{email}", tag = "users", security(("bearer" = ["users:write"])),
    params(("email" = String, Path)), request_body = RenameUser,
    responses((status = 200, description = "`username of <email> is now <username>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The username is taken", body = String, content_type = "text/plain")))]
async fn rename_user(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
    Json(req): Json<RenameUser>,
) -> Result<Text> {
    Ok(Text(
        s.svc.rename_user(&c, &email, &req.new_username).await?,
    ))
}

/// Moves an account to another email, with its username, memberships and tokens
/// (superadmin).
#[utoipa::path(post, path = "/api/users/change_email/{email}", tag = "users", security(("bearer" = ["users:write"])),
    params(("email" = String, Path)), request_body = ChangeEmail,
    responses((status = 200, description = "`email <email> is now <new>`", body = String, content_type = "text/plain"),
        (status = 409, description = "The new email is in use", body = String, content_type = "text/plain")))]
async fn change_email(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
    Json(req): Json<ChangeEmail>,
) -> Result<Text> {
    Ok(Text(s.svc.change_email(&c, &email, &req.new_email).await?))
}

/// An account's username and its workspaces (superadmin).
#[utoipa::path(get, path = "/api/users/username_info/{email}", tag = "users", security(("bearer" = ["users:read"])),
    params(("email" = String, Path)),
    responses((status = 200, body = UsernameInfo)))]
async fn username_info(
    State(s): State<AppState>,
    Authed(c): Authed,
    Path(email): Path<String>,
) -> Result<axum::Json<UsernameInfo>> {
    Ok(axum::Json(s.svc.username_info(&c, &email).await?))
}

/// Windmill's free-tier execution count for the caller: this server runs no jobs, so 0.
#[utoipa::path(get, path = "/api/users/usage", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = i64, content_type = "application/json")))]
async fn usage(Authed(_c): Authed) -> axum::Json<i64> {
    axum::Json(0)
}
