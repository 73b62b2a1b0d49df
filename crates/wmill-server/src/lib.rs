//! `wmill-server`: a Windmill-compatible identity administration server (users, workspaces,
//! groups, API tokens, audit log) on embedded SQLite or PostgreSQL.
//!
//! A request flows one way: [`http`] (routes, extractors, errors) → [`service`] (rules,
//! permissions, audit entries) → [`store`] (one trait, one transaction per mutation).

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod audit_chain;
pub mod audit_sink;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod files;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod oidc;
pub mod ops;
pub mod password;
pub mod scim;
pub mod scope;
pub mod service;
pub mod store;
pub mod throttle;
pub mod token;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SystemClock;
use crate::config::{Cli, Settings};
use crate::service::Service;
use crate::store::SqlStore;
use crate::store::sql::{DbOptions, DbTarget};

/// Name of the file holding a generated first superadmin password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Default database: the SQLite file `wmill.db` inside the data folder.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:wmill.db";

/// A random password of `len` base62 characters from the OS CSPRNG.
pub fn random_password(len: usize) -> String {
    token::random_base62(len)
}

/// Runs the bootstrap: creates workspace `admins` and the first superadmin on an empty
/// database, with the given or a generated password. A generated password is written to a
/// new owner-only file before the account exists (so that it cannot be lost) and never
/// over an existing one: that file belongs to the database that made it.
async fn bootstrap(svc: &Service, cli: &Cli) -> Result<(), String> {
    let final_path = cli.data_dir.join(INITIAL_PASSWORD_FILE);
    if files::readable_by_others(&final_path) {
        return Err(format!(
            "{} can be read by other users; restrict it (chmod 600) or remove it once the \
             password has been changed",
            final_path.display()
        ));
    }
    if svc.bootstrapped().await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    let generated = cli.admin_password.is_none();
    if generated && final_path.exists() {
        return Err(format!(
            "this database is empty, but {} already exists (the initial password of another \
             database?); it is never overwritten: move it away, or pass --admin-password",
            final_path.display()
        ));
    }
    let password = cli
        .admin_password
        .clone()
        .unwrap_or_else(|| random_password(24));
    let tmp_path = cli.data_dir.join(format!(
        "{INITIAL_PASSWORD_FILE}.{}.tmp",
        random_password(8)
    ));
    if generated {
        files::write_new_private(&tmp_path, &password)
            .map_err(|e| format!("cannot write {}: {e}", tmp_path.display()))?;
    }
    let ran = svc.bootstrap(&cli.admin_email, &password).await;
    if generated {
        // A hard link fails when the name exists: never over another file.
        let placed = match ran {
            Ok(true) => std::fs::hard_link(&tmp_path, &final_path)
                .map_err(|e| format!("cannot write {}: {e}", final_path.display())),
            _ => Ok(()),
        };
        let _ = std::fs::remove_file(&tmp_path);
        placed?;
    }
    if ran? {
        tracing::info!(email = %cli.admin_email, "created the first superadmin and workspace 'admins'");
        if generated {
            println!(
                "initial superadmin {} has password {password} (also in {}; change it with \
                 'wmill user set-password' once 'wmill workspace add' has signed you in, or \
                 POST /api/users/setpassword)",
                cli.admin_email,
                final_path.display()
            );
        }
    }
    Ok(())
}

/// Completes at SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when the future is first polled, so that a signal arriving as soon as the server says
/// it listens is not taken by the default action (death without a clean shutdown).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// `wmill-server audit …`: keygen, or an offline verification (an error when the log is
/// not intact, so that the exit status says it).
pub async fn audit_command(cmd: &config::AuditCommand, cli: &Cli) -> Result<(), String> {
    match cmd {
        config::AuditCommand::Keygen { out } => {
            let public = audit_chain::generate_key_file(out)?;
            println!("{}", audit_chain::to_hex(public.as_bytes()));
            eprintln!(
                "wrote the audit signing key to {} (owner-only). Start the server with \
                 --audit-signing-key {}; the line above is its public key, for \
                 'wmill-server audit verify --public-key' (keep a copy apart from the database)",
                out.display(),
                out.display()
            );
            Ok(())
        }
        config::AuditCommand::Verify { public_key, json } => {
            let (data_dir, database_url) = (&cli.data_dir, &cli.database_url);
            let key = public_key
                .as_deref()
                .map(audit_chain::parse_public_key)
                .transpose()
                .map_err(|e| format!("--public-key: {e}"))?;
            let url = database_url
                .clone()
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
            let target = DbTarget::parse(&url).map_err(|e| format!("--database-url: {e}"))?;
            if let DbTarget::Sqlite(p) = &target
                && !data_dir.join(p).is_file()
            {
                return Err(format!("no database at {}", data_dir.join(p).display()));
            }
            let db = DbOptions {
                url,
                max_connections: 2,
                statement_timeout: Duration::from_secs(600),
                acquire_timeout: Duration::from_secs(30),
            };
            let store = SqlStore::connect_as_is(&db, data_dir).await?;
            let report = store::AuditChainStore::verify_audit_chain(&store, key)
                .await
                .map_err(|e| {
                    format!("cannot read the audit chain ({e}); a database the server has not migrated to version 8 has none")
                });
            store.close().await;
            let report = report?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", report.describe());
            }
            if report.intact() {
                Ok(())
            } else {
                Err(format!(
                    "the audit log is not intact: {}",
                    report.first().map(ToString::to_string).unwrap_or_default()
                ))
            }
        }
    }
}

