//! Storage: one interface ([`Store`]) for every database. Each mutation is one call and
//! one transaction, which writes its audit entry too: if the entry cannot be written, the
//! change does not happen. The store decides no permissions; outcomes that depend on what
//! is in the database (not found, already a member, last superadmin) come back as values.

pub mod cache;
pub mod sql;

use async_trait::async_trait;
use wmill_api::ActionKind;

use crate::clock::Micros;

pub use sql::SqlStore;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the change (a concurrent creation won).
    #[error("unique constraint violated")]
    Unique,
    /// The database could not be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("database error: {0}")]
    Other(String),
}

/// Result of a store call.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// An audit entry to write with a mutation.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub workspace_id: String,
    pub timestamp: Micros,
    pub username: String,
    pub email: Option<String>,
    pub operation: &'static str,
    pub action_kind: ActionKind,
    pub resource: Option<String>,
    pub parameters: Option<serde_json::Value>,
}

/// A stored audit entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub workspace_id: String,
    pub timestamp: i64,
    pub username: String,
    pub email: Option<String>,
    pub operation: String,
    pub action_kind: String,
    pub resource: Option<String>,
    pub parameters: Option<String>,
}

/// Which audit entries to list; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `None`: every workspace.
    pub workspace_id: Option<String>,
    pub username: Option<String>,
    /// Timestamp ≤.
    pub before: Option<Micros>,
    /// Timestamp >.
    pub after: Option<Micros>,
    /// Exact operation or dotted prefix.
    pub operation: Option<String>,
    pub operations: Vec<String>,
    pub exclude_operations: Vec<String>,
    pub resource: Option<String>,
    pub action_kind: Option<ActionKind>,
    /// Ids below this one.
    pub before_id: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

/// An instance account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub email: String,
    pub password_hash: String,
    pub super_admin: bool,
    pub name: Option<String>,
    pub company: Option<String>,
    pub disabled: bool,
    pub first_time_user: bool,
    pub username: Option<String>,
    pub created_at: i64,
}

/// A new instance account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub password_hash: String,
    pub super_admin: bool,
    pub name: Option<String>,
    pub company: Option<String>,
    pub created_at: Micros,
}

/// Changes to an instance account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub super_admin: Option<bool>,
    pub name: Option<String>,
    pub company: Option<String>,
    pub disabled: Option<bool>,
}

/// Outcome of a change to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountOutcome {
    Done,
    NotFound,
    /// It would leave the instance without an enabled superadmin.
    LastSuperadmin,
}

/// What authenticating a token needs, in one read: the token and its account (all but the
/// password hash, so that whoami needs no second read).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenAuthRow {
    pub email: String,
    pub prefix: String,
    pub label: Option<String>,
    pub expiration: Option<i64>,
    pub workspace_id: Option<String>,
    pub super_admin: bool,
    pub disabled: bool,
    pub name: Option<String>,
    pub company: Option<String>,
    pub first_time_user: bool,
    pub username: Option<String>,
}

/// What authenticating a token on a workspace's route needs: the token with its account,
/// the account's membership of that workspace, and whether the workspace exists.
#[derive(Debug, Clone)]
pub struct WorkspaceAuth {
    pub token: TokenAuthRow,
    pub member: Option<MemberRow>,
    pub workspace_exists: bool,
}

/// A new token, by digest.
#[derive(Debug, Clone)]
pub struct NewTokenRow {
    pub hash: String,
    pub prefix: String,
    pub email: String,
    pub label: Option<String>,
    pub expiration: Option<Micros>,
    pub workspace_id: Option<String>,
    pub created_at: Micros,
}

/// A token as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub prefix: String,
    pub label: Option<String>,
    pub expiration: Option<i64>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub workspace_id: Option<String>,
}

/// Which of the caller's tokens to delete.
#[derive(Debug, Clone)]
pub enum TokenSelector {
    /// Exactly the token with this digest.
    Hash(String),
    /// Every token with this 10-character prefix, if there is exactly one.
    Prefix(String),
}

