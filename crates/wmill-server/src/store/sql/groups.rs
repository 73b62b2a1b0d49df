//! Groups of a workspace, their members and access lists. Every change checks, inside its
//! own transaction (and, on PostgreSQL, with the group's row locked), that the group exists
//! and that a non-admin caller owns it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::{Db, SqlStore};
use crate::store::*;

/// Whether `$user` owns group `$group` of `$ws`: a `u/<user>` grant that can write, or one
/// for a group `$user` belongs to. Read inside `$tx`.
macro_rules! owns {
    ($tx:ident, $ws:expr, $group:expr, $user:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM group_acl a WHERE a.workspace_id = $1 AND a.group_name = $2 \
             AND a.can_write = TRUE AND (a.principal = $3 OR a.principal IN \
             (SELECT 'g/' || m.group_name FROM group_member m WHERE m.workspace_id = $1 AND m.username = $4))",
        )
        .bind($ws)
        .bind($group)
        .bind(format!("u/{}", $user))
        .bind($user)
        .fetch_one(&mut *$tx)
        .await?;
        n > 0
    }};
}

/// Locks group `$group` of `$ws` (PostgreSQL) and checks that `$actor` may change it.
/// Evaluates to `None` when the change may go on, or the outcome that refuses it. The row is
/// locked `FOR UPDATE`, or with `shared` `FOR SHARE`: enough for adding or removing members
/// (each a row of its own in `group_member`), which then run side by side, while the
/// changes of the group itself (its deletion, its grants, which decide who owns it) take
/// the row for update and wait for them.
macro_rules! guard {
    ($self:ident, $tx:ident, $ws:expr, $group:expr, $actor:expr) => {
        guard!(@ $self, $tx, $ws, $group, $actor, "FOR UPDATE")
    };
    ($self:ident, $tx:ident, $ws:expr, $group:expr, $actor:expr, shared) => {
        guard!(@ $self, $tx, $ws, $group, $actor, "FOR SHARE")
    };
    (@ $self:ident, $tx:ident, $ws:expr, $group:expr, $actor:expr, $lock:literal) => {{
        let lock = locking!(
            $self,
            "SELECT name FROM grp WHERE workspace_id = $1 AND name = $2",
            $lock
        );
        let found: Option<String> = sqlx::query_scalar(lock)
            .bind($ws)
            .bind($group)
            .fetch_optional(&mut *$tx)
            .await?;
        match ($actor, found) {
            (_, None) => Some(GroupChange::NoGroup),
            (Actor::Admin, Some(_)) => None,
            (Actor::Owner(user), Some(_)) => {
                if owns!($tx, $ws, $group, user) {
                    None
                } else {
                    Some(GroupChange::NotOwner)
                }
            }
        }
    }};
}

/// Whether group `$group` of `$ws` exists, read inside `$tx`.
macro_rules! group_exists {
    ($tx:ident, $ws:expr, $group:expr) => {{
        let found: Option<String> =
            sqlx::query_scalar("SELECT name FROM grp WHERE workspace_id = $1 AND name = $2")
                .bind($ws)
                .bind($group)
                .fetch_optional(&mut *$tx)
                .await?;
        found.is_some()
    }};
}

impl SqlStore {
    /// Whether a change of a group's members by `actor` first checks (and, on PostgreSQL,
    /// locks) the group with `guard!`. Not for an admin on SQLite: the single writer needs
    /// no lock, and the change's own statement requires the group, so the check is made
    /// only to tell why nothing changed (a round trip less on the writer per change).
    fn checks_group_first(&self, actor: &Actor<'_>) -> bool {
        self.is_postgres() || !matches!(actor, Actor::Admin)
    }

    /// The columns of a group row: name, summary, members (JSON array) and access list
    /// (JSON object), each built by the database in the same query. The aggregates are the
    /// words that differ between the two databases.
    fn group_select(&self) -> String {
        let (members, acl) = if self.is_postgres() {
            (
                "json_agg(m.username ORDER BY m.username)",
                "json_object_agg(a.principal, a.can_write)",
            )
        } else {
            (
                "json_group_array(m.username ORDER BY m.username)",
                "json_group_object(a.principal, json(CASE WHEN a.can_write THEN 'true' ELSE 'false' END))",
            )
        };
        format!(
            "SELECT g.name, g.summary, \
               (SELECT CAST(COALESCE({members}, '[]') AS TEXT) FROM group_member m \
                WHERE m.workspace_id = g.workspace_id AND m.group_name = g.name), \
               (SELECT CAST(COALESCE({acl}, '{{}}') AS TEXT) FROM group_acl a \
                WHERE a.workspace_id = g.workspace_id AND a.group_name = g.name) \
             FROM grp g"
        )
    }

