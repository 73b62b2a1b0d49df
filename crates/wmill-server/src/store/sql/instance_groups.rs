//! Instance groups: groups of accounts across workspaces. A group may carry an instance role
//! (`superadmin`, `devops`) that its members hold while they belong, and may feed
//! workspaces: its members are members there, with the group's role, while they belong.
//!
//! The memberships groups make are recomputed, inside the transaction of every change that
//! may affect them, by [`sync_group_memberships!`]: what the links and group members want
//! against the memberships marked `via_instance_group`. A membership added directly is never
//! touched; one a group made is removed when no linked group wants it any more (unless it is
//! the workspace's last enabled admin: then it is kept, as a direct membership).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use wmill_api::{ActionKind, OverwriteReport};

use super::{Db, SqlStore};
use crate::store::*;

/// Rank of a workspace role: the highest wins when several groups feed one member.
pub(super) fn rank(role: &str) -> u8 {
    match role {
        "admin" => 3,
        "developer" => 2,
        _ => 1,
    }
}

/// (is_admin, operator) of a workspace role.
pub(super) fn flags(role: &str) -> (bool, bool) {
    (role == "admin", role == "operator")
}

/// Recomputes the workspace memberships instance groups make (see the module
/// documentation) for workspace `$ws` and account `$email` (`None`: all of them), writing one
/// audit entry per membership added, changed or removed, modelled on `$audit`. Changes of
/// these memberships take one lock row first, so that two never interleave.
macro_rules! sync_group_memberships {
    ($tx:ident, $audit:expr, $now:expr, $ws:expr, $email:expr) => {{
        let template: &NewAudit = &$audit;
        let now: Micros = $now;
        let (only_ws, only_email): (Option<&str>, Option<&str>) = ($ws, $email);
        sqlx::query("UPDATE meta SET value = value WHERE key = 'instance_group_lock'")
            .execute(&mut *$tx)
            .await?;
        let wanted: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT l.workspace_id, gm.email, l.group_name, l.role FROM workspace_instance_group l \
             JOIN instance_group_member gm ON gm.group_name = l.group_name \
             JOIN account a ON a.email = gm.email WHERE a.service_account = FALSE \
             AND ($1 IS NULL OR l.workspace_id = $1) AND ($2 IS NULL OR gm.email = $2)",
        )
        .bind(only_ws)
        .bind(only_email)
        .fetch_all(&mut *$tx)
        .await?;
        // (workspace, email) → (group, role) of the highest role, then the first group name.
        let mut want: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
        for (ws, email, group, role) in wanted {
            let e = want.entry((ws, email)).or_insert_with(|| (group.clone(), role.clone()));
            if rank(&role) > rank(&e.1) || (rank(&role) == rank(&e.1) && group < e.0) {
                *e = (group, role);
            }
        }
        let current: Vec<(String, String, String, Option<String>, bool, bool, bool)> = sqlx::query_as(
            "SELECT m.workspace_id, m.username, m.email, m.via_instance_group, m.is_admin, m.operator, m.disabled \
             FROM member m WHERE ($1 IS NULL OR m.workspace_id = $1) AND ($2 IS NULL OR m.email = $2) \
             AND (m.via_instance_group IS NOT NULL OR EXISTS (SELECT 1 FROM workspace_instance_group l \
             JOIN instance_group_member gm ON gm.group_name = l.group_name \
             WHERE l.workspace_id = m.workspace_id AND gm.email = m.email))",
        )
        .bind(only_ws)
        .bind(only_email)
        .fetch_all(&mut *$tx)
        .await?;
        let mut have: HashMap<(String, String), (String, Option<String>, bool, bool, bool)> = current
            .into_iter()
            .map(|(ws, u, e, via, a, o, d)| ((ws, e), (u, via, a, o, d)))
            .collect();
        let entry = |ws: &str, op: &'static str, kind: ActionKind, resource: &str, params: serde_json::Value| {
            let mut a = template.clone();
            a.workspace_id = ws.to_string();
            a.operation = op;
            a.action_kind = kind;
            a.resource = Some(resource.to_string());
            a.parameters = Some(params);
            a
        };
        // Whether `$username` is the only enabled admin of `$ws` (read inside the transaction).
        macro_rules! only_admin {
            ($w:expr, $u:expr) => {{
                let others: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM member WHERE workspace_id = $1 AND username <> $2 \
                     AND is_admin = TRUE AND disabled = FALSE",
                )
                .bind($w)
                .bind($u)
                .fetch_one(&mut *$tx)
                .await?;
                others == 0
            }};
        }
        for ((ws, email), (group, role)) in &want {
            let (is_admin, operator) = flags(role);
            match have.remove(&(ws.clone(), email.clone())) {
                None => {
                    let base = crate::domain::Username::base_from_address(email);
                    let username = match assign_username!($tx, email, UsernameChoice::Derive(base)) {
                        Ok(u) => u,
                        Err(e) => return Err(StoreError::Other(format!("username for {email}: {e:?}"))),
                    };
                    let m = NewMember {
                        email: email.clone(),
                        username: UsernameChoice::Derive(String::new()),
                        is_admin,
                        operator,
                        created_at: now,
                    };
                    insert_member!($tx, ws, &username, m);
                    sqlx::query("UPDATE member SET via_instance_group = $3 WHERE workspace_id = $1 AND username = $2")
                        .bind(ws)
                        .bind(&username)
                        .bind(group)
                        .execute(&mut *$tx)
                        .await?;
                    let a = entry(ws, "users.add_to_workspace", ActionKind::Create, email, serde_json::json!({
                        "username": username, "role": role, "via_instance_group": group,
                    }));
                    insert_audit!($tx, a);
                }
                // Added directly: the group changes nothing.
                Some((_, None, ..)) => {}
                Some((username, Some(via), was_admin, was_operator, disabled)) => {
                    if &via == group && was_admin == is_admin && was_operator == operator {
                        continue;
                    }
                    if was_admin && !is_admin && !disabled && only_admin!(ws, &username) {
                        // Never the workspace's last admin: kept, as a direct admin.
                        sqlx::query("UPDATE member SET via_instance_group = NULL WHERE workspace_id = $1 AND username = $2")
                            .bind(ws)
                            .bind(&username)
                            .execute(&mut *$tx)
                            .await?;
                        let a = entry(ws, "users.update", ActionKind::Update, &username, serde_json::json!({
                            "kept": "the workspace's last admin stays admin, as a direct member",
                        }));
                        insert_audit!($tx, a);
                        continue;
                    }
                    sqlx::query(
                        "UPDATE member SET via_instance_group = $3, is_admin = $4, operator = $5 \
                         WHERE workspace_id = $1 AND username = $2",
                    )
                    .bind(ws)
                    .bind(&username)
                    .bind(group)
                    .bind(is_admin)
                    .bind(operator)
                    .execute(&mut *$tx)
                    .await?;
                    let a = entry(ws, "users.update", ActionKind::Update, &username, serde_json::json!({
                        "role": role, "via_instance_group": group,
                    }));
                    insert_audit!($tx, a);
                }
            }
        }
        // Memberships a group made that no group wants any more.
        let mut leaving: Vec<(String, String, String, bool, bool)> = have
            .into_iter()
            .filter_map(|((ws, email), (u, via, a, _, d))| via.map(|_| (ws, u, email, a, d)))
            .collect();
        leaving.sort();
        for (ws, username, email, is_admin, disabled) in leaving {
            if is_admin && !disabled && only_admin!(&ws, &username) {
                sqlx::query("UPDATE member SET via_instance_group = NULL WHERE workspace_id = $1 AND username = $2")
                    .bind(&ws)
                    .bind(&username)
                    .execute(&mut *$tx)
                    .await?;
                let a = entry(&ws, "users.update", ActionKind::Update, &username, serde_json::json!({
                    "kept": "the workspace's last admin stays, as a direct member",
                }));
                insert_audit!($tx, a);
                continue;
            }
            sqlx::query("DELETE FROM member WHERE workspace_id = $1 AND username = $2")
                .bind(&ws)
                .bind(&username)
                .execute(&mut *$tx)
                .await?;
            sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND username = $2")
                .bind(&ws)
                .bind(&username)
                .execute(&mut *$tx)
                .await?;
            sqlx::query("DELETE FROM token WHERE email = $1 AND workspace_id = $2")
                .bind(&email)
                .bind(&ws)
                .execute(&mut *$tx)
                .await?;
            let a = entry(&ws, "users.delete", ActionKind::Delete, &username, serde_json::json!({
                "email": email, "reason": "no instance group makes them a member any more",
            }));
            insert_audit!($tx, a);
            end_grants_of_user!($tx, Some(ws.as_str()), &username, a);
        }
    }};
}

