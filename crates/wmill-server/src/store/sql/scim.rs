//! SCIM provisioning: SCIM tokens, and accounts and instance groups as SCIM Users and
//! Groups. Filters arrive parsed; they are compiled here, over the columns below, to SQL
//! whose values are all bind parameters (see `scim::filter`).
//!
//! Every write reads the resource inside its transaction (locked on PostgreSQL) and, when
//! the caller read it first (PATCH, `If-Match`), proceeds only if it is still what the
//! caller saw: a PATCH never applies its operations to a state that is no longer there.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::instance_groups::{flags, rank};
use super::{Db, SqlStore};
use crate::scim::filter::{AttrMap, AttrType, Bind, Column, Dialect, Filter, FilterError};
use crate::store::*;
use wmill_api::ActionKind;

/// The SCIM user columns of account `a`, and the table.
const USER_COLUMNS: &str = concat!(
    "a.scim_id, a.email, a.user_name, a.name, a.given_name, a.family_name, a.external_id, \
     a.disabled, (a.super_admin = TRUE OR ",
    via_group!("a", "superadmin"),
    ") AS super_admin, a.created_at, COALESCE(a.scim_modified_at, a.created_at) AS modified_at \
     FROM account a"
);

/// The SCIM group columns of instance group `g`, and the table.
const GROUP_COLUMNS: &str = "g.id, g.name, COALESCE(g.scim_display_name, g.name) AS display_name, \
     g.external_id, g.instance_role, g.created_at, COALESCE(g.scim_modified_at, g.created_at) AS modified_at \
     FROM instance_group g";

type GroupTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

fn group_row(t: GroupTuple) -> ScimGroupRow {
    ScimGroupRow {
        id: t.0,
        name: t.1,
        display_name: t.2,
        external_id: t.3,
        instance_role: t.4,
        created_at: t.5,
        modified_at: t.6,
        members: Vec::new(),
    }
}

const SCIM_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SCIM_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// How User attributes are stored.
fn user_map() -> AttrMap {
    let ci = AttrType::StringCaseInsensitive;
    let email = AttrMap::new(&[SCIM_USER])
        .column("value", Column::new("a.email", ci).not_null())
        .column("type", Column::new("'work'", ci).not_null())
        .column("primary", Column::new("TRUE", AttrType::Boolean).not_null());
    AttrMap::new(&[SCIM_USER])
        .column(
            "id",
            Column::new("a.scim_id", AttrType::StringCaseExact).not_null(),
        )
        .column(
            "userName",
            Column::new("COALESCE(a.user_name, a.email)", ci).not_null(),
        )
        .column(
            "externalId",
            Column::new("a.external_id", AttrType::StringCaseExact),
        )
        .column("displayName", Column::new("a.name", ci))
        .column("name.formatted", Column::new("a.name", ci))
        .column("name.givenName", Column::new("a.given_name", ci))
        .column("name.familyName", Column::new("a.family_name", ci))
        .column(
            "active",
            Column::new("a.disabled = FALSE", AttrType::Boolean).not_null(),
        )
        .column(
            "meta.created",
            Column::new("a.created_at", AttrType::DateTimeMicros).not_null(),
        )
        .column(
            "meta.lastModified",
            Column::new(
                "COALESCE(a.scim_modified_at, a.created_at)",
                AttrType::DateTimeMicros,
            )
            .not_null(),
        )
        // One email per account: the multi-valued attribute is that one value.
        .multi_valued("emails", "(", ")", email)
}

/// How Group attributes are stored.
fn group_map() -> AttrMap {
    let ci = AttrType::StringCaseInsensitive;
    let member = AttrMap::new(&[SCIM_GROUP])
        .column(
            "value",
            Column::new("ma.scim_id", AttrType::StringCaseExact).not_null(),
        )
        .column("display", Column::new("ma.email", ci).not_null())
        .column("type", Column::new("'User'", ci).not_null());
    AttrMap::new(&[SCIM_GROUP])
        .column(
            "id",
            Column::new("g.id", AttrType::StringCaseExact).not_null(),
        )
        .column(
            "displayName",
            Column::new("COALESCE(g.scim_display_name, g.name)", ci).not_null(),
        )
        .column(
            "externalId",
            Column::new("g.external_id", AttrType::StringCaseExact),
        )
        .column(
            "meta.created",
            Column::new("g.created_at", AttrType::DateTimeMicros).not_null(),
        )
        .column(
            "meta.lastModified",
            Column::new(
                "COALESCE(g.scim_modified_at, g.created_at)",
                AttrType::DateTimeMicros,
            )
            .not_null(),
        )
        .multi_valued(
            "members",
            "EXISTS (SELECT 1 FROM instance_group_member gm JOIN account ma ON ma.email = gm.email \
             WHERE gm.group_name = g.name AND ",
            ")",
            member,
        )
}

