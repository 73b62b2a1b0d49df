//! Storage: one interface per resource family ([`AuthStore`], [`AccountStore`],
//! [`TokenStore`], [`WorkspaceStore`], [`GroupStore`], [`InstanceGroupStore`],
//! [`AuditStore`]), all implemented by
//! [`SqlStore`] for both databases and gathered in [`Store`]. Each mutation is one call and
//! one transaction, which writes its audit entry too: if the entry cannot be written, the
//! change does not happen. The store decides no permissions: it checks, inside the
//! transaction, what the service asks it to (the caller owns the group, the account is still
//! enabled), and outcomes that depend on what is in the database (not found, already a
//! member, last superadmin) come back as values.

pub mod cache;
pub mod pg_cache;
pub mod sql;

use std::collections::BTreeMap;

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
    /// A statement ran past its time limit and was cancelled.
    #[error("statement cancelled after its time limit: {0}")]
    Timeout(String),
    /// Anything else.
    #[error("database error: {0}")]
    Other(String),
}

/// Result of a store call.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Most audit entries an activity chart counts (the newest ones): its work is bounded
/// whatever the size of the log.
pub const AUDIT_ACTIVITY_ROWS: i64 = 2_000;

/// Every store family, as one object.
pub trait Store:
    AuthStore
    + AccountStore
    + TokenStore
    + WorkspaceStore
    + GroupStore
    + InstanceGroupStore
    + AuditStore
    + AuditChainStore
    + AuditSinkStore
    + SsoStore
    + ScimStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: AuthStore
        + AccountStore
        + TokenStore
        + WorkspaceStore
        + GroupStore
        + InstanceGroupStore
        + AuditStore
        + AuditChainStore
        + AuditSinkStore
        + SsoStore
        + ScimStore
        + Send
        + Sync
        + 'static
{
}

// ---------------------------------------------------------------------------------------
// Audit entries
// ---------------------------------------------------------------------------------------

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
    /// The superadmin behind an impersonation token, when the actor used one.
    pub impersonator: Option<String>,
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
    pub impersonator: Option<String>,
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
    /// At most [`MAX_FILTER_LIST`] entries (the service refuses more).
    pub operations: Vec<String>,
    /// At most [`MAX_FILTER_LIST`] entries (the service refuses more).
    pub exclude_operations: Vec<String>,
    pub resource: Option<String>,
    pub action_kind: Option<ActionKind>,
    /// Ids below this one.
    pub before_id: Option<i64>,
    pub offset: i64,
    pub limit: i64,
}

/// Most entries of a list filter (`operations`, `exclude_operations`).
pub const MAX_FILTER_LIST: usize = 64;

/// Reading and writing the audit log.
#[async_trait]
pub trait AuditStore {
    /// Writes an entry on its own (refused logins).
    async fn record_audit(&self, audit: NewAudit) -> StoreResult<()>;
    /// Entries matching `f`, newest first.
    async fn list_audit(&self, f: AuditFilter) -> StoreResult<Vec<AuditRow>>;
    async fn audit_entry(&self, id: i64) -> StoreResult<Option<AuditRow>>;
    /// Entries matching `f` (its `before_id`, `offset` and `limit` aside) counted per UTC
    /// day and action kind: (days since the epoch, stored action kind, count).
    async fn audit_activity(&self, f: AuditFilter) -> StoreResult<Vec<(i64, String, i64)>>;
}

/// The audit log's hash chain and its signed checkpoints (see [`crate::audit_chain`]).
#[async_trait]
pub trait AuditChainStore {
    /// Reads the whole log in id order and checks it against the chain's head and its
    /// checkpoints (their signatures too, with `key`).
    async fn verify_audit_chain(
        &self,
        key: Option<ed25519_dalek::VerifyingKey>,
    ) -> StoreResult<crate::audit_chain::Report> {
        self.verify_audit_chain_with(key, None).await
    }

