//! Reading the audit log: admins see the workspace, members their own rows, superadmins
//! everything with `all_workspaces`.

use wmill_api::{ActionKind, AuditLog, AuditQuery};

use super::{Caller, Member, Service, paginate};
use crate::clock::{Micros, to_ts};
use crate::domain::quote;
use crate::error::{Error, Result};
use crate::store::{AuditFilter, AuditRow, MAX_FILTER_LIST};

fn wire(r: AuditRow) -> Result<AuditLog> {
    let action_kind = ActionKind::parse(&r.action_kind).ok_or_else(|| {
        Error::internal(format!(
            "audit row {} has action kind {:?}",
            r.id, r.action_kind
        ))
    })?;
    Ok(AuditLog {
        workspace_id: r.workspace_id,
        id: r.id,
        timestamp: to_ts(r.timestamp),
        username: r.username,
        email: r.email,
        operation: r.operation,
        action_kind,
        resource: r.resource,
        parameters: r.parameters.and_then(|p| serde_json::from_str(&p).ok()),
        impersonator: r.impersonator,
    })
}

// Each parser accepts exactly what the OpenAPI document says of its parameter (see
// http/openapi.rs): no trimming, and an empty value is not a value.

fn number(name: &str, v: &Option<String>) -> Result<Option<i64>> {
    v.as_deref()
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                Error::BadRequest(format!("{name} must be a whole number, not {}", quote(s)))
            })
        })
        .transpose()
}

fn time(name: &str, v: &Option<String>) -> Result<Option<i64>> {
    // An empty time is no bound (a time filter left blank in a form).
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            wmill_api::parse_timestamp(s)
                .map(|t| t.timestamp_micros())
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "{name} must be an RFC 3339 timestamp or a date like 2026-01-01, not {}",
                        quote(s)
                    ))
                })
        })
        .transpose()
}

fn flag(name: &str, v: &Option<String>) -> Result<bool> {
    match v.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::BadRequest(format!(
            "{name} must be true or false, not {}",
            quote(other)
        ))),
    }
}

/// A comma-separated list of at most [`MAX_FILTER_LIST`] entries (empty ones and repeats
/// are then dropped).
fn list(name: &str, v: &Option<String>) -> Result<Vec<String>> {
    let Some(s) = v.as_deref() else {
        return Ok(Vec::new());
    };
    let n = s.split(',').count();
    if n > MAX_FILTER_LIST {
        return Err(Error::BadRequest(format!(
            "{name} lists {n} operations; at most {MAX_FILTER_LIST} are allowed"
        )));
    }
    let mut items: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    items.sort();
    items.dedup();
    Ok(items)
}

fn text(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

impl Service {
    /// Entries visible to the caller that match the query, newest first.
    pub async fn list_audit(&self, m: &Member, q: AuditQuery) -> Result<Vec<AuditLog>> {
        let Some(f) = self.audit_filter(m, &q).await? else {
            return Ok(Vec::new());
        };
        self.store
            .list_audit(f)
            .await?
            .into_iter()
            .map(wire)
            .collect()
    }

    /// How many entries visible to the caller match the query (its `before_id` and paging
    /// aside) after `since`, per UTC day and action kind: (days since the epoch, kind, count).
    pub async fn audit_activity(
        &self,
        m: &Member,
        q: AuditQuery,
        since: Micros,
    ) -> Result<Vec<(i64, ActionKind, i64)>> {
        let Some(mut f) = self.audit_filter(m, &q).await? else {
            return Ok(Vec::new());
        };
        f.after = Some(f.after.map_or(since, |a| a.max(since)));
        self.store
            .audit_activity(f)
            .await?
            .into_iter()
            .map(|(day, kind, n)| {
                let kind = ActionKind::parse(&kind).ok_or_else(|| {
                    Error::internal(format!("audit rows have action kind {kind:?}"))
                })?;
                Ok((day, kind, n))
            })
            .collect()
    }

    /// The store's filter for what the caller asked and may see; `None` when they may see
    /// nothing of it (a member asking for someone else's entries).
    async fn audit_filter(&self, m: &Member, q: &AuditQuery) -> Result<Option<AuditFilter>> {
        self.operator_may(m, super::OperatorView::AuditLogs).await?;
        let (offset, limit) = paginate(number("page", &q.page)?, number("per_page", &q.per_page)?);
        let all_workspaces = flag("all_workspaces", &q.all_workspaces)?;
        if all_workspaces && !m.caller.super_admin {
            return Err(Error::PermissionDenied(
                "all_workspaces requires a superadmin".into(),
            ));
        }
        if all_workspaces && let Some(ws) = &m.caller.pinned {
            return Err(Error::PermissionDenied(format!(
                "this token is limited to workspace {ws}: all_workspaces needs a token that is not"
            )));
        }
        let action_kind = match q.action_kind.as_deref() {
            None => None,
            Some(k) => Some(ActionKind::parse_exact_ignoring_case(k).ok_or_else(|| {
                Error::BadRequest(format!(
                    "action_kind must be one of Create, Update, Delete, Execute, not {}",
                    quote(k)
                ))
            })?),
        };
        let mut username = text(&q.username);
        if !m.is_admin {
            match &username {
                Some(u) if *u != m.username => return Ok(None),
                _ => username = Some(m.username.clone()),
            }
        }
        let f = AuditFilter {
            workspace_id: (!all_workspaces).then(|| m.workspace.to_string()),
            username,
            before: time("before", &q.before)?,
            after: time("after", &q.after)?,
            operation: text(&q.operation),
            operations: list("operations", &q.operations)?,
            exclude_operations: list("exclude_operations", &q.exclude_operations)?,
            resource: text(&q.resource),
            action_kind,
            before_id: number("before_id", &q.before_id)?,
            offset,
            limit,
        };
        Ok(Some(f))
    }

    /// One entry, if the caller may see it.
    pub async fn get_audit(&self, m: &Member, id: &str) -> Result<AuditLog> {
        self.operator_may(m, super::OperatorView::AuditLogs).await?;
        let not_found = || Error::NotFound(format!("audit log entry {} not found", quote(id)));
        let id: i64 = id.trim().parse().map_err(|_| {
            Error::BadRequest(format!(
                "audit id must be a whole number, not {}",
                quote(id)
            ))
        })?;
        let row = self.store.audit_entry(id).await?.ok_or_else(not_found)?;
        // A superadmin sees every entry, unless through a token pinned to this workspace.
        let visible = (m.caller.super_admin && m.caller.pinned.is_none())
            || (row.workspace_id == m.workspace.as_str()
                && (m.is_admin || row.username == m.username));
        if !visible {
            return Err(not_found());
        }
        wire(row)
    }
}

/// The public key audit checkpoints are signed with.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditPublicKey {
    /// Always `ed25519`.
    pub algorithm: String,
    /// 64 hexadecimal digits; `null` when the server signs nothing (no
    /// `--audit-signing-key`).
    pub public_key: Option<String>,
}

