//! Authentication: resolving a token into a caller (without writing to the database),
//! logging in and out, whoami, own password.

use std::net::IpAddr;

use wmill_api::{ActionKind, GlobalUserInfo, UserInfo};

use super::{Caller, Member, Service};
use crate::clock::{Micros, to_ts};
use crate::domain::{Email, WorkspaceId, check_password};
use crate::error::{Error, Result};
use crate::password::Verified;
use crate::scope::Scopes;
use crate::store::{
    Attempt, EndSessions, LoginRecord, NewAudit, NewTokenRow, TokenAuthRow, TokenKind,
};
use crate::throttle::AuditBudget;
use crate::token;

/// The log line about refused logins from one address, written at most once a minute per
/// address: the first refusal at once, then how many came since, with the address (and, when
/// written at a refusal, its reason and the account tried). Never the password.
const REFUSED_LOGINS: &str =
    "refused logins from one address since its last report (one report a minute at most)";

/// The refusal of a right password when `--password-login disabled` applies to the account.
pub const PASSWORD_LOGIN_DISABLED: &str =
    "Password login is disabled on this server: sign in with single sign-on";

/// A successful login.
pub struct LoginOutcome {
    /// The session token, to be shown once.
    pub token: String,
    /// When it expires.
    pub expires_at: Micros,
    /// Whether this was the account's first sign-in (its password was set by someone else).
    pub first_login: bool,
}

impl Service {
    /// Resolves a raw token into its caller, or refuses it. Reads only.
    pub async fn authenticate(&self, raw: &str) -> Result<Caller> {
        let hash = digest_well_formed(raw)?;
        let row = self
            .store
            .token_auth(&hash)
            .await?
            .ok_or_else(Error::unauthorized)?;
        self.caller(hash, row)
    }

    /// The caller a token's row stands for, if it is still valid.
    fn caller(&self, hash: String, row: TokenAuthRow) -> Result<Caller> {
        let now = self.now();
        if row.disabled || !row.impersonator_ok || row.expiration.is_some_and(|e| e <= now) {
            return Err(Error::unauthorized());
        }
        self.mark_used(&hash, now);
        Ok(Caller {
            email: row.email,
            super_admin: row.super_admin,
            token_hash: hash,
            token_prefix: row.prefix,
            pinned: row.workspace_id,
            impersonator: row.impersonator,
            expiration: row.expiration,
            scopes: Scopes::from_stored(row.scopes.as_deref()),
            read_only: row.read_only,
            service_account: row.service_account,
            devops: row.devops,
            name: row.name,
            company: row.company,
            username: row.username,
            first_time_user: row.first_time_user,
            login_type: row.login_type,
        })
    }

    /// A caller on an instance route: workspace-pinned tokens are refused there.
    pub async fn instance_caller(&self, raw: &str) -> Result<Caller> {
        let c = self.authenticate(raw).await?;
        if c.pinned.is_some() {
            return Err(Error::unauthorized());
        }
        Ok(c)
    }

    /// A caller on a route of workspace `ws`: an enabled member, or a superadmin.
    pub async fn workspace_member(&self, raw: &str, ws: &str) -> Result<Member> {
        let hash = digest_well_formed(raw)?;
        let Ok(workspace) = WorkspaceId::from_path(ws) else {
            // Not a workspace name: only the token decides between 401 and 404.
            let caller = self.authenticate(raw).await?;
            if caller.pinned.is_some() || !caller.super_admin {
                return Err(Error::unauthorized());
            }
            return Err(Error::NotFound(format!(
                "workspace {} not found",
                crate::domain::quote(ws)
            )));
        };
        let auth = self
            .store
            .token_auth_in(&hash, workspace.as_str())
            .await?
            .ok_or_else(Error::unauthorized)?;
        let caller = self.caller(hash, auth.token)?;
        if caller.pinned.as_deref().is_some_and(|p| p != ws) {
            return Err(Error::unauthorized());
        }
        match auth.member {
            Some(m) if !m.disabled => Ok(Member {
                is_admin: m.is_admin || caller.super_admin,
                operator: m.operator,
                username: m.username,
                is_member: true,
                created_at: Some(m.created_at),
                workspace,
                caller,
            }),
            _ if caller.super_admin => {
                if !auth.workspace_exists {
                    return Err(Error::NotFound(format!("workspace {workspace} not found")));
                }
                Ok(Member {
                    username: caller.email.clone(),
                    is_admin: true,
                    operator: false,
                    is_member: false,
                    created_at: None,
                    workspace,
                    caller,
                })
            }
            _ => Err(Error::unauthorized()),
        }
    }

