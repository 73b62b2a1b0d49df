//! Item 4: `audit list` with each filter on logs of 100 k, 1 M and 10 M entries. The log
//! is seeded in bulk straight into the database (server stopped), grown in place from one
//! size to the next, and each query is timed over HTTP by wrk on one connection, with the
//! page size the CLI uses (30).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run::{Backend, Ctx};
use crate::say;
use crate::seed::{self, STEP_MICROS, Seeded};
use crate::server::Argon2;
use crate::util::{Result, human_secs, thousands};
use crate::wrk::{self, Measured, Run, Workload};

/// One filter at one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Query {
    pub filter: String,
    /// One of the four filters of the goal (the others are edge cases, reported apart).
    pub goal: bool,
    pub path: String,
    /// Entries in the answer.
    pub rows: usize,
    pub m: Measured,
}

/// One log size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Size {
    pub entries: i64,
    /// Seeding from the previous size to this one.
    pub seeded: Seeded,
    pub queries: Vec<Query>,
}

/// Item 4 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditResult {
    pub backend: Backend,
    pub sizes: Vec<Size>,
}

impl AuditResult {
    /// p50 in µs of `filter` at each size.
    pub fn p50s(&self, filter: &str) -> Vec<(i64, f64)> {
        self.sizes
            .iter()
            .filter_map(|s| {
                s.queries
                    .iter()
                    .find(|q| q.filter == filter)
                    .map(|q| (s.entries, q.m.p(50.0)))
            })
            .collect()
    }

    /// Filters in order.
    pub fn filters(&self) -> Vec<(String, bool)> {
        self.sizes
            .first()
            .map(|s| {
                s.queries
                    .iter()
                    .map(|q| (q.filter.clone(), q.goal))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Total seeding time.
    pub fn seeding_seconds(&self) -> f64 {
        self.sizes
            .iter()
            .map(|s| s.seeded.seconds + s.seeded.analyze_seconds)
            .sum()
    }
}

fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// (filter, counts for the goal, query string) at a log whose newest entry is `newest`,
/// written by `user`.
fn filters(newest: i64, max_id: i64, user: &str) -> Vec<(&'static str, bool, String)> {
    const DAY: i64 = 86_400_000_000;
    vec![
        (
            "username + after",
            true,
            format!("username={user}&after={}", iso(newest - 7 * DAY)),
        ),
        ("action_kind", true, "action_kind=Delete".to_string()),
        ("operation prefix", true, "operation=group".to_string()),
        ("before_id page", true, format!("before_id={}", max_id / 2)),
        (
            "username + after, last hour (sparse)",
            false,
            format!("username={user}&after={}", iso(newest - DAY / 24)),
        ),
        (
            "operation prefix, rare (workspaces, 0.5 %)",
            false,
            "operation=workspaces".to_string(),
        ),
    ]
}

/// Runs item 4 on one database.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<AuditResult> {
    let sizes = ctx.p.audit_sizes.clone();
    say!(
        "[4] audit log at {} entries on {}",
        sizes
            .iter()
            .map(|s| thousands(*s as f64))
            .collect::<Vec<_>>()
            .join(" / "),
        b.name()
    );
    // Hashing is not measured here; cheap parameters keep the restarts' logins quick.
    let mut stage = ctx.stage(b, Argon2::Cheap, &[], "audit")?;
    let dir = ctx.dir(&format!("audit-{}", b.name().to_lowercase()));
    let target = stage.target.clone();
    let largest = *sizes.last().unwrap_or(&0);
    let base = chrono::Utc::now().timestamp_micros() - largest * STEP_MICROS;
    let mut out = Vec::new();
    let mut from = 0;
    for &size in &sizes {
        say!(
            "    seeding entries {} to {}",
            thousands(from as f64),
            thousands(size as f64)
        );
        let seeded = stage.with_server_stopped(ctx, || {
            ctx.rt
                .block_on(seed::seed_audit(&target, from, size, base, |done| {
                    if done % 2_000_000 == 0 {
                        say!("      {} rows", thousands(done as f64));
                    }
                }))
        })?;
        say!(
            "    seeded {} rows in {} ({:.0} rows/s), VACUUM ANALYZE and CHECKPOINT {}",
            thousands(seeded.rows as f64),
            human_secs(seeded.seconds),
            seeded.rows as f64 / seeded.seconds,
            human_secs(seeded.analyze_seconds)
        );
        from = size;
        let max_id = ctx.rt.block_on(seed::max_audit_id(&target))?;
        let newest = base + (size - 1) * STEP_MICROS;
        // The author of the newest entry: one user among 1009, like any other.
        let user = format!("u{:04}", ((size - 1) * 7919) % seed::USERS);
        let mut queries = Vec::new();
        for (i, (name, goal, q)) in filters(newest, max_id, &user).into_iter().enumerate() {
            let path = format!("/api/w/admins/audit/list?per_page=30&{q}");
            let rows = stage
                .api
                .get_json(&path, &stage.admin)?
                .as_array()
                .map_or(0, Vec::len);
            if goal && rows == 0 {
                return Err(format!("audit query {path} found nothing"));
            }
            let m = wrk::run(
                &dir,
                &format!("{size}-{i}"),
                &Run {
                    url: format!("{}{path}", stage.server().url),
                    token: Some(&stage.admin),
                    workload: Workload::Get,
                    threads: 1,
                    connections: 1,
                    duration: ctx.p.audit_query.max(Duration::from_secs(1)),
                },
            )?;
            if m.error_count() > 0 {
                return Err(format!("audit query {path} had errors: {:?}", m.errors));
            }
            say!(
                "      {name}: {rows} rows, p50 {:.2} ms, p99 {:.2} ms",
                m.p(50.0) / 1e3,
                m.p(99.0) / 1e3
            );
            queries.push(Query {
                filter: name.to_string(),
                goal,
                path,
                rows,
                m,
            });
        }
        out.push(Size {
            entries: size,
            seeded,
            queries,
        });
    }
    stage.stop()?;
    Ok(AuditResult {
        backend: b,
        sizes: out,
    })
}