/// Binds a compiled filter's values to `$q`, in placeholder order.
macro_rules! bind_filter {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
                Bind::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// Account `$id` as SCIM sees it, read (and on PostgreSQL locked) inside `$tx`.
macro_rules! user_in_tx {
    ($self:ident, $tx:ident, $id:expr) => {{
        let sql = if $self.is_postgres() {
            format!("SELECT {USER_COLUMNS} WHERE a.scim_id = $1 AND a.service_account = FALSE FOR UPDATE")
        } else {
            format!("SELECT {USER_COLUMNS} WHERE a.scim_id = $1 AND a.service_account = FALSE")
        };
        let row: Option<ScimUserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind($id)
            .fetch_optional(&mut *$tx)
            .await?;
        row
    }};
}

/// Whether another account than `$email` already answers to userName `$user_name` or has
/// it as its email (userNames are unique, case-insensitively, and default to the email).
macro_rules! user_name_taken {
    ($tx:ident, $user_name:expr, $email:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM account WHERE email <> $2 \
             AND LOWER(COALESCE(user_name, email)) = LOWER($1)) \
             + (SELECT COUNT(*) FROM account WHERE email <> $2 AND email = LOWER($1))",
        )
        .bind($user_name)
        .bind($email)
        .fetch_one(&mut *$tx)
        .await?;
        n > 0
    }};
}

/// Group `$id` with its members, read (and on PostgreSQL locked) inside `$tx`.
macro_rules! group_in_tx {
    ($self:ident, $tx:ident, $id:expr) => {{
        let sql = if $self.is_postgres() {
            format!("SELECT {GROUP_COLUMNS} WHERE g.id = $1 FOR UPDATE")
        } else {
            format!("SELECT {GROUP_COLUMNS} WHERE g.id = $1")
        };
        let row: Option<GroupTuple> = sqlx::query_as(AssertSqlSafe(sql))
            .bind($id)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            None => None,
            Some(t) => {
                let mut g = group_row(t);
                g.members = sqlx::query_as(
                    "SELECT a.scim_id, a.email FROM instance_group_member gm \
                     JOIN account a ON a.email = gm.email WHERE gm.group_name = $1 ORDER BY a.email",
                )
                .bind(&g.name)
                .fetch_all(&mut *$tx)
                .await?;
                Some(g)
            }
        }
    }};
}

/// Whether another group than `$name` is displayed as `$display` (case-insensitively).
macro_rules! display_name_taken {
    ($tx:ident, $display:expr, $name:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM instance_group WHERE name <> $2 \
             AND LOWER(COALESCE(scim_display_name, name)) = LOWER($1)",
        )
        .bind($display)
        .bind($name)
        .fetch_one(&mut *$tx)
        .await?;
        n > 0
    }};
}

/// The emails of the accounts with these SCIM ids (not service accounts), or an id that
/// names none: one query, the ids bound as one JSON array.
macro_rules! member_emails {
    ($self:ident, $tx:ident, $ids:expr) => {{
        let ids: Vec<&String> = $ids.collect();
        let sql = if $self.is_postgres() {
            "SELECT scim_id, email FROM account WHERE service_account = FALSE \
             AND scim_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
        } else {
            "SELECT scim_id, email FROM account WHERE service_account = FALSE \
             AND scim_id IN (SELECT value FROM json_each($1))"
        };
        let found: Vec<(String, String)> = if ids.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(sql)
                .bind(serde_json::to_string(&ids).unwrap_or_default())
                .fetch_all(&mut *$tx)
                .await?
        };
        let by_id: HashMap<String, String> = found.into_iter().collect();
        match ids.iter().find(|id| !by_id.contains_key(id.as_str())) {
            Some(id) => Err((*id).clone()),
            None => Ok(by_id.into_values().collect::<BTreeSet<String>>()),
        }
    }};
}

