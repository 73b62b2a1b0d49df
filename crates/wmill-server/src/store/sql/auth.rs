//! Authentication: bootstrap, resolving tokens (cached on SQLite), login throttling and
//! logins.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wmill_api::ActionKind;

use super::{Db, SqlStore};
use crate::store::*;

/// What authenticating a token reads (`TokenAuthRow`), and from where. An impersonation
/// token is valid only while its minter is an enabled superadmin.
const TOKEN_AUTH: &str = concat!(
    "t.email, t.prefix, t.label, t.expiration, t.workspace_id, t.kind, t.impersonator, \
     COALESCE(t.impersonator IS NULL OR (i.disabled = FALSE AND (i.super_admin = TRUE OR ",
    via_group!("i", "superadmin"),
    ")), FALSE) AS impersonator_ok, t.scopes, t.read_only, a.service_account, \
     (a.super_admin = TRUE OR ",
    via_group!("a", "superadmin"),
    ") AS super_admin, ",
    via_group!("a", "devops"),
    " AS devops, a.disabled, a.name, a.company, a.first_time_user, u.username, a.login_type"
);
const TOKEN_AUTH_FROM: &str = "FROM token t JOIN account a ON a.email = t.email \
     LEFT JOIN username u ON u.email = a.email LEFT JOIN account i ON i.email = t.impersonator";

/// `TokenAuthRow` with a membership (all `None` for a non-member) and the workspace's
/// existence.
#[derive(sqlx::FromRow)]
struct WorkspaceAuthRow {
    #[sqlx(flatten)]
    token: TokenAuthRow,
    m_username: Option<String>,
    m_is_admin: Option<bool>,
    m_operator: Option<bool>,
    m_disabled: Option<bool>,
    m_created_at: Option<i64>,
    workspace_exists: bool,
}

