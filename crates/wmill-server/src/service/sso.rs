//! Single sign-on: starting a sign-in with a provider, and finishing it (the callback): the
//! started sign-in is taken once and must come back to the browser that started it, the
//! provider's answer is verified (`crate::oidc`), then the account is matched by its
//! verified email, created when its domain allows, refused when disabled, and given the
//! same session as a password login. Every refusal is audited with its reason.

use std::net::IpAddr;

use axum::http::StatusCode;
use wmill_api::ActionKind;

use super::Service;
use crate::clock::{Micros, to_ts};
use crate::domain::Email;
use crate::error::Result;
use crate::oidc::{LOGIN_TTL, RefusalKind};
use crate::store::{NewAudit, NewTokenRow, SsoLogin, SsoOutcome, SsoStart, TokenKind};
use crate::token;

/// A finished sign-in.
pub struct SsoDone {
    pub token: String,
    pub expires_at: Micros,
    /// Where the browser goes next (a path on this server).
    pub next: String,
}

/// A refused sign-in: what the person is told (their reason is in the audit log).
#[derive(Debug, Clone)]
pub struct SsoRefused {
    pub status: StatusCode,
    pub sentence: String,
}

fn refused(status: StatusCode, sentence: impl Into<String>) -> SsoRefused {
    SsoRefused {
        status,
        sentence: sentence.into(),
    }
}

/// What a browser's callback brings back.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
}

/// SHA-256 (hex) of a value kept only as a digest.
fn digest(v: &str) -> String {
    token::digest(v)
}

const START_AGAIN: &str = "This sign-in is out of date, was already used, or was started in another browser: start again from the sign-in page.";
const NOT_VERIFIED: &str = "The identity provider's answer could not be verified, so nobody was signed in. Start again; if it happens again, tell an administrator (the reason is in the audit log).";

impl Service {
    /// Audits and logs a refused single sign-on, and gives the refusal back.
    async fn sso_refuse(
        &self,
        name: &str,
        ip: IpAddr,
        email: Option<&str>,
        reason: String,
        r: SsoRefused,
    ) -> Result<std::result::Result<SsoDone, SsoRefused>> {
        let email = email.and_then(|e| Email::parse(e).ok());
        self.refused_login_via(email.as_ref(), ip, &reason, Some(name))
            .await?;
        tracing::info!(provider = name, %ip, "refused single sign-on: {reason}");
        Ok(Err(r))
    }

    /// The providers configured.
    pub fn oidc(&self) -> &crate::oidc::Providers {
        &self.oidc
    }

