//! API tokens: create (shown once), list, delete by prefix or whole token, impersonate.

use std::time::Duration;

use wmill_api::{ActionKind, ImpersonateToken, NewToken, TruncatedToken};

use super::{Caller, Member, Service, paginate};
use crate::clock::{Micros, to_ts};
use crate::domain::{Email, WorkspaceId, quote, text_field};
use crate::error::{Error, Result};
use crate::scope::Scopes;
use crate::store::NewAudit;
use crate::store::{
    Mint, NewTokenRow, TokenChange, TokenDeletion, TokenKind, TokenSelector, TokenUpdate,
};
use crate::token;

impl Service {
    /// Validates an expiration: in the future, within `cap` and the instance's token
    /// lifetime cap. An absent one means never, or the cap when there is one.
    fn expiration(&self, raw: Option<&str>, cap: Option<Duration>) -> Result<Option<Micros>> {
        let now = self.now();
        let cap = match (cap, self.settings.max_token_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let until = cap.map(|d| now.saturating_add(d.as_micros() as Micros));
        let Some(raw) = raw else { return Ok(until) };
        let t = wmill_api::parse_timestamp(raw)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "expiration {} is not a timestamp: use RFC 3339 (2026-01-01T00:00:00Z) or a date (2026-01-01)",
                    quote(raw)
                ))
            })?
            .timestamp_micros();
        if t <= now {
            return Err(Error::BadRequest("expiration is in the past".into()));
        }
        if let (Some(until), Some(ttl)) = (until, cap)
            && t > until
        {
            return Err(Error::BadRequest(format!(
                "expiration is beyond the longest lifetime this token may have ({} seconds)",
                ttl.as_secs()
            )));
        }
        Ok(Some(t))
    }

    /// Mints a token and answers it raw; refused (401) when its account, or the superadmin
    /// behind an impersonation, lost the right to one while the request was in flight.
    async fn mint_for(&self, row: NewTokenRow, raw: String, audit: NewAudit) -> Result<String> {
        match self.store.create_token(row, audit).await? {
            Mint::Minted => Ok(raw),
            Mint::NoAccount | Mint::NoMinter => Err(Error::unauthorized()),
        }
    }

    /// What a token minted by `c` may be: never more than `c`'s own token (a subset of its
    /// scopes, read-only if it is, and, for a restricted or impersonation token, expiring no
    /// later; an impersonation's child answers to the same superadmin). Absent requests
    /// inherit the parent's restrictions.
    fn child_limits(
        c: &Caller,
        scopes: Option<&[String]>,
        read_only: Option<bool>,
        expiration: Option<Micros>,
    ) -> Result<(Scopes, bool, Option<Micros>)> {
        // Absent or empty: as the parent.
        let scopes = match scopes.filter(|l| !l.is_empty()) {
            None => c.scopes.clone(),
            Some(list) => Scopes::parse(Some(list)).map_err(Error::BadRequest)?,
        };
        if let Some(missing) = c.scopes.first_missing(&scopes) {
            return Err(Error::ScopeRefused(format!(
                "a token can only mint tokens within its own scopes, and this one lacks {missing}"
            )));
        }
        if c.read_only && read_only == Some(false) {
            return Err(Error::ScopeRefused(
                "a read-only token can only mint read-only tokens".into(),
            ));
        }
        let read_only = c.read_only || read_only.unwrap_or(false);
        // A restricted token's children expire no later than it does; an unrestricted one
        // (a login session) may mint a longer-lived API token, as with any login.
        let restricted = c.scopes.is_restricted() || c.read_only || c.impersonator.is_some();
        let parent = c.expiration.filter(|_| restricted);
        let expiration = match (parent, expiration) {
            (Some(parent), Some(e)) if e > parent => {
                return Err(Error::BadRequest(
                    "a token cannot mint one that outlives it: ask for an earlier expiration"
                        .into(),
                ));
            }
            (Some(parent), None) => Some(parent),
            (_, e) => e,
        };
        Ok((scopes, read_only, expiration))
    }

    /// Mints a token for the caller, within the caller's own token's limits. A token minted
    /// with an impersonation token is one too: it answers to the same superadmin.
    pub async fn create_token(&self, c: &Caller, req: NewToken) -> Result<String> {
        let label = text_field("label", req.label, 1000)?;
        // An empty expiration is none, like an absent one.
        let expiration =
            self.expiration(req.expiration.as_deref().filter(|s| !s.is_empty()), None)?;
        let (scopes, read_only, expiration) =
            Self::child_limits(c, req.scopes.as_deref(), req.read_only, expiration)?;
        let workspace_id = match req.workspace_id {
            None => None,
            Some(w) => {
                let ws = WorkspaceId::parse(&w)?;
                if self.store.workspace(ws.as_str()).await?.is_none() {
                    return Err(Error::NotFound(format!("workspace {ws} not found")));
                }
                if !c.super_admin
                    && self
                        .store
                        .member(ws.as_str(), &c.email)
                        .await?
                        .is_none_or(|m| m.disabled)
                {
                    return Err(Error::PermissionDenied(format!(
                        "{} is not a member of workspace {ws}",
                        c.email
                    )));
                }
                Some(ws.to_string())
            }
        };
        let kind = if c.impersonator.is_some() {
            TokenKind::Impersonation
        } else {
            TokenKind::Api
        };
        let minted = token::mint();
        let mut audit = self.global_audit(c, "users.token.create", ActionKind::Create, None);
        audit.resource = Some(token::truncated(&minted.prefix));
        if scopes.is_restricted() || read_only {
            audit.parameters = Some(serde_json::json!({
                "scopes": scopes.to_wire(),
                "read_only": read_only,
            }));
        }
        let row = NewTokenRow {
            hash: minted.hash,
            prefix: minted.prefix,
            email: c.email.clone(),
            label,
            expiration,
            workspace_id,
            created_at: self.now(),
            kind,
            impersonator: c.impersonator.clone(),
            scopes: scopes.to_stored(),
            read_only,
            minted_by: None,
        };
        self.mint_for(row, minted.raw, audit).await
    }

    /// Mints a token for a service account of the workspace (workspace admin): pinned to the
    /// workspace, within the admin's own token's limits, surviving the admin who minted it
    /// (who is named in the audit entry and on the token).
    pub async fn service_account_token(
        &self,
        m: &Member,
        req: wmill_api::ServiceAccountToken,
    ) -> Result<String> {
        m.require_admin()?;
        let label = text_field("label", req.label, 1000)?;
        let expiration =
            self.expiration(req.expiration.as_deref().filter(|s| !s.is_empty()), None)?;
        let (scopes, read_only, expiration) =
            Self::child_limits(&m.caller, req.scopes.as_deref(), req.read_only, expiration)?;
        let not_found = || {
            Error::NotFound(format!(
                "{} is not a service account of workspace {}",
                quote(&req.username),
                m.workspace
            ))
        };
        let user = crate::domain::Username::existing(&req.username).map_err(|_| not_found())?;
        let sa = self
            .store
            .member_by_username(m.workspace.as_str(), user.as_str())
            .await?
            .filter(|sa| sa.service_account)
            .ok_or_else(not_found)?;
        if sa.disabled {
            return Err(Error::Conflict(format!(
                "service account {} is disabled",
                sa.username
            )));
        }
        let minted = token::mint();
        let mut audit = self.ws_audit(m, "users.token.create", ActionKind::Create, None);
        audit.resource = Some(token::truncated(&minted.prefix));
        audit.parameters = Some(serde_json::json!({
            "service_account": sa.username,
            "scopes": scopes.to_wire(),
            "read_only": read_only,
        }));
        let row = NewTokenRow {
            hash: minted.hash,
            prefix: minted.prefix,
            email: sa.email,
            label: label.or_else(|| Some("service account".into())),
            expiration,
            workspace_id: Some(m.workspace.to_string()),
            created_at: self.now(),
            kind: TokenKind::Api,
            impersonator: None,
            scopes: scopes.to_stored(),
            read_only,
            minted_by: Some(m.caller.email.clone()),
        };
        self.mint_for(row, minted.raw, audit).await
    }

    /// Renames one of the caller's tokens.
    pub async fn update_token_label(
        &self,
        c: &Caller,
        prefix: &str,
        label: String,
    ) -> Result<String> {
        let label = text_field("label", Some(label), 1000)?.unwrap_or_default();
        let mut audit = self.global_audit(
            c,
            "users.token.update",
            ActionKind::Update,
            Some(token::truncated(prefix)),
        );
        audit.parameters = Some(serde_json::json!({ "label": label }));
        self.update_token(c, prefix, TokenUpdate::Label(label), &|_| true, audit)
            .await
            .map(|()| format!("label of token {prefix} updated"))
    }

    /// Changes the scopes of one of the caller's tokens: narrowing always; widening only as
    /// far as the caller's own token goes.
    pub async fn update_token_scopes(
        &self,
        c: &Caller,
        prefix: &str,
        scopes: Vec<String>,
    ) -> Result<String> {
        let new = Scopes::parse(Some(&scopes)).map_err(Error::BadRequest)?;
        let mut audit = self.global_audit(
            c,
            "users.token.update",
            ActionKind::Update,
            Some(token::truncated(prefix)),
        );
        audit.parameters = Some(serde_json::json!({ "scopes": new.to_wire() }));
        let caller_covers = c.scopes.cover(&new);
        let allowed = |old: Option<&str>| caller_covers || Scopes::from_stored(old).cover(&new);
        let stored = new.to_stored();
        match self
            .update_token(c, prefix, TokenUpdate::Scopes(stored), &allowed, audit)
            .await
        {
            Err(Error::ScopeRefused(_)) => Err(Error::ScopeRefused(format!(
                "the scopes of token {prefix} can be narrowed, but widened only as far as this \
                 token's own: it lacks {}",
                c.scopes.first_missing(&new).unwrap_or_default()
            ))),
            other => other.map(|()| format!("scopes of token {prefix} updated")),
        }
    }

    async fn update_token(
        &self,
        c: &Caller,
        prefix: &str,
        change: TokenUpdate,
        allowed: &(dyn for<'s> Fn(Option<&'s str>) -> bool + Send + Sync),
        audit: NewAudit,
    ) -> Result<()> {
        let not_found =
            || Error::NotFound(format!("you have no token with prefix {}", quote(prefix)));
        if prefix.len() != wmill_api::TOKEN_PREFIX_LEN
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(not_found());
        }
        match self
            .store
            .update_token(&c.email, prefix, change, allowed, audit)
            .await?
        {
            TokenChange::Done => Ok(()),
            TokenChange::NotFound => Err(not_found()),
            TokenChange::Refused(_) => Err(Error::ScopeRefused("widening refused".into())),
            TokenChange::Ambiguous(n) => Err(Error::Conflict(format!(
                "prefix {prefix} matches {n} of your tokens; nothing was changed"
            ))),
        }
    }

    /// The scopes a token may hold, in Windmill's `ScopeDomain` shape.
    pub fn list_scopes(&self) -> Vec<wmill_api::ScopeDomain> {
        crate::scope::DOMAINS
            .iter()
            .map(|(domain, description)| wmill_api::ScopeDomain {
                name: (*domain).into(),
                description: Some((*description).into()),
                scopes: crate::scope::ACTIONS
                    .iter()
                    .map(|(action, what)| wmill_api::ScopeDefinition {
                        value: format!("{domain}:{action}"),
                        label: format!("{what}: {domain}"),
                        description: None,
                        requires_resource_path: false,
                    })
                    .collect(),
            })
            .collect()
    }

    /// Mints a token acting as another, enabled account (superadmin only, not through an
    /// impersonation token). It expires after the instance's impersonation lifetime (or
    /// sooner when asked), dies with its minter's superadmin rights, and every audit entry
    /// made with it names the minter.
    pub async fn impersonate(&self, c: &Caller, req: ImpersonateToken) -> Result<String> {
        c.require_superadmin()?;
        c.require_scope("users:admin")?;
        if c.impersonator.is_some() {
            return Err(Error::PermissionDenied(
                "an impersonation token cannot mint impersonation tokens".into(),
            ));
        }
        let target = Email::parse(&req.impersonate_email)?;
        let label = text_field("label", req.label, 1000)?;
        let expiration = self.expiration(
            req.expiration.as_deref().filter(|s| !s.is_empty()),
            Some(self.settings.impersonation_ttl),
        )?;
        match self.store.account(target.as_str()).await? {
            None => {
                return Err(Error::NotFound(format!(
                    "user with email {target} not found"
                )));
            }
            Some(a) if a.disabled => {
                return Err(Error::Conflict(format!(
                    "{target} is disabled: a disabled account cannot be impersonated"
                )));
            }
            Some(_) => {}
        }
        let minted = token::mint();
        let mut audit = self.global_audit(c, "users.impersonate", ActionKind::Create, None);
        audit.resource = Some(token::truncated(&minted.prefix));
        audit.parameters = Some(serde_json::json!({ "impersonated": target.as_str() }));
        let row = NewTokenRow {
            hash: minted.hash,
            prefix: minted.prefix,
            email: target.to_string(),
            label,
            expiration,
            workspace_id: None,
            created_at: self.now(),
            kind: TokenKind::Impersonation,
            impersonator: Some(c.email.clone()),
            scopes: None,
            read_only: false,
            minted_by: None,
        };
        self.mint_for(row, minted.raw, audit).await
    }

    /// The caller's tokens, newest first.
    ///
    /// Windmill's `exclude_ephemeral` leaves out tokens that scripts mint for themselves; this
    /// server mints none, and a label chosen by a client never hides a token.
    pub async fn list_tokens(
        &self,
        c: &Caller,
        page: Option<i64>,
        per_page: Option<i64>,
    ) -> Result<Vec<TruncatedToken>> {
        let (offset, limit) = paginate(page, per_page);
        let rows = self.store.list_tokens(&c.email, offset, limit).await?;
        let pending = self.last_used.lock().expect("last_used lock").clone();
        Ok(rows
            .into_iter()
            .map(|r| TruncatedToken {
                label: r.label,
                expiration: r.expiration.map(to_ts),
                created_at: to_ts(r.created_at),
                last_used_at: to_ts(r.last_used_at),
                scopes: Scopes::from_stored(r.scopes.as_deref()).to_wire(),
                workspace_id: r.workspace_id,
                token_prefix: r.prefix,
                read_only: r.read_only,
                email: Some(r.email),
            })
            .map(|mut t| {
                // The own token's pending use is not yet flushed; show it anyway.
                if t.token_prefix == c.token_prefix
                    && let Some(at) = pending.get(&c.token_hash)
                {
                    t.last_used_at = t.last_used_at.max(to_ts(*at));
                }
                t
            })
            .collect())
    }

    /// Deletes one of the caller's tokens, named by its 10-character prefix or in full.
    pub async fn delete_token(&self, c: &Caller, prefix_or_token: &str) -> Result<String> {
        let s = prefix_or_token;
        let (which, prefix) = if token::well_formed(s) {
            (
                TokenSelector::Hash(token::digest(s)),
                token::prefix_of(s).to_string(),
            )
        } else if s.len() == wmill_api::TOKEN_PREFIX_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            (TokenSelector::Prefix(s.to_string()), s.to_string())
        } else {
            // Neither a token we minted nor a prefix: certainly none of the caller's.
            return Err(Error::NotFound(format!(
                "you have no token {}: pass the 10-character prefix shown by 'token list', or \
                 the whole token",
                quote(s)
            )));
        };
        let audit = self.global_audit(
            c,
            "users.token.delete",
            ActionKind::Delete,
            Some(token::truncated(&prefix)),
        );
        match self.store.delete_tokens(&c.email, which, audit).await? {
            TokenDeletion::Deleted(prefixes) => {
                let list: Vec<String> = prefixes.iter().map(|p| token::truncated(p)).collect();
                Ok(format!(
                    "deleted {} tokens {list:?} with prefix {prefix}",
                    list.len()
                ))
            }
            TokenDeletion::NotFound => Err(Error::NotFound(format!(
                "you have no token with prefix {prefix}"
            ))),
            TokenDeletion::Ambiguous(n) => Err(Error::Conflict(format!(
                "prefix {prefix} matches {n} of your tokens ({}); nothing was deleted: pass the whole token",
                vec![token::truncated(&prefix); n].join(", ")
            ))),
        }
    }
}
