//! `wmill-server`: a Windmill-compatible identity administration server (users, workspaces,
//! groups, API tokens, audit log) on embedded SQLite or PostgreSQL.
//!
//! A request flows one way: [`http`] (routes, extractors, errors) → [`service`] (rules,
//! permissions, audit entries) → [`store`] (one trait, one transaction per mutation).

pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod password;
pub mod service;
pub mod store;
pub mod throttle;
pub mod token;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::config::{Cli, Settings};
use crate::service::Service;
use crate::store::SqlStore;
use crate::store::sql::DbOptions;

/// Name of the file holding a generated first superadmin password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Default SQLite file name inside the data folder.
pub const SQLITE_FILE: &str = "wmill.db";

/// A random password of `len` base62 characters from the OS CSPRNG.
pub fn random_password(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the OS random source is available");
        for b in buf {
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Writes `content` to a new file readable by its owner only.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Runs the bootstrap: creates workspace `admins` and the first superadmin on an empty
/// database, with the given or a generated password.
async fn bootstrap(svc: &Service, cli: &Cli) -> Result<(), String> {
    let generated = cli.admin_password.is_none();
    let password = cli
        .admin_password
        .clone()
        .unwrap_or_else(|| random_password(24));
    let final_path = cli.data_dir.join(INITIAL_PASSWORD_FILE);
    let tmp_path = cli.data_dir.join(format!("{INITIAL_PASSWORD_FILE}.tmp"));
    if generated {
        // Written before the account exists, so that the password cannot be lost.
        write_private(&tmp_path, &password)
            .map_err(|e| format!("cannot write {}: {e}", tmp_path.display()))?;
    }
    let ran = svc.bootstrap(&cli.admin_email, &password).await;
    if generated {
        match ran {
            Ok(true) => std::fs::rename(&tmp_path, &final_path)
                .map_err(|e| format!("cannot write {}: {e}", final_path.display()))?,
            _ => {
                let _ = std::fs::remove_file(&tmp_path);
            }
        }
    }
    if ran? {
        tracing::info!(email = %cli.admin_email, "created the first superadmin and workspace 'admins'");
        if generated {
            println!(
                "initial superadmin {} has password {password} (also in {}; change it with 'wmill' or POST /api/users/setpassword)",
                cli.admin_email,
                final_path.display()
            );
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Starts the server and serves until SIGTERM or SIGINT.
pub async fn run(cli: Cli) -> Result<(), String> {
    let settings = Settings::from_cli(&cli);
    settings.argon2.validate()?;
    std::fs::create_dir_all(&cli.data_dir)
        .map_err(|e| format!("cannot create data folder {}: {e}", cli.data_dir.display()))?;
    let db = DbOptions {
        url: cli
            .database_url
            .clone()
            .unwrap_or_else(|| SQLITE_FILE.into()),
        max_connections: cli.db_max_connections,
        statement_timeout: Duration::from_millis(cli.db_statement_timeout_ms),
        acquire_timeout: Duration::from_secs(5),
    };
    let store = Arc::new(SqlStore::connect(&db, &cli.data_dir).await?);
    let flush_every = settings.last_used_flush;
    let svc = Arc::new(Service::new(store.clone(), Arc::new(SystemClock), settings));
    bootstrap(&svc, &cli).await?;

    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;

    let flusher = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(flush_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = svc.flush_last_used().await {
                    tracing::warn!("cannot record token use: {e}");
                }
            }
        })
    };

    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    let app = http::app(svc.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server error: {e}"))?;

    flusher.abort();
    if let Err(e) = svc.flush_last_used().await {
        tracing::warn!("cannot record token use: {e}");
    }
    store.close().await;
    Ok(())
}