    /// [`Self::verify_audit_chain`], telling `progress` how far it has read.
    async fn verify_audit_chain_with(
        &self,
        key: Option<ed25519_dalek::VerifyingKey>,
        progress: Option<crate::audit_chain::Progress>,
    ) -> StoreResult<crate::audit_chain::Report>;
    /// Signs the chain's base and head at `now` and stores the checkpoint, unless the last
    /// checkpoint of this key already says the same (`None`).
    async fn write_audit_checkpoint(
        &self,
        key: &ed25519_dalek::SigningKey,
        now: Micros,
    ) -> StoreResult<Option<crate::audit_chain::Checkpoint>>;
    /// Removes, from the start of the chain, at most `limit` entries older than `before`
    /// (stopping at the first newer one), and moves the chain's base to the last one
    /// removed, in one transaction: how many were removed. Never an entry above `up_to`
    /// (what every audit sink has delivered).
    async fn prune_audit(&self, before: Micros, limit: i64, up_to: i64) -> StoreResult<u64>;
    /// At most `limit` entries with ids above `after`, in id order, of workspace `ws` (or
    /// of every workspace): a page of an export.
    async fn audit_after(
        &self,
        ws: Option<&str>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRow>>;
}

/// Where the audit sinks have got to (see `crate::audit_sink`).
#[async_trait]
pub trait AuditSinkStore {
    /// Every sink's cursor (the last entry it acknowledged), by name.
    async fn audit_sink_cursors(&self) -> StoreResult<Vec<(String, i64)>>;
    /// The id of the chain's last entry (0: none).
    async fn audit_head_id(&self) -> StoreResult<i64>;
}

// ---------------------------------------------------------------------------------------
// Authentication and login throttling
// ---------------------------------------------------------------------------------------

/// What a token is, as the server decided when minting it (never a client's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Minted by a login; ended by logout and by a password change.
    Session,
    /// Minted by `tokens/create`.
    Api,
    /// Minted by a superadmin to act as another account; dies with the minter's rights.
    Impersonation,
}

impl TokenKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Api => "api",
            TokenKind::Impersonation => "impersonation",
        }
    }
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
    pub kind: String,
    /// The superadmin who minted an impersonation token.
    pub impersonator: Option<String>,
    /// False when the token was minted by impersonation and its minter is no longer an
    /// enabled superadmin.
    pub impersonator_ok: bool,
    /// Space-separated scopes; `None`: all the account may do.
    pub scopes: Option<String>,
    pub read_only: bool,
    pub service_account: bool,
    /// A superadmin: by the account's flag, or through an instance group.
    pub super_admin: bool,
    /// Devops through an instance group.
    pub devops: bool,
    pub disabled: bool,
    pub name: Option<String>,
    pub company: Option<String>,
    pub first_time_user: bool,
    pub username: Option<String>,
    /// How the account signs in: a single sign-on provider's name (since its first
    /// sign-in there), or `None` for a password.
    pub login_type: Option<String>,
}

/// What authenticating a token on a workspace's route needs: the token with its account,
/// the account's membership of that workspace, and whether the workspace exists.
#[derive(Debug, Clone)]
pub struct WorkspaceAuth {
    pub token: TokenAuthRow,
    pub member: Option<MemberRow>,
    pub workspace_exists: bool,
}

/// The account-lockout policy, applied by [`AuthStore::count_login_attempt`].
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures in a row that lock the account.
    pub threshold: u32,
    /// How long a lock lasts; failures older than this are forgotten too.
    pub lock_for: Micros,
}

/// Whether a login attempt may be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; verify it. `locks` when this attempt is the one that reached the threshold.
    Allowed { locks: bool },
    /// The account is locked until then; the attempt is refused unverified.
    Locked { until: Micros },
}