/// Whether instance group `$name` feeds a workspace (only then do its members' changes
/// change workspace memberships).
macro_rules! feeds_workspaces {
    ($tx:ident, $name:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM workspace_instance_group WHERE group_name = $1",
        )
        .bind($name)
        .fetch_one(&mut *$tx)
        .await?;
        n > 0
    }};
}

/// A group name from a SCIM displayName: letters, digits, `_` and `-`, at most 40.
fn name_base(display: &str) -> String {
    let mut out = String::new();
    for c in display.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() {
        "group".to_string()
    } else {
        out
    }
}

#[async_trait]
impl ScimStore for SqlStore {
    fn compile_user_filter(&self, f: &Filter) -> Result<ScimFilter, FilterError> {
        crate::scim::filter::compile(f, &user_map(), self.dialect(), 1)
    }

    fn compile_group_filter(&self, f: &Filter) -> Result<ScimFilter, FilterError> {
        crate::scim::filter::compile(f, &group_map(), self.dialect(), 1)
    }

    async fn create_scim_token(&self, t: NewScimToken, audit: NewAudit) -> StoreResult<bool> {
        insert_tx!(self, |tx| {
            let n = sqlx::query(
                "INSERT INTO scim_token (hash, prefix, label, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(&t.hash)
            .bind(&t.prefix)
            .bind(&t.label)
            .bind(&t.created_by)
            .bind(t.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            insert_audit!(tx, audit);
            true
        })
    }

    async fn scim_tokens(&self) -> StoreResult<Vec<ScimTokenRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, ScimTokenRow>(
            "SELECT prefix, label, created_by, created_at FROM scim_token ORDER BY label"
        )
        .fetch_all(c)
        .await?))
    }

    async fn delete_scim_token(&self, label: &str, audit: NewAudit) -> StoreResult<bool> {
        insert_tx!(self, |tx| {
            let n = sqlx::query("DELETE FROM scim_token WHERE label = $1")
                .bind(label)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            insert_audit!(tx, audit);
            true
        })
    }

    async fn scim_token_label(&self, hash: &str) -> StoreResult<Option<String>> {
        read!(self, |c| Ok(sqlx::query_scalar(
            "SELECT label FROM scim_token WHERE hash = $1"
        )
        .bind(hash)
        .fetch_optional(c)
        .await?))
    }

    async fn scim_users(
        &self,
        filter: Option<ScimFilter>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<ScimPage<ScimUserRow>> {
        let (cond, binds) = match &filter {
            Some(f) => (f.sql.as_str(), f.binds.as_slice()),
            None => ("TRUE", &[][..]),
        };
        let n = binds.len();
        let count_sql =
            format!("SELECT COUNT(*) FROM account a WHERE a.service_account = FALSE AND ({cond})");
        let page_sql = format!(
            "SELECT {USER_COLUMNS} WHERE a.service_account = FALSE AND ({cond}) \
             ORDER BY a.created_at, a.scim_id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        read!(self, |c| {
            let total: i64 =
                bind_filter!(sqlx::query_scalar(AssertSqlSafe(count_sql.clone())), binds)
                    .fetch_one(c)
                    .await?;
            let rows: Vec<ScimUserRow> =
                bind_filter!(sqlx::query_as(AssertSqlSafe(page_sql.clone())), binds)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(c)
                    .await?;
            Ok(ScimPage { total, rows })
        })
    }

    async fn scim_user(&self, id: &str) -> StoreResult<Option<ScimUserRow>> {
        let sql =
            format!("SELECT {USER_COLUMNS} WHERE a.scim_id = $1 AND a.service_account = FALSE");
        read!(self, |c| Ok(sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(c)
            .await?))
    }

    async fn scim_create_user(
        &self,
        w: ScimUserWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<String>> {
        write_tx!(self, |tx| {
            if email_taken!(tx, &w.email) {
                return Ok(ScimOutcome::Taken(format!("the email {}", w.email)));
            }
            let user_name = w.user_name.clone().unwrap_or_else(|| w.email.clone());
            if user_name_taken!(tx, &user_name, &w.email) {
                return Ok(ScimOutcome::Taken(format!("the userName {user_name}")));
            }
            sqlx::query(
                "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, \
                 first_time_user, created_at, user_name, external_id, given_name, family_name, \
                 scim_modified_at) VALUES ($1, $2, FALSE, $3, NULL, $4, TRUE, $5, $6, $7, $8, $9, $5)",
            )
            .bind(&w.email)
            .bind(w.password_hash.as_deref().unwrap_or(super::sso::NO_PASSWORD))
            .bind(&w.name)
            .bind(!w.active)
            .bind(now)
            .bind(&w.user_name)
            .bind(&w.external_id)
            .bind(&w.given_name)
            .bind(&w.family_name)
            .execute(&mut *tx)
            .await?;
            let id: String = sqlx::query_scalar("SELECT scim_id FROM account WHERE email = $1")
                .bind(&w.email)
                .fetch_one(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            auto_add!(tx, &w.email, now, audit);
            ScimOutcome::Done(id)
        })
    }

    async fn scim_replace_user(
        &self,
        id: &str,
        expected: Option<ScimUserRow>,
        w: ScimUserWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>> {
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let Some(cur) = user_in_tx!(self, tx, id) else {
                return Ok(ScimOutcome::NotFound);
            };
            if expected.as_ref().is_some_and(|e| *e != cur) {
                return Ok(ScimOutcome::Changed);
            }
            let moves = w.email != cur.email;
            if cur.super_admin && (moves || w.password_hash.is_some()) {
                return Ok(ScimOutcome::Refused(format!(
                    "{} is a superadmin: SCIM does not change a superadmin's email or password \
                     (use wmill user update / wmill user set-password)",
                    cur.email
                )));
            }
            let disables = !w.active && !cur.disabled;
            if disables && cur.super_admin && is_last_superadmin!(tx, &cur.email) {
                return Ok(ScimOutcome::Refused(format!(
                    "{} is the last enabled superadmin: it cannot be deactivated",
                    cur.email
                )));
            }
            if moves {
                if email_taken!(tx, &w.email) {
                    return Ok(ScimOutcome::Taken(format!("the email {}", w.email)));
                }
                move_email_rows!(tx, &cur.email, &w.email);
            }
            let user_name = w.user_name.clone().unwrap_or_else(|| w.email.clone());
            if user_name_taken!(tx, &user_name, &w.email) {
                return Ok(ScimOutcome::Taken(format!("the userName {user_name}")));
            }
            sqlx::query(
                "UPDATE account SET user_name = $2, name = $3, given_name = $4, family_name = $5, \
                 external_id = $6, disabled = $7, scim_modified_at = $8, \
                 password_hash = COALESCE($9, password_hash) WHERE email = $1",
            )
            .bind(&w.email)
            .bind(&w.user_name)
            .bind(&w.name)
            .bind(&w.given_name)
            .bind(&w.family_name)
            .bind(&w.external_id)
            .bind(!w.active)
            .bind(now)
            .bind(&w.password_hash)
            .execute(&mut *tx)
            .await?;
            if disables {
                // Its own tokens, and those it minted to act as someone else: refused from
                // the next request on, on every instance (none caches them on PostgreSQL).
                sqlx::query("DELETE FROM token WHERE email = $1 OR impersonator = $1")
                    .bind(&w.email)
                    .execute(&mut *tx)
                    .await?;
            }
            if w.password_hash.is_some() {
                sqlx::query("DELETE FROM login_throttle WHERE email = $1")
                    .bind(&w.email)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(tx, audit);
            ScimOutcome::Done(())
        })
    }

    async fn scim_delete_user(
        &self,
        id: &str,
        expected: Option<ScimUserRow>,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>> {
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let Some(cur) = user_in_tx!(self, tx, id) else {
                return Ok(ScimOutcome::NotFound);
            };
            if expected.as_ref().is_some_and(|e| *e != cur) {
                return Ok(ScimOutcome::Changed);
            }
            if cur.super_admin && !cur.disabled && is_last_superadmin!(tx, &cur.email) {
                return Ok(ScimOutcome::Refused(format!(
                    "{} is the last enabled superadmin: it cannot be deleted",
                    cur.email
                )));
            }
            insert_audit!(tx, audit);
            delete_account_rows!(tx, &cur.email, audit);
            end_orphaned_impersonations!(tx);
            ScimOutcome::Done(())
        })
    }

    async fn scim_groups(
        &self,
        filter: Option<ScimFilter>,
        offset: i64,
        limit: i64,
        members: bool,
    ) -> StoreResult<ScimPage<ScimGroupRow>> {
        let (cond, binds) = match &filter {
            Some(f) => (f.sql.as_str(), f.binds.as_slice()),
            None => ("TRUE", &[][..]),
        };
        let n = binds.len();
        let count_sql = format!("SELECT COUNT(*) FROM instance_group g WHERE ({cond})");
        let page = format!(
            "WHERE ({cond}) ORDER BY g.created_at, g.name LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let page_sql = format!("SELECT {GROUP_COLUMNS} {page}");
        let members_sql = format!(
            "SELECT gm.group_name, a.scim_id, a.email FROM instance_group_member gm \
             JOIN account a ON a.email = gm.email WHERE gm.group_name IN \
             (SELECT g.name FROM instance_group g {page}) ORDER BY gm.group_name, a.email"
        );
        read!(self, |c| {
            let total: i64 =
                bind_filter!(sqlx::query_scalar(AssertSqlSafe(count_sql.clone())), binds)
                    .fetch_one(c)
                    .await?;
            let tuples: Vec<GroupTuple> =
                bind_filter!(sqlx::query_as(AssertSqlSafe(page_sql.clone())), binds)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(c)
                    .await?;
            let mut rows: Vec<ScimGroupRow> = tuples.into_iter().map(group_row).collect();
            if members && !rows.is_empty() {
                let all: Vec<(String, String, String)> =
                    bind_filter!(sqlx::query_as(AssertSqlSafe(members_sql.clone())), binds)
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(c)
                        .await?;
                let mut by_group: std::collections::HashMap<String, Vec<(String, String)>> =
                    std::collections::HashMap::new();
                for (g, id, email) in all {
                    by_group.entry(g).or_default().push((id, email));
                }
                for r in &mut rows {
                    r.members = by_group.remove(&r.name).unwrap_or_default();
                }
            }
            Ok(ScimPage { total, rows })
        })
    }

    async fn scim_group(&self, id: &str) -> StoreResult<Option<ScimGroupRow>> {
        let sql = format!("SELECT {GROUP_COLUMNS} WHERE g.id = $1");
        let row: Option<GroupTuple> = read!(self, |c| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(c)
            .await?);
        let Some(t) = row else { return Ok(None) };
        let mut g = group_row(t);
        g.members = read!(self, |c| sqlx::query_as(
            "SELECT a.scim_id, a.email FROM instance_group_member gm \
             JOIN account a ON a.email = gm.email WHERE gm.group_name = $1 ORDER BY a.email",
        )
        .bind(&g.name)
        .fetch_all(c)
        .await?);
        Ok(Some(g))
    }

    async fn scim_create_group(
        &self,
        w: ScimGroupWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<String>> {
        write_tx!(self, |tx| {
            if display_name_taken!(tx, &w.display_name, "") {
                return Ok(ScimOutcome::Taken(format!(
                    "the displayName {}",
                    w.display_name
                )));
            }
            let emails = match member_emails!(self, tx, w.members.iter().flatten()) {
                Ok(e) => e,
                Err(id) => return Ok(ScimOutcome::NoSuchMember(id)),
            };
            // A free name: the displayName's letters, then _2, _3…
            let base = name_base(&w.display_name);
            let mut name = base.clone();
            let mut n = 1;
            loop {
                let used: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM instance_group WHERE name = $1")
                        .bind(&name)
                        .fetch_one(&mut *tx)
                        .await?;
                if used == 0 {
                    break;
                }
                n += 1;
                name = format!("{base}_{n}");
            }
            sqlx::query(
                "INSERT INTO instance_group (name, scim_display_name, external_id, created_at, scim_modified_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(&name)
            .bind(&w.display_name)
            .bind(&w.external_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let id: String = sqlx::query_scalar("SELECT id FROM instance_group WHERE name = $1")
                .bind(&name)
                .fetch_one(&mut *tx)
                .await?;
            for e in &emails {
                sqlx::query(
                    "INSERT INTO instance_group_member (group_name, email) VALUES ($1, $2)",
                )
                .bind(&name)
                .bind(e)
                .execute(&mut *tx)
                .await?;
            }
            let mut a = audit.clone();
            a.resource = Some(name.clone());
            a.parameters = Some(serde_json::json!({
                "id": id, "displayName": w.display_name, "added": emails,
            }));
            insert_audit!(tx, a);
            // A new group feeds no workspace yet: no membership to recompute.
            ScimOutcome::Done(id)
        })
    }

    async fn scim_replace_group(
        &self,
        id: &str,
        expected: Option<ScimGroupRow>,
        w: ScimGroupWrite,
        now: Micros,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>> {
        write_tx!(self, |tx| {
            let Some(cur) = group_in_tx!(self, tx, id) else {
                return Ok(ScimOutcome::NotFound);
            };
            if expected.as_ref().is_some_and(|e| *e != cur) {
                return Ok(ScimOutcome::Changed);
            }
            if let Some(role) = &cur.instance_role {
                return Ok(ScimOutcome::Refused(format!(
                    "the instance group {} gives the instance role {role}: SCIM does not change it \
                     (use wmill instance-group)",
                    cur.name
                )));
            }
            if w.display_name != cur.display_name
                && display_name_taken!(tx, &w.display_name, &cur.name)
            {
                return Ok(ScimOutcome::Taken(format!(
                    "the displayName {}",
                    w.display_name
                )));
            }
            let (added, removed): (Vec<String>, Vec<String>) = match &w.members {
                None => (Vec::new(), Vec::new()),
                Some(ids) => {
                    let want = match member_emails!(self, tx, ids.iter()) {
                        Ok(e) => e,
                        Err(id) => return Ok(ScimOutcome::NoSuchMember(id)),
                    };
                    let have: BTreeSet<String> =
                        cur.members.iter().map(|(_, e)| e.clone()).collect();
                    (
                        want.difference(&have).cloned().collect(),
                        have.difference(&want).cloned().collect(),
                    )
                }
            };
            sqlx::query(
                "UPDATE instance_group SET scim_display_name = $2, external_id = $3, scim_modified_at = $4 \
                 WHERE name = $1",
            )
            .bind(&cur.name)
            .bind(&w.display_name)
            .bind(&w.external_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for e in &added {
                sqlx::query(
                    "INSERT INTO instance_group_member (group_name, email) VALUES ($1, $2)",
                )
                .bind(&cur.name)
                .bind(e)
                .execute(&mut *tx)
                .await?;
            }
            for e in &removed {
                sqlx::query(
                    "DELETE FROM instance_group_member WHERE group_name = $1 AND email = $2",
                )
                .bind(&cur.name)
                .bind(e)
                .execute(&mut *tx)
                .await?;
            }
            let mut a = audit.clone();
            a.resource = Some(cur.name.clone());
            let mut params = serde_json::json!({ "id": cur.id });
            if w.display_name != cur.display_name {
                crate::scim::set(
                    &mut params,
                    "displayName",
                    serde_json::json!(w.display_name),
                );
            }
            if w.external_id != cur.external_id {
                crate::scim::set(&mut params, "externalId", serde_json::json!(w.external_id));
            }
            if !added.is_empty() {
                crate::scim::set(&mut params, "added", serde_json::json!(added));
            }
            if !removed.is_empty() {
                crate::scim::set(&mut params, "removed", serde_json::json!(removed));
            }
            a.parameters = Some(params);
            insert_audit!(tx, a);
            if feeds_workspaces!(tx, &cur.name) {
                for e in added.iter().chain(removed.iter()) {
                    sync_group_memberships!(tx, a, now, None, Some(e.as_str()));
                }
            }
            ScimOutcome::Done(())
        })
    }

    async fn scim_delete_group(
        &self,
        id: &str,
        expected: Option<ScimGroupRow>,
        audit: NewAudit,
    ) -> StoreResult<ScimOutcome<()>> {
        let now = audit.timestamp;
        write_tx!(self, |tx| {
            let Some(cur) = group_in_tx!(self, tx, id) else {
                return Ok(ScimOutcome::NotFound);
            };
            if expected.as_ref().is_some_and(|e| *e != cur) {
                return Ok(ScimOutcome::Changed);
            }
            if let Some(role) = &cur.instance_role {
                return Ok(ScimOutcome::Refused(format!(
                    "the instance group {} gives the instance role {role}: SCIM does not delete it \
                     (use wmill instance-group)",
                    cur.name
                )));
            }
            let mut a = audit.clone();
            a.resource = Some(cur.name.clone());
            a.parameters =
                Some(serde_json::json!({ "id": cur.id, "displayName": cur.display_name }));
            insert_audit!(tx, a);
            for table in ["instance_group_member", "workspace_instance_group"] {
                sqlx::query(AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE group_name = $1"
                )))
                .bind(&cur.name)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM instance_group WHERE name = $1")
                .bind(&cur.name)
                .execute(&mut *tx)
                .await?;
            sync_group_memberships!(tx, a, now, None, None);
            ScimOutcome::Done(())
        })
    }
}

impl SqlStore {
    fn dialect(&self) -> Dialect {
        if self.is_postgres() {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{group_map, name_base, user_map};
    use crate::scim::filter::{Bind, Dialect, compile, parse};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        /// Over the real columns: any filter either is refused or compiles to SQL that holds
        /// none of the request's values (they are all binds).
        #[test]
        fn values_never_reach_the_sql(
            attr in prop::sample::select(vec![
                "userName", "externalId", "displayName", "name.givenName", "emails.value",
                "emails[type eq \"work\"].value", "id", "active", "meta.created",
                "members.value", "members", "members.display",
            ]),
            op in prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]),
            v in "[^\\x00]{1,40}",
        ) {
            let f = format!("{attr} {op} {}", serde_json::to_string(&format!("Zq{v}")).unwrap());
            let Ok(parsed) = parse(&f) else { return Ok(()) };
            for map in [user_map(), group_map()] {
                for d in [Dialect::Sqlite, Dialect::Postgres] {
                    if let Ok(c) = compile(&parsed, &map, d, 1) {
                        prop_assert!(!c.sql.contains("Zq"), "{f}: {}", c.sql);
                        let bound = c.binds.iter().any(|b| matches!(b, Bind::Text(t) if t.contains("Zq")));
                        prop_assert!(bound, "{f}: {:?}", c.binds);
                    }
                }
            }
        }

        /// Random PATCH operations never panic and never leave a User without a userName
        /// or an email.
        #[test]
        fn random_patches_never_panic(
            ops in proptest::collection::vec((
                prop::sample::select(vec!["add", "Replace", "remove", "move"]),
                prop::option::of(prop::sample::select(vec![
                    "userName", "active", "emails", "emails[type eq \"work\"].value", "name",
                    "name.givenName", "members", "members[value eq \"a\"]", "displayName",
                    "id", "password", "title", "x[", "urn:x:y", "externalId",
                ])),
                prop::option::of(prop_oneof![
                    Just(serde_json::json!(null)),
                    Just(serde_json::json!(true)),
                    Just(serde_json::json!("False")),
                    Just(serde_json::json!("a@example.com")),
                    Just(serde_json::json!([{"value": "a"}, {"value": "b@example.com"}])),
                    Just(serde_json::json!({"active": false, "id": "u1"})),
                    Just(serde_json::json!({"givenName": 3})),
                    ".{0,20}".prop_map(serde_json::Value::String),
                ]),
            ), 0..6),
        ) {
            use crate::scim::resource::{GroupDoc, UserDoc, PasswordChange, patch_group, patch_user};
            let body = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": ops.iter().map(|(op, path, value)| {
                    let mut o = serde_json::json!({"op": op});
                    if let Some(p) = path { crate::scim::set(&mut o, "path", serde_json::json!(p)); }
                    if let Some(v) = value { crate::scim::set(&mut o, "value", v.clone()); }
                    o
                }).collect::<Vec<_>>(),
            });
            let mut u = UserDoc {
                user_name: "u@example.com".into(),
                email: "u@example.com".into(),
                display_name: None,
                given_name: None,
                family_name: None,
                external_id: None,
                active: true,
                password: PasswordChange::Keep,
            };
            if patch_user(&mut u, "u1", &body).is_ok() {
                prop_assert!(!u.user_name.is_empty() && u.email.contains('@'));
            }
            let mut g = GroupDoc {
                display_name: "g".into(),
                external_id: None,
                members: ["a".to_string()].into(),
            };
            if patch_group(&mut g, "g1", &body).is_ok() {
                prop_assert!(!g.display_name.is_empty());
            }
        }
    }

    #[test]
    fn group_names_come_from_display_names() {
        assert_eq!(name_base("Engineering Team"), "engineering_team");
        assert_eq!(name_base("  R&D / Paris  "), "r_d_paris");
        assert_eq!(name_base("日本"), "group");
        assert_eq!(name_base(&"x".repeat(90)).len(), 40);
    }
}
