//! The audit log of a workspace: every filter of the API, keyset paging, one entry, and
//! activity per day by action kind.
//!
//! The list and the entry are the API's (`list_audit`, `get_audit`): a member sees their own
//! entries, an admin the workspace's, a superadmin every workspace's with `all_workspaces`;
//! an operator is refused when the workspace's operator settings say so. The chart counts,
//! with the same filters and the same visibility, the entries of the last 30 days per UTC
//! day and action kind (one `GROUP BY` query).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{Markup, html};
use wmill_api::{ActionKind, AuditLog, AuditQuery};

use super::{PageError, Session, alert, encode_component};
use crate::clock::Micros;
use crate::error::Error;
use crate::http::AppState;
use crate::service::AUDIT_ACTIVITY_ROWS as ACTIVITY_ROWS;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/w/{w}/audit", get(audit_log))
        .route("/w/{w}/audit/{id}", get(audit_entry))
}

/// Entries per page unless the form says otherwise.
const PER_PAGE: i64 = 50;
/// Days the chart covers, today included.
const CHART_DAYS: i64 = 30;
const DAY: Micros = 86_400_000_000;
const KINDS: [ActionKind; 4] = [
    ActionKind::Create,
    ActionKind::Update,
    ActionKind::Delete,
    ActionKind::Execute,
];

/// The filters as the form sends them (and as the paging links carry them): the API's
/// names; an empty field is no filter.
#[derive(Default, Clone)]
struct Filters {
    username: String,
    operation: String,
    operations: String,
    exclude_operations: String,
    action_kind: String,
    resource: String,
    before: String,
    after: String,
    per_page: String,
    all_workspaces: bool,
    before_id: String,
}

impl Filters {
    fn from_pairs(pairs: &[(String, String)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            let v = v.trim().to_owned();
            match k.as_str() {
                "username" => f.username = v,
                "operation" => f.operation = v,
                "operations" => f.operations = v,
                "exclude_operations" => f.exclude_operations = v,
                "action_kind" => f.action_kind = v,
                "resource" => f.resource = v,
                "before" => f.before = v,
                "after" => f.after = v,
                "per_page" => f.per_page = v,
                "all_workspaces" => f.all_workspaces = v == "true",
                "before_id" => f.before_id = v,
                _ => {}
            }
        }
        f
    }

    /// The API's query (what the service reads), empty fields left out.
    fn query(&self) -> AuditQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        AuditQuery {
            page: None,
            per_page: Some(some(&self.per_page).unwrap_or_else(|| PER_PAGE.to_string())),
            before: some(&self.before).map(|t| datetime_local(&t)),
            after: some(&self.after).map(|t| datetime_local(&t)),
            username: some(&self.username),
            operation: some(&self.operation),
            operations: some(&self.operations),
            exclude_operations: some(&self.exclude_operations),
            resource: some(&self.resource),
            action_kind: some(&self.action_kind),
            all_workspaces: self.all_workspaces.then(|| "true".to_owned()),
            before_id: some(&self.before_id),
        }
    }

    /// The filters as a query string (without `before_id`), for the paging links.
    fn link_query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("username", &self.username),
            ("operation", &self.operation),
            ("operations", &self.operations),
            ("exclude_operations", &self.exclude_operations),
            ("action_kind", &self.action_kind),
            ("resource", &self.resource),
            ("before", &self.before),
            ("after", &self.after),
            ("per_page", &self.per_page),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", encode_component(v)));
            }
        }
        if self.all_workspaces {
            parts.push("all_workspaces=true".into());
        }
        parts.join("&")
    }
}