    /// Exchanges credentials for a session token. Every failure answers the same, whether
    /// the account exists or not; every refusal is audited (at most a few a minute per client
    /// address, so that a flood cannot bury the log).
    ///
    /// The order matters: the client address's budget first (memory), then the account's
    /// failure count in the database, incremented *before* the password is verified, so that
    /// parallel guesses cannot outrun the lock; the session is minted only if the account
    /// still has the password that was verified and is still enabled.
    pub async fn login(&self, email: &str, password: String, ip: IpAddr) -> Result<LoginOutcome> {
        let invalid = || Error::BadRequest("Invalid login".into());
        let too_many = || {
            Error::TooManyRequests(
                "too many login attempts; wait a few minutes and try again".into(),
            )
        };
        let now = self.now();
        let email = Email::parse(email).ok();
        if !self.throttle.allow(ip, now) {
            self.refused_login(email.as_ref(), ip, "too many attempts from this address")
                .await?;
            return Err(too_many());
        }
        let Some(email) = email else {
            // An address that cannot be an email still costs a verification, so that timing
            // does not tell it apart, but is never stored (people type passwords there).
            self.hasher.verify(password, None).await?;
            self.refused_login(None, ip, "malformed email").await?;
            return Err(invalid());
        };
        // Whether this attempt, if it fails, locks the account (until then).
        let locks = match self
            .store
            .count_login_attempt(email.as_str(), now, self.lockout())
            .await?
        {
            Attempt::Locked { .. } => {
                self.refused_login(Some(&email), ip, "account locked")
                    .await?;
                return Err(too_many());
            }
            Attempt::Allowed { locks } => locks.then(|| now + self.lockout().lock_for),
        };
        let account = self.store.account(email.as_str()).await?;
        let stored = account
            .as_ref()
            .filter(|a| !a.disabled)
            .map(|a| a.password_hash.clone());
        let rehash = match self.hasher.verify(password, stored.clone()).await? {
            Verified::No => {
                let reason = match &account {
                    None => "unknown account",
                    Some(a) if a.disabled => "account disabled",
                    Some(_) => "wrong password",
                };
                self.log_lockout(&email, ip, locks);
                self.refused_login(Some(&email), ip, reason).await?;
                return Err(invalid());
            }
            Verified::Yes => None,
            Verified::YesRehashed(h) => Some(h),
        };
        let verified_hash = stored.ok_or_else(invalid)?;
        if self.settings.password_login_disabled
            && !account
                .as_ref()
                .is_some_and(|a| a.super_admin || a.group_super_admin)
        {
            self.refused_login(
                Some(&email),
                ip,
                "password login is disabled for non-superadmins",
            )
            .await?;
            return Err(Error::BadRequest(PASSWORD_LOGIN_DISABLED.into()));
        }
        let minted = token::mint();
        let expires_at = now + self.settings.session_ttl.as_micros() as Micros;
        let audit = NewAudit {
            workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
            timestamp: now,
            username: email.to_string(),
            email: Some(email.to_string()),
            operation: "users.login",
            action_kind: ActionKind::Create,
            resource: Some(token::truncated(&minted.prefix)),
            parameters: None,
            impersonator: None,
        };
        let row = NewTokenRow {
            hash: minted.hash,
            prefix: minted.prefix,
            email: email.to_string(),
            label: Some("session".into()),
            expiration: Some(expires_at),
            workspace_id: None,
            created_at: now,
            kind: TokenKind::Session,
            impersonator: None,
            scopes: None,
            read_only: false,
            minted_by: None,
        };
        let first_login = account.as_ref().is_none_or(|a| a.first_time_user);
        let record = LoginRecord {
            token: row,
            verified_hash,
            rehash,
            first_login,
            audit,
        };
        if !self.store.login(record).await? {
            self.log_lockout(&email, ip, locks);
            self.refused_login(Some(&email), ip, "account changed during login")
                .await?;
            return Err(invalid());
        }
        Ok(LoginOutcome {
            token: minted.raw,
            expires_at,
            first_login,
        })
    }

