//! `/api/w/{workspace}/audit/*`: the audit log.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{AuditLog, AuditQuery};

use super::AppState;
use super::extract::{Authed, InWorkspace, Path, Query};
use crate::error::Result;
use crate::service::audit::AuditPublicKey;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(get_audit))
        .routes(routes!(export_audit))
        .routes(routes!(audit_public_key))
        .routes(routes!(verify_audit))
}

/// The Ed25519 public key the audit chain's checkpoints are signed with (`null` when the
/// server signs nothing). Public: it is what `wmill-server audit verify --public-key`
/// should be given, fetched once and kept apart from the database.
#[utoipa::path(get, path = "/api/audit/public_key", tag = "audit",
    responses((status = 200, body = AuditPublicKey)))]
async fn audit_public_key(State(s): State<AppState>) -> axum::Json<AuditPublicKey> {
    axum::Json(s.svc.audit_public_key())
}

#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyQuery {
    /// `true`: NDJSON, a `{"entries_read": N}` line as the verification goes, then
    /// `{"report": Report}` (or `{"error": "…"}`) last.
    #[param(value_type = Option<bool>)]
    #[serde(default)]
    stream: Option<String>,
}

/// Verifies the whole audit log against its hash chain and signed checkpoints (superadmin):
/// the report names the first entry modified, deleted, inserted or reordered. With
/// `stream=true` the answer streams progress as it goes, so a long verification shows it
/// is alive (and no proxy cuts an idle connection).
#[utoipa::path(get, path = "/api/audit/verify", tag = "audit", security(("bearer" = ["audit:admin"])),
    params(VerifyQuery),
    responses((status = 200, description = "The report; with stream=true, NDJSON progress lines and the report last",
            content((crate::audit_chain::Report = "application/json"), (String = "application/x-ndjson"))),
        (status = 400, description = "Bad parameter", body = String, content_type = "text/plain"),
        (status = 401, description = "Not a superadmin", body = String, content_type = "text/plain"),
        (status = 403, description = "A token pinned to a workspace", body = String, content_type = "text/plain")))]
async fn verify_audit(
    State(s): State<AppState>,
    Authed(c): Authed,
    Query(q): Query<VerifyQuery>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let stream = match q.stream.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(crate::error::Error::BadRequest(format!(
                "stream must be true or false, not {v:?}"
            )));
        }
    };
    if !stream {
        return Ok(axum::Json(s.svc.verify_audit(&c).await?).into_response());
    }
    s.svc.may_verify_audit(&c)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let svc = s.svc.clone();
    tokio::spawn(async move {
        let read = tx.clone();
        let progress: crate::audit_chain::Progress = std::sync::Arc::new(move |n| {
            let _ = read.send(serde_json::json!({ "entries_read": n }));
        });
        let last = match svc.verify_audit_checked(Some(progress)).await {
            Ok(report) => serde_json::json!({ "report": report }),
            Err(e) => {
                tracing::warn!("audit verification stopped: {e}");
                serde_json::json!({ "error": e.to_string() })
            }
        };
        let _ = tx.send(last);
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let v = rx.recv().await?;
        let mut line = v.to_string();
        line.push('\n');
        Some((
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(line)),
            rx,
        ))
    });
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(axum::body::Body::from_stream(lines))
        .map_err(|e| crate::error::Error::internal(e.to_string()))
}

/// Entries newest first; non-admins see only their own.
#[utoipa::path(get, path = "/api/w/{workspace}/audit/list", tag = "audit", security(("bearer" = ["audit:read"])), params(("workspace" = String, Path), AuditQuery),
    responses((status = 200, body = Vec<AuditLog>), (status = 400, description = "Bad filter", body = String, content_type = "text/plain")))]
async fn list_audit(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Vec<AuditLog>>> {
    Ok(axum::Json(s.svc.list_audit(&m, q).await?))
}

/// One entry.
#[utoipa::path(get, path = "/api/w/{workspace}/audit/get/{id}", tag = "audit", security(("bearer" = ["audit:read"])),
    params(("workspace" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = AuditLog),
        (status = 400, description = "The id is not a whole number", body = String, content_type = "text/plain"),
        (status = 404, description = "Not visible", body = String, content_type = "text/plain")))]
