//! Workspaces and their members: create, list, add, change, remove (never the last admin).

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wmill_api::ActionKind;

use super::{Db, SqlStore};
use crate::store::*;

/// A member's email, admin flag and disabled flag, read inside `$tx`.
macro_rules! member_state {
    ($tx:ident, $ws:expr, $username:expr) => {{
        let row: Option<(String, bool, bool)> = sqlx::query_as(
            "SELECT email, is_admin, disabled FROM member WHERE workspace_id = $1 AND username = $2",
        )
        .bind($ws)
        .bind($username)
        .fetch_optional(&mut *$tx)
        .await?;
        row
    }};
}

/// Whether workspace `$ws` has an enabled admin other than `$username`, read inside `$tx`.
macro_rules! other_admin {
    ($tx:ident, $ws:expr, $username:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM member WHERE workspace_id = $1 AND username <> $2 \
             AND is_admin = TRUE AND disabled = FALSE",
        )
        .bind($ws)
        .bind($username)
        .fetch_one(&mut *$tx)
        .await?;
        n > 0
    }};
}

const MEMBER_COLUMNS: &str = "m.workspace_id, m.username, m.email, m.is_admin, m.operator, \
     m.disabled, m.created_at, COALESCE(a.service_account, FALSE) AS service_account \
     FROM member m LEFT JOIN account a ON a.email = m.email";

#[async_trait]
impl WorkspaceStore for SqlStore {
    async fn workspace(&self, id: &str) -> StoreResult<Option<WorkspaceRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, WorkspaceRow>(
            "SELECT id, name, owner, archived FROM workspace WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await?))
    }