    /// Logs (once, at warning level) that a failed login locked an account: the account,
    /// the client address and until when; `until` is `None` when the attempt did not lock.
    fn log_lockout(&self, email: &Email, ip: IpAddr, until: Option<Micros>) {
        if let Some(until) = until {
            crate::metrics::get().lockouts.inc();
            tracing::warn!(
                email = %email,
                %ip,
                until = %to_ts(until).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "account locked after {} failed logins in a row",
                self.settings.lockout_threshold.max(1)
            );
        }
    }

    /// Logs the refused logins from each address that were counted but not reported yet,
    /// once a minute has passed since the address's last line (called periodically).
    pub fn report_refused_logins(&self) {
        for (ip, refused) in self.throttle.take_unreported(self.now()) {
            tracing::info!(%ip, refused, "{REFUSED_LOGINS}");
        }
    }

    /// Audits a refused login (`users.login_failure`, with the reason and the client
    /// address), within the address's budget of audited refusals, and counts it for the log
    /// (see [`REFUSED_LOGINS`]).
    async fn refused_login(&self, email: Option<&Email>, ip: IpAddr, reason: &str) -> Result<()> {
        self.refused_login_via(email, ip, reason, None).await
    }

    /// Audits a refused login (see `refused_login`), naming the single sign-on provider
    /// that was used, if any.
    pub(super) async fn refused_login_via(
        &self,
        email: Option<&Email>,
        ip: IpAddr,
        reason: &str,
        provider: Option<&str>,
    ) -> Result<()> {
        let now = self.now();
        let refused = self.throttle.refuse(ip, now);
        if let Some(n) = refused.report {
            let account = email.map_or("-", Email::as_str);
            tracing::info!(%ip, refused = n, latest = reason, %account, "{REFUSED_LOGINS}");
        }
        let budget = refused.audit;
        if budget == AuditBudget::No {
            return Ok(());
        }
        let mut parameters = serde_json::json!({ "reason": reason, "ip": ip.to_string() });
        if let (Some(p), Some(o)) = (provider, parameters.as_object_mut()) {
            o.insert("provider".into(), p.into());
        }
        if budget == AuditBudget::Last
            && let Some(p) = parameters.as_object_mut()
        {
            p.insert(
                "note".into(),
                "further refused logins from this address are not audited for the rest of \
                 the minute"
                    .into(),
            );
            tracing::warn!(%ip, "many refused logins from one address; auditing paused for a minute");
        }
        let who = email.map_or("unknown", Email::as_str);
        self.store
            .record_audit(NewAudit {
                workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
                timestamp: now,
                username: who.to_string(),
                email: email.map(|e| e.to_string()),
                operation: "users.login_failure",
                action_kind: ActionKind::Create,
                resource: None,
                parameters: Some(parameters),
                impersonator: None,
            })
            .await?;
        Ok(())
    }

    /// Audits a login request whose body could not be read as a login (not JSON, fields
    /// missing): nothing of it is kept.
    pub async fn malformed_login(&self, ip: IpAddr) -> Result<()> {
        self.refused_login(None, ip, "malformed request").await
    }

    /// Deletes the presented token. Unknown or malformed tokens are already logged out.
    pub async fn logout(&self, raw: &str) -> Result<()> {
        if !token::well_formed(raw) {
            return Ok(());
        }
        let hash = token::digest(raw);
        let Some(row) = self.store.token_auth(&hash).await? else {
            return Ok(());
        };
        let audit = NewAudit {
            workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
            timestamp: self.now(),
            username: row.email.clone(),
            email: Some(row.email.clone()),
            operation: "users.logout",
            action_kind: ActionKind::Delete,
            resource: Some(token::truncated(&row.prefix)),
            parameters: None,
            impersonator: row.impersonator.clone(),
        };
        self.store.revoke_token(&hash, audit).await?;
        self.last_used.lock().expect("last_used lock").remove(&hash);
        Ok(())
    }