/// A successful login to record.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub token: NewTokenRow,
    /// The stored hash the password was verified against: the login fails if it changed.
    pub verified_hash: String,
    /// An upgraded hash to store.
    pub rehash: Option<String>,
    /// The account was read with `first_time_user` set.
    pub first_login: bool,
    pub audit: NewAudit,
}

/// Authenticating requests and logging in.
#[async_trait]
pub trait AuthStore {
    /// Whether the database answers.
    async fn healthy(&self) -> bool;
    /// Creates the first superadmin and workspace unless bootstrap already ran (on this
    /// database, by any instance). Returns whether it ran now.
    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool>;
    /// Whether bootstrap has run on this database.
    async fn bootstrapped(&self) -> StoreResult<bool>;
    /// The token with this digest and its account, if both exist.
    async fn token_auth(&self, hash: &str) -> StoreResult<Option<TokenAuthRow>>;
    /// The same, with what a route of workspace `ws` needs (one round trip on PostgreSQL).
    async fn token_auth_in(&self, hash: &str, ws: &str) -> StoreResult<Option<WorkspaceAuth>>;
    /// Records when tokens were last used (batched, best effort).
    async fn touch_tokens(&self, used: Vec<(String, Micros)>) -> StoreResult<()>;
    /// Counts a login attempt on `email` before it is verified (so that parallel guesses
    /// cannot outrun the lock), and says whether it may go on.
    async fn count_login_attempt(
        &self,
        email: &str,
        now: Micros,
        policy: LockoutPolicy,
    ) -> StoreResult<Attempt>;
    /// Forgets throttling state idle since before `before` and not locked at `now`.
    async fn sweep_login_throttle(&self, before: Micros, now: Micros) -> StoreResult<u64>;
    /// A successful login: mints the session token unless the account was disabled,
    /// deleted or given another password since it was read; clears the account's failed
    /// attempts. Returns whether the token was minted.
    async fn login(&self, l: LoginRecord) -> StoreResult<bool>;
}

// ---------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------

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
    pub service_account: bool,
    /// A superadmin through an instance group (whatever `super_admin` says).
    pub group_super_admin: bool,
    /// Devops through an instance group.
    pub devops: bool,
    /// The single sign-on provider the account last signed in with (`None`: a password).
    #[sqlx(default)]
    pub login_type: Option<String>,
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

/// Which of an account's tokens a password change ends.
#[derive(Debug, Clone, Default)]
pub struct EndSessions {
    /// The digest of a token to keep (the one that changed its own password).
    pub keep: Option<String>,
    /// End API and impersonation tokens too, not only login sessions.
    pub all_tokens: bool,
}

/// Instance accounts.
#[async_trait]
pub trait AccountStore {
    async fn account(&self, email: &str) -> StoreResult<Option<AccountRow>>;
    async fn list_accounts(&self, offset: i64, limit: i64) -> StoreResult<Vec<AccountRow>>;
    async fn create_account(&self, a: NewAccount, audit: NewAudit) -> StoreResult<()>;
    /// Changes an account. Disabling it ends every token it holds or minted; demoting it
    /// ends the impersonation tokens it minted.
    async fn update_account(
        &self,
        email: &str,
        c: AccountChanges,
        audit: NewAudit,
    ) -> StoreResult<AccountOutcome>;
    /// Deletes an account with its memberships, group memberships, group ownerships
    /// (each ended ownership audited in its workspace), tokens and username.
    async fn delete_account(&self, email: &str, audit: NewAudit) -> StoreResult<AccountOutcome>;
    /// Sets a new password hash and ends the sessions `end` names. Returns whether the
    /// account exists.
    async fn set_password(
        &self,
        email: &str,
        hash: &str,
        end: EndSessions,
        audit: NewAudit,
    ) -> StoreResult<bool>;
    /// Every account but service accounts, with username, for an export.
    async fn export_accounts(&self) -> StoreResult<Vec<AccountRow>>;
    /// Makes the instance's accounts (service accounts aside) exactly `users`, in one
    /// transaction: creates, updates (a changed hash ends the account's sessions), deletes
    /// the others as `delete_account` does. Refused when it would leave no enabled
    /// superadmin or a username that belongs to another email; with `dry_run`, only says
    /// what it would do.
    async fn overwrite_accounts(
        &self,
        users: Vec<ImportedAccount>,
        dry_run: bool,
        audit: NewAudit,
    ) -> StoreResult<Result<wmill_api::OverwriteReport, String>>;
    /// Gives `email` another username (in every workspace, its group memberships and
    /// grants with it).
    async fn rename_user(
        &self,
        email: &str,
        new_username: &str,
        audit: NewAudit,
    ) -> StoreResult<Rename>;
    /// Moves an account, its username, memberships and tokens to another email.
    async fn change_email(
        &self,
        email: &str,
        new_email: &str,
        audit: NewAudit,
    ) -> StoreResult<Rename>;
}

