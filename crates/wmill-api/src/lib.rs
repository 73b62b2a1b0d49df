//! Wire types of the wmill HTTP API (a Windmill-compatible subset for identity
//! administration), shared by the server, the `wmill` CLI and the tests.
//!
//! Field names and shapes follow Windmill's API, because Windmill's official client
//! parses them. Requests keep Windmill's required fields required (a missing one is a
//! 422 on the server); responses always carry every field the official client reads.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// A point in time on the wire: RFC 3339 in UTC with a `Z`.
pub type Timestamp = DateTime<Utc>;

/// The workspace id under which instance-level audit entries are filed.
pub const GLOBAL_WORKSPACE: &str = "global";

/// Number of leading characters of a token that identify it in lists and audit entries.
pub const TOKEN_PREFIX_LEN: usize = 10;

/// Parses a timestamp as the API accepts it: RFC 3339, `YYYY-MM-DD` (midnight UTC) or
/// `YYYY-MM-DDTHH:MM:SS[.frac]` without a zone (UTC).
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

/// Body of `POST /api/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// The caller as an instance account (`GET /api/users/whoami`), also the rows of
/// `GET /api/users/list_as_super_admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GlobalUserInfo {
    pub email: String,
    pub login_type: String,
    pub super_admin: bool,
    pub devops: bool,
    pub verified: bool,
    pub name: Option<String>,
    pub company: Option<String>,
    pub username: Option<String>,
    pub first_time_user: bool,
    pub disabled: bool,
}

/// The caller as a member of a workspace (`GET /api/w/{w}/users/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserInfo {
    pub workspace_id: String,
    pub email: String,
    pub username: String,
    pub name: Option<String>,
    pub is_admin: bool,
    pub is_super_admin: bool,
    pub created_at: DateTime<Utc>,
    pub groups: Vec<String>,
    pub operator: bool,
    pub disabled: bool,
    pub role: Option<String>,
    pub folders: Vec<String>,
    pub folders_read: Vec<String>,
    pub folders_owners: Vec<String>,
}

/// Body of `POST /api/users/setpassword` and `POST /api/users/set_password_of/{email}`.
/// Every login session of the account ends (but the one changing its own password); with
/// `revoke_tokens`, its API and impersonation tokens too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SetPassword {
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_tokens: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Instance users
// ---------------------------------------------------------------------------------------

/// Body of `POST /api/users/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub super_admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

/// Body of `POST /api/users/update/{email}`; absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateInstanceUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_super_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

/// Body of `POST /api/users/tokens/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// RFC 3339, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (UTC); absent or null: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// What the token may do (`GET /api/tokens/list/scopes`); `*`: all its user may; absent
    /// or empty: as the token that mints it (all its user may, for a login session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// Only GET, HEAD and OPTIONS requests, whatever the scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Body of `POST /api/users/tokens/update_label/{prefix}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenLabel {
    pub label: String,
}

/// Body of `POST /api/users/tokens/update_scopes/{prefix}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenScopes {
    /// The new scopes; empty or `*`: unrestricted.
    pub scopes: Vec<String>,
}

/// One scope of `GET /api/tokens/list/scopes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScopeDefinition {
    pub value: String,
    pub label: String,
    pub description: Option<String>,
    pub requires_resource_path: bool,
}

/// A domain of scopes, in `GET /api/tokens/list/scopes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScopeDomain {
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<ScopeDefinition>,
}

/// Body of `POST /api/users/tokens/impersonate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImpersonateToken {
    pub impersonate_email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
}

/// A token as listed: never the token itself, only its prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TruncatedToken {
    pub label: Option<String>,
    pub token_prefix: String,
    pub expiration: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// Null when the token may do all its user may.
    pub scopes: Option<Vec<String>>,
    pub workspace_id: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    /// The account the token acts as.
    #[serde(default)]
    pub email: Option<String>,
}

/// Body of `POST /api/scim_tokens/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewScimToken {
    /// Names the identity provider; the audit log names SCIM changes by it.
    pub label: String,
}

/// A SCIM token as listed: its prefix, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScimToken {
    pub label: String,
    pub token_prefix: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------
// Workspaces and members
// ---------------------------------------------------------------------------------------