impl Service {
    /// The public key of `--audit-signing-key`, if any.
    pub fn audit_public_key(&self) -> AuditPublicKey {
        AuditPublicKey {
            algorithm: "ed25519".into(),
            public_key: self
                .audit_key
                .as_ref()
                .map(|k| crate::audit_chain::to_hex(k.verifying_key().as_bytes())),
        }
    }

    /// Signs the chain's head now, if a key is configured and the chain moved since this
    /// key's last checkpoint.
    pub async fn checkpoint_audit(&self) -> Result<Option<crate::audit_chain::Checkpoint>> {
        let Some(key) = &self.audit_key else {
            return Ok(None);
        };
        Ok(self.store.write_audit_checkpoint(key, self.now()).await?)
    }

    /// Removes the audit entries older than the retention period, in batches, from the
    /// start of the chain, then signs the new base (with a key): how many were removed.
    pub async fn prune_audit(&self) -> Result<u64> {
        let Some(keep) = self.audit_retention else {
            return Ok(0);
        };
        let before = self.now() - keep.as_micros() as i64;
        // Never what a sink has not acknowledged.
        let up_to = self.audit_sinks_delivered_up_to().await?;
        let mut total = 0;
        loop {
            let n = self.store.prune_audit(before, 10_000, up_to).await?;
            total += n;
            if n == 0 {
                break;
            }
        }
        if total > 0 {
            self.checkpoint_audit().await?;
        }
        Ok(total)
    }

    /// Verifies the whole chain, signatures with this server's key (superadmin, with a token
    /// not pinned to a workspace).
    pub async fn verify_audit(&self, c: &Caller) -> Result<crate::audit_chain::Report> {
        self.may_verify_audit(c)?;
        self.verify_audit_checked(None).await
    }

    /// Whether `c` may verify the whole log (superadmin, token not pinned to a workspace).
    pub fn may_verify_audit(&self, c: &Caller) -> Result<()> {
        c.require_superadmin()?;
        if let Some(ws) = &c.pinned {
            return Err(Error::PermissionDenied(format!(
                "this token is limited to workspace {ws}: verifying the whole audit log needs a token that is not"
            )));
        }
        Ok(())
    }

    /// Verifies the chain for a caller [`Self::may_verify_audit`] let through, telling
    /// `progress` how far it has read.
    pub async fn verify_audit_checked(
        &self,
        progress: Option<crate::audit_chain::Progress>,
    ) -> Result<crate::audit_chain::Report> {
        let key = self.audit_key.as_ref().map(|k| k.verifying_key());
        Ok(self.store.verify_audit_chain_with(key, progress).await?)
    }
}

/// What an export streams: whose entries, from where, and until when it waits for new ones.
#[derive(Debug, Clone)]
pub struct AuditExport {
    /// `None`: every workspace.
    pub workspace: Option<String>,
    /// Entries with ids above this one.
    pub since_id: i64,
    /// With `follow`, how long the connection waits for new entries.
    pub follow_for: Option<std::time::Duration>,
}

