//! The rules: who may do what, validation, usernames, audit entries. Handlers call one
//! service method; each method checks permissions first, then makes one store call (one
//! transaction, audit entry included).

pub mod audit;
mod auth;
mod groups;
mod instance;
mod scim;
mod settings;
mod sso;
mod tokens;
mod users;
mod workspaces;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wmill_api::ActionKind;

pub use crate::store::AUDIT_ACTIVITY_ROWS;
pub use auth::{LoginOutcome, PASSWORD_LOGIN_DISABLED};
pub use instance::MAX_OVERWRITE_ROWS;
pub use scim::{SCIM_LABEL_PATTERN, ScimCaller};
pub use settings::{OperatorView, SyncFiles, SyncGroup, SyncUser};
pub use sso::{Callback, SsoDone, SsoRefused};

use crate::clock::{Clock, Micros};
use crate::config::Settings;
use crate::domain::WorkspaceId;
use crate::error::{Error, Result};
use crate::password::Hasher;
use crate::scope::{Scope, Scopes};
use crate::store::{LockoutPolicy, NewAudit, Store, StoreError};
use crate::throttle::Throttle;

/// The application: storage, clock and policy.
pub struct Service {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Hasher,
    settings: Settings,
    throttle: Throttle,
    /// token digest → last use, written back in batches.
    last_used: Mutex<HashMap<String, Micros>>,
    /// The single sign-on providers configured (none by default).
    oidc: crate::oidc::Providers,
    /// The key that signs audit checkpoints (`--audit-signing-key`).
    audit_key: Option<Arc<ed25519_dalek::SigningKey>>,
    /// How long audit entries are kept (`--audit-retention-days`); `None`: for ever.
    audit_retention: Option<std::time::Duration>,
    /// Where audit entries are delivered (`--audit-sink`).
    audit_sinks: Vec<Arc<crate::audit_sink::Sink>>,
}

/// A caller authenticated by a token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub email: String,
    pub super_admin: bool,
    pub token_hash: String,
    pub token_prefix: String,
    /// The workspace a pinned token is limited to.
    pub pinned: Option<String>,
    /// The superadmin who minted this impersonation token (and answers for what it does).
    pub impersonator: Option<String>,
    /// When the token expires.
    pub expiration: Option<Micros>,
    /// What the token may do on top of its user's rights.
    pub scopes: Scopes,
    /// Only GET, HEAD and OPTIONS.
    pub read_only: bool,
    /// The account is a service account.
    pub service_account: bool,
    /// Devops through an instance group (shown by whoami; this server gives it no rights of
    /// its own yet).
    pub devops: bool,
    /// The account's profile, read with the token.
    pub name: Option<String>,
    pub company: Option<String>,
    pub username: Option<String>,
    pub first_time_user: bool,
    /// The account's `login_type`: a single sign-on provider's name, or `None` (password).
    pub login_type: Option<String>,
}

/// A caller acting in a workspace: a member, or a superadmin who is not one.
#[derive(Debug, Clone)]
pub struct Member {
    pub caller: Caller,
    pub workspace: WorkspaceId,
    /// The member's username (a non-member superadmin's email).
    pub username: String,
    /// Workspace admin, or superadmin.
    pub is_admin: bool,
    pub operator: bool,
    /// False for a superadmin acting in a workspace they do not belong to.
    pub is_member: bool,
    pub created_at: Option<Micros>,
}

/// What a route needs of the token that calls it, declared next to the route (its OpenAPI
/// security requirement, see `http/openapi.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Any valid token (whoami, its own tokens, logout).
    AnyToken,
    /// A token whose scopes grant this one.
    Scope(Scope),
}