    async fn create_workspace(
        &self,
        ws: WorkspaceRow,
        creator: NewMember,
        audit: NewAudit,
    ) -> StoreResult<AddMember> {
        write_tx!(self, |tx| {
            let retired: Option<String> =
                sqlx::query_scalar("SELECT id FROM deleted_workspace WHERE id = $1")
                    .bind(&ws.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if retired.is_some() {
                return Ok(AddMember::IdRetired);
            }
            sqlx::query("INSERT INTO workspace (id, name, owner) VALUES ($1, $2, $3)")
                .bind(&ws.id)
                .bind(&ws.name)
                .bind(&ws.owner)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO grp (workspace_id, name, summary) VALUES ($1, 'all', $2)")
                .bind(&ws.id)
                .bind("The group that always contains all users of this workspace")
                .execute(&mut *tx)
                .await?;
            let username = match assign_username!(tx, &creator.email, creator.username.clone()) {
                Ok(u) => u,
                Err(outcome) => return Ok(outcome),
            };
            insert_member!(tx, &ws.id, &username, creator);
            insert_audit!(tx, audit);
            AddMember::Added(username)
        })
    }

    async fn list_workspaces(
        &self,
        email: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<WorkspaceRow>> {
        read!(self, |c| Ok(match email {
            Some(e) => {
                sqlx::query_as::<_, WorkspaceRow>(
                    "SELECT w.id, w.name, w.owner, w.archived FROM workspace w JOIN member m ON m.workspace_id = w.id \
                     WHERE m.email = $1 AND w.archived = FALSE ORDER BY w.id LIMIT $2 OFFSET $3",
                )
                .bind(e)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
            None => {
                sqlx::query_as::<_, WorkspaceRow>(
                    "SELECT id, name, owner, archived FROM workspace ORDER BY id LIMIT $1 OFFSET $2",
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
        }))
    }

    async fn user_workspaces(&self, email: &str) -> StoreResult<Vec<UserWorkspaceRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, UserWorkspaceRow>(
            "SELECT w.id, w.name, m.username, m.disabled FROM workspace w JOIN member m ON m.workspace_id = w.id \
             WHERE m.email = $1 AND w.archived = FALSE ORDER BY w.id",
        )
        .bind(email)
        .fetch_all(c)
        .await?)
        })
    }

    async fn member(&self, ws: &str, email: &str) -> StoreResult<Option<MemberRow>> {
        if let Some(hit) = self.cache_read().and_then(|c| c.member(ws, email)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<MemberRow> =
            read!(self, |c| sqlx::query_as::<_, MemberRow>(AssertSqlSafe(
                format!("SELECT {MEMBER_COLUMNS} WHERE m.workspace_id = $1 AND m.email = $2")
            ))
            .bind(ws)
            .bind(email)
            .fetch_optional(c)
            .await?);
        if let (Some(c), Some(r)) = (self.cache_fill(), &row) {
            c.put_member(since, ws, email, r);
        }
        Ok(row)
    }

    async fn member_by_username(&self, ws: &str, username: &str) -> StoreResult<Option<MemberRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, MemberRow>(AssertSqlSafe(
            format!("SELECT {MEMBER_COLUMNS} WHERE m.workspace_id = $1 AND m.username = $2")
        ))
        .bind(ws)
        .bind(username)
        .fetch_optional(c)
        .await?))
    }

    async fn list_members(&self, ws: &str, offset: i64, limit: i64) -> StoreResult<Vec<MemberRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, MemberRow>(AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} WHERE m.workspace_id = $1 ORDER BY m.username LIMIT $2 OFFSET $3"
        )))
        .bind(ws)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?)
        })
    }

    async fn add_member(&self, ws: &str, m: NewMember, audit: NewAudit) -> StoreResult<AddMember> {
        write_tx!(self, |tx| {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM workspace WHERE id = $1")
                    .bind(ws)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(AddMember::NoWorkspace);
            }
            let already: Option<String> = sqlx::query_scalar(
                "SELECT username FROM member WHERE workspace_id = $1 AND email = $2",
            )
            .bind(ws)
            .bind(&m.email)
            .fetch_optional(&mut *tx)
            .await?;
            if already.is_some() {
                return Ok(AddMember::AlreadyMember);
            }
            let username = match assign_username!(tx, &m.email, m.username.clone()) {
                Ok(u) => u,
                Err(outcome) => return Ok(outcome),
            };
            insert_member!(tx, ws, &username, m);
            insert_audit!(tx, audit);
            AddMember::Added(username)
        })
    }

    async fn create_service_account(
        &self,
        ws: &str,
        sa: NewServiceAccount,
        audit: NewAudit,
    ) -> StoreResult<AddMember> {
        write_tx!(self, |tx| {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM workspace WHERE id = $1")
                    .bind(ws)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(AddMember::NoWorkspace);
            }
            let taken: Option<String> =
                sqlx::query_scalar("SELECT email FROM username WHERE username = $1 OR email = $2")
                    .bind(&sa.username)
                    .bind(&sa.email)
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                return Ok(AddMember::UsernameTaken(sa.username.clone()));
            }
            // No password hash at all: nothing can ever verify against "!".
            sqlx::query(
                "INSERT INTO account (email, password_hash, super_admin, disabled, first_time_user, \
                 created_at, service_account) VALUES ($1, '!', FALSE, FALSE, FALSE, $2, TRUE)",
            )
            .bind(&sa.email)
            .bind(sa.created_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO username (email, username) VALUES ($1, $2)")
                .bind(&sa.email)
                .bind(&sa.username)
                .execute(&mut *tx)
                .await?;
            let member = NewMember {
                email: sa.email.clone(),
                username: UsernameChoice::Given(sa.username.clone()),
                is_admin: sa.is_admin,
                operator: sa.operator,
                created_at: sa.created_at,
            };
            insert_member!(tx, ws, &sa.username, member);
            insert_audit!(tx, audit);
            AddMember::Added(sa.username.clone())
        })
    }

    async fn update_member(
        &self,
        ws: &str,
        username: &str,
        c: MemberChanges,
        audit: NewAudit,
    ) -> StoreResult<MemberOutcome> {
        let lock = locking!(self, "SELECT id FROM workspace WHERE id = $1", "FOR UPDATE");
        write_tx!(self, |tx| {
            // On PostgreSQL, changes to a workspace's admins queue on the workspace's row, so
            // that two demotions at once cannot both leave "the other" admin.
            sqlx::query(lock).bind(ws).fetch_optional(&mut *tx).await?;
            let Some((email, is_admin, disabled)) = member_state!(tx, ws, username) else {
                return Ok(MemberOutcome::NotFound);
            };
            let loses_admin =
                is_admin && !disabled && (c.is_admin == Some(false) || c.disabled == Some(true));
            if loses_admin && !other_admin!(tx, ws, username) {
                return Ok(MemberOutcome::LastAdmin);
            }
            sqlx::query(
                "UPDATE member SET is_admin = COALESCE($3, is_admin), operator = COALESCE($4, operator), \
                 disabled = COALESCE($5, disabled) WHERE workspace_id = $1 AND username = $2",
            )
            .bind(ws)
            .bind(username)
            .bind(c.is_admin)
            .bind(c.operator)
            .bind(c.disabled)
            .execute(&mut *tx)
            .await?;
            if c.disabled == Some(true) {
                // A service account lives in this workspace only: disabled here, its tokens end.
                sqlx::query(
                    "DELETE FROM token WHERE email = $1 \
                     AND EXISTS (SELECT 1 FROM account WHERE email = $1 AND service_account = TRUE)",
                )
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(tx, audit);
            MemberOutcome::Done(email)
        })
    }

    async fn remove_member(
        &self,
        ws: &str,
        username: &str,
        audit: NewAudit,
    ) -> StoreResult<MemberOutcome> {
        let lock = locking!(self, "SELECT id FROM workspace WHERE id = $1", "FOR UPDATE");
        write_tx!(self, |tx| {
            sqlx::query(lock).bind(ws).fetch_optional(&mut *tx).await?;
            let Some((email, is_admin, disabled)) = member_state!(tx, ws, username) else {
                return Ok(MemberOutcome::NotFound);
            };
            if is_admin && !disabled && !other_admin!(tx, ws, username) {
                return Ok(MemberOutcome::LastAdmin);
            }
            sqlx::query("DELETE FROM member WHERE workspace_id = $1 AND username = $2")
                .bind(ws)
                .bind(username)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND username = $2")
                .bind(ws)
                .bind(username)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM token WHERE email = $1 AND workspace_id = $2")
                .bind(&email)
                .bind(ws)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            end_grants_of_user!(tx, Some(ws), username, audit);
            // A service account exists for this workspace only: it goes, with its tokens.
            sqlx::query("DELETE FROM token WHERE email = $1 AND EXISTS (SELECT 1 FROM account WHERE email = $1 AND service_account = TRUE)")
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM account WHERE email = $1 AND service_account = TRUE")
                .bind(&email)
                .execute(&mut *tx)
                .await?;
            // A username given to an email that has no account and no other membership is
            // released: a workspace admin cannot hold someone's name for good.
            sqlx::query(
                "DELETE FROM username WHERE email = $1 \
                 AND NOT EXISTS (SELECT 1 FROM member WHERE email = $1) \
                 AND NOT EXISTS (SELECT 1 FROM account WHERE email = $1)",
            )
            .bind(&email)
            .execute(&mut *tx)
            .await?;
            MemberOutcome::Done(email)
        })
    }
    async fn workspace_settings(&self, ws: &str) -> StoreResult<Option<WorkspaceSettingsRow>> {
        let (row, groups): (
            Option<(Option<String>, Option<String>, bool)>,
            Vec<(String, String)>,
        ) = read!(self, |c| {
            let row = sqlx::query_as(
                "SELECT auto_invite, operator_settings, archived FROM workspace WHERE id = $1",
            )
            .bind(ws)
            .fetch_optional(c)
            .await?;
            let groups = sqlx::query_as(
                    "SELECT group_name, role FROM workspace_instance_group WHERE workspace_id = $1 ORDER BY group_name",
                )
                .bind(ws)
                .fetch_all(c)
                .await?;
            (row, groups)
        });
        Ok(row.map(
            |(auto_invite, operator_settings, archived)| WorkspaceSettingsRow {
                auto_invite,
                operator_settings,
                archived,
                instance_groups: groups,
            },
        ))
    }

    async fn update_workspace(
        &self,
        ws: &str,
        change: WorkspaceChange,
        audit: NewAudit,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let q = match &change {
                WorkspaceChange::Name(n) => {
                    sqlx::query("UPDATE workspace SET name = $2 WHERE id = $1")
                        .bind(ws)
                        .bind(n)
                }
                WorkspaceChange::AutoInvite(v) => {
                    sqlx::query("UPDATE workspace SET auto_invite = $2 WHERE id = $1")
                        .bind(ws)
                        .bind(v)
                }
                WorkspaceChange::OperatorSettings(v) => {
                    sqlx::query("UPDATE workspace SET operator_settings = $2 WHERE id = $1")
                        .bind(ws)
                        .bind(v)
                }
                WorkspaceChange::Archived(a) => {
                    sqlx::query("UPDATE workspace SET archived = $2 WHERE id = $1")
                        .bind(ws)
                        .bind(*a)
                }
            };
            if q.execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            insert_audit!(tx, audit);
            true
        })
    }

    async fn delete_workspace(&self, ws: &str, audit: NewAudit) -> StoreResult<bool> {
        let lock = locking!(self, "SELECT id FROM workspace WHERE id = $1", "FOR UPDATE");
        write_tx!(self, |tx| {
            let found: Option<String> = sqlx::query_scalar(lock)
                .bind(ws)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Ok(false);
            }
            let emails: Vec<String> =
                sqlx::query_scalar("SELECT email FROM member WHERE workspace_id = $1")
                    .bind(ws)
                    .fetch_all(&mut *tx)
                    .await?;
            for table in [
                "group_acl",
                "group_member",
                "grp",
                "workspace_instance_group",
                "member",
                "token",
            ] {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE workspace_id = $1"
                )))
                .bind(ws)
                .execute(&mut *tx)
                .await?;
            }
            // Its service accounts go with it.
            // (Workspace ids hold no LIKE wildcard.)
            sqlx::query("DELETE FROM account WHERE service_account = TRUE AND email LIKE $1")
                .bind(format!("%@{ws}.service-account.invalid"))
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM workspace WHERE id = $1")
                .bind(ws)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO deleted_workspace (id, deleted_at) VALUES ($1, $2)")
                .bind(ws)
                .bind(audit.timestamp)
                .execute(&mut *tx)
                .await?;
            for email in &emails {
                sqlx::query(
                    "DELETE FROM username WHERE email = $1 \
                     AND NOT EXISTS (SELECT 1 FROM member WHERE email = $1) \
                     AND NOT EXISTS (SELECT 1 FROM account WHERE email = $1)",
                )
                .bind(email)
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(tx, audit);
            true
        })
    }
}
