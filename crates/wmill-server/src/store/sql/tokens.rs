//! API tokens: mint (checked against the account inside the transaction), list, delete.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::{Db, SqlStore};
use crate::store::*;

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, t: NewTokenRow, audit: NewAudit) -> StoreResult<Mint> {
        // Share-locked on PostgreSQL: a disable or delete of either account waits for this
        // transaction (and then removes the new token), or this one sees its outcome.
        let holder = locking!(
            self,
            "SELECT disabled FROM account WHERE email = $1",
            "FOR SHARE"
        );
        let minter = if self.is_postgres() {
            concat!(
                "SELECT (a.super_admin = TRUE OR ",
                via_group!("a", "superadmin"),
                "), a.disabled FROM account a WHERE a.email = $1 FOR SHARE OF a"
            )
        } else {
            concat!(
                "SELECT (a.super_admin = TRUE OR ",
                via_group!("a", "superadmin"),
                "), a.disabled FROM account a WHERE a.email = $1"
            )
        };
        insert_tx!(self, |tx| {
            let disabled: Option<bool> = sqlx::query_scalar(holder)
                .bind(&t.email)
                .fetch_optional(&mut *tx)
                .await?;
            if disabled != Some(false) {
                return Ok(Mint::NoAccount);
            }
            if let Some(by) = &t.impersonator {
                let m: Option<(bool, bool)> = sqlx::query_as(minter)
                    .bind(by)
                    .fetch_optional(&mut *tx)
                    .await?;
                if m != Some((true, false)) {
                    return Ok(Mint::NoMinter);
                }
            }
            insert_token!(tx, t);
            insert_audit!(tx, audit);
            Mint::Minted
        })
    }

    async fn list_tokens(
        &self,
        email: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<TokenRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, TokenRow>(
                "SELECT prefix, email, label, expiration, created_at, last_used_at, workspace_id, kind, \
                 scopes, read_only FROM token WHERE email = $1 ORDER BY created_at DESC, prefix \
                 LIMIT $2 OFFSET $3",
            )
            .bind(email)
            .bind(limit)
            .bind(offset)
            .fetch_all(c)
            .await?)
        })
    }

    async fn delete_tokens(
        &self,
        email: &str,
        which: TokenSelector,
        audit: NewAudit,
    ) -> StoreResult<TokenDeletion> {
        write_tx!(self, |tx| {
            let (column, value) = match &which {
                TokenSelector::Hash(h) => ("hash", h.as_str()),
                TokenSelector::Prefix(p) => ("prefix", p.as_str()),
            };
            let found: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT hash, prefix FROM token WHERE email = $1 AND {column} = $2"
            )))
            .bind(email)
            .bind(value)
            .fetch_all(&mut *tx)
            .await?;
            let hash = match found.as_slice() {
                [] => return Ok(TokenDeletion::NotFound),
                [(hash, _)] => hash.clone(),
                more => return Ok(TokenDeletion::Ambiguous(more.len())),
            };
            sqlx::query("DELETE FROM token WHERE hash = $1")
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            TokenDeletion::Deleted(found.into_iter().map(|(_, p)| p).collect())
        })
    }

    async fn update_token(
        &self,
        email: &str,
        prefix: &str,
        change: TokenUpdate,
        allowed: &(dyn for<'s> Fn(Option<&'s str>) -> bool + Send + Sync),
        audit: NewAudit,
    ) -> StoreResult<TokenChange> {
        let select = locking!(
            self,
            "SELECT hash, scopes FROM token WHERE email = $1 AND prefix = $2",
            "FOR UPDATE"
        );
        write_tx!(self, |tx| {
            let found: Vec<(String, Option<String>)> = sqlx::query_as(select)
                .bind(email)
                .bind(prefix)
                .fetch_all(&mut *tx)
                .await?;
            let (hash, scopes) = match found.as_slice() {
                [] => return Ok(TokenChange::NotFound),
                [(hash, scopes)] => (hash.clone(), scopes.clone()),
                more => return Ok(TokenChange::Ambiguous(more.len())),
            };
            if !allowed(scopes.as_deref()) {
                return Ok(TokenChange::Refused(scopes));
            }
            match &change {
                TokenUpdate::Label(label) => {
                    sqlx::query("UPDATE token SET label = $2 WHERE hash = $1")
                        .bind(&hash)
                        .bind(label)
                        .execute(&mut *tx)
                        .await?;
                }
                TokenUpdate::Scopes(s) => {
                    sqlx::query("UPDATE token SET scopes = $2 WHERE hash = $1")
                        .bind(&hash)
                        .bind(s)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            insert_audit!(tx, audit);
            TokenChange::Done
        })
    }

    async fn revoke_token(&self, hash: &str, audit: NewAudit) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query("DELETE FROM token WHERE hash = $1")
                .bind(hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                insert_audit!(tx, audit);
            }
            n > 0
        })
    }
}
