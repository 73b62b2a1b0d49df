//! Instance accounts: create, change, disable, delete, passwords.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wmill_api::ActionKind;

use super::{Db, SqlStore};
use crate::store::*;

const ACCOUNT_COLUMNS: &str = "a.email, a.password_hash, a.super_admin, a.name, a.company, a.disabled, \
     a.first_time_user, u.username, a.created_at, a.service_account \
     FROM account a LEFT JOIN username u ON u.email = a.email";

#[async_trait]
impl AccountStore for SqlStore {
    async fn account(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.account(email)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<AccountRow> = read!(self, |c| sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} WHERE a.email = $1"))
        )
        .bind(email)
        .fetch_optional(c)
        .await?);
        if let (Some(c), Some(r)) = (&self.cache, &row) {
            c.put_account(since, email, r);
        }
        Ok(row)
    }

    async fn list_accounts(&self, offset: i64, limit: i64) -> StoreResult<Vec<AccountRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} ORDER BY a.super_admin DESC, a.email LIMIT $1 OFFSET $2"
            ))
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?))
    }

    async fn create_account(&self, a: NewAccount, audit: NewAudit) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, first_time_user, created_at) \
                 VALUES ($1, $2, $3, $4, $5, FALSE, TRUE, $6)",
            )
            .bind(&a.email)
            .bind(&a.password_hash)
            .bind(a.super_admin)
            .bind(&a.name)
            .bind(&a.company)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(tx, audit);
        })
    }

    async fn update_account(
        &self,
        email: &str,
        c: AccountChanges,
        audit: NewAudit,
    ) -> StoreResult<AccountOutcome> {
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let cur: Option<(bool, bool)> =
                sqlx::query_as("SELECT super_admin, disabled FROM account WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((is_super, is_disabled)) = cur else {
                return Ok(AccountOutcome::NotFound);
            };
            let loses_power = is_super
                && !is_disabled
                && (c.super_admin == Some(false) || c.disabled == Some(true));
            if loses_power && is_last_superadmin!(tx, email) {
                return Ok(AccountOutcome::LastSuperadmin);
            }
            sqlx::query(
                "UPDATE account SET super_admin = COALESCE($2, super_admin), name = COALESCE($3, name), \
                 company = COALESCE($4, company), disabled = COALESCE($5, disabled) WHERE email = $1",
            )
            .bind(email)
            .bind(c.super_admin)
            .bind(&c.name)
            .bind(&c.company)
            .bind(c.disabled)
            .execute(&mut *tx)
            .await?;
            if c.disabled == Some(true) {
                // Its own tokens, and those it minted to act as someone else.
                sqlx::query("DELETE FROM token WHERE email = $1 OR impersonator = $1")
                    .bind(email)
                    .execute(&mut *tx)
                    .await?;
            } else if c.super_admin == Some(false) {
                sqlx::query("DELETE FROM token WHERE impersonator = $1")
                    .bind(email)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(tx, audit);
            AccountOutcome::Done
        })
    }

    async fn delete_account(&self, email: &str, audit: NewAudit) -> StoreResult<AccountOutcome> {
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let cur: Option<(bool, bool)> =
                sqlx::query_as("SELECT super_admin, disabled FROM account WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((is_super, is_disabled)) = cur else {
                return Ok(AccountOutcome::NotFound);
            };
            if is_super && !is_disabled && is_last_superadmin!(tx, email) {
                return Ok(AccountOutcome::LastSuperadmin);
            }
            insert_audit!(tx, audit);
            let username: Option<String> =
                sqlx::query_scalar("SELECT username FROM username WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(u) = &username {
                // Whoever gets this username next inherits no group.
                end_grants_of_user!(tx, None, u, audit);
            }
            sqlx::query("DELETE FROM token WHERE email = $1 OR impersonator = $1")
                .bind(email)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM group_member WHERE EXISTS (SELECT 1 FROM member m WHERE m.email = $1 \
                 AND m.workspace_id = group_member.workspace_id AND m.username = group_member.username)",
            )
            .bind(email)
            .execute(&mut *tx)
            .await?;
            for table in ["member", "username", "login_throttle", "account"] {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE email = $1"
                )))
                .bind(email)
                .execute(&mut *tx)
                .await?;
            }
            AccountOutcome::Done
        })
    }

    async fn set_password(
        &self,
        email: &str,
        hash: &str,
        end: EndSessions,
        audit: NewAudit,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query("UPDATE account SET password_hash = $2 WHERE email = $1")
                .bind(email)
                .bind(hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(
                "DELETE FROM token WHERE email = $1 AND ($2 IS NULL OR hash <> $2) \
                 AND ($3 OR kind = 'session')",
            )
            .bind(email)
            .bind(&end.keep)
            .bind(end.all_tokens)
            .execute(&mut *tx)
            .await?;
            insert_audit!(tx, audit);
            true
        })
    }
}