/// Locks instance group `$name` (PostgreSQL) and says whether it exists.
macro_rules! lock_group {
    ($self:ident, $tx:ident, $name:expr) => {{
        let lock = locking!(
            $self,
            "SELECT name FROM instance_group WHERE name = $1",
            "FOR UPDATE"
        );
        let found: Option<String> = sqlx::query_scalar(lock)
            .bind($name)
            .fetch_optional(&mut *$tx)
            .await?;
        found.is_some()
    }};
}

impl SqlStore {
    /// Every instance group (or the one named), with members and workspaces.
    async fn read_instance_groups(&self, name: Option<&str>) -> StoreResult<Vec<InstanceGroupRow>> {
        /// (group, email) and (group, workspace id, workspace name, role).
        type Member = (String, String);
        type Link = (String, String, String, String);
        type Head = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let (heads, members, links): (Vec<Head>, Vec<Member>, Vec<Link>) = read!(self, |c| {
            let heads = sqlx::query_as(
                "SELECT name, id, summary, instance_role, scim_display_name, external_id \
                     FROM instance_group WHERE ($1 IS NULL OR name = $1) ORDER BY name",
            )
            .bind(name)
            .fetch_all(c)
            .await?;
            let members = sqlx::query_as(
                "SELECT group_name, email FROM instance_group_member \
                     WHERE ($1 IS NULL OR group_name = $1) ORDER BY group_name, email",
            )
            .bind(name)
            .fetch_all(c)
            .await?;
            let links = sqlx::query_as(
                    "SELECT l.group_name, l.workspace_id, w.name, l.role FROM workspace_instance_group l \
                     JOIN workspace w ON w.id = l.workspace_id \
                     WHERE ($1 IS NULL OR l.group_name = $1) ORDER BY l.group_name, l.workspace_id",
                )
                .bind(name)
                .fetch_all(c)
                .await?;
            (heads, members, links)
        });
        let mut emails: HashMap<String, Vec<String>> = HashMap::new();
        for (g, e) in members {
            emails.entry(g).or_default().push(e);
        }
        let mut workspaces: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
        for (g, ws, ws_name, role) in links {
            workspaces.entry(g).or_default().push((ws, ws_name, role));
        }
        Ok(heads
            .into_iter()
            .map(
                |(name, id, summary, instance_role, scim_display_name, external_id)| {
                    InstanceGroupRow {
                        emails: emails.remove(&name).unwrap_or_default(),
                        workspaces: workspaces.remove(&name).unwrap_or_default(),
                        name,
                        id,
                        summary,
                        instance_role,
                        scim_display_name,
                        external_id,
                    }
                },
            )
            .collect())
    }
}