/// Body of `POST /api/workspaces/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateWorkspace {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A workspace as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub deleted: bool,
    pub premium: bool,
}

/// Body of `POST /api/workspaces/exists`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkspaceId {
    pub id: String,
}

/// One of the caller's workspaces, in `GET /api/workspaces/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserWorkspace {
    pub id: String,
    pub name: String,
    pub username: String,
    pub disabled: bool,
}

/// Answer of `GET /api/workspaces/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserWorkspaceList {
    pub email: String,
    pub workspaces: Vec<UserWorkspace>,
}

/// Body of `POST /api/w/{w}/workspaces/add_user`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AddUser {
    pub email: String,
    pub is_admin: bool,
    pub operator: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct User {
    pub workspace_id: String,
    pub email: String,
    pub username: String,
    pub is_admin: bool,
    pub operator: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub role: Option<String>,
    /// An account for programs, made in this workspace, that cannot sign in with a password.
    #[serde(default)]
    pub is_service_account: bool,
}

/// Body of `POST /api/w/{w}/workspaces/create_service_account`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateServiceAccount {
    pub username: String,
    /// Workspace admin (default false; not with `operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    /// Operator (default true, as Windmill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<bool>,
    /// Windmill's `wm_deployers` group; accepted, and changes nothing here (no such group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_to_deployers: Option<bool>,
}

/// Body of `POST /api/w/{w}/users/impersonate_service_account`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceAccountToken {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Body of `POST /api/w/{w}/users/update/{username}`; absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EditWorkspaceUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------

/// A group of a workspace, with its members (usernames, sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Group {
    pub workspace_id: String,
    pub name: String,
    pub summary: Option<String>,
    pub members: Vec<String>,
    /// `u/<username>` → true for the group's owners.
    pub extra_perms: BTreeMap<String, bool>,
}

/// Body of `POST /api/w/{w}/groups/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Body of `POST /api/w/{w}/groups/update/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EditGroup {
    #[serde(default)]
    pub summary: Option<String>,
}

/// Body of `POST /api/w/{w}/groups/adduser/{name}` and `.../removeuser/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupMember {
    pub username: String,
}

/// One change of a group, from the audit log (`GET /api/w/{w}/groups_history/get/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupHistoryEntry {
    /// The audit entry's id.
    pub id: i64,
    pub changed_by: String,
    pub changed_at: DateTime<Utc>,
    /// The audit operation (`group.adduser`, `acls.add`, …).
    pub change_type: String,
    /// The member or owner the change was about, if any.
    pub member_affected: Option<String>,
}

/// Body of `POST /api/w/{w}/acls/add/group_/{name}`: `owner` is `u/<username>` or
/// `g/<group>`; `write` true makes them an owner of the group, false (the default) takes
/// ownership away and leaves a reader's grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AddAcl {
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<bool>,
}

/// Body of `POST /api/w/{w}/acls/remove/group_/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RemoveAcl {
    pub owner: String,
}

// ---------------------------------------------------------------------------------------
// Instance groups, export and overwrite
// ---------------------------------------------------------------------------------------

/// A group of accounts across workspaces (`GET /api/groups/list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceGroup {
    pub name: String,
    pub summary: Option<String>,
    /// Members, by email (sorted).
    pub emails: Vec<String>,
    /// `superadmin` or `devops`: what its members are while they belong.
    pub instance_role: Option<String>,
}

/// A workspace an instance group feeds, with the role its members get there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceGroupWorkspace {
    pub workspace_id: String,
    pub workspace_name: String,
    /// `admin`, `developer` or `operator`.
    pub role: String,
}

/// An instance group with the workspaces it feeds (`GET /api/groups/get/{name}`,
/// `GET /api/groups/list_with_workspaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceGroupWithWorkspaces {
    pub name: String,
    pub summary: Option<String>,
    pub emails: Vec<String>,
    pub instance_role: Option<String>,
    pub workspaces: Vec<InstanceGroupWorkspace>,
}

/// Body of `POST /api/groups/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreateInstanceGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Body of `POST /api/groups/update/{name}`. `instance_role`: `superadmin`, `devops`, or
/// `user`, an empty string or null to clear it; absent leaves it as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UpdateInstanceGroup {
    pub new_summary: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub instance_role: Option<Option<String>>,
}

