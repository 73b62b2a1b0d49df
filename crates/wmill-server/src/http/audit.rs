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

/// Verifies the whole audit log against its hash chain and signed checkpoints (superadmin):
/// the report names the first entry modified, deleted, inserted or reordered.
#[utoipa::path(get, path = "/api/audit/verify", tag = "audit", security(("bearer" = ["audit:admin"])),
    responses((status = 200, body = crate::audit_chain::Report),
        (status = 401, description = "Not a superadmin", body = String, content_type = "text/plain"),
        (status = 403, description = "A token pinned to a workspace", body = String, content_type = "text/plain")))]
async fn verify_audit(
    State(s): State<AppState>,
    Authed(c): Authed,
) -> Result<axum::Json<crate::audit_chain::Report>> {
    Ok(axum::Json(s.svc.verify_audit(&c).await?))
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