    /// Starts a sign-in with provider `name` for the browser holding `browser` (its binding
    /// cookie's value): returns the provider's authorization URL to redirect to.
    pub async fn sso_start(
        &self,
        name: &str,
        browser: &str,
        redirect_uri: String,
        next: String,
    ) -> Result<std::result::Result<String, SsoRefused>> {
        let Some(p) = self.oidc.get(name) else {
            return Ok(Err(refused(
                StatusCode::NOT_FOUND,
                "There is no sign-in provider of that name here.",
            )));
        };
        let started = match p.start(&redirect_uri) {
            Ok(s) => s,
            Err(_) => {
                return Ok(Err(refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{} cannot be reached yet: try again in a minute, or sign in another way.",
                        p.spec.name
                    ),
                )));
            }
        };
        let now = self.now();
        let ttl = LOGIN_TTL.as_micros() as Micros;
        self.store
            .start_sso(
                SsoStart {
                    state_hash: digest(&started.state),
                    browser_hash: digest(browser),
                    provider: name.to_string(),
                    nonce: started.nonce,
                    pkce_verifier: started.pkce_verifier,
                    redirect_uri,
                    next,
                    created_at: now,
                },
                now - ttl,
            )
            .await?;
        Ok(Ok(started.authorize_url))
    }

    /// Finishes a sign-in with provider `name`: the callback's parameters, the browser's
    /// binding cookie, the client's address.
    pub async fn sso_finish(
        &self,
        name: &str,
        cb: Callback,
        browser: Option<&str>,
        ip: IpAddr,
    ) -> Result<std::result::Result<SsoDone, SsoRefused>> {
        let Some(p) = self.oidc.get(name).cloned() else {
            return Ok(Err(refused(
                StatusCode::NOT_FOUND,
                "There is no sign-in provider of that name here.",
            )));
        };
        let Some(state) = cb.state.filter(|s| !s.is_empty()) else {
            return self
                .sso_refuse(
                    name,
                    ip,
                    None,
                    "callback without state".into(),
                    refused(StatusCode::BAD_REQUEST, START_AGAIN),
                )
                .await;
        };
        // Taken (deleted) whatever follows: a state is good for one try only.
        let Some(start) = self.store.take_sso(&digest(&state)).await? else {
            return self
                .sso_refuse(
                    name,
                    ip,
                    None,
                    "unknown or already used state".into(),
                    refused(StatusCode::BAD_REQUEST, START_AGAIN),
                )
                .await;
        };
        let now = self.now();
        let why = if start.provider != name {
            Some("state started with another provider")
        } else if browser.is_none_or(|b| digest(b) != start.browser_hash) {
            Some("state started in another browser")
        } else if now - start.created_at > LOGIN_TTL.as_micros() as Micros {
            Some("sign-in started too long ago")
        } else {
            None
        };
        if let Some(why) = why {
            return self
                .sso_refuse(
                    name,
                    ip,
                    None,
                    why.into(),
                    refused(StatusCode::BAD_REQUEST, START_AGAIN),
                )
                .await;
        }
        if let Some(e) = cb.error {
            let e: String = e.chars().take(60).collect();
            return self
                .sso_refuse(
                    name,
                    ip,
                    None,
                    format!("the provider answered with the error {e:?}"),
                    refused(
                        StatusCode::FORBIDDEN,
                        format!(
                            "{name} did not sign you in ({e}). Start again from the sign-in page."
                        ),
                    ),
                )
                .await;
        }
        let Some(code) = cb.code.filter(|c| !c.is_empty()) else {
            return self
                .sso_refuse(
                    name,
                    ip,
                    None,
                    "callback without code".into(),
                    refused(StatusCode::BAD_REQUEST, START_AGAIN),
                )
                .await;
        };
        let identity = match p
            .finish(
                &code,
                &start.pkce_verifier,
                &start.nonce,
                &start.redirect_uri,
                to_ts(now),
            )
            .await
        {
            Ok(i) => i,
            Err(r) => {
                let sentence = match r.kind {
                    RefusalKind::Unavailable => refused(
                        StatusCode::BAD_GATEWAY,
                        format!(
                            "{name} could not be reached to finish the sign-in: try again in a minute."
                        ),
                    ),
                    RefusalKind::Invalid => refused(StatusCode::FORBIDDEN, NOT_VERIFIED),
                    RefusalKind::Unverified => refused(
                        StatusCode::FORBIDDEN,
                        format!(
                            "{name} did not confirm your email address (a verified email is needed to sign in here)."
                        ),
                    ),
                };
                return self
                    .sso_refuse(name, ip, r.email.as_deref(), r.reason, sentence)
                    .await;
            }
        };
        let Ok(email) = Email::parse(&identity.email) else {
            return self
                .sso_refuse(
                    name,
                    ip,
                    None,
                    "the provider's email is not an email address".into(),
                    refused(StatusCode::FORBIDDEN, NOT_VERIFIED),
                )
                .await;
        };
        let domain = email.as_str().rsplit('@').next().unwrap_or_default();
        let create = p.spec.allowed_domains.iter().any(|d| d == domain);
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
            parameters: Some(serde_json::json!({ "provider": name, "ip": ip.to_string() })),
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
        let login = SsoLogin {
            email: email.to_string(),
            name: identity.name.clone(),
            provider: name.to_string(),
            create,
            groups: identity.groups.clone(),
            token: row,
            audit,
        };
        let outcome = match self.store.sso_login(login.clone()).await {
            // A concurrent first sign-in made the account: once more finds it.
            Err(crate::store::StoreError::Unique) => self.store.sso_login(login).await?,
            other => other?,
        };
        match outcome {
            SsoOutcome::Done { .. } => Ok(Ok(SsoDone {
                token: minted.raw,
                expires_at,
                next: start.next,
            })),
            SsoOutcome::NoAccount => {
                let sentence = if p.spec.allowed_domains.is_empty() {
                    format!(
                        "There is no account for {email} here. Ask an administrator to add you, then sign in again."
                    )
                } else {
                    format!(
                        "There is no account for {email} here, and accounts are not created for {domain}. Ask an administrator to add you."
                    )
                };
                self.sso_refuse(
                    name,
                    ip,
                    Some(email.as_str()),
                    format!("no account, and {domain} is not an allowed domain"),
                    refused(StatusCode::FORBIDDEN, sentence),
                )
                .await
            }
            SsoOutcome::Disabled => {
                self.sso_refuse(
                    name,
                    ip,
                    Some(email.as_str()),
                    "account disabled".into(),
                    refused(
                        StatusCode::FORBIDDEN,
                        format!(
                            "The account {email} is disabled: ask an administrator to enable it."
                        ),
                    ),
                )
                .await
            }
        }
    }
}