/// A field that may be absent (`None`), null (`Some(None)`) or set.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `POST /api/groups/adduser/{name}` and `POST /api/groups/removeuser/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InstanceGroupMember {
    pub email: String,
}

/// An instance group as exported (`GET /api/groups/export`) and overwritten
/// (`POST /api/groups/overwrite`). `id`, `scim_display_name` and `external_id` are kept for
/// provisioning and shown only when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedInstanceGroup {
    pub name: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub emails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default)]
    pub instance_role: Option<String>,
}

/// An instance account as exported (`GET /api/users/export`) and overwritten
/// (`POST /api/users/overwrite`). `password_hash` is a PHC string
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), absent for an account without a password (or
/// when the export was asked without hashes). Windmill's `login_type` is accepted and
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportedUser {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub super_admin: bool,
    #[serde(default = "yes")]
    pub verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub first_time_user: bool,
    #[serde(default)]
    pub username: Option<String>,
}

fn yes() -> bool {
    true
}

/// What an overwrite changed (or, with `dry_run`, would change): emails or group names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OverwriteReport {
    pub dry_run: bool,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
}

/// Query of `GET /api/users/export`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct ExportQuery {
    /// Include password hashes (default true).
    #[serde(default)]
    pub include_password_hash: Option<bool>,
}

/// Query of the overwrite routes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct OverwriteQuery {
    /// Change nothing; answer what would change.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// Answer of `GET /api/users/username_info/{email}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsernameInfo {
    pub username: String,
    pub workspace_usernames: Vec<WorkspaceUsername>,
}

/// A workspace and the username there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkspaceUsername {
    pub workspace_id: String,
    pub username: String,
}

/// Body of `POST /api/users/rename/{email}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RenameUser {
    pub new_username: String,
}

/// Body of `POST /api/users/change_email/{email}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangeEmail {
    pub new_email: String,
}

// ---------------------------------------------------------------------------------------
// Workspace settings
// ---------------------------------------------------------------------------------------

/// Body of `POST /api/workspaces/exists_username`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExistsUsername {
    /// The workspace id.
    pub id: String,
    pub username: String,
}

/// Body of `POST /api/w/{w}/workspaces/change_workspace_name`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangeWorkspaceName {
    pub new_name: String,
}

/// Body of `POST /api/w/{w}/workspaces/edit_auto_invite`: with `operator` set, new accounts
/// (all of them with `invite_all`, else those of the caller's email domain) are added as
/// operators or developers (`auto_add`) or, without `auto_add`, recorded for an invitation;
/// an empty object turns auto-invite off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EditAutoInvite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_add: Option<bool>,
}

/// Body of `POST /api/w/{w}/workspaces/edit_instance_groups`: the instance groups whose
/// members are members of the workspace, and their role there (`admin`, `developer`,
/// `operator`; developer when absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EditInstanceGroups {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<BTreeMap<String, String>>,
}

/// A workspace's auto-invite settings, with the instance groups it is fed by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AutoInviteConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The email domain auto-invite applies to, when not every new account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<bool>,
    /// `invite` or `add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_groups_roles: Option<BTreeMap<String, String>>,
}

/// What operators of a workspace may see (Windmill's `OperatorSettings`); only `groups` and
/// `audit_logs` concern this server, which enforces them. Every flag is kept as given.
pub type OperatorSettings = BTreeMap<String, bool>;

/// The identity part of a workspace's settings (`GET /api/w/{w}/workspaces/get_settings`);
/// what was never set is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WorkspaceSettings {
    pub workspace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_invite: Option<AutoInviteConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_settings: Option<OperatorSettings>,
}

/// Query of `GET /api/w/{w}/workspaces/tarball`: what the official client's `sync pull`
/// asks for. Only users, groups and settings are kept by this server; other kinds are
/// empty. Unknown parameters are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
pub struct TarballQuery {
    /// `zip` (the only one served; `tar` is refused with `Invalid Archive Type`).
    #[serde(default)]
    pub archive_type: Option<String>,
    #[serde(default)]
    pub include_users: Option<bool>,
    #[serde(default)]
    pub include_groups: Option<bool>,
    #[serde(default)]
    pub include_settings: Option<bool>,
}

// ---------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------

