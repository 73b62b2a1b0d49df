//! The audit log: entries written on their own (refused logins), listed with filters, read
//! one by one.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;

use super::{Db, SqlStore};
use crate::store::*;

enum Bind {
    S(String),
    I(i64),
}

const AUDIT_COLUMNS: &str = "id, workspace_id, timestamp, username, email, operation, action_kind, \
     resource, parameters, impersonator";

/// Appends `f`'s conditions to `sql`; with `only_op`, the operation conditions become
/// `operation = only_op` (the exclusions were applied when the branches were chosen).
fn audit_conditions(
    sql: &mut String,
    binds: &mut Vec<Bind>,
    f: &AuditFilter,
    only_op: Option<&str>,
) {
    let mut push = |sql: &mut String, clause: &str, b: Bind| {
        binds.push(b);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(ws) = &f.workspace_id {
        push(sql, " AND workspace_id = ?", Bind::S(ws.clone()));
    }
    if let Some(u) = &f.username {
        push(sql, " AND username = ?", Bind::S(u.clone()));
    }
    if let Some(t) = f.before {
        push(sql, " AND timestamp <= ?", Bind::I(t));
    }
    if let Some(t) = f.after {
        push(sql, " AND timestamp > ?", Bind::I(t));
    }
    if let Some(op) = only_op {
        push(sql, " AND operation = ?", Bind::S(op.to_string()));
    } else {
        if let Some(op) = &f.operation {
            // Exact, or a dotted prefix: `users` matches `users.x` — the range
            // ["users.", "users/") is index-friendly on both databases ('/' follows '.').
            push(sql, " AND (operation = ?", Bind::S(op.clone()));
            push(sql, " OR (operation >= ?", Bind::S(format!("{op}.")));
            push(sql, " AND operation < ?))", Bind::S(format!("{op}/")));
        }
        if !f.operations.is_empty() {
            sql.push_str(" AND operation IN (");
            for (i, op) in f.operations.iter().enumerate() {
                push(sql, if i == 0 { "?" } else { ", ?" }, Bind::S(op.clone()));
            }
            sql.push(')');
        }
    }
    if only_op.is_none() && !f.exclude_operations.is_empty() {
        sql.push_str(" AND operation NOT IN (");
        for (i, op) in f.exclude_operations.iter().enumerate() {
            push(sql, if i == 0 { "?" } else { ", ?" }, Bind::S(op.clone()));
        }
        sql.push(')');
    }
    if let Some(r) = &f.resource {
        push(sql, " AND resource = ?", Bind::S(r.clone()));
    }
    if let Some(k) = f.action_kind {
        push(sql, " AND action_kind = ?", Bind::S(k.as_str().to_string()));
    }
    if let Some(id) = f.before_id {
        push(sql, " AND id < ?", Bind::I(id));
    }
}

/// Builds the audit list query: `(sql, binds)`. With `branches` (the operations a prefix or
/// a list stands for, see `list_audit`), one branch per operation, each served in id order
/// by the `(workspace_id, operation, id)` index and cut at `offset + limit` rows, merged:
/// the cost no longer depends on how rare the operations are or on the planner's guesses
/// (one plan of `operation IN (…) ORDER BY id` sorts every matching row).
fn audit_query(f: &AuditFilter, branches: Option<&[String]>, sqlite: bool) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut sql = String::new();
    // A user's entries are read through `audit_by_user` (workspace, username, id, timestamp)
    // newest first: a page stops the scan, and `after`/`before` are checked in the index.
    // SQLite keeps no statistics (the server does not run ANALYZE, and sampled ones mislead
    // it on this skewed data), so without the hint it may read a time range and sort it
    // (30 ms for a week of 1 M entries); PostgreSQL's planner has statistics and chooses.
    let from = if sqlite && f.workspace_id.is_some() && f.username.is_some() {
        "audit INDEXED BY audit_by_user"
    } else {
        "audit"
    };
    match branches {
        None => {
            sql.push_str(&format!("SELECT {AUDIT_COLUMNS} FROM {from} WHERE 1 = 1"));
            audit_conditions(&mut sql, &mut binds, f, None);
        }
        Some(ops) => {
            for (i, op) in ops.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" UNION ALL ");
                }
                sql.push_str(&format!(
                    "SELECT * FROM (SELECT {AUDIT_COLUMNS} FROM {from} WHERE 1 = 1"
                ));
                audit_conditions(&mut sql, &mut binds, f, Some(op));
                binds.push(Bind::I(f.offset.saturating_add(f.limit)));
                sql.push_str(&format!(
                    " ORDER BY id DESC LIMIT ${}) AS b{i}",
                    binds.len()
                ));
            }
        }
    }
    binds.push(Bind::I(f.limit));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len()));
    binds.push(Bind::I(f.offset));
    sql.push_str(&format!(" OFFSET ${}", binds.len()));
    (sql, binds)
}

/// Most branches an audit query is split into; past that, one query.
const MAX_AUDIT_BRANCHES: usize = 64;