/// Longest `follow_secs`: a client reconnects from the last id it saw.
pub const MAX_FOLLOW_SECS: i64 = 3600;

/// Entries read per statement of an export.
pub const EXPORT_BATCH: i64 = 1000;

impl Service {
    /// Checks and reads an export request: a workspace's entries for its admins, every
    /// workspace's (`all_workspaces`) for a superadmin whose token is not pinned.
    pub async fn audit_export(
        &self,
        m: &Member,
        since_id: &Option<String>,
        all_workspaces: &Option<String>,
        follow: &Option<String>,
        follow_secs: &Option<String>,
    ) -> Result<AuditExport> {
        self.operator_may(m, super::OperatorView::AuditLogs).await?;
        let all = flag("all_workspaces", all_workspaces)?;
        if all && !m.caller.super_admin {
            return Err(Error::PermissionDenied(
                "all_workspaces requires a superadmin".into(),
            ));
        }
        if all && let Some(ws) = &m.caller.pinned {
            return Err(Error::PermissionDenied(format!(
                "this token is limited to workspace {ws}: all_workspaces needs a token that is not"
            )));
        }
        if !m.is_admin {
            return Err(Error::PermissionDenied(
                "exporting the audit log requires a workspace admin".into(),
            ));
        }
        let since_id = number("since_id", since_id)?.unwrap_or(0);
        let follow = flag("follow", follow)?;
        let secs = number("follow_secs", follow_secs)?.unwrap_or(30);
        if !(1..=MAX_FOLLOW_SECS).contains(&secs) {
            return Err(Error::BadRequest(format!(
                "follow_secs must be between 1 and {MAX_FOLLOW_SECS}, not {secs}"
            )));
        }
        Ok(AuditExport {
            workspace: (!all).then(|| m.workspace.to_string()),
            since_id,
            follow_for: follow.then(|| std::time::Duration::from_secs(secs as u64)),
        })
    }

    /// The next page of an export: entries after `after`, in id order.
    pub async fn audit_export_page(&self, e: &AuditExport, after: i64) -> Result<Vec<AuditLog>> {
        self.store
            .audit_after(e.workspace.as_deref(), after, EXPORT_BATCH)
            .await?
            .into_iter()
            .map(wire)
            .collect()
    }
}

impl Service {
    /// The highest id every configured audit sink has acknowledged (`i64::MAX` without
    /// sinks; 0 for a sink that has no cursor yet).
    pub async fn audit_sinks_delivered_up_to(&self) -> Result<i64> {
        if self.audit_sinks.is_empty() {
            return Ok(i64::MAX);
        }
        let cursors = self.store.audit_sink_cursors().await?;
        Ok(self
            .audit_sinks
            .iter()
            .map(|s| {
                cursors
                    .iter()
                    .find(|(n, _)| *n == s.spec.name)
                    .map_or(0, |(_, c)| *c)
            })
            .min()
            .unwrap_or(i64::MAX))
    }

    /// The next batch for an audit sink: the entries after `after` (every workspace), as
    /// the export's NDJSON lines, with the last one's id; `None` when there is none.
    pub async fn audit_sink_batch(&self, after: i64, limit: i64) -> Result<Option<(i64, Vec<u8>)>> {
        let rows = self.store.audit_after(None, after, limit).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            return Ok(None);
        };
        let mut buf = Vec::with_capacity(rows.len() * 256);
        for r in rows {
            serde_json::to_writer(&mut buf, &wire(r)?).map_err(Error::internal)?;
            buf.push(b'\n');
        }
        Ok(Some((last, buf)))
    }

    /// Each configured audit sink: its cursor and lag (read from the database, so every
    /// instance shows the same, unless `read_db` is false: the database is known to be
    /// away), and what this instance saw of its deliveries.
    pub async fn audit_sink_status(&self, read_db: bool) -> Vec<wmill_api::AuditSinkStatus> {
        if self.audit_sinks.is_empty() {
            return Vec::new();
        }
        let (cursors, head) = if read_db {
            (
                self.store.audit_sink_cursors().await.ok(),
                self.store.audit_head_id().await.ok(),
            )
        } else {
            (None, None)
        };
        self.audit_sinks
            .iter()
            .map(|s| {
                let p = s.progress();
                let cursor = cursors.as_ref().map(|all| {
                    all.iter()
                        .find(|(n, _)| *n == s.spec.name)
                        .map_or(0, |(_, c)| *c)
                });
                wmill_api::AuditSinkStatus {
                    name: s.spec.name.clone(),
                    delivering: p.delivering,
                    cursor,
                    head_id: head,
                    lag: cursor.zip(head).map(|(c, h)| (h - c).max(0)),
                    last_error_at: p.last_error.as_ref().map(|(_, t)| to_ts(*t)),
                    last_error: p.last_error.map(|(e, _)| e),
                    last_success_at: p.last_success.map(to_ts),
                }
            })
            .collect()
    }
}