/// An account to import, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAccount {
    pub email: String,
    /// A PHC string; `None`: keep the current one (or none for a new account).
    pub password_hash: Option<String>,
    pub super_admin: bool,
    pub name: Option<String>,
    pub company: Option<String>,
    pub first_time_user: bool,
    pub username: Option<String>,
    pub created_at: Micros,
}

/// Outcome of a username or email change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rename {
    Done,
    NotFound,
    /// The new name is someone else's.
    Taken,
    /// The account has no username yet (it joined no workspace).
    NoUsername,
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

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
    pub kind: TokenKind,
    /// For impersonation tokens: the superadmin minting it.
    pub impersonator: Option<String>,
    /// Space-separated scopes; `None`: all the account may do.
    pub scopes: Option<String>,
    pub read_only: bool,
    /// For a service account's token: the admin who minted it.
    pub minted_by: Option<String>,
}

/// Outcome of minting a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mint {
    Minted,
    /// The account is gone or disabled (it changed while the request was in flight).
    NoAccount,
    /// The impersonating superadmin is gone, disabled or no longer a superadmin.
    NoMinter,
}

/// A token as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub prefix: String,
    pub email: String,
    pub label: Option<String>,
    pub expiration: Option<i64>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub workspace_id: Option<String>,
    pub kind: String,
    pub scopes: Option<String>,
    pub read_only: bool,
}

/// A change to one of an account's tokens.
#[derive(Debug, Clone)]
pub enum TokenUpdate {
    Label(String),
    /// Space-separated scopes; `None`: unrestricted.
    Scopes(Option<String>),
}

/// Outcome of changing a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenChange {
    Done,
    /// The check refused the change; the token's scopes (space-separated, `None`:
    /// unrestricted).
    Refused(Option<String>),
    NotFound,
    /// The prefix matched several tokens; nothing was changed.
    Ambiguous(usize),
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

/// API tokens.
#[async_trait]
pub trait TokenStore {
    /// Mints a token, checking inside the transaction that its account (and an
    /// impersonator) still may have one.
    async fn create_token(&self, t: NewTokenRow, audit: NewAudit) -> StoreResult<Mint>;
    async fn list_tokens(&self, email: &str, offset: i64, limit: i64)
    -> StoreResult<Vec<TokenRow>>;
    /// Deletes the caller's tokens; the audit entry is written only if something was deleted.
    async fn delete_tokens(
        &self,
        email: &str,
        which: TokenSelector,
        audit: NewAudit,
    ) -> StoreResult<TokenDeletion>;
    /// Deletes one token by digest (logout); audited only if it existed.
    async fn revoke_token(&self, hash: &str, audit: NewAudit) -> StoreResult<bool>;
    /// Changes one of `email`'s tokens, named by its prefix. `allowed` decides, inside the
    /// transaction, from the token's current scopes, whether the change may be made.
    async fn update_token(
        &self,
        email: &str,
        prefix: &str,
        change: TokenUpdate,
        allowed: &(dyn for<'s> Fn(Option<&'s str>) -> bool + Send + Sync),
        audit: NewAudit,
    ) -> StoreResult<TokenChange>;
}

