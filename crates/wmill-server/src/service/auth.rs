//! Authentication: resolving a token into a caller (without writing to the database),
//! logging in and out, whoami, own password.

use std::net::IpAddr;

use wmill_api::{ActionKind, GlobalUserInfo, UserInfo};

use super::{Caller, Member, Service};
use crate::clock::{Micros, to_ts};
use crate::domain::{Email, WorkspaceId, check_password};
use crate::error::{Error, Result};
use crate::password::Verified;
use crate::store::{NewAudit, NewTokenRow, TokenAuthRow};
use crate::token;

/// A successful login.
pub struct LoginOutcome {
    /// The session token, to be shown once.
    pub token: String,
    /// When it expires.
    pub expires_at: Micros,
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
        if row.disabled || row.expiration.is_some_and(|e| e <= now) {
            return Err(Error::unauthorized());
        }
        self.mark_used(&hash, now);
        Ok(Caller {
            email: row.email,
            super_admin: row.super_admin,
            token_hash: hash,
            token_prefix: row.prefix,
            pinned: row.workspace_id,
            name: row.name,
            company: row.company,
            username: row.username,
            first_time_user: row.first_time_user,
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

    /// Exchanges credentials for a session token. Every failure answers the same.
    pub async fn login(&self, email: &str, password: String, ip: IpAddr) -> Result<LoginOutcome> {
        let invalid = || Error::BadRequest("Invalid login".into());
        let now = self.now();
        // An address that cannot be an email still costs a verification, so that timing
        // does not tell it apart, but is never stored.
        let email = Email::parse(email).ok();
        let key = email.as_ref().map_or("", |e| e.as_str()).to_string();
        if !self.throttle.allow(&key, ip, now) {
            return Err(Error::TooManyRequests(
                "too many login attempts; wait a few minutes and try again".into(),
            ));
        }
        let account = match &email {
            Some(e) => self.store.account(e.as_str()).await?,
            None => None,
        };
        let stored = account
            .as_ref()
            .filter(|a| !a.disabled)
            .map(|a| a.password_hash.clone());
        let verified = self.hasher.verify(password, stored).await?;
        let rehash = match verified {
            Verified::No => {
                self.throttle.failed(&key, now);
                if let Some(e) = &email {
                    self.store
                        .record_audit(NewAudit {
                            workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
                            timestamp: now,
                            username: e.to_string(),
                            email: Some(e.to_string()),
                            operation: "users.login_failure",
                            action_kind: ActionKind::Create,
                            resource: None,
                            parameters: None,
                        })
                        .await?;
                }
                return Err(invalid());
            }
            Verified::Yes => None,
            Verified::YesRehashed(h) => Some(h),
        };
        let email = email.ok_or_else(invalid)?;
        self.throttle.succeeded(email.as_str());
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
        };
        let row = NewTokenRow {
            hash: minted.hash,
            prefix: minted.prefix,
            email: email.to_string(),
            label: Some("session".into()),
            expiration: Some(expires_at),
            workspace_id: None,
            created_at: now,
        };
        let first_login = account.as_ref().is_none_or(|a| a.first_time_user);
        self.store.login(row, rehash, first_login, audit).await?;
        Ok(LoginOutcome {
            token: minted.raw,
            expires_at,
        })
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
        };
        self.store.revoke_token(&hash, audit).await?;
        self.last_used.lock().expect("last_used lock").remove(&hash);
        Ok(())
    }

    /// The caller's instance account, as read with their token.
    pub fn whoami(&self, c: &Caller) -> GlobalUserInfo {
        GlobalUserInfo {
            email: c.email.clone(),
            login_type: "password".into(),
            super_admin: c.super_admin,
            devops: false,
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
        let groups = if m.is_member {
            self.store
                .group_names(m.workspace.as_str(), Some(&m.username), 0, 100_000)
                .await?
        } else {
            Vec::new()
        };
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

    /// Changes the caller's own password.
    pub async fn set_own_password(&self, c: &Caller, password: String) -> Result<String> {
        check_password(&password, self.settings.password_min_chars)?;
        let hash = self.hasher.hash(password).await?;
        let audit = self.global_audit(
            c,
            "users.setpassword",
            ActionKind::Update,
            Some(c.email.clone()),
        );
        if !self
            .store
            .set_password(&c.email, &hash, Some(audit))
            .await?
        {
            return Err(Error::unauthorized());
        }
        Ok(format!("password of {} updated", c.email))
    }
}

/// The digest of a token that has a token's shape; anything else is refused before any read.
fn digest_well_formed(raw: &str) -> Result<String> {
    if !token::well_formed(raw) {
        return Err(Error::unauthorized());
    }
    Ok(token::digest(raw))
}