    /// Rows of [`group_select`](Self::group_select) as groups of `ws`.
    fn group_rows(
        ws: &str,
        rows: Vec<(String, Option<String>, String, String)>,
    ) -> StoreResult<Vec<GroupRow>> {
        rows.into_iter()
            .map(|(name, summary, members, acl)| {
                let bad = |what: &str, e: serde_json::Error| {
                    StoreError::Other(format!("{what} of group {name}: {e}"))
                };
                Ok(GroupRow {
                    workspace_id: ws.to_string(),
                    members: serde_json::from_str(&members).map_err(|e| bad("members", e))?,
                    extra_perms: serde_json::from_str::<BTreeMap<String, bool>>(&acl)
                        .map_err(|e| bad("access list", e))?,
                    name,
                    summary,
                })
            })
            .collect()
    }
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn list_groups(&self, ws: &str, offset: i64, limit: i64) -> StoreResult<Vec<GroupRow>> {
        if let Some(hit) = self.cache_read().and_then(|c| c.groups(ws, offset, limit)) {
            return Ok(hit);
        }
        let since = self.cache_generation();
        // One row per group, members and access list as JSON built by the database: a row
        // per member costs far more in the driver than the query (SQLite: 1 300 lists/s
        // against 20 groups of 10 members before, see docs/benchmarks.md).
        let sql = format!(
            "{} WHERE g.workspace_id = $1 ORDER BY g.name LIMIT $2 OFFSET $3",
            self.group_select()
        );
        let raw: Vec<(String, Option<String>, String, String)> = read!(self, |c| {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(ws)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
        });
        let rows = Self::group_rows(ws, raw)?;
        if let Some(c) = self.cache_fill() {
            c.put_groups(since, ws, offset, limit, &rows);
        }
        Ok(rows)
    }

    async fn group(&self, ws: &str, name: &str) -> StoreResult<Option<GroupRow>> {
        let sql = format!(
            "{} WHERE g.workspace_id = $1 AND g.name = $2",
            self.group_select()
        );
        let raw: Vec<(String, Option<String>, String, String)> = read!(self, |c| {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(ws)
                .bind(name)
                .fetch_all(c)
                .await?
        });
        Ok(Self::group_rows(ws, raw)?.into_iter().next())
    }

    async fn group_names(
        &self,
        ws: &str,
        member: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        read!(self, |c| Ok(match member {
            Some(u) => {
                sqlx::query_scalar(
                    "SELECT group_name FROM group_member WHERE workspace_id = $1 AND username = $2 \
                     ORDER BY group_name LIMIT $3 OFFSET $4",
                )
                .bind(ws)
                .bind(u)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT name FROM grp WHERE workspace_id = $1 ORDER BY name LIMIT $2 OFFSET $3",
                )
                .bind(ws)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
        }))
    }