async fn get_audit(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Path(path): Path<(String, String)>,
) -> Result<axum::Json<AuditLog>> {
    Ok(axum::Json(s.svc.get_audit(&m, &path.1).await?))
}

/// Query of `GET /api/w/{workspace}/audit/export`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditExportQuery {
    /// Entries with ids above this one (default 0: from the first); to resume, the last id
    /// received.
    #[param(value_type = Option<i64>)]
    #[serde(default)]
    since_id: Option<String>,
    /// Superadmins: entries of every workspace, `global` included.
    #[param(value_type = Option<bool>)]
    #[serde(default)]
    all_workspaces: Option<String>,
    /// Keep the connection open and send new entries as they commit (polled every 250 ms),
    /// for `follow_secs`; then the answer ends and the client resumes from its last id.
    #[param(value_type = Option<bool>)]
    #[serde(default)]
    follow: Option<String>,
    /// How long `follow` waits for new entries, 1 to 3600 seconds (default 30).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 3600)]
    #[serde(default)]
    follow_secs: Option<String>,
}

/// The workspace's audit entries (or every workspace's, superadmin) as NDJSON, one
/// `AuditLog` per line in id order, from `since_id`; with `follow`, new entries as they
/// commit (workspace admins).
#[utoipa::path(get, path = "/api/w/{workspace}/audit/export", tag = "audit", security(("bearer" = ["audit:read"])),
    params(("workspace" = String, Path), AuditExportQuery),
    responses((status = 200, description = "One AuditLog JSON object per line, in id order", body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "Bad parameter", body = String, content_type = "text/plain"),
        (status = 403, description = "Not a workspace admin, or all_workspaces without a superadmin", body = String, content_type = "text/plain")))]
async fn export_audit(
    State(s): State<AppState>,
    InWorkspace(m): InWorkspace,
    Query(q): Query<AuditExportQuery>,
) -> Result<axum::response::Response> {
    use axum::body::{Body, Bytes};
    use std::time::{Duration, Instant};

    let plan = s
        .svc
        .audit_export(
            &m,
            &q.since_id,
            &q.all_workspaces,
            &q.follow,
            &q.follow_secs,
        )
        .await?;
    let until = plan.follow_for.map(|d| Instant::now() + d);
    let svc = s.svc.clone();
    let start = (svc, plan, None::<i64>, false);
    let stream = futures_util::stream::unfold(start, move |(svc, plan, last, done)| async move {
        if done {
            return None;
        }
        let after = last.unwrap_or(plan.since_id);
        loop {
            match svc.audit_export_page(&plan, after).await {
                Err(e) => {
                    // The answer is cut short: the client sees an incomplete body and
                    // resumes from the last whole line.
                    tracing::warn!("audit export stopped: {e}");
                    let err = std::io::Error::other(e.to_string());
                    return Some((Err(err), (svc, plan, last, true)));
                }
                Ok(rows) if !rows.is_empty() => {
                    let next = rows.last().map(|r| r.id);
                    let mut buf = Vec::with_capacity(rows.len() * 256);
                    for r in &rows {
                        if serde_json::to_writer(&mut buf, r).is_err() {
                            let err = std::io::Error::other("an audit entry could not be written");
                            return Some((Err(err), (svc, plan, last, true)));
                        }
                        buf.push(b'\n');
                    }
                    return Some((Ok(Bytes::from(buf)), (svc, plan, next, false)));
                }
                Ok(_) => match until {
                    Some(t) if Instant::now() < t => {
                        let left = t.saturating_duration_since(Instant::now());
                        tokio::time::sleep(left.min(Duration::from_millis(250))).await;
                    }
                    _ => return None,
                },
            }
        }
    });
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(stream))
        .map_err(|e| crate::error::Error::internal(e.to_string()))
}
