//! `/api/w/{workspace}/audit/*`: the audit log.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wmill_api::{AuditLog, AuditQuery};

use super::AppState;
use super::extract::{InWorkspace, Path, Query};
use crate::error::Result;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(get_audit))
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