/// The `action_kind` filter as a pattern: one of the four kinds, in any letter case.
pub const ACTION_KIND_PATTERN: &str = "^([Cc][Rr][Ee][Aa][Tt][Ee]|[Uu][Pp][Dd][Aa][Tt][Ee]|[Dd][Ee][Ll][Ee][Tt][Ee]|[Ee][Xx][Ee][Cc][Uu][Tt][Ee])$";

/// What kind of change an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum ActionKind {
    Create,
    Update,
    Delete,
    Execute,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 4] = [Self::Create, Self::Update, Self::Delete, Self::Execute];

    /// The wire spelling (`Create`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
            Self::Execute => "Execute",
        }
    }

    /// Parses a kind in any letter case, around white space.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_exact_ignoring_case(s.trim())
    }

    /// Parses a kind in any letter case, nothing around it (what the API accepts:
    /// [`ACTION_KIND_PATTERN`]).
    pub fn parse_exact_ignoring_case(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditLog {
    pub workspace_id: String,
    pub id: i64,
    pub timestamp: DateTime<Utc>,
    pub username: String,
    pub email: Option<String>,
    pub operation: String,
    pub action_kind: ActionKind,
    pub resource: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub parameters: Option<serde_json::Value>,
    /// The superadmin behind the impersonation token the actor used, if any.
    #[serde(default)]
    pub impersonator: Option<String>,
}

/// Query of `GET /api/w/{w}/audit/list`. Every filter is optional; timestamps accept the
/// forms of [`parse_timestamp`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<String>,
    /// Entries at or before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Entries strictly after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Exact operation, or a dotted prefix (`users` matches `users.token.create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Comma-separated exact operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<String>,
    /// Comma-separated operations to leave out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_operations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `Create`, `Update`, `Delete` or `Execute`, any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_kind: Option<String>,
    /// Superadmins: rows of every workspace, `global` included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_workspaces: Option<String>,
    /// Keyset pagination: only ids below this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_id: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/// Answer of `GET /api/health/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthStatus {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub database_healthy: bool,
    /// The audit sinks configured on this server (`--audit-sink`), and how far behind the
    /// audit log each one is; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_sinks: Vec<AuditSinkStatus>,
}

/// One audit sink in `GET /api/health/status`: never a secret (no header, no URL user,
/// password, query or fragment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditSinkStatus {
    /// The sink's name: its `name=` option, or its target without secrets
    /// (`file:/var/log/wmill/audit.jsonl`, `https://siem.example/ingest`).
    pub name: String,
    /// Whether this instance delivers it now (with several instances on one PostgreSQL
    /// database, one at a time does).
    pub delivering: bool,
    /// The last audit id the sink acknowledged (`null` when the database cannot be read).
    pub cursor: Option<i64>,
    /// The last audit id written.
    pub head_id: Option<i64>,
    /// Entries written but not yet acknowledged: `head_id - cursor`.
    pub lag: Option<i64>,
    /// The last delivery failure seen by this instance, as a sentence.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// When this instance last had a batch acknowledged.
    pub last_success_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_the_documented_forms() {
        let midnight = parse_timestamp("2026-01-01").unwrap();
        assert_eq!(midnight.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        let naive = parse_timestamp("2026-01-01T10:20:30").unwrap();
        assert_eq!(naive.to_rfc3339(), "2026-01-01T10:20:30+00:00");
        let zoned = parse_timestamp("2026-01-01T10:20:30+02:00").unwrap();
        assert_eq!(zoned.to_rfc3339(), "2026-01-01T08:20:30+00:00");
        assert!(parse_timestamp("yesterday").is_none());
        assert!(parse_timestamp("2026-13-01").is_none());
        assert!(parse_timestamp("").is_none());
    }

    #[test]
    fn action_kind_parses_any_case() {
        assert_eq!(ActionKind::parse("create"), Some(ActionKind::Create));
        assert_eq!(ActionKind::parse("DELETE"), Some(ActionKind::Delete));
        assert_eq!(ActionKind::parse("Created"), None);
    }

    #[test]
    fn timestamps_serialise_with_z() {
        let t = parse_timestamp("2026-11-27T08:00:00.123456Z").unwrap();
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, "\"2026-11-27T08:00:00.123456Z\"");
    }
}