impl Caller {
    /// Whether this caller's token may call a route that needs `required` with `method`:
    /// a read-only token only reads; a scoped token only what its scopes grant. (What the
    /// user may do is checked by the operation itself, on top.)
    pub fn authorize(&self, required: Required, method: &axum::http::Method) -> Result<()> {
        use axum::http::Method;
        if self.read_only && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Err(Error::ScopeRefused("this token is read-only".into()));
        }
        if let Required::Scope(s) = required
            && !self.scopes.grant(s)
        {
            return Err(Error::ScopeRefused(format!(
                "this token lacks the scope {s}"
            )));
        }
        Ok(())
    }

    /// Passes when this caller's token grants `scope` (for rules inside an operation, such as
    /// password changes, that need more than the route's scope).
    pub fn require_scope(&self, scope: &str) -> Result<()> {
        let s = Scope::parse(scope).map_err(Error::internal)?;
        if self.scopes.grant(s) {
            Ok(())
        } else {
            Err(Error::ScopeRefused(format!(
                "this token lacks the scope {s}"
            )))
        }
    }

    /// Passes for superadmins only.
    pub fn require_superadmin(&self) -> Result<()> {
        if self.super_admin {
            Ok(())
        } else {
            Err(Error::NotAuthorized(
                "This endpoint requires the caller to be a super admin".into(),
            ))
        }
    }
}

impl Member {
    /// Passes for workspace admins (and superadmins).
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin {
            Ok(())
        } else {
            Err(Error::RequireAdmin(self.username.clone()))
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unique => {
                Error::Conflict("it was created at the same moment by another request".into())
            }
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::Timeout(m) => Error::Timeout(m),
            StoreError::Other(m) => Error::Internal(m),
        }
    }
}

/// `page` (1-based, 0 treated as 1) and `per_page` (default 1000, clamped to 1..=10000)
/// as `(offset, limit)`.
pub fn paginate(page: Option<i64>, per_page: Option<i64>) -> (i64, i64) {
    let per_page = per_page.unwrap_or(1000).clamp(1, 10_000);
    let page = page.unwrap_or(1).clamp(1, i64::MAX / 10_001);
    ((page - 1) * per_page, per_page)
}

