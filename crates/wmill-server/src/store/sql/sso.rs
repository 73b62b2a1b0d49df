//! Single sign-on: sign-ins waiting for their callback (each taken once), and the sign-in
//! itself (account created or refused, `login_type`, instance groups, session, audit).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use wmill_api::ActionKind;

use super::instance_groups::{flags, rank};
use super::{Db, SqlStore};
use crate::store::*;

/// The password hash of an account made by single sign-on: no password verifies against it.
pub use crate::store::NO_PASSWORD;

#[async_trait]
impl SsoStore for SqlStore {
    async fn start_sso(&self, s: SsoStart, expired_before: Micros) -> StoreResult<()> {
        insert_tx!(self, |tx| {
            sqlx::query("DELETE FROM oidc_login WHERE created_at < $1")
                .bind(expired_before)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO oidc_login (state_hash, browser_hash, provider, nonce, pkce_verifier, \
                 redirect_uri, next, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&s.state_hash)
            .bind(&s.browser_hash)
            .bind(&s.provider)
            .bind(&s.nonce)
            .bind(&s.pkce_verifier)
            .bind(&s.redirect_uri)
            .bind(&s.next)
            .bind(s.created_at)
            .execute(&mut *tx)
            .await?;
        })
    }

    async fn take_sso(&self, state_hash: &str) -> StoreResult<Option<SsoStart>> {
        type Row = (String, String, String, String, String, String, String, i64);
        let row: StoreResult<Option<Row>> = insert_tx!(self, |tx| {
            sqlx::query_as(
                "DELETE FROM oidc_login WHERE state_hash = $1 RETURNING state_hash, browser_hash, \
                 provider, nonce, pkce_verifier, redirect_uri, next, created_at",
            )
            .bind(state_hash)
            .fetch_optional(&mut *tx)
            .await?
        });
        Ok(row?.map(
            |(
                state_hash,
                browser_hash,
                provider,
                nonce,
                pkce_verifier,
                redirect_uri,
                next,
                created_at,
            )| {
                SsoStart {
                    state_hash,
                    browser_hash,
                    provider,
                    nonce,
                    pkce_verifier,
                    redirect_uri,
                    next,
                    created_at,
                }
            },
        ))
    }

    async fn sso_login(&self, l: SsoLogin) -> StoreResult<SsoOutcome> {
        let SsoLogin {
            email,
            name,
            provider,
            create,
            groups,
            token,
            audit,
        } = l;
        let now = token.created_at;
        let check = locking!(
            self,
            "SELECT disabled, service_account FROM account WHERE email = $1",
            "FOR NO KEY UPDATE"
        );
        write_tx!(self, |tx| {
            let current: Option<(bool, bool)> = sqlx::query_as(check)
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?;
            let created = match current {
                Some((false, false)) => false,
                Some(_) => return Ok(SsoOutcome::Disabled),
                None if !create => return Ok(SsoOutcome::NoAccount),
                None => {
                    let inserted = sqlx::query(
                        "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, \
                         first_time_user, created_at) VALUES ($1, $2, FALSE, $3, NULL, FALSE, FALSE, $4) \
                         ON CONFLICT (email) DO NOTHING",
                    )
                    .bind(&email)
                    .bind(NO_PASSWORD)
                    .bind(&name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        // Made by a concurrent request: rolled back, the caller may try again.
                        return Err(StoreError::Unique);
                    }
                    let mut a = audit.clone();
                    a.operation = "users.add_global";
                    a.resource = Some(email.clone());
                    a.parameters = Some(serde_json::json!({ "login_type": provider, "sso": true }));
                    insert_audit!(tx, a);
                    auto_add!(tx, &email, now, audit);
                    true
                }
            };
            sqlx::query("UPDATE account SET login_type = $2 WHERE email = $1")
                .bind(&email)
                .bind(&provider)
                .execute(&mut *tx)
                .await?;
            if let Some(groups) = &groups {
                sqlx::query("UPDATE meta SET value = value WHERE key = 'instance_group_lock'")
                    .execute(&mut *tx)
                    .await?;
                let existing: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM instance_group ORDER BY name")
                        .fetch_all(&mut *tx)
                        .await?;
                let want: BTreeSet<&str> = groups
                    .iter()
                    .map(String::as_str)
                    .filter(|g| existing.iter().any(|e| e == g))
                    .collect();
                let have: Vec<String> = sqlx::query_scalar(
                    "SELECT group_name FROM instance_group_member WHERE email = $1",
                )
                .bind(&email)
                .fetch_all(&mut *tx)
                .await?;
                let have: BTreeSet<&str> = have.iter().map(String::as_str).collect();
                let mut changed = false;
                for g in want.difference(&have) {
                    sqlx::query(
                        "INSERT INTO instance_group_member (group_name, email) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(*g)
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?;
                    let mut a = audit.clone();
                    a.operation = "instance_group.adduser";
                    a.action_kind = ActionKind::Update;
                    a.resource = Some((*g).to_string());
                    a.parameters = Some(serde_json::json!({ "email": email, "via": provider }));
                    insert_audit!(tx, a);
                    changed = true;
                }
                for g in have.difference(&want) {
                    sqlx::query(
                        "DELETE FROM instance_group_member WHERE group_name = $1 AND email = $2",
                    )
                    .bind(*g)
                    .bind(&email)
                    .execute(&mut *tx)
                    .await?;
                    let mut a = audit.clone();
                    a.operation = "instance_group.removeuser";
                    a.action_kind = ActionKind::Update;
                    a.resource = Some((*g).to_string());
                    a.parameters = Some(serde_json::json!({ "email": email, "via": provider }));
                    insert_audit!(tx, a);
                    changed = true;
                }
                if changed {
                    sync_group_memberships!(tx, audit, now, None, Some(email.as_str()));
                    end_orphaned_impersonations!(tx);
                }
            }
            sqlx::query("DELETE FROM login_throttle WHERE email = $1")
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            insert_token!(tx, token);
            insert_audit!(tx, audit);
            SsoOutcome::Done { created }
        })
    }
}