// ---------------------------------------------------------------------------------------
// Workspaces and members
// ---------------------------------------------------------------------------------------

/// A workspace.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// Archived: out of its members' lists (Windmill's `deleted`).
    pub archived: bool,
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
    /// The member is a service account of this workspace.
    pub service_account: bool,
}

/// A new service account: an account that cannot sign in, and its membership.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    pub email: String,
    pub username: String,
    pub is_admin: bool,
    pub operator: bool,
    pub created_at: Micros,
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
    /// The id belonged to a deleted workspace: it is never given again.
    IdRetired,
}

/// Changes to a membership.
#[derive(Debug, Clone, Default)]
pub struct MemberChanges {
    pub is_admin: Option<bool>,
    pub operator: Option<bool>,
    pub disabled: Option<bool>,
}

/// Outcome of changing or removing a membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOutcome {
    /// Done; the member's email.
    Done(String),
    NotFound,
    /// It would leave the workspace without an enabled admin.
    LastAdmin,
}

/// Workspaces and their members.
#[async_trait]
pub trait WorkspaceStore {
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
    /// Creates a service account (an account without a password) as a member of `ws`.
    async fn create_service_account(
        &self,
        ws: &str,
        sa: NewServiceAccount,
        audit: NewAudit,
    ) -> StoreResult<AddMember>;
    /// Changes a membership, unless it would leave the workspace without an enabled admin.
    /// Disabling a service account ends its tokens.
    async fn update_member(
        &self,
        ws: &str,
        username: &str,
        c: MemberChanges,
        audit: NewAudit,
    ) -> StoreResult<MemberOutcome>;
    /// Removes a member, their groups and group ownerships in `ws` (each ended ownership
    /// audited) and their tokens pinned to `ws`; a service account is deleted with its
    /// tokens; releases the username of an email that has neither an account nor another
    /// membership. Refused for the last enabled admin.
    async fn remove_member(
        &self,
        ws: &str,
        username: &str,
        audit: NewAudit,
    ) -> StoreResult<MemberOutcome>;
    /// The identity settings of a workspace: (auto-invite JSON, operator settings JSON,
    /// archived), and the instance groups feeding it with their roles.
    async fn workspace_settings(&self, ws: &str) -> StoreResult<Option<WorkspaceSettingsRow>>;
    /// Changes one setting (`None` leaves it); returns whether the workspace exists.
    async fn update_workspace(
        &self,
        ws: &str,
        change: WorkspaceChange,
        audit: NewAudit,
    ) -> StoreResult<bool>;
    /// Deletes a workspace with its members, groups, links and the tokens pinned to it
    /// (the audit log keeps its entries).
    async fn delete_workspace(&self, ws: &str, audit: NewAudit) -> StoreResult<bool>;
}

/// The identity settings of a workspace.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceSettingsRow {
    pub auto_invite: Option<String>,
    pub operator_settings: Option<String>,
    pub archived: bool,
    /// (group, role).
    pub instance_groups: Vec<(String, String)>,
}

/// One change to a workspace.
#[derive(Debug, Clone)]
pub enum WorkspaceChange {
    Name(String),
    /// JSON, or `None` to turn it off.
    AutoInvite(Option<String>),
    OperatorSettings(Option<String>),
    Archived(bool),
}

// ---------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------

/// A group with its members and access list.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub workspace_id: String,
    pub name: String,
    pub summary: Option<String>,
    /// `u/<username>` or `g/<group>` → owner (true) or reader (false).
    pub extra_perms: BTreeMap<String, bool>,
    pub members: Vec<String>,
}