    /// The caller's instance account, as read with their token.
    pub fn whoami(&self, c: &Caller) -> GlobalUserInfo {
        GlobalUserInfo {
            email: c.email.clone(),
            login_type: if c.service_account {
                "service_account".into()
            } else {
                c.login_type.clone().unwrap_or_else(|| "password".into())
            },
            super_admin: c.super_admin,
            devops: c.devops,
            verified: true,
            name: c.name.clone(),
            company: c.company.clone(),
            username: c.username.clone(),
            first_time_user: c.first_time_user,
            // A disabled account's tokens do not authenticate.
            disabled: false,
        }
    }

    /// The caller as a member of the workspace.
    pub async fn whoami_in_workspace(&self, m: &Member) -> Result<UserInfo> {
        // The workspace's groups of the member, and their instance groups (as in Windmill).
        let mut groups = if m.is_member {
            self.store
                .group_names(m.workspace.as_str(), Some(&m.username), 0, 100_000)
                .await?
        } else {
            Vec::new()
        };
        if m.is_member && m.caller.pinned.is_none() && !m.caller.service_account {
            groups.extend(self.store.instance_groups_of(&m.caller.email).await?);
        }
        groups.sort();
        groups.dedup();
        Ok(UserInfo {
            workspace_id: m.workspace.to_string(),
            email: m.caller.email.clone(),
            username: m.username.clone(),
            name: m.caller.name.clone(),
            is_admin: m.is_admin,
            is_super_admin: m.caller.super_admin,
            created_at: to_ts(m.created_at.unwrap_or_else(|| self.now())),
            groups,
            operator: m.operator,
            disabled: false,
            role: Some(
                if !m.is_member {
                    "superadmin"
                } else if m.is_admin {
                    "admin"
                } else if m.operator {
                    "operator"
                } else {
                    "developer"
                }
                .into(),
            ),
            folders: Vec::new(),
            folders_read: Vec::new(),
            folders_owners: Vec::new(),
        })
    }

    /// Changes the caller's own password. Every other login session of the account ends
    /// (with `revoke_tokens`, its API tokens too); the token making the request stays.
    pub async fn set_own_password(
        &self,
        c: &Caller,
        password: String,
        revoke_tokens: bool,
    ) -> Result<String> {
        check_password(&password, self.settings.password_min_chars)?;
        let hash = self.hasher.hash(password).await?;
        let mut audit = self.global_audit(
            c,
            "users.setpassword",
            ActionKind::Update,
            Some(c.email.clone()),
        );
        audit.parameters = Some(serde_json::json!({ "revoke_tokens": revoke_tokens }));
        let end = EndSessions {
            keep: Some(c.token_hash.clone()),
            all_tokens: revoke_tokens,
        };
        if !self.store.set_password(&c.email, &hash, end, audit).await? {
            return Err(Error::unauthorized());
        }
        Ok(format!("password of {} updated", c.email))
    }
}

impl Service {
    /// Checks the caller's current password before a page changes it, so that a session
    /// left open is not enough to take the account. Throttled per address like a login; a
    /// wrong password is audited as a refused login (it does not count towards the
    /// account's lockout: its owner is signed in).
    pub async fn check_own_password(&self, c: &Caller, password: String, ip: IpAddr) -> Result<()> {
        let now = self.now();
        let email = Email::parse(&c.email).ok();
        if !self.throttle.allow(ip, now) {
            self.refused_login(email.as_ref(), ip, "too many attempts from this address")
                .await?;
            return Err(Error::TooManyRequests(
                "too many attempts; wait a few minutes and try again".into(),
            ));
        }
        let stored = match &email {
            Some(e) => self
                .store
                .account(e.as_str())
                .await?
                .filter(|a| !a.disabled)
                .map(|a| a.password_hash),
            None => None,
        };
        match self.hasher.verify(password, stored).await? {
            Verified::No => {
                self.refused_login(email.as_ref(), ip, "wrong current password")
                    .await?;
                Err(Error::BadRequest(
                    "the current password is not right".into(),
                ))
            }
            Verified::Yes | Verified::YesRehashed(_) => Ok(()),
        }
    }
}

/// The digest of a token that has a token's shape; anything else is refused before any read.
fn digest_well_formed(raw: &str) -> Result<String> {
    if !token::well_formed(raw) {
        return Err(Error::unauthorized());
    }
    Ok(token::digest(raw))
}
