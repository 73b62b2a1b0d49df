//! The audit log of a workspace: every filter of the API, keyset paging, one entry, and
//! activity per day by action kind.

use axum::Router;

use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