/// Who changes a group: a workspace admin, or a member who must own it (checked inside
/// the transaction that makes the change).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin,
    /// This username must own the group (directly, or through a group it belongs to).
    Owner(&'a str),
}

/// Outcome of changing a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    Done,
    NoGroup,
    NotOwner,
}

/// Outcome of adding someone to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAdd {
    Added,
    AlreadyMember,
    NoGroup,
    NotInWorkspace,
    NotOwner,
}

/// Outcome of removing someone from a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRemove {
    Removed,
    NotMember,
    NoGroup,
    NotOwner,
}

/// Groups of a workspace.
#[async_trait]
pub trait GroupStore {
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
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupChange>;
    /// Deletes a group with its members and access list, and every grant it had on other
    /// groups (so that a later group of the same name inherits nothing).
    async fn delete_group(
        &self,
        ws: &str,
        name: &str,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupChange>;
    async fn add_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupAdd>;
    async fn remove_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupRemove>;
    /// Grants `principal` (`u/<username>`, `g/<group>`) ownership of a group (`Some(true)`),
    /// a reader's grant (`Some(false)`), or nothing (`None`). An owner who is not an admin
    /// cannot take the last ownership away.
    async fn set_group_grant(
        &self,
        ws: &str,
        group: &str,
        principal: &str,
        grant: Option<bool>,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GrantChange>;
}

/// Outcome of changing a group's access list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantChange {
    Done,
    /// It already was so; nothing was written.
    Unchanged,
    NoGroup,
    NotOwner,
    /// The user is not a member of the workspace, or the group does not exist.
    NoPrincipal,
    /// It would leave the group without an owner.
    LastOwner,
}

// ---------------------------------------------------------------------------------------
// Instance groups
// ---------------------------------------------------------------------------------------

/// An instance group, its members and the workspaces it feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceGroupRow {
    pub name: String,
    pub id: Option<String>,
    pub summary: Option<String>,
    pub instance_role: Option<String>,
    pub scim_display_name: Option<String>,
    pub external_id: Option<String>,
    /// Sorted.
    pub emails: Vec<String>,
    /// (workspace id, workspace name, role), by workspace id.
    pub workspaces: Vec<(String, String, String)>,
}

/// Outcome of a change to an instance group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceGroupChange {
    Done,
    Unchanged,
    NoGroup,
    NoAccount,
}