#[async_trait]
impl InstanceGroupStore for SqlStore {
    async fn list_instance_groups(&self) -> StoreResult<Vec<InstanceGroupRow>> {
        self.read_instance_groups(None).await
    }

    async fn instance_group(&self, name: &str) -> StoreResult<Option<InstanceGroupRow>> {
        Ok(self
            .read_instance_groups(Some(name))
            .await?
            .into_iter()
            .next())
    }

    async fn instance_groups_of(&self, email: &str) -> StoreResult<Vec<String>> {
        read!(self, |c| Ok(sqlx::query_scalar(
            "SELECT group_name FROM instance_group_member WHERE email = $1 ORDER BY group_name"
        )
        .bind(email)
        .fetch_all(c)
        .await?))
    }

    async fn create_instance_group(
        &self,
        name: &str,
        summary: Option<&str>,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "INSERT INTO instance_group (name, summary, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(summary)
            .bind(created_at)
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

    async fn update_instance_group(
        &self,
        name: &str,
        summary: Option<&str>,
        role: Option<Option<&str>>,
        audit: NewAudit,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            if !lock_group!(self, tx, name) {
                return Ok(false);
            }
            sqlx::query("UPDATE instance_group SET summary = $2 WHERE name = $1")
                .bind(name)
                .bind(summary)
                .execute(&mut *tx)
                .await?;
            if let Some(role) = role {
                sqlx::query("UPDATE instance_group SET instance_role = $2 WHERE name = $1")
                    .bind(name)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
                end_orphaned_impersonations!(tx);
            }
            insert_audit!(tx, audit);
            true
        })
    }

    async fn delete_instance_group(&self, name: &str, audit: NewAudit) -> StoreResult<bool> {
        let now = audit.timestamp;
        write_tx!(self, |tx| {
            if !lock_group!(self, tx, name) {
                return Ok(false);
            }
            insert_audit!(tx, audit);
            sqlx::query("DELETE FROM instance_group_member WHERE group_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM workspace_instance_group WHERE group_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM instance_group WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            sync_group_memberships!(tx, audit, now, None, None);
            end_orphaned_impersonations!(tx);
            true
        })
    }

    async fn set_instance_group_member(
        &self,
        name: &str,
        email: &str,
        member: bool,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<InstanceGroupChange> {
        write_tx!(self, |tx| {
            if !lock_group!(self, tx, name) {
                return Ok(InstanceGroupChange::NoGroup);
            }
            let changed = if member {
                let exists: Option<bool> =
                    sqlx::query_scalar("SELECT service_account FROM account WHERE email = $1")
                        .bind(email)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists != Some(false) {
                    return Ok(InstanceGroupChange::NoAccount);
                }
                sqlx::query(
                    "INSERT INTO instance_group_member (group_name, email) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(email)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            } else {
                sqlx::query(
                    "DELETE FROM instance_group_member WHERE group_name = $1 AND email = $2",
                )
                .bind(name)
                .bind(email)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            if changed == 0 {
                return Ok(InstanceGroupChange::Unchanged);
            }
            insert_audit!(tx, audit);
            sync_group_memberships!(tx, audit, created_at, None, Some(email));
            if !member {
                end_orphaned_impersonations!(tx);
            }
            InstanceGroupChange::Done
        })
    }

    async fn overwrite_instance_groups(
        &self,
        groups: Vec<InstanceGroupRow>,
        dry_run: bool,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<Result<OverwriteReport, String>> {
        write_tx!(self, |tx| {
            sqlx::query("UPDATE meta SET value = value WHERE key = 'instance_group_lock'")
                .execute(&mut *tx)
                .await?;
            // Read again under the transaction: what is compared is what is changed.
            let mut existing: BTreeMap<
                String,
                (
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                ),
            > = BTreeMap::new();
            let rows: Vec<(String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>)> =
                sqlx::query_as(
                    "SELECT name, id, summary, instance_role, scim_display_name, external_id FROM instance_group",
                )
                .fetch_all(&mut *tx)
                .await?;
            for (n, id, s, r, d, x) in rows {
                existing.insert(n, (id, s, r, d, x));
            }
            let accounts: BTreeSet<String> =
                sqlx::query_scalar("SELECT email FROM account WHERE service_account = FALSE")
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
            for g in &groups {
                if let Some(e) = g.emails.iter().find(|e| !accounts.contains(*e)) {
                    return Ok(Err(format!(
                        "group {}: no account has the email {e}",
                        g.name
                    )));
                }
            }
            // Members as sets: compared by value, whatever order each database sorts in.
            let pairs: Vec<(String, String)> =
                sqlx::query_as("SELECT group_name, email FROM instance_group_member")
                    .fetch_all(&mut *tx)
                    .await?;
            let mut members_now: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (g, e) in pairs {
                members_now.entry(g).or_default().insert(e);
            }
            let mut report = OverwriteReport {
                dry_run,
                ..Default::default()
            };
            let wanted: BTreeSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            for g in &groups {
                let head = (
                    g.id.clone(),
                    g.summary.clone(),
                    g.instance_role.clone(),
                    g.scim_display_name.clone(),
                    g.external_id.clone(),
                );
                match existing.get(&g.name) {
                    None => report.created.push(g.name.clone()),
                    Some(h) => {
                        // An id not given keeps the one stored.
                        let same_head = (g.id.is_none() || g.id == h.0)
                            && (&head.1, &head.2, &head.3, &head.4) == (&h.1, &h.2, &h.3, &h.4);
                        let wanted_members: BTreeSet<String> = g.emails.iter().cloned().collect();
                        let same_members =
                            members_now.get(&g.name).cloned().unwrap_or_default() == wanted_members;
                        if same_head && same_members {
                            report.unchanged += 1;
                        } else {
                            report.updated.push(g.name.clone());
                        }
                    }
                }
            }
            report.deleted = existing
                .keys()
                .filter(|n| !wanted.contains(n.as_str()))
                .cloned()
                .collect();
            if dry_run {
                // Rolled back: nothing was written.
                return Ok(Ok(report));
            }
            for name in &report.deleted {
                sqlx::query("DELETE FROM instance_group WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
            for g in &groups {
                if report.created.contains(&g.name) {
                    sqlx::query(
                        "INSERT INTO instance_group (name, id, summary, instance_role, scim_display_name, external_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&g.name)
                    .bind(&g.id)
                    .bind(&g.summary)
                    .bind(&g.instance_role)
                    .bind(&g.scim_display_name)
                    .bind(&g.external_id)
                    .bind(created_at)
                    .execute(&mut *tx)
                    .await?;
                } else if report.updated.contains(&g.name) {
                    sqlx::query(
                        "UPDATE instance_group SET id = COALESCE($2, id), summary = $3, instance_role = $4, \
                         scim_display_name = $5, external_id = $6 WHERE name = $1",
                    )
                    .bind(&g.name)
                    .bind(&g.id)
                    .bind(&g.summary)
                    .bind(&g.instance_role)
                    .bind(&g.scim_display_name)
                    .bind(&g.external_id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM instance_group_member WHERE group_name = $1")
                        .bind(&g.name)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    continue;
                }
                for e in &g.emails {
                    sqlx::query(
                        "INSERT INTO instance_group_member (group_name, email) VALUES ($1, $2)",
                    )
                    .bind(&g.name)
                    .bind(e)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let mut a = audit.clone();
            a.parameters = Some(serde_json::json!({
                "created": report.created, "updated": report.updated, "deleted": report.deleted,
            }));
            insert_audit!(tx, a);
            sync_group_memberships!(tx, audit, created_at, None, None);
            end_orphaned_impersonations!(tx);
            Ok(report)
        })
    }

    async fn set_workspace_instance_groups(
        &self,
        ws: &str,
        links: Vec<(String, String)>,
        created_at: Micros,
        audit: NewAudit,
    ) -> StoreResult<Result<(), String>> {
        let lock = locking!(self, "SELECT id FROM workspace WHERE id = $1", "FOR UPDATE");
        write_tx!(self, |tx| {
            let found: Option<String> = sqlx::query_scalar(lock)
                .bind(ws)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Ok(Err(format!("workspace {ws} not found")));
            }
            for (g, _) in &links {
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT name FROM instance_group WHERE name = $1")
                        .bind(g)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Ok(Err(format!("instance group {g} not found")));
                }
            }
            sqlx::query("DELETE FROM workspace_instance_group WHERE workspace_id = $1")
                .bind(ws)
                .execute(&mut *tx)
                .await?;
            for (g, role) in &links {
                sqlx::query("INSERT INTO workspace_instance_group (workspace_id, group_name, role) VALUES ($1, $2, $3)")
                    .bind(ws)
                    .bind(g)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(tx, audit);
            sync_group_memberships!(tx, audit, created_at, Some(ws), None);
            Ok(())
        })
    }
}