/// Runs the operation named by a subcommand (`migrate`, `backup`, `restore`, `audit …`), or
/// else starts the server and serves until SIGTERM or SIGINT.
pub async fn run(cli: Cli) -> Result<(), String> {
    if let Some(config::Command::Audit(cmd)) = &cli.command {
        return audit_command(cmd, &cli).await;
    }
    if let Some(command) = &cli.command {
        return ops::run(command, &cli).await;
    }
    let settings = Settings::from_cli(&cli);
    // Before anything is opened: a key that cannot be read stops the start.
    let audit_key = cli
        .audit_signing_key
        .as_deref()
        .map(audit_chain::load_key_file)
        .transpose()?;
    settings.argon2.validate()?;
    audit_sink::check_unique(&cli.audit_sink)?;
    let providers = oidc::Providers::new(cli.oidc.clone())?;
    let url = cli
        .database_url
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    let target = DbTarget::parse(&url).map_err(|e| format!("--database-url: {e}"))?;
    // The port first: a clash must create nothing.
    let listener = listen::bind(&cli.listen).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics_listener = match &cli.metrics_listen {
        Some(m) => Some(listen::bind(m).await?),
        None => None,
    };
    files::private_dir(&cli.data_dir)?;
    let summary = config::summary(&cli, &settings, &target.describe(&cli.data_dir), addr);
    if cli.log_format == config::LogFormat::Json {
        tracing::info!(summary = %summary.trim_end(), "configuration");
    } else {
        eprint!("{summary}");
    }
    let db = DbOptions {
        url,
        max_connections: cli.db_max_connections,
        statement_timeout: Duration::from_millis(cli.db_statement_timeout_ms),
        acquire_timeout: Duration::from_secs(5),
    };
    let store = Arc::new(SqlStore::connect(&db, &cli.data_dir).await?);
    if store.is_postgres() {
        if cli.pg_cache == config::PgCacheMode::On {
            store.start_pg_cache();
            tracing::info!("caching authentication on this instance (--pg-cache=on)");
        } else {
            tracing::info!("not caching authentication on this instance (--pg-cache=off)");
        }
    }
    let schema = store.schema();
    if schema.applied.is_empty() {
        tracing::info!("database schema up to date at version {}", schema.version);
    } else {
        let names: Vec<&str> = schema.applied.iter().map(|(_, n)| n.as_str()).collect();
        tracing::info!(
            "applied migrations {}: database schema now at version {}",
            names.join(", "),
            schema.version
        );
    }
    let flush_every = settings.last_used_flush;
    let serve_opts = http::serve::ServeOptions {
        header_timeout: Duration::from_secs(cli.header_timeout_secs.max(1)),
        idle_timeout: Duration::from_secs(cli.idle_timeout_secs.max(1)),
        max_connections_per_ip: cli.max_connections_per_ip.max(1),
        trusted_proxies: settings.trusted_proxies.clone(),
        shutdown_grace: Duration::from_secs(30),
    };
    let svc = Arc::new(
        Service::new(store.clone(), Arc::new(SystemClock), settings)
            .with_oidc(providers.clone())
            .with_audit_key(audit_key)
            .with_audit_retention(
                cli.audit_retention_days
                    .map(|d| Duration::from_secs(d.saturating_mul(86_400))),
            )
            .with_audit_sinks(cli.audit_sink.clone()),
    );
    bootstrap(&svc, &cli).await?;
    if let Some(k) = svc.audit_public_key().public_key {
        tracing::info!("signing audit checkpoints with public key {k}");
    }
    // Never fatal: a provider that cannot be reached yet is retried in the background.
    providers.discover_all().await;

    let background = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(flush_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = svc.flush_last_used().await {
                    tracing::warn!("cannot record token use: {e}");
                }
                if let Err(e) = svc.sweep_login_throttle().await {
                    tracing::warn!("cannot forget old failed logins: {e}");
                }
                svc.report_refused_logins();
            }
        })
    };

    let checkpoints = {
        let svc = svc.clone();
        let every = Duration::from_secs(cli.audit_checkpoint_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match svc.prune_audit().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("removed {n} audit entries past their retention"),
                    Err(e) => tracing::warn!("cannot remove old audit entries: {e}"),
                }
                if let Err(e) = svc.checkpoint_audit().await {
                    tracing::warn!("cannot sign an audit checkpoint: {e}");
                }
            }
        })
    };

    for sink in svc.audit_sinks() {
        tracing::info!(
            sink = %sink.spec.name,
            header = sink.spec.header_name().unwrap_or("none"),
            "audit sink configured"
        );
    }
    let sinks = audit_sink::start(svc.clone(), store.clone());

    let shutdown = shutdown_signal();
    let metrics_server = match metrics_listener {
        Some(l) => {
            let maddr = l.local_addr().map_err(|e| e.to_string())?;
            let router = metrics::router(svc.clone(), store.clone());
            println!("metrics on http://{maddr}");
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, router).await {
                    tracing::warn!("the metrics listener stopped: {e}");
                }
            }))
        }
        None => None,
    };
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    http::serve::serve(listener, http::app(svc.clone()), serve_opts, shutdown).await;

    background.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    checkpoints.abort();
    for s in &sinks {
        s.abort();
    }
    // The head as the server leaves it, signed: a tail cut while it is stopped shows.
    match svc.checkpoint_audit().await {
        Ok(Some(cp)) => tracing::info!(
            "signed an audit checkpoint up to entry {}",
            cp.chain.head_id
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!("cannot sign an audit checkpoint: {e}"),
    }
    if let Err(e) = svc.flush_last_used().await {
        tracing::warn!("cannot record token use: {e}");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