/// Instance groups, and the memberships they make.
#[async_trait]
pub trait InstanceGroupStore {
    async fn list_instance_groups(&self) -> StoreResult<Vec<InstanceGroupRow>>;
    async fn instance_group(&self, name: &str) -> StoreResult<Option<InstanceGroupRow>>;
    /// The names of the instance groups `email` belongs to.
    async fn instance_groups_of(&self, email: &str) -> StoreResult<Vec<String>>;
    /// Returns false when the name is taken.
    async fn create_instance_group(
        &self,
        name: &str,
        summary: Option<&str>,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<bool>;
    /// `role`: `None` leaves it, `Some(None)` clears it. A member who stops being a
    /// superadmin loses the impersonation tokens they minted.
    async fn update_instance_group(
        &self,
        name: &str,
        summary: Option<&str>,
        role: Option<Option<&str>>,
        audit: NewAudit,
    ) -> StoreResult<bool>;
    /// Deletes it and the memberships it made.
    async fn delete_instance_group(&self, name: &str, audit: NewAudit) -> StoreResult<bool>;
    /// Adds or removes a member (and the workspace memberships that follow).
    async fn set_instance_group_member(
        &self,
        name: &str,
        email: &str,
        member: bool,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<InstanceGroupChange>;
    /// Makes the instance groups exactly `groups` (all or nothing); `Err` names an unknown
    /// email.
    async fn overwrite_instance_groups(
        &self,
        groups: Vec<InstanceGroupRow>,
        dry_run: bool,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<Result<wmill_api::OverwriteReport, String>>;
    /// Makes `ws` fed by exactly these (group, role) pairs; `Err` names an unknown group.
    async fn set_workspace_instance_groups(
        &self,
        ws: &str,
        links: Vec<(String, String)>,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<Result<(), String>>;
}

/// What bootstrap creates on an empty database.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub admin: NewAccount,
    pub workspace_id: String,
    pub workspace_name: String,
    pub username_base: String,
}

// ---------------------------------------------------------------------------------------
// Single sign-on
// ---------------------------------------------------------------------------------------

/// A sign-in started with an OpenID provider, waiting for its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoStart {
    /// SHA-256 (hex) of the `state` sent to the provider.
    pub state_hash: String,
    /// SHA-256 (hex) of the browser's binding cookie.
    pub browser_hash: String,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub next: String,
    pub created_at: Micros,
}

/// A verified sign-in to record.
#[derive(Debug, Clone)]
pub struct SsoLogin {
    pub email: String,
    pub name: Option<String>,
    /// The provider's name: the account's `login_type`.
    pub provider: String,
    /// Create the account when there is none.
    pub create: bool,
    /// The instance groups the account must belong to exactly (`None`: left as they are).
    /// Names that are not instance groups are ignored.
    pub groups: Option<Vec<String>>,
    pub token: NewTokenRow,
    /// The `users.login` entry; the other entries (creation, groups) are modelled on it.
    pub audit: NewAudit,
}

/// Outcome of an SSO sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoOutcome {
    /// Signed in (`created`: the account was made now).
    Done { created: bool },
    /// No account, and none may be created.
    NoAccount,
    /// The account is disabled, or a service account.
    Disabled,
}

/// Single sign-on: started sign-ins and their completion.
#[async_trait]
pub trait SsoStore {
    /// Records a started sign-in, and forgets those started before `expired_before`.
    async fn start_sso(&self, s: SsoStart, expired_before: Micros) -> StoreResult<()>;
    /// Takes (deletes and returns) the sign-in with this state digest: once only.
    async fn take_sso(&self, state_hash: &str) -> StoreResult<Option<SsoStart>>;
    /// In one transaction: the account (created if allowed; refused if disabled), its
    /// `login_type`, its instance groups, the session token and the audit entries.
    async fn sso_login(&self, l: SsoLogin) -> StoreResult<SsoOutcome>;
}

// ---------------------------------------------------------------------------------------
// SCIM provisioning
// ---------------------------------------------------------------------------------------

/// The password hash of an account without a password (single sign-on only): no PHC
/// string, so no password ever matches it.
pub const NO_PASSWORD: &str = "!";

/// A SCIM token as listed (its digest stays in the database).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimTokenRow {
    pub prefix: String,
    pub label: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A new SCIM token.
#[derive(Debug, Clone)]
pub struct NewScimToken {
    pub hash: String,
    pub prefix: String,
    pub label: String,
    pub created_by: String,
    pub created_at: Micros,
}

/// An account as SCIM sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScimUserRow {
    pub scim_id: String,
    pub email: String,
    /// `None`: the userName is the email.
    pub user_name: Option<String>,
    /// The display name (`displayName`, `name.formatted`).
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub external_id: Option<String>,
    pub disabled: bool,
    /// A superadmin by flag or instance group: SCIM never sets its password or email.
    pub super_admin: bool,
    pub created_at: i64,
    pub modified_at: i64,
}

/// What a SCIM write makes of an account: every field is the new state.
#[derive(Debug, Clone)]
pub struct ScimUserWrite {
    pub email: String,
    pub user_name: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    /// A new password's PHC hash (`None`: unchanged; on creation, no password).
    pub password_hash: Option<String>,
}

/// An instance group as SCIM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroupRow {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub instance_role: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
    /// (SCIM id, email) of each member, by email; empty when not asked for.
    pub members: Vec<(String, String)>,
}

