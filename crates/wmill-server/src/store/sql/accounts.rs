//! Instance accounts: create, change, disable, delete, passwords.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wmill_api::ActionKind;

use super::{Db, SqlStore};
use crate::store::*;

const ACCOUNT_COLUMNS: &str = concat!(
    "a.email, a.password_hash, a.super_admin, a.name, a.company, a.disabled, \
     a.first_time_user, u.username, a.created_at, a.service_account, a.login_type, ",
    via_group!("a", "superadmin"),
    " AS group_super_admin, ",
    via_group!("a", "devops"),
    " AS devops FROM account a LEFT JOIN username u ON u.email = a.email"
);

/// Deletes account `$email` with its username (ending its group grants, each audited as
/// modelled on `$audit`), tokens (and those it minted), memberships and group memberships.
macro_rules! delete_account_rows {
    ($tx:ident, $email:expr, $audit:expr) => {{
        let email: &str = $email;
        let username: Option<String> =
            sqlx::query_scalar("SELECT username FROM username WHERE email = $1")
                .bind(email)
                .fetch_optional(&mut *$tx)
                .await?;
        if let Some(u) = &username {
            // Whoever gets this username next inherits no group.
            end_grants_of_user!($tx, None, u, $audit);
        }
        sqlx::query("DELETE FROM token WHERE email = $1 OR impersonator = $1")
            .bind(email)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "DELETE FROM group_member WHERE EXISTS (SELECT 1 FROM member m WHERE m.email = $1 \
             AND m.workspace_id = group_member.workspace_id AND m.username = group_member.username)",
        )
        .bind(email)
        .execute(&mut *$tx)
        .await?;
        for table in ["member", "username", "login_throttle", "account"] {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE email = $1")))
                .bind(email)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Gives the account `$email`, whose username is `$old`, the username `$new` everywhere:
/// memberships, group memberships and grants.
macro_rules! rename_rows {
    ($tx:ident, $email:expr, $old:expr, $new:expr) => {{
        let (email, old, new): (&str, &str, &str) = ($email, $old, $new);
        sqlx::query("UPDATE username SET username = $2 WHERE email = $1")
            .bind(email)
            .bind(new)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "UPDATE group_member SET username = $2 WHERE username = $1 \
             AND EXISTS (SELECT 1 FROM member m WHERE m.workspace_id = group_member.workspace_id \
             AND m.username = $1 AND m.email = $3)",
        )
        .bind(old)
        .bind(new)
        .bind(email)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "UPDATE group_acl SET principal = $2 WHERE principal = $1 \
             AND EXISTS (SELECT 1 FROM member m WHERE m.workspace_id = group_acl.workspace_id \
             AND m.username = $4 AND m.email = $3)",
        )
        .bind(format!("u/{old}"))
        .bind(format!("u/{new}"))
        .bind(email)
        .bind(old)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE member SET username = $2 WHERE email = $1")
            .bind(email)
            .bind(new)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Whether `$email` is an account's, a username's or a membership's email.
macro_rules! email_taken {
    ($tx:ident, $email:expr) => {{
        let taken: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM account WHERE email = $1) + (SELECT COUNT(*) FROM username WHERE email = $1) \
             + (SELECT COUNT(*) FROM member WHERE email = $1)",
        )
        .bind($email)
        .fetch_one(&mut *$tx)
        .await?;
        taken > 0
    }};
}

/// Gives account `$old` the email `$new` everywhere (tokens and instance group memberships
/// follow by their foreign keys); `$new` must not be taken.
macro_rules! move_email_rows {
    ($tx:ident, $old:expr, $new:expr) => {{
        let (email, new_email): (&str, &str) = ($old, $new);
        sqlx::query("UPDATE account SET email = $2 WHERE email = $1")
            .bind(email)
            .bind(new_email)
            .execute(&mut *$tx)
            .await?;
        for table in ["username", "member"] {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET email = $2 WHERE email = $1"
            )))
            .bind(email)
            .bind(new_email)
            .execute(&mut *$tx)
            .await?;
        }
        sqlx::query("UPDATE workspace SET owner = $2 WHERE owner = $1")
            .bind(email)
            .bind(new_email)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("DELETE FROM login_throttle WHERE email = $1 OR email = $2")
            .bind(email)
            .bind(new_email)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("UPDATE token SET minted_by = $2 WHERE minted_by = $1")
            .bind(email)
            .bind(new_email)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Adds the new account `$email` to the workspaces whose auto-invite adds every new account
/// (or those of its email domain), as operator or developer, audited as modelled on `$audit`.
macro_rules! auto_add {
    ($tx:ident, $email:expr, $now:expr, $audit:expr) => {{
        let email: &str = $email;
        let domain = email.rsplit('@').next().unwrap_or("").to_string();
        let settings: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, auto_invite FROM workspace WHERE auto_invite IS NOT NULL AND archived = FALSE ORDER BY id",
        )
        .fetch_all(&mut *$tx)
        .await?;
        for (ws, raw) in settings {
            let Ok(cfg) = serde_json::from_str::<wmill_api::AutoInviteConfig>(&raw) else {
                continue;
            };
            let applies = cfg.enabled == Some(true)
                && cfg.mode.as_deref() == Some("add")
                && cfg.domain.as_deref().is_none_or(|d| d == "*" || d == domain);
            let already: Option<String> =
                sqlx::query_scalar("SELECT username FROM member WHERE workspace_id = $1 AND email = $2")
                    .bind(&ws)
                    .bind(email)
                    .fetch_optional(&mut *$tx)
                    .await?;
            if !applies || already.is_some() {
                continue;
            }
            let base = crate::domain::Username::base_from_address(email);
            let Ok(username) = assign_username!($tx, email, UsernameChoice::Derive(base)) else {
                continue;
            };
            let operator = cfg.operator.unwrap_or(false);
            let m = NewMember {
                email: email.to_string(),
                username: UsernameChoice::Derive(String::new()),
                is_admin: false,
                operator,
                created_at: $now,
            };
            insert_member!($tx, &ws, &username, m);
            let mut a: NewAudit = $audit.clone();
            a.workspace_id = ws.clone();
            a.operation = "users.add_to_workspace";
            a.action_kind = ActionKind::Create;
            a.resource = Some(email.to_string());
            a.parameters = Some(serde_json::json!({
                "username": username,
                "role": if operator { "operator" } else { "developer" },
                "auto_invite": true,
            }));
            insert_audit!($tx, a);
        }
    }};
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn account(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        if let Some(hit) = self.cache_read().and_then(|c| c.account(email)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<AccountRow> = read!(self, |c| sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} WHERE a.email = $1"))
        )
        .bind(email)
        .fetch_optional(c)
        .await?);
        if let (Some(c), Some(r)) = (self.cache_fill(), &row) {
            c.put_account(since, email, r);
        }
        Ok(row)
    }

    async fn list_accounts(&self, offset: i64, limit: i64) -> StoreResult<Vec<AccountRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} ORDER BY (a.super_admin = TRUE OR {}) DESC, a.email LIMIT $1 OFFSET $2",
                via_group!("a", "superadmin")
            ))
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?)
        })
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
            auto_add!(tx, &a.email, a.created_at, audit);
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
                end_orphaned_impersonations!(tx);
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
            delete_account_rows!(tx, email, audit);
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
    async fn export_accounts(&self) -> StoreResult<Vec<AccountRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} WHERE a.service_account = FALSE ORDER BY a.email"
            ))
        )
        .fetch_all(c)
        .await?))
    }

    async fn overwrite_accounts(
        &self,
        users: Vec<ImportedAccount>,
        dry_run: bool,
        audit: NewAudit,
    ) -> StoreResult<Result<wmill_api::OverwriteReport, String>> {
        use std::collections::BTreeMap;
        type Current = (
            String,
            bool,
            Option<String>,
            Option<String>,
            bool,
            bool,
            Option<String>,
        );
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let rows: Vec<(String, String, bool, Option<String>, Option<String>, bool, bool, Option<String>)> =
                sqlx::query_as(
                    "SELECT a.email, a.password_hash, a.super_admin, a.name, a.company, a.first_time_user, a.disabled, u.username \
                     FROM account a LEFT JOIN username u ON u.email = a.email WHERE a.service_account = FALSE",
                )
                .fetch_all(&mut *tx)
                .await?;
            let current: BTreeMap<String, Current> = rows
                .into_iter()
                .map(|(e, h, s, n, c, f, d, u)| (e, (h, s, n, c, f, d, u)))
                .collect();
            let wanted: std::collections::BTreeSet<&str> =
                users.iter().map(|u| u.email.as_str()).collect();
            let mut report = wmill_api::OverwriteReport {
                dry_run,
                ..Default::default()
            };
            report.deleted = current
                .keys()
                .filter(|e| !wanted.contains(e.as_str()))
                .cloned()
                .collect();
            // Usernames: one per email; a name may move from an account being deleted.
            for u in &users {
                let Some(name) = &u.username else { continue };
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT email FROM username WHERE username = $1")
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                if let Some(o) = owner
                    && o != u.email
                    && (wanted.contains(o.as_str()) || !current.contains_key(&o))
                {
                    return Ok(Err(format!(
                        "{}: the username {name} belongs to another account",
                        u.email
                    )));
                }
            }
            // Someone must be able to sign in as a superadmin afterwards: enabled, with a
            // password (the one given, or the one kept).
            let mut superadmins = 0;
            for u in &users {
                let disabled = current.get(&u.email).is_some_and(|c| c.5);
                let kept = current.get(&u.email).map(|c| c.0.as_str());
                let usable = u
                    .password_hash
                    .as_deref()
                    .or(kept)
                    .is_some_and(|h| h.starts_with('$'));
                if u.super_admin && !disabled && usable {
                    superadmins += 1;
                }
                match current.get(&u.email) {
                    None => report.created.push(u.email.clone()),
                    Some((hash, sup, name, company, first, _, username)) => {
                        let same = u.password_hash.as_ref().is_none_or(|h| h == hash)
                            && u.super_admin == *sup
                            && &u.name == name
                            && &u.company == company
                            && u.first_time_user == *first
                            && (u.username.is_none() || &u.username == username);
                        if same {
                            report.unchanged += 1;
                        } else {
                            report.updated.push(u.email.clone());
                        }
                    }
                }
            }
            if superadmins == 0 {
                return Ok(Err(
                    "the overwrite would leave the instance without an enabled superadmin who has a password".into(),
                ));
            }
            if dry_run {
                return Ok(Ok(report));
            }
            let mut entry = audit.clone();
            entry.parameters = Some(serde_json::json!({
                "created": report.created, "updated": report.updated, "deleted": report.deleted,
                "unchanged": report.unchanged,
            }));
            insert_audit!(tx, entry);
            for email in &report.deleted {
                delete_account_rows!(tx, email, audit);
            }
            for u in &users {
                if report.created.contains(&u.email) {
                    sqlx::query(
                        "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, first_time_user, created_at) \
                         VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7)",
                    )
                    .bind(&u.email)
                    .bind(u.password_hash.as_deref().unwrap_or("!"))
                    .bind(u.super_admin)
                    .bind(&u.name)
                    .bind(&u.company)
                    .bind(u.first_time_user)
                    .bind(u.created_at)
                    .execute(&mut *tx)
                    .await?;
                    // An email may have a username already (a member before its account).
                    let had: Option<String> =
                        sqlx::query_scalar("SELECT username FROM username WHERE email = $1")
                            .bind(&u.email)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match (had, &u.username) {
                        (Some(old), Some(new)) if &old != new => {
                            rename_rows!(tx, &u.email, &old, new)
                        }
                        (None, Some(new)) => {
                            sqlx::query("INSERT INTO username (email, username) VALUES ($1, $2)")
                                .bind(&u.email)
                                .bind(new)
                                .execute(&mut *tx)
                                .await?;
                        }
                        _ => {}
                    }
                    auto_add!(tx, &u.email, u.created_at, audit);
                } else if report.updated.contains(&u.email) {
                    let Some((hash, _, _, _, _, _, username)) = current.get(&u.email) else {
                        continue;
                    };
                    sqlx::query(
                        "UPDATE account SET super_admin = $2, name = $3, company = $4, first_time_user = $5 WHERE email = $1",
                    )
                    .bind(&u.email)
                    .bind(u.super_admin)
                    .bind(&u.name)
                    .bind(&u.company)
                    .bind(u.first_time_user)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(h) = u.password_hash.as_ref().filter(|h| *h != hash) {
                        sqlx::query("UPDATE account SET password_hash = $2 WHERE email = $1")
                            .bind(&u.email)
                            .bind(h)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM token WHERE email = $1 AND kind = 'session'")
                            .bind(&u.email)
                            .execute(&mut *tx)
                            .await?;
                    }
                    match (username, &u.username) {
                        (Some(old), Some(new)) if old != new => {
                            rename_rows!(tx, &u.email, old, new)
                        }
                        (None, Some(new)) => {
                            sqlx::query("INSERT INTO username (email, username) VALUES ($1, $2)")
                                .bind(&u.email)
                                .bind(new)
                                .execute(&mut *tx)
                                .await?;
                        }
                        _ => {}
                    }
                }
            }
            end_orphaned_impersonations!(tx);
            Ok(report)
        })
    }

    async fn rename_user(
        &self,
        email: &str,
        new_username: &str,
        audit: NewAudit,
    ) -> StoreResult<Rename> {
        write_tx!(self, |tx| {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT email FROM account WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(Rename::NotFound);
            }
            let old: Option<String> =
                sqlx::query_scalar("SELECT username FROM username WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(old) = old else {
                return Ok(Rename::NoUsername);
            };
            if old == new_username {
                return Ok(Rename::Done);
            }
            let owner: Option<String> =
                sqlx::query_scalar("SELECT email FROM username WHERE username = $1")
                    .bind(new_username)
                    .fetch_optional(&mut *tx)
                    .await?;
            if owner.is_some() {
                return Ok(Rename::Taken);
            }
            rename_rows!(tx, email, &old, new_username);
            insert_audit!(tx, audit);
            Rename::Done
        })
    }

    async fn change_email(
        &self,
        email: &str,
        new_email: &str,
        audit: NewAudit,
    ) -> StoreResult<Rename> {
        write_tx!(self, |tx| {
            let exists: Option<bool> =
                sqlx::query_scalar("SELECT service_account FROM account WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists != Some(false) {
                return Ok(Rename::NotFound);
            }
            if email_taken!(tx, new_email) {
                return Ok(Rename::Taken);
            }
            move_email_rows!(tx, email, new_email);
            insert_audit!(tx, audit);
            Rename::Done
        })
    }
}