/// Outcome of deleting tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDeletion {
    /// The prefixes of the deleted tokens.
    Deleted(Vec<String>),
    NotFound,
    /// The prefix matched several tokens; nothing was deleted.
    Ambiguous(usize),
}

/// A workspace.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub owner: String,
}

/// A workspace membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub workspace_id: String,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub operator: bool,
    pub disabled: bool,
    pub created_at: i64,
}

/// One of a user's workspaces, with the membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserWorkspaceRow {
    pub id: String,
    pub name: String,
    pub username: String,
    pub disabled: bool,
}

/// How a new member's username is chosen.
#[derive(Debug, Clone)]
pub enum UsernameChoice {
    /// Given by the caller (already validated).
    Given(String),
    /// Derived from this base (`base`, `base2`, …).
    Derive(String),
}

/// A new workspace membership.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub email: String,
    pub username: UsernameChoice,
    pub is_admin: bool,
    pub operator: bool,
    pub created_at: Micros,
}

/// Outcome of adding a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddMember {
    /// Added, with this username.
    Added(String),
    AlreadyMember,
    /// The given username belongs to another email.
    UsernameTaken(String),
    /// The email already has another username (it is the same in every workspace).
    HasUsername(String),
    NoWorkspace,
}

/// Changes to a membership.
#[derive(Debug, Clone, Default)]
pub struct MemberChanges {
    pub is_admin: Option<bool>,
    pub operator: Option<bool>,
    pub disabled: Option<bool>,
}

/// A group with its members.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub workspace_id: String,
    pub name: String,
    pub summary: Option<String>,
    /// JSON object text.
    pub extra_perms: String,
    pub members: Vec<String>,
}

/// Outcome of adding someone to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAdd {
    Added,
    AlreadyMember,
    NoGroup,
    NotInWorkspace,
}

/// Outcome of removing someone from a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRemove {
    Removed,
    NotMember,
    NoGroup,
}

/// What bootstrap creates on an empty database.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub admin: NewAccount,
    pub workspace_id: String,
    pub workspace_name: String,
    pub username_base: String,
}