/// What a SCIM write makes of a group.
#[derive(Debug, Clone)]
pub struct ScimGroupWrite {
    pub display_name: String,
    pub external_id: Option<String>,
    /// SCIM ids of the members; `None`: unchanged.
    pub members: Option<Vec<String>>,
}

/// A page of SCIM resources: the total that match, and the page.
#[derive(Debug, Clone)]
pub struct ScimPage<T> {
    pub total: i64,
    pub rows: Vec<T>,
}

/// How a SCIM write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimOutcome<T> {
    Done(T),
    NotFound,
    /// The resource changed since it was read (`If-Match`, or a PATCH racing a write).
    Changed,
    /// A uniqueness rule refused it (userName, email, displayName): what is taken.
    Taken(String),
    /// A rule of this server refused it: the sentence says which.
    Refused(String),
    /// A member id names no account that can be one.
    NoSuchMember(String),
}

/// A compiled SCIM filter (SQL with `$1…` placeholders, and their values).
pub type ScimFilter = crate::scim::filter::Compiled;

/// SCIM provisioning: tokens, and accounts and instance groups as SCIM resources.
#[async_trait]
pub trait ScimStore {
    /// Compiles a parsed filter over Users, for this database (`invalidFilter` when it
    /// names what is not stored or compares it in a way its type does not allow).
    fn compile_user_filter(
        &self,
        f: &crate::scim::filter::Filter,
    ) -> Result<ScimFilter, crate::scim::filter::FilterError>;
    /// The same over Groups.
    fn compile_group_filter(
        &self,
        f: &crate::scim::filter::Filter,
    ) -> Result<ScimFilter, crate::scim::filter::FilterError>;
    /// Records a SCIM token; `false` when its label is taken.
    async fn create_scim_token(&self, t: NewScimToken, audit: NewAudit) -> StoreResult<bool>;
    async fn scim_tokens(&self) -> StoreResult<Vec<ScimTokenRow>>;
    /// Deletes the SCIM token with this label; `false` when there is none.
    async fn delete_scim_token(&self, label: &str, audit: NewAudit) -> StoreResult<bool>;
    /// The label of the SCIM token with this digest.
    async fn scim_token_label(&self, hash: &str) -> StoreResult<Option<String>>;

    /// Accounts (not service accounts) matching `filter`, by creation.
    async fn scim_users(
        &self,
        filter: Option<ScimFilter>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<ScimPage<ScimUserRow>>;
    async fn scim_user(&self, id: &str) -> StoreResult<Option<ScimUserRow>>;
    /// Creates an account; returns its SCIM id.
    async fn scim_create_user(
        &self,
        w: ScimUserWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<String>>;
    /// Makes account `id` what `w` says, if it is still `expected` (when given).
    async fn scim_replace_user(
        &self,
        id: &str,
        expected: Option<ScimUserRow>,
        w: ScimUserWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>>;
    /// Deletes account `id` with everything it has, if it is still `expected` (when given).
    async fn scim_delete_user(
        &self,
        id: &str,
        expected: Option<ScimUserRow>,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>>;

    /// Instance groups matching `filter`, by creation, with their members if asked.
    async fn scim_groups(
        &self,
        filter: Option<ScimFilter>,
        offset: i64,
        limit: i64,
        members: bool,
    ) -> StoreResult<ScimPage<ScimGroupRow>>;
    async fn scim_group(&self, id: &str) -> StoreResult<Option<ScimGroupRow>>;
    /// Creates an instance group named after `w.display_name`; returns its id.
    async fn scim_create_group(
        &self,
        w: ScimGroupWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<String>>;
    /// Makes group `id` what `w` says, if it is still `expected` (when given).
    async fn scim_replace_group(
        &self,
        id: &str,
        expected: Option<ScimGroupRow>,
        w: ScimGroupWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>>;
    async fn scim_delete_group(
        &self,
        id: &str,
        expected: Option<ScimGroupRow>,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>>;
}