#[async_trait]
impl AuthStore for SqlStore {
    async fn healthy(&self) -> bool {
        read!(self, |c| sqlx::query("SELECT 1").execute(c).await.is_ok())
    }

    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let claimed = sqlx::query("INSERT INTO meta (key, value) VALUES ('bootstrapped', $1) ON CONFLICT (key) DO NOTHING")
                .bind(b.admin.created_at.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                return Ok(false);
            }
            let a = &b.admin;
            sqlx::query(
                "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, first_time_user, created_at) \
                 VALUES ($1, $2, TRUE, $3, $4, FALSE, TRUE, $5)",
            )
            .bind(&a.email)
            .bind(&a.password_hash)
            .bind(&a.name)
            .bind(&a.company)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await?;
            let system = |op: &'static str, kind, resource: &str, ws: &str| NewAudit {
                workspace_id: ws.to_string(),
                timestamp: a.created_at,
                username: "system".into(),
                email: None,
                operation: op,
                action_kind: kind,
                resource: Some(resource.to_string()),
                parameters: None,
                impersonator: None,
            };
            insert_audit!(
                tx,
                system(
                    "users.add_global",
                    ActionKind::Create,
                    &a.email,
                    wmill_api::GLOBAL_WORKSPACE
                )
            );
            let creator = NewMember {
                email: a.email.clone(),
                username: UsernameChoice::Derive(b.username_base.clone()),
                is_admin: true,
                operator: false,
                created_at: a.created_at,
            };
            sqlx::query("INSERT INTO workspace (id, name, owner) VALUES ($1, $2, $3)")
                .bind(&b.workspace_id)
                .bind(&b.workspace_name)
                .bind(&a.email)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO grp (workspace_id, name, summary) VALUES ($1, 'all', $2)")
                .bind(&b.workspace_id)
                .bind("The group that always contains all users of this workspace")
                .execute(&mut *tx)
                .await?;
            let username = match assign_username!(tx, &creator.email, creator.username.clone()) {
                Ok(u) => u,
                Err(e) => return Err(StoreError::Other(format!("bootstrap username: {e:?}"))),
            };
            insert_member!(tx, &b.workspace_id, &username, creator);
            insert_audit!(
                tx,
                system(
                    "workspaces.create",
                    ActionKind::Create,
                    &b.workspace_id,
                    wmill_api::GLOBAL_WORKSPACE
                )
            );
            true
        })
    }

    async fn bootstrapped(&self) -> StoreResult<bool> {
        let row: Option<String> = read!(self, |c| sqlx::query_scalar(
            "SELECT value FROM meta WHERE key = 'bootstrapped'"
        )
        .fetch_optional(c)
        .await?);
        Ok(row.is_some())
    }

    async fn token_auth(&self, hash: &str) -> StoreResult<Option<TokenAuthRow>> {
        if let Some(hit) = self.cache_read().and_then(|c| c.token(hash)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<TokenAuthRow> = read!(self, |c| {
            sqlx::query_as::<_, TokenAuthRow>(AssertSqlSafe(format!(
                "SELECT {TOKEN_AUTH} {TOKEN_AUTH_FROM} WHERE t.hash = $1"
            )))
            .bind(hash)
            .fetch_optional(c)
            .await?
        });
        if let (Some(c), Some(r)) = (self.cache_fill(), &row) {
            c.put_token(since, hash, r);
        }
        Ok(row)
    }

    async fn token_auth_in(&self, hash: &str, ws: &str) -> StoreResult<Option<WorkspaceAuth>> {
        if self.cache_read().is_some() {
            // Each part from the cache, or filling it.
            let Some(token) = self.token_auth(hash).await? else {
                return Ok(None);
            };
            let member = self.member(ws, &token.email).await?;
            let workspace_exists = member.is_some() || self.workspace(ws).await?.is_some();
            return Ok(Some(WorkspaceAuth {
                token,
                member,
                workspace_exists,
            }));
        }
        // No cache that may answer (PostgreSQL): one round trip instead of three.
        let row: Option<WorkspaceAuthRow> = read!(self, |c| sqlx::query_as::<_, WorkspaceAuthRow>(
            AssertSqlSafe(format!(
                "SELECT {TOKEN_AUTH}, m.username AS m_username, m.is_admin AS m_is_admin, \
                 m.operator AS m_operator, m.disabled AS m_disabled, m.created_at AS m_created_at, \
                 EXISTS (SELECT 1 FROM workspace w WHERE w.id = $2) AS workspace_exists \
                 {TOKEN_AUTH_FROM} LEFT JOIN member m ON m.workspace_id = $2 AND m.email = t.email \
                 WHERE t.hash = $1"
            ))
        )
        .bind(hash)
        .bind(ws)
        .fetch_optional(c)
        .await?);
        Ok(row.map(|r| {
            let member = match (
                r.m_username,
                r.m_is_admin,
                r.m_operator,
                r.m_disabled,
                r.m_created_at,
            ) {
                (
                    Some(username),
                    Some(is_admin),
                    Some(operator),
                    Some(disabled),
                    Some(created_at),
                ) => Some(MemberRow {
                    workspace_id: ws.to_string(),
                    username,
                    email: r.token.email.clone(),
                    is_admin,
                    operator,
                    disabled,
                    created_at,
                    service_account: r.token.service_account,
                }),
                _ => None,
            };
            WorkspaceAuth {
                token: r.token,
                member,
                workspace_exists: r.workspace_exists,
            }
        }))
    }

    async fn touch_tokens(&self, used: Vec<(String, Micros)>) -> StoreResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        insert_tx!(self, |tx| {
            for (hash, at) in &used {
                sqlx::query(
                    "UPDATE token SET last_used_at = $1 WHERE hash = $2 AND last_used_at < $1",
                )
                .bind(at)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
            }
        })
    }

    async fn count_login_attempt(
        &self,
        email: &str,
        now: Micros,
        policy: LockoutPolicy,
    ) -> StoreResult<Attempt> {
        insert_tx!(self, |tx| {
            // One statement that creates the row or locks the existing one and reads it, so
            // that attempts at once serialise on it, and a success deleting it in between
            // cannot leave this attempt without a row.
            let (failures, locked_until, updated_at): (i64, i64, i64) = sqlx::query_as(
                "INSERT INTO login_throttle (email, failures, locked_until, updated_at) \
                 VALUES ($1, 0, 0, $2) ON CONFLICT (email) DO UPDATE SET failures = login_throttle.failures \
                 RETURNING failures, locked_until, updated_at",
            )
            .bind(email)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            if locked_until > now {
                return Ok(Attempt::Locked {
                    until: locked_until,
                });
            }
            // A lock that has run out, or failures older than a lock would last, are
            // forgotten: this attempt starts a new count.
            let stale = locked_until != 0 || updated_at + policy.lock_for <= now;
            let failures = if stale { 1 } else { failures + 1 };
            let locks = failures >= i64::from(policy.threshold.max(1));
            let locked_until = if locks { now + policy.lock_for } else { 0 };
            sqlx::query(
                "UPDATE login_throttle SET failures = $2, locked_until = $3, updated_at = $4 \
                 WHERE email = $1",
            )
            .bind(email)
            .bind(failures)
            .bind(locked_until)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Attempt::Allowed { locks }
        })
    }

    async fn sweep_login_throttle(&self, before: Micros, now: Micros) -> StoreResult<u64> {
        insert_tx!(self, |tx| {
            sqlx::query("DELETE FROM login_throttle WHERE updated_at < $1 AND locked_until <= $2")
                .bind(before)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        })
    }

    async fn login(&self, l: LoginRecord) -> StoreResult<bool> {
        let LoginRecord {
            token: t,
            verified_hash,
            rehash,
            first_login,
            audit,
        } = l;
        // The account is read again (and, on PostgreSQL, locked: a disable, delete or
        // password change waits for this transaction, and this one waits for theirs) so that
        // no session is minted for an account that changed while its password was verified.
        // A login that will update the account takes the update lock at once: two that took
        // a share lock and then both asked to update would deadlock.
        let check = if rehash.is_some() || first_login {
            locking!(
                self,
                "SELECT password_hash FROM account WHERE email = $1 AND disabled = FALSE",
                "FOR NO KEY UPDATE"
            )
        } else {
            locking!(
                self,
                "SELECT password_hash FROM account WHERE email = $1 AND disabled = FALSE",
                "FOR SHARE"
            )
        };
        // Most logins only add a token and an audit entry and keep the cache; a first login
        // or an upgraded hash changes the account, which is then forgotten. (Nothing sets
        // `first_time_user` again, so an account read without it needs no UPDATE: one round
        // trip less per login.)
        let done: StoreResult<(bool, bool, bool)> = insert_tx!(self, |tx| {
            let current: Option<String> = sqlx::query_scalar(check)
                .bind(&t.email)
                .fetch_optional(&mut *tx)
                .await?;
            if current.as_deref() != Some(verified_hash.as_str()) {
                // Rolled back: nothing was written, nothing to forget.
                return Ok(false);
            }
            if let Some(h) = &rehash {
                sqlx::query("UPDATE account SET password_hash = $2 WHERE email = $1")
                    .bind(&t.email)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
            }
            let first = if first_login {
                sqlx::query("UPDATE account SET first_time_user = FALSE WHERE email = $1 AND first_time_user = TRUE")
                    .bind(&t.email)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            sqlx::query("DELETE FROM login_throttle WHERE email = $1")
                .bind(&t.email)
                .execute(&mut *tx)
                .await?;
            insert_token!(tx, t);
            insert_audit!(tx, audit);
            let changed = rehash.is_some() || first > 0;
            // On PostgreSQL a changed account is published as write_tx! does.
            let published = changed && self.is_postgres();
            if published {
                sqlx::query("SELECT cache_notify()")
                    .execute(&mut *tx)
                    .await?;
            }
            (true, changed, published)
        });
        if !matches!(done, Ok((_, false, _))) {
            self.forget_cached();
        }
        if let Ok((_, _, true)) = &done {
            self.await_invalidated().await?;
        }
        done.map(|(minted, _, _)| minted)
    }
}
