//! The workspace admin's pages: members (add, role, disable, remove) and groups (create,
//! summary, members, owners, delete).

use axum::Router;

use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