    async fn create_group(
        &self,
        ws: &str,
        name: &str,
        summary: Option<&str>,
        owner: &str,
        audit: NewAudit,
    ) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO grp (workspace_id, name, summary) VALUES ($1, $2, $3)")
                .bind(ws)
                .bind(name)
                .bind(summary)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO group_member (workspace_id, group_name, username) VALUES ($1, $2, $3)",
            )
            .bind(ws)
            .bind(name)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO group_acl (workspace_id, group_name, principal, can_write) \
                 VALUES ($1, $2, $3, TRUE)",
            )
            .bind(ws)
            .bind(name)
            .bind(format!("u/{owner}"))
            .execute(&mut *tx)
            .await?;
            insert_audit!(tx, audit);
        })
    }

    async fn update_group(
        &self,
        ws: &str,
        name: &str,
        summary: Option<&str>,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupChange> {
        write_tx!(self, |tx| {
            if let Some(refused) = guard!(self, tx, ws, name, actor) {
                return Ok(refused);
            }
            sqlx::query("UPDATE grp SET summary = $3 WHERE workspace_id = $1 AND name = $2")
                .bind(ws)
                .bind(name)
                .bind(summary)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            GroupChange::Done
        })
    }

    async fn delete_group(
        &self,
        ws: &str,
        name: &str,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupChange> {
        write_tx!(self, |tx| {
            if let Some(refused) = guard!(self, tx, ws, name, actor) {
                return Ok(refused);
            }
            sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND group_name = $2")
                .bind(ws)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            // Its own access list, and what it was granted on other groups: a later group
            // of the same name starts with nothing.
            sqlx::query(
                "DELETE FROM group_acl WHERE workspace_id = $1 AND (group_name = $2 OR principal = $3)",
            )
            .bind(ws)
            .bind(name)
            .bind(format!("g/{name}"))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM grp WHERE workspace_id = $1 AND name = $2")
                .bind(ws)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            GroupChange::Done
        })
    }

    async fn add_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupAdd> {
        let checked = self.checks_group_first(&actor);
        write_tx!(self, groups, |tx| {
            if checked {
                match guard!(self, tx, ws, group, actor, shared) {
                    Some(GroupChange::NotOwner) => return Ok(GroupAdd::NotOwner),
                    Some(_) => return Ok(GroupAdd::NoGroup),
                    None => {}
                }
            }
            // Only a member of the workspace is added, to a group that exists; one statement
            // for the usual case, more only to tell why nothing was added.
            let n = sqlx::query(
                "INSERT INTO group_member (workspace_id, group_name, username) SELECT $1, $2, $3 \
                 WHERE EXISTS (SELECT 1 FROM member WHERE workspace_id = $1 AND username = $3) \
                 AND EXISTS (SELECT 1 FROM grp WHERE workspace_id = $1 AND name = $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(ws)
            .bind(group)
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                if !checked && !group_exists!(tx, ws, group) {
                    return Ok(GroupAdd::NoGroup);
                }
                let m: Option<String> = sqlx::query_scalar(
                    "SELECT username FROM member WHERE workspace_id = $1 AND username = $2",
                )
                .bind(ws)
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
                return Ok(if m.is_none() {
                    GroupAdd::NotInWorkspace
                } else {
                    GroupAdd::AlreadyMember
                });
            }
            insert_audit!(tx, audit);
            GroupAdd::Added
        })
    }

    async fn remove_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GroupRemove> {
        let checked = self.checks_group_first(&actor);
        write_tx!(self, groups, |tx| {
            if checked {
                match guard!(self, tx, ws, group, actor, shared) {
                    Some(GroupChange::NotOwner) => return Ok(GroupRemove::NotOwner),
                    Some(_) => return Ok(GroupRemove::NoGroup),
                    None => {}
                }
            }
            let n = sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND group_name = $2 AND username = $3")
                .bind(ws)
                .bind(group)
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                if !checked && !group_exists!(tx, ws, group) {
                    return Ok(GroupRemove::NoGroup);
                }
                return Ok(GroupRemove::NotMember);
            }
            insert_audit!(tx, audit);
            GroupRemove::Removed
        })
    }
    async fn set_group_grant(
        &self,
        ws: &str,
        group: &str,
        principal: &str,
        grant: Option<bool>,
        actor: Actor<'_>,
        audit: NewAudit,
    ) -> StoreResult<GrantChange> {
        write_tx!(self, |tx| {
            match guard!(self, tx, ws, group, actor) {
                Some(GroupChange::NotOwner) => return Ok(GrantChange::NotOwner),
                Some(_) => return Ok(GrantChange::NoGroup),
                None => {}
            }
            if grant.is_some() {
                let exists: Option<String> = if let Some(u) = principal.strip_prefix("u/") {
                    sqlx::query_scalar(
                        "SELECT username FROM member WHERE workspace_id = $1 AND username = $2",
                    )
                    .bind(ws)
                    .bind(u)
                    .fetch_optional(&mut *tx)
                    .await?
                } else {
                    sqlx::query_scalar("SELECT name FROM grp WHERE workspace_id = $1 AND name = $2")
                        .bind(ws)
                        .bind(principal.strip_prefix("g/").unwrap_or(principal))
                        .fetch_optional(&mut *tx)
                        .await?
                };
                if exists.is_none() {
                    return Ok(GrantChange::NoPrincipal);
                }
            }
            let now: Option<bool> = sqlx::query_scalar(
                "SELECT can_write FROM group_acl WHERE workspace_id = $1 AND group_name = $2 AND principal = $3",
            )
            .bind(ws)
            .bind(group)
            .bind(principal)
            .fetch_optional(&mut *tx)
            .await?;
            if now == grant {
                return Ok(GrantChange::Unchanged);
            }
            match grant {
                Some(w) => {
                    sqlx::query(
                        "INSERT INTO group_acl (workspace_id, group_name, principal, can_write) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (workspace_id, group_name, principal) DO UPDATE SET can_write = $4",
                    )
                    .bind(ws)
                    .bind(group)
                    .bind(principal)
                    .bind(w)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM group_acl WHERE workspace_id = $1 AND group_name = $2 AND principal = $3",
                    )
                    .bind(ws)
                    .bind(group)
                    .bind(principal)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if now == Some(true) && matches!(actor, Actor::Owner(_)) {
                let owners: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM group_acl WHERE workspace_id = $1 AND group_name = $2 AND can_write = TRUE",
                )
                .bind(ws)
                .bind(group)
                .fetch_one(&mut *tx)
                .await?;
                if owners == 0 {
                    // Rolled back: an admin may leave a group without owners, an owner may not.
                    return Ok(GrantChange::LastOwner);
                }
            }
            insert_audit!(tx, audit);
            GrantChange::Done
        })
    }
}