impl Service {
    /// Builds the service.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Service {
        Service {
            hasher: Hasher::bounded(
                settings.argon2,
                settings.hash_concurrency,
                settings.hash_queue,
            ),
            throttle: Throttle::new(settings.login_per_ip_per_minute),
            store,
            clock,
            settings,
            last_used: Mutex::new(HashMap::new()),
            oidc: crate::oidc::Providers::default(),
            audit_key: None,
            audit_retention: None,
            audit_sinks: Vec::new(),
        }
    }

    /// The same service delivering its audit log to these sinks (started by
    /// [`crate::audit_sink::start`]); retention keeps what they have not acknowledged.
    pub fn with_audit_sinks(mut self, sinks: Vec<crate::audit_sink::SinkSpec>) -> Service {
        self.audit_sinks = sinks
            .into_iter()
            .map(|s| Arc::new(crate::audit_sink::Sink::new(s)))
            .collect();
        self
    }

    /// The audit sinks configured.
    pub fn audit_sinks(&self) -> &[Arc<crate::audit_sink::Sink>] {
        &self.audit_sinks
    }

    /// The same service removing audit entries older than `keep` (see `prune_audit`).
    pub fn with_audit_retention(mut self, keep: Option<std::time::Duration>) -> Service {
        self.audit_retention = keep;
        self
    }

    /// The same service signing audit checkpoints with this key.
    pub fn with_audit_key(mut self, key: Option<ed25519_dalek::SigningKey>) -> Service {
        self.audit_key = key.map(Arc::new);
        self
    }

    /// The same service with these single sign-on providers.
    pub fn with_oidc(mut self, providers: crate::oidc::Providers) -> Service {
        self.oidc = providers;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current time.
    pub fn now(&self) -> Micros {
        self.clock.now()
    }

    /// Whether the database answers.
    pub async fn healthy(&self) -> bool {
        self.store.healthy().await
    }

    /// The account-lockout policy in force.
    fn lockout(&self) -> LockoutPolicy {
        LockoutPolicy {
            threshold: self.settings.lockout_threshold,
            lock_for: self.settings.lockout.as_micros() as Micros,
        }
    }

    /// Forgets login-throttling state that can no longer matter (idle for longer than a
    /// lock lasts, and not locked). Returns how many accounts were forgotten.
    pub async fn sweep_login_throttle(&self) -> Result<u64> {
        let now = self.now();
        let before = now - self.lockout().lock_for;
        Ok(self.store.sweep_login_throttle(before, now).await?)
    }

    /// Password checks waiting or running.
    pub fn hashes_pending(&self) -> usize {
        self.hasher.pending()
    }

    /// Writes the batched `last_used_at` times back.
    pub async fn flush_last_used(&self) -> Result<()> {
        let batch: Vec<(String, Micros)> = self
            .last_used
            .lock()
            .expect("last_used lock")
            .drain()
            .collect();
        self.store.touch_tokens(batch).await?;
        Ok(())
    }

    fn mark_used(&self, hash: &str, now: Micros) {
        let mut used = self.last_used.lock().expect("last_used lock");
        // A token in use is usually in the batch already: no allocation then.
        match used.get_mut(hash) {
            Some(at) => *at = now,
            None => {
                used.insert(hash.to_string(), now);
            }
        }
    }

    /// An audit entry for an instance-level event by `caller`.
    fn global_audit(
        &self,
        caller: &Caller,
        op: &'static str,
        kind: ActionKind,
        resource: Option<String>,
    ) -> NewAudit {
        NewAudit {
            workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
            timestamp: self.now(),
            username: caller.email.clone(),
            email: Some(caller.email.clone()),
            operation: op,
            action_kind: kind,
            resource,
            parameters: None,
            impersonator: caller.impersonator.clone(),
        }
    }

    /// An audit entry for an event in `m`'s workspace.
    fn ws_audit(
        &self,
        m: &Member,
        op: &'static str,
        kind: ActionKind,
        resource: Option<String>,
    ) -> NewAudit {
        NewAudit {
            workspace_id: m.workspace.to_string(),
            timestamp: self.now(),
            username: m.username.clone(),
            email: Some(m.caller.email.clone()),
            operation: op,
            action_kind: kind,
            resource,
            parameters: None,
            impersonator: m.caller.impersonator.clone(),
        }
    }

    /// Whether this database has been bootstrapped already.
    pub async fn bootstrapped(&self) -> Result<bool> {
        Ok(self.store.bootstrapped().await?)
    }

    /// Creates the first superadmin and workspace `admins` on an empty database. Returns
    /// whether it ran.
    pub async fn bootstrap(
        &self,
        email: &str,
        password: &str,
    ) -> std::result::Result<bool, String> {
        let email = crate::domain::Email::parse(email).map_err(|e| format!("admin email: {e}"))?;
        crate::domain::check_password(password, self.settings.password_min_chars)
            .map_err(|e| format!("admin password: {e}"))?;
        let hash = self
            .hasher
            .hash_once(password.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let b = crate::store::Bootstrap {
            username_base: crate::domain::Username::base_from_email(&email),
            admin: crate::store::NewAccount {
                email: email.to_string(),
                password_hash: hash,
                super_admin: true,
                name: None,
                company: None,
                created_at: self.now(),
            },
            workspace_id: "admins".into(),
            workspace_name: "Admins".into(),
        };
        self.store.bootstrap(b).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::paginate;

    #[test]
    fn pagination_follows_windmill() {
        assert_eq!(paginate(None, None), (0, 1000));
        assert_eq!(paginate(Some(0), Some(10)), (0, 10));
        assert_eq!(paginate(Some(1), Some(10)), (0, 10));
        assert_eq!(paginate(Some(3), Some(10)), (20, 10));
        assert_eq!(paginate(Some(-5), Some(0)), (0, 1));
        assert_eq!(paginate(Some(2), Some(1_000_000)), (10_000, 10_000));
        let (offset, _) = paginate(Some(i64::MAX), Some(i64::MAX));
        assert!(offset > 0);
    }
}