/// A browser's `datetime-local` value (`2026-01-31T10:00`, no seconds) read as UTC the way
/// the API reads a time without a zone; anything else is passed on as typed.
fn datetime_local(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() == 16 && b.get(10) == Some(&b'T') && b.get(13) == Some(&b':') {
        format!("{s}:00")
    } else {
        s.to_owned()
    }
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn day_label(day: i64) -> String {
    DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn kind_class(k: ActionKind) -> &'static str {
    match k {
        ActionKind::Create => "k-create",
        ActionKind::Update => "k-update",
        ActionKind::Delete => "k-delete",
        ActionKind::Execute => "k-execute",
    }
}

fn kind_index(k: ActionKind) -> usize {
    KINDS.iter().position(|x| *x == k).unwrap_or(0)
}

async fn audit_log(
    State(s): State<AppState>,
    session: Session,
    Path(ws): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let m = session.member(&s, &ws).await?;
    let filters = Filters::from_pairs(&pairs);
    let q = filters.query();
    let rows = match s.svc.list_audit(&m, q.clone()).await {
        Ok(rows) => rows,
        // A filter the API refuses: the form again, with what was typed and why.
        Err(Error::BadRequest(msg)) => {
            let body = log_body(&session, &ws, &filters, &[], None, Some(&msg), None);
            return Ok((StatusCode::BAD_REQUEST, session.page("Audit log", body)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let today = s.svc.now().div_euclid(DAY);
    let first_day = today - (CHART_DAYS - 1);
    // `after` is strict: one microsecond before the first day's midnight.
    let counts = s.svc.audit_activity(&m, q, first_day * DAY - 1).await?;
    let chart = Chart::new(first_day, today, &counts);
    let per_page = filters
        .per_page
        .parse::<i64>()
        .unwrap_or(PER_PAGE)
        .clamp(1, 10_000);
    let older = (rows.len() as i64 >= per_page)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let body = log_body(&session, &ws, &filters, &rows, older, None, Some(&chart));
    Ok(session.page("Audit log", body))
}

fn log_body(
    session: &Session,
    ws: &str,
    f: &Filters,
    rows: &[AuditLog],
    older: Option<i64>,
    error: Option<&str>,
    chart: Option<&Chart>,
) -> Markup {
    let base = format!("/w/{ws}/audit");
    let filters = f.link_query();
    let newest = if filters.is_empty() {
        base.clone()
    } else {
        format!("{base}?{filters}")
    };
    let older_link = older.map(|id| {
        if filters.is_empty() {
            format!("{base}?before_id={id}")
        } else {
            format!("{base}?{filters}&before_id={id}")
        }
    });
    let across = f.all_workspaces;
    html! {
        h1 { "Audit log of " (ws) }
        h2 id="filters-title" { "Filters" }
        (alert(error))
        form id="audit-filters" method="get" action=(base) class="row" aria-labelledby="filters-title" {
            label for="f-username" { "Username"
                input id="f-username" name="username" type="text" value=(f.username); }
            label for="f-operation" { "Operation (or dotted prefix)"
                input id="f-operation" name="operation" type="text" value=(f.operation) placeholder="users.token"; }
            label for="f-operations" { "Any of these operations (comma-separated)"
                input id="f-operations" name="operations" type="text" value=(f.operations); }
            label for="f-exclude" { "Leave out these operations (comma-separated)"
                input id="f-exclude" name="exclude_operations" type="text" value=(f.exclude_operations); }
            label for="f-kind" { "Action kind"
                select id="f-kind" name="action_kind" {
                    option value="" selected[f.action_kind.is_empty()] { "Any" }
                    @for k in KINDS {
                        option value=(k.as_str().to_lowercase()) selected[f.action_kind.eq_ignore_ascii_case(k.as_str())] { (k.as_str()) }
                    }
                }
            }
            label for="f-resource" { "Resource"
                input id="f-resource" name="resource" type="text" value=(f.resource); }
            label for="f-after" { "After (UTC)"
                input id="f-after" name="after" type="text" value=(f.after) placeholder="2026-01-31 or 2026-01-31T10:00:00Z"; }
            label for="f-before" { "At or before (UTC)"
                input id="f-before" name="before" type="text" value=(f.before) placeholder="2026-01-31 or 2026-01-31T10:00:00Z"; }
            label for="f-per-page" { "Per page"
                input id="f-per-page" name="per_page" type="number" min="1" max="10000" value=(f.per_page) placeholder=(PER_PAGE); }
            @if session.caller.super_admin {
                label class="check" {
                    input type="checkbox" name="all_workspaces" value="true" checked[f.all_workspaces];
                    " Every workspace"
                }
            }
            button type="submit" { "Filter" }
            a href=(base) { "Clear filters" }
        }
        @if let Some(c) = chart {
            (c.render())
        }
        h2 id="entries-title" { "Entries" }
        @if f.before_id.is_empty() && rows.is_empty() && error.is_none() {
            p { "No entries match." }
        } @else if rows.is_empty() && error.is_none() {
            p { "No older entries." }
        }
        @if !rows.is_empty() {
            div class="table-wrap" {
                table id="audit" aria-labelledby="entries-title" {
                    thead {
                        tr {
                            th scope="col" { "Id" }
                            th scope="col" { "Time (UTC)" }
                            @if across { th scope="col" { "Workspace" } }
                            th scope="col" { "Username" }
                            th scope="col" { "Operation" }
                            th scope="col" { "Action kind" }
                            th scope="col" { "Resource" }
                        }
                    }
                    tbody {
                        @for r in rows {
                            tr data-id=(r.id) {
                                td { a href={ "/w/" (ws) "/audit/" (r.id) } aria-label={ "Entry " (r.id) } { (r.id) } }
                                td { time datetime=(r.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true)) { (utc(r.timestamp)) } }
                                @if across { td { (r.workspace_id) } }
                                td { (r.username) }
                                td { code { (r.operation) } }
                                td { (r.action_kind.as_str()) }
                                td { (r.resource.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages of the audit log" {
            a href=(newest) id="newest" { "Newest" }
            @if let Some(l) = older_link {
                a href=(l) id="older" rel="next" { "Older entries" }
            }
        }
    }
}

/// Counts per day (oldest first) and kind, for the chart and its table.
struct Chart {
    first_day: i64,
    days: Vec<[i64; 4]>,
}

impl Chart {
    fn new(first_day: i64, last_day: i64, counts: &[(i64, ActionKind, i64)]) -> Chart {
        let n = (last_day - first_day + 1).max(0) as usize;
        let mut days = vec![[0i64; 4]; n];
        for (day, kind, count) in counts {
            if let Some(slot) = usize::try_from(day - first_day)
                .ok()
                .and_then(|i| days.get_mut(i))
                && let Some(c) = slot.get_mut(kind_index(*kind))
            {
                *c += count;
            }
        }
        Chart { first_day, days }
    }

    /// Entries counted.
    fn total(&self) -> i64 {
        self.days.iter().flatten().sum()
    }

    fn render(&self) -> Markup {
        // The drawing: 30 bars in a 600 × 200 box, the tallest day filling the plot.
        const W: i64 = 600;
        const H: i64 = 200;
        const LEFT: i64 = 36;
        const BOTTOM: i64 = 22;
        const TOP: i64 = 8;
        let plot_h = H - BOTTOM - TOP;
        let n = self.days.len().max(1) as i64;
        let slot = (W - LEFT) / n;
        let bar = (slot - 4).max(2);
        let max = self
            .days
            .iter()
            .map(|d| d.iter().sum::<i64>())
            .max()
            .unwrap_or(0);
        let total: i64 = self.days.iter().flat_map(|d| d.iter()).sum();
        let label = format!(
            "Audit entries per day by action kind over the last {} days (UTC): {total} in all, at most {max} in a day",
            self.days.len()
        );
        let scale = |v: i64| {
            if max == 0 {
                0
            } else {
                (v * plot_h + max - 1) / max
            }
        };
        html! {
            h2 id="activity-title" { "Activity, last " (self.days.len()) " days" }
            @if self.total() >= ACTIVITY_ROWS {
                p class="muted" { "Counted over the newest " (ACTIVITY_ROWS) " matching entries: older days may show fewer than they had." }
            }
            svg class="chart" role="img" aria-label=(label) width=(W) height=(H)
                viewBox={ "0 0 " (W) " " (H) } xmlns="http://www.w3.org/2000/svg" {
                title { (label) }
                line x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#8c959f" stroke-width="1" {}
                text x=(LEFT - 4) y=(TOP + 10) text-anchor="end" font-size="11" fill="#57606a" { (max) }
                text x=(LEFT - 4) y=(H - BOTTOM) text-anchor="end" font-size="11" fill="#57606a" { "0" }
                @for (i, d) in self.days.iter().enumerate() {
                    @let day = self.first_day + i as i64;
                    @let x = LEFT + i as i64 * slot + 2;
                    g data-day=(day_label(day)) {
                        title { (day_label(day)) ": " (summary(d)) }
                        @for (y, h, k, count) in stack(d, H - BOTTOM, &scale) {
                            rect class=(kind_class(k)) x=(x) y=(y) width=(bar) height=(h)
                                data-kind=(k.as_str().to_lowercase()) data-count=(count) {}
                        }
                    }
                    // Every seventh day and the last, never two labels side by side.
                    @if (i % 7 == 0 && i + 4 < self.days.len()) || i + 1 == self.days.len() {
                        text x=(x + bar / 2) y=(H - 6) text-anchor="middle" font-size="10" fill="#57606a" {
                            (day_label(day).get(5..).unwrap_or_default())
                        }
                    }
                }
            }
            p class="legend" aria-hidden="true" {
                @for k in KINDS {
                    span { span class={ "swatch " (kind_class(k)) } {} (k.as_str()) }
                }
            }
            details {
                summary { "The numbers, per day" }
                @if total == 0 {
                    p { "No matching entries in these days." }
                } @else {
                    div class="table-wrap" {
                        table id="activity" {
                            caption class="visually-hidden" { "Audit entries per day and action kind" }
                            thead {
                                tr {
                                    th scope="col" { "Day (UTC)" }
                                    @for k in KINDS { th scope="col" { (k.as_str()) } }
                                    th scope="col" { "Total" }
                                }
                            }
                            tbody {
                                @for (i, d) in self.days.iter().enumerate().rev() {
                                    @if d.iter().sum::<i64>() > 0 {
                                        tr {
                                            th scope="row" { (day_label(self.first_day + i as i64)) }
                                            @for c in d { td { (c) } }
                                            td { (d.iter().sum::<i64>()) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn summary(d: &[i64; 4]) -> String {
    let parts: Vec<String> = KINDS
        .iter()
        .zip(d)
        .filter(|(_, c)| **c > 0)
        .map(|(k, c)| format!("{c} {}", k.as_str().to_lowercase()))
        .collect();
    if parts.is_empty() {
        "no entries".into()
    } else {
        parts.join(", ")
    }
}

/// The segments of one bar, bottom up: (y, height, kind, count), empty kinds left out.
fn stack(
    d: &[i64; 4],
    baseline: i64,
    scale: &dyn Fn(i64) -> i64,
) -> Vec<(i64, i64, ActionKind, i64)> {
    let mut out = Vec::new();
    let mut below = 0;
    let mut y_prev = baseline;
    for (k, c) in KINDS.iter().zip(d) {
        if *c == 0 {
            continue;
        }
        below += c;
        // Heights from cumulative sums, so that rounding never makes a bar taller than its day.
        let top = baseline - scale(below);
        out.push((top, (y_prev - top).max(1), *k, *c));
        y_prev = top;
    }
    out
}

async fn audit_entry(
    State(s): State<AppState>,
    session: Session,
    Path((ws, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let m = session.member(&s, &ws).await?;
    let e = s.svc.get_audit(&m, &id).await?;
    let params = e
        .parameters
        .as_ref()
        .map(|p| serde_json::to_string_pretty(p).unwrap_or_else(|_| p.to_string()));
    let body = html! {
        h1 { "Audit entry " (e.id) }
        p { a href={ "/w/" (ws) "/audit" } { "Back to the audit log" } }
        dl class="card" id="entry" {
            dt { "Id" } dd { (e.id) }
            dt { "Workspace" } dd { (e.workspace_id) }
            dt { "Time (UTC)" } dd { time datetime=(e.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true)) { (utc(e.timestamp)) } }
            dt { "Username" } dd { (e.username) }
            dt { "Email" } dd { (e.email.as_deref().unwrap_or("—")) }
            dt { "Operation" } dd { code { (e.operation) } }
            dt { "Action kind" } dd { (e.action_kind.as_str()) }
            dt { "Resource" } dd { (e.resource.as_deref().unwrap_or("—")) }
            @if let Some(i) = &e.impersonator {
                dt { "Impersonated by" } dd { (i) }
            }
        }
        h2 id="parameters-title" { "Parameters" }
        @match params {
            Some(p) => pre id="parameters" aria-labelledby="parameters-title" { code { (p) } },
            None => p id="parameters" { "None." },
        }
    };
    Ok(session.page(&format!("Audit entry {}", e.id), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_without_overflowing_their_day() {
        let scale = |v: i64| (v * 170 + 6) / 7;
        let segs = stack(&[3, 0, 2, 2], 178, &scale);
        assert_eq!(segs.len(), 3);
        assert_eq!(segs.last().unwrap().0, 178 - 170);
        let total: i64 = segs.iter().map(|s| s.1).sum();
        assert_eq!(total, 170);
    }

    #[test]
    fn datetime_local_values_read_as_utc() {
        assert_eq!(datetime_local("2026-01-31T10:00"), "2026-01-31T10:00:00");
        assert_eq!(datetime_local("2026-01-31"), "2026-01-31");
        assert!(wmill_api::parse_timestamp(&datetime_local("2026-01-31T10:00")).is_some());
    }

    #[test]
    fn link_query_carries_filters_encoded() {
        let f = Filters::from_pairs(&[
            ("username".into(), "a b".into()),
            ("action_kind".into(), "create".into()),
            ("before_id".into(), "9".into()),
        ]);
        assert_eq!(f.link_query(), "username=a%20b&action_kind=create");
    }
}