/// The storage interface. One implementation per database family lives in a submodule.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers.
    async fn healthy(&self) -> bool;

    /// Creates the first superadmin and workspace unless bootstrap already ran (on this
    /// database, by any instance). Returns whether it ran now.
    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool>;

    // ----- authentication -------------------------------------------------------------

    /// The token with this digest and its account, if both exist.
    async fn token_auth(&self, hash: &str) -> StoreResult<Option<TokenAuthRow>>;
    /// The same, with what a route of workspace `ws` needs (one round trip on PostgreSQL).
    async fn token_auth_in(&self, hash: &str, ws: &str) -> StoreResult<Option<WorkspaceAuth>>;
    /// Records when tokens were last used (batched, best effort).
    async fn touch_tokens(&self, used: Vec<(String, Micros)>) -> StoreResult<()>;

    // ----- accounts -------------------------------------------------------------------

    async fn account(&self, email: &str) -> StoreResult<Option<AccountRow>>;
    async fn list_accounts(&self, offset: i64, limit: i64) -> StoreResult<Vec<AccountRow>>;
    async fn create_account(&self, a: NewAccount, audit: NewAudit) -> StoreResult<()>;
    async fn update_account(
        &self,
        email: &str,
        c: AccountChanges,
        audit: NewAudit,
    ) -> StoreResult<AccountOutcome>;
    async fn delete_account(&self, email: &str, audit: NewAudit) -> StoreResult<AccountOutcome>;
    /// Sets a password hash; `audit` is `None` for a silent re-hash on login.
    async fn set_password(
        &self,
        email: &str,
        hash: &str,
        audit: Option<NewAudit>,
    ) -> StoreResult<bool>;
    /// A successful login: the session token, an optional upgraded hash, the audit entry;
    /// `first_login` (the account was read with `first_time_user` set) clears that flag.
    async fn login(
        &self,
        token: NewTokenRow,
        rehash: Option<String>,
        first_login: bool,
        audit: NewAudit,
    ) -> StoreResult<()>;

    // ----- tokens ---------------------------------------------------------------------

    async fn create_token(&self, t: NewTokenRow, audit: NewAudit) -> StoreResult<()>;
    async fn list_tokens(
        &self,
        email: &str,
        exclude_ephemeral: bool,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<TokenRow>>;
    /// Deletes the caller's tokens; the audit entry is written only if something was deleted.
    async fn delete_tokens(
        &self,
        email: &str,
        which: TokenSelector,
        audit: NewAudit,
    ) -> StoreResult<TokenDeletion>;
    /// Deletes one token by digest (logout); audited only if it existed.
    async fn revoke_token(&self, hash: &str, audit: NewAudit) -> StoreResult<bool>;

    // ----- workspaces and members ------------------------------------------------------

    async fn workspace(&self, id: &str) -> StoreResult<Option<WorkspaceRow>>;
    /// Creates a workspace, its `all` group, and its creator as admin.
    async fn create_workspace(
        &self,
        ws: WorkspaceRow,
        creator: NewMember,
        audit: NewAudit,
    ) -> StoreResult<AddMember>;
    /// Workspaces `email` is a member of, or all of them (`None`).
    async fn list_workspaces(
        &self,
        email: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<WorkspaceRow>>;
    async fn user_workspaces(&self, email: &str) -> StoreResult<Vec<UserWorkspaceRow>>;
    async fn member(&self, ws: &str, email: &str) -> StoreResult<Option<MemberRow>>;
    async fn member_by_username(&self, ws: &str, username: &str) -> StoreResult<Option<MemberRow>>;
    async fn list_members(&self, ws: &str, offset: i64, limit: i64) -> StoreResult<Vec<MemberRow>>;
    /// Adds a member (and puts them in `all`); `audit` gets the username as decided.
    async fn add_member(&self, ws: &str, m: NewMember, audit: NewAudit) -> StoreResult<AddMember>;
    /// Changes a membership; returns the member's email, `None` if not a member.
    async fn update_member(
        &self,
        ws: &str,
        username: &str,
        c: MemberChanges,
        audit: NewAudit,
    ) -> StoreResult<Option<String>>;
    /// Removes a member, their groups in `ws` and their tokens pinned to `ws`.
    async fn remove_member(&self, ws: &str, username: &str, audit: NewAudit) -> StoreResult<bool>;
    /// The instance-wide username of an email, if it has one.
    async fn username_of(&self, email: &str) -> StoreResult<Option<String>>;

    // ----- groups ---------------------------------------------------------------------

    async fn list_groups(&self, ws: &str, offset: i64, limit: i64) -> StoreResult<Vec<GroupRow>>;
    async fn group(&self, ws: &str, name: &str) -> StoreResult<Option<GroupRow>>;
    /// Group names of `ws`; only those `member` belongs to when given.
    async fn group_names(
        &self,
        ws: &str,
        member: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    /// Creates a group owned by `owner`, who becomes its first member.
    async fn create_group(
        &self,
        ws: &str,
        name: &str,
        summary: Option<&str>,
        owner: &str,
        audit: NewAudit,
    ) -> StoreResult<()>;
    async fn update_group(
        &self,
        ws: &str,
        name: &str,
        summary: Option<&str>,
        audit: NewAudit,
    ) -> StoreResult<bool>;
    async fn delete_group(&self, ws: &str, name: &str, audit: NewAudit) -> StoreResult<bool>;
    async fn add_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        audit: NewAudit,
    ) -> StoreResult<GroupAdd>;
    async fn remove_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        audit: NewAudit,
    ) -> StoreResult<GroupRemove>;

    // ----- audit ----------------------------------------------------------------------

    /// Writes an entry on its own (failed logins).
    async fn record_audit(&self, audit: NewAudit) -> StoreResult<()>;
    /// Entries matching `f`, newest first.
    async fn list_audit(&self, f: AuditFilter) -> StoreResult<Vec<AuditRow>>;
    async fn audit_entry(&self, id: i64) -> StoreResult<Option<AuditRow>>;
}