/// Most parameters one audit statement may bind: every list filter is bounded (the service
/// refuses longer ones), so this is never reached by a valid request.
const MAX_BINDS: usize = 400;

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, audit: NewAudit) -> StoreResult<()> {
        insert_tx!(self, |tx| {
            insert_audit!(tx, audit);
        })
    }

    async fn list_audit(&self, f: AuditFilter) -> StoreResult<Vec<AuditRow>> {
        // Within a workspace, an operation prefix or list becomes the operations it stands
        // for: the prefix's own name, and those under it found by a skip scan of the
        // `(workspace_id, operation, id)` index (one index probe per distinct operation).
        let mut branches: Option<Vec<String>> = match (&f.workspace_id, &f.operation) {
            (Some(ws), Some(op)) if f.operations.is_empty() => {
                let under: Vec<Option<String>> = read!(self, |c| {
                    sqlx::query_scalar(
                        "WITH RECURSIVE ops(op) AS ( \
                           SELECT MIN(operation) FROM audit \
                           WHERE workspace_id = $1 AND operation >= $2 AND operation < $3 \
                           UNION ALL \
                           SELECT (SELECT MIN(operation) FROM audit \
                                   WHERE workspace_id = $1 AND operation > ops.op AND operation < $3) \
                           FROM ops WHERE ops.op IS NOT NULL) \
                         SELECT op FROM ops WHERE op IS NOT NULL LIMIT $4",
                    )
                    .bind(ws)
                    .bind(format!("{op}."))
                    .bind(format!("{op}/"))
                    .bind(MAX_AUDIT_BRANCHES as i64)
                    .fetch_all(c)
                    .await?
                });
                let mut ops = vec![op.clone()];
                ops.extend(under.into_iter().flatten());
                Some(ops)
            }
            (Some(_), None) if !f.operations.is_empty() => {
                let mut ops = f.operations.clone();
                ops.sort();
                ops.dedup();
                Some(ops)
            }
            _ => None,
        };
        if let Some(ops) = &mut branches {
            ops.retain(|o| !f.exclude_operations.contains(o));
            if ops.is_empty() {
                return Ok(Vec::new());
            }
            if ops.len() > MAX_AUDIT_BRANCHES {
                branches = None;
            }
        }
        let (sql, binds) = audit_query(&f, branches.as_deref(), !self.is_postgres());
        if binds.len() > MAX_BINDS {
            return Err(StoreError::Other(format!(
                "an audit query with {} parameters was refused",
                binds.len()
            )));
        }
        read!(self, |c| {
            let mut q = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql.as_str()));
            for b in &binds {
                q = match b {
                    Bind::S(s) => q.bind(s.as_str()),
                    Bind::I(i) => q.bind(*i),
                };
            }
            Ok(q.fetch_all(c).await?)
        })
    }

    async fn audit_entry(&self, id: i64) -> StoreResult<Option<AuditRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, AuditRow>(AssertSqlSafe(format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(c)
            .await?)
        })
    }

    async fn audit_activity(&self, f: AuditFilter) -> StoreResult<Vec<(i64, String, i64)>> {
        let f = AuditFilter {
            before_id: None,
            ..f
        };
        let (sql, binds) = activity_query(&f);
        if binds.len() > MAX_BINDS {
            return Err(StoreError::Other(format!(
                "an audit query with {} parameters was refused",
                binds.len()
            )));
        }
        read!(self, |c| {
            let mut q = sqlx::query_as::<_, (i64, String, i64)>(AssertSqlSafe(sql.as_str()));
            for b in &binds {
                q = match b {
                    Bind::S(s) => q.bind(s.as_str()),
                    Bind::I(i) => q.bind(*i),
                };
            }
            Ok(q.fetch_all(c).await?)
        })
    }
}

/// Microseconds in a day: timestamps are integers on both databases, so `/` is integer
/// division and a day is `timestamp / DAY` (UTC).
const DAY_MICROS: i64 = 86_400_000_000;

/// Counts per day and action kind of the newest [`AUDIT_ACTIVITY_ROWS`] entries `f` matches: the
/// work of a chart is bounded whatever the log's size. The newest rows are read in id order
/// through the same index as a page of the list; the time window (`after`) is applied to
/// them afterwards, so that no planner is tempted to read a time range and sort it (ids and
/// timestamps grow together).
fn activity_query(f: &AuditFilter) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let inner = AuditFilter {
        after: None,
        ..f.clone()
    };
    let mut sql = String::from("SELECT timestamp, action_kind FROM audit WHERE 1 = 1");
    audit_conditions(&mut sql, &mut binds, &inner, None);
    let mut window = String::new();
    if let Some(t) = f.after {
        binds.push(Bind::I(t));
        window = format!(" WHERE timestamp > ${}", binds.len());
    }
    sql = format!(
        "SELECT timestamp / {DAY_MICROS} AS day, action_kind, COUNT(*) AS n FROM ({sql} \
         ORDER BY id DESC LIMIT {AUDIT_ACTIVITY_ROWS}) recent{window} \
         GROUP BY timestamp / {DAY_MICROS}, action_kind ORDER BY 1, 2"
    );
    (sql, binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_are_applied_once_and_statements_stay_small() {
        let ops: Vec<String> = (0..MAX_FILTER_LIST).map(|i| format!("op.{i}")).collect();
        let f = AuditFilter {
            workspace_id: Some("ws".into()),
            operations: ops.clone(),
            exclude_operations: (0..MAX_FILTER_LIST).map(|i| format!("x.{i}")).collect(),
            limit: 10,
            ..Default::default()
        };
        let (sql, binds) = audit_query(&f, Some(&ops), true);
        assert!(
            !sql.contains("NOT IN"),
            "branches carry no exclusions: {sql}"
        );
        assert!(binds.len() <= MAX_BINDS, "{} parameters", binds.len());
        let (sql, binds) = audit_query(&f, None, true);
        assert_eq!(sql.matches("NOT IN").count(), 1);
        assert!(binds.len() <= MAX_BINDS, "{} parameters", binds.len());
    }
}
