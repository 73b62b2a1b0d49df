//! The limit for this stack on this machine: a bare axum handler returning a constant
//! string, served by the same runtime configuration as `wmill-server` (tokio's default
//! multi-threaded runtime, one worker per core) and loaded by the same tool in the same run.

use std::io::Write;

use crate::util::{Context, Result};

/// Serves `GET /` → `ok` on `listen` and prints `listening on http://…` like the server.
pub fn serve(listen: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .ctx("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .ctx(format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr().ctx("no local address")?;
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                if let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    term.recv().await;
                }
            })
            .await
            .ctx("baseline server")
    })
}
