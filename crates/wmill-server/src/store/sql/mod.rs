//! The SQL implementation of the store families, for SQLite (embedded, WAL mode) and
//! PostgreSQL, one file per family.
//!
//! The SQL is written once: it sticks to what both databases accept (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`, integer timestamps, JSON as text), and the macros below run
//! each body against whichever pool is configured, so both backends are typed and checked
//! by the compiler without `sqlx::Any`. What differs is kept apart: the schema (one folder of
//! migrations per database, applied by sqlx's migrator with checksums), row locks
//! (`FOR UPDATE`/`FOR SHARE`, PostgreSQL only: SQLite has one writer), and pool layout.
//!
//! SQLite allows one writer at a time, so writes go through a pool of one connection
//! (requests queue in-process instead of failing with `SQLITE_BUSY`), while reads use a
//! pool of their own, each statement bounded in time by a progress handler (PostgreSQL has
//! `statement_timeout`). The store holds a lock file next to a SQLite database, so that one
//! server at most uses it; being provably alone, it caches what authentication reads and
//! group lists ([`AuthCache`], emptied by every write that may change them).

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::AssertSqlSafe;
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use std::sync::Arc;

use super::cache::AuthCache;
use super::pg_cache::PgCache;
use super::*;

/// Runs `$body` with `$c` bound to a pool for reading.
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { read, .. } => {
                let $c = read;
                $body
            }
            Db::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction bound to `$tx`, committing when it completes, then
/// empties the authentication cache. On SQLite the transaction is a savepoint in the
/// single writer's open batch, committed with the transactions waiting behind it (group
/// commit, `group_commit.rs`), and answered after that commit. On PostgreSQL the
/// transaction also publishes an invalidation (`cache_notify()`), and the caller is
/// answered only once every other instance that may serve from its cache has applied it
/// (see `store/pg_cache.rs`). An early return or `?` drops the transaction, which rolls it
/// back (nothing changed, nothing to forget).
macro_rules! write_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        write_tx!(@ $self, forget_cached, |$tx| $body)
    };
    // A write that changes only a workspace group's members: this instance forgets only
    // its group lists (other instances, on PostgreSQL, forget everything).
    ($self:ident, groups, |$tx:ident| $body:expr) => {
        write_tx!(@ $self, forget_cached_groups, |$tx| $body)
    };
    (@ $self:ident, $forget:ident, |$tx:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { writer, .. } => {
                let mut $tx = writer.begin().await?;
                let out = $body;
                let committed = $tx.commit().await;
                // Before anyone is answered, even if the commit reported an error.
                $self.$forget();
                committed?;
                Ok(out)
            }
            Db::Postgres(pool) => {
                let mut $tx = crate::store::sql::chain::PgTx::begin(pool, true).await?;
                let out = $body;
                // Delivered to every instance at the commit (migration 0012); sent with the
                // audit entry when there is one.
                if !$tx.notified {
                    sqlx::query("SELECT cache_notify()")
                        .execute(&mut *$tx)
                        .await?;
                }
                let audited = $tx.audited;
                let committed = $tx.commit().await;
                $self.$forget();
                committed?;
                let chained = async {
                    if audited {
                        $self.await_chained().await
                    }
                };
                let (_, invalidated) = tokio::join!(chained, $self.await_invalidated());
                invalidated?;
                Ok(out)
            }
        }
    };
}

/// Like `write_tx!` but leaves the authentication cache as it is: only for transactions
/// that add rows the cache cannot hold (new tokens, audit entries) or change what it does
/// not hold (`last_used_at`, login throttling). Anything else goes through `write_tx!`.
macro_rules! insert_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { writer, .. } => {
                let mut $tx = writer.begin().await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
            Db::Postgres(pool) => {
                let mut $tx = crate::store::sql::chain::PgTx::begin(pool, false).await?;
                let out = $body;
                let audited = $tx.audited;
                $tx.commit().await?;
                if audited {
                    $self.await_chained().await;
                }
                Ok(out)
            }
        }
    };
}

/// `$sql`, followed on PostgreSQL by the row-locking clause `$lock` (SQLite has a single
/// writer: a transaction's reads cannot be changed under it).
macro_rules! locking {
    ($self:ident, $sql:literal, $lock:literal) => {
        if $self.is_postgres() {
            concat!($sql, " ", $lock)
        } else {
            $sql
        }
    };
}

/// Writes an audit entry inside the transaction `$tx`: on SQLite appended to the chain, on
/// PostgreSQL chained after the commit (see `chain.rs`).
macro_rules! insert_audit {
    ($tx:ident, $a:expr) => {{
        let a: &NewAudit = &$a;
        $tx.append_audit(a).await?;
    }};
}

/// Inserts a token row inside `$tx`.
macro_rules! insert_token {
    ($tx:ident, $t:expr) => {{
        let t: &NewTokenRow = &$t;
        sqlx::query(
            "INSERT INTO token (hash, prefix, email, label, expiration, workspace_id, created_at, \
             last_used_at, kind, impersonator, scopes, read_only, minted_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&t.hash)
        .bind(&t.prefix)
        .bind(&t.email)
        .bind(&t.label)
        .bind(t.expiration)
        .bind(&t.workspace_id)
        .bind(t.created_at)
        .bind(t.kind.as_str())
        .bind(&t.impersonator)
        .bind(&t.scopes)
        .bind(t.read_only)
        .bind(&t.minted_by)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Finds or assigns the instance-wide username of `$email` inside `$tx`. Evaluates to
/// `Ok(username)` or `Err(AddMember)` explaining why it cannot.
macro_rules! assign_username {
    ($tx:ident, $email:expr, $choice:expr) => {{
        let email: &str = $email;
        let existing: Option<String> = sqlx::query_scalar("SELECT username FROM username WHERE email = $1")
            .bind(email)
            .fetch_optional(&mut *$tx)
            .await?;
        let chosen: Result<String, AddMember> = match (existing, $choice) {
            (Some(u), UsernameChoice::Given(g)) if u != g => Err(AddMember::HasUsername(u)),
            (Some(u), _) => Ok(u),
            (None, UsernameChoice::Given(g)) => {
                let owner: Option<String> = sqlx::query_scalar("SELECT email FROM username WHERE username = $1")
                    .bind(&g)
                    .fetch_optional(&mut *$tx)
                    .await?;
                match owner {
                    Some(_) => Err(AddMember::UsernameTaken(g)),
                    None => Ok(g),
                }
            }
            (None, UsernameChoice::Derive(base)) => {
                let pattern = format!("{}%", base.replace('_', "\\_"));
                let taken: Vec<String> =
                    sqlx::query_scalar("SELECT username FROM username WHERE username LIKE $1 ESCAPE '\\'")
                        .bind(&pattern)
                        .fetch_all(&mut *$tx)
                        .await?;
                let taken: std::collections::HashSet<String> = taken.into_iter().collect();
                Ok(crate::domain::Username::pick_free(&base, &taken).as_str().to_string())
            }
        };
        if let Ok(u) = &chosen {
            sqlx::query("INSERT INTO username (email, username) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING")
                .bind(email)
                .bind(u)
                .execute(&mut *$tx)
                .await?;
        }
        chosen
    }};
}

/// Inserts a membership (and `all` group membership) for an assigned username.
macro_rules! insert_member {
    ($tx:ident, $ws:expr, $username:expr, $m:expr) => {{
        let m: &NewMember = &$m;
        sqlx::query(
            "INSERT INTO member (workspace_id, username, email, is_admin, operator, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, FALSE, $6)",
        )
        .bind($ws)
        .bind($username)
        .bind(&m.email)
        .bind(m.is_admin)
        .bind(m.operator)
        .bind(m.created_at)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("INSERT INTO group_member (workspace_id, group_name, username) VALUES ($1, 'all', $2)")
            .bind($ws)
            .bind($username)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Ends the group grants of `u/$username` (in workspace `$ws`, or in every workspace when it
/// is `None`), writing one `acls.remove` entry per grant ended, modelled on `$audit`.
macro_rules! end_grants_of_user {
    ($tx:ident, $ws:expr, $username:expr, $audit:expr) => {{
        let ws: Option<&str> = $ws;
        let principal = format!("u/{}", $username);
        let ended: Vec<(String, String)> = sqlx::query_as(
            "DELETE FROM group_acl WHERE principal = $1 AND ($2 IS NULL OR workspace_id = $2) \
             RETURNING workspace_id, group_name",
        )
        .bind(&principal)
        .bind(ws)
        .fetch_all(&mut *$tx)
        .await?;
        let template: &NewAudit = &$audit;
        for (w, g) in &ended {
            let mut a = template.clone();
            a.workspace_id = w.clone();
            a.operation = "acls.remove";
            a.action_kind = ActionKind::Delete;
            a.resource = Some(format!("group_/{g}"));
            a.parameters = Some(serde_json::json!({
                "owner": principal,
                "reason": template.operation,
            }));
            insert_audit!($tx, a);
        }
    }};
}

/// SQL: whether the account aliased `$a` holds instance role `$role` through an instance
/// group (a string literal, to be `concat!`ed).
macro_rules! via_group {
    ($a:literal, $role:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM instance_group_member gm JOIN instance_group g ON g.name = gm.group_name \
             WHERE gm.email = ", $a, ".email AND g.instance_role = '", $role, "')"
        )
    };
}

/// Deletes the impersonation tokens whose minter is no longer an enabled superadmin (by
/// flag or instance group): after a change that may have taken the role away, so that a
/// token refused now does not come back if the role does.
macro_rules! end_orphaned_impersonations {
    ($tx:ident) => {
        sqlx::query(concat!(
            "DELETE FROM token WHERE impersonator IS NOT NULL AND NOT EXISTS (SELECT 1 FROM account i \
             WHERE i.email = token.impersonator AND i.disabled = FALSE AND (i.super_admin = TRUE OR ",
            via_group!("i", "superadmin"),
            "))"
        ))
        .execute(&mut *$tx)
        .await?;
    };
}

/// Serialises the superadmin-changing transactions (a row lock on PostgreSQL; SQLite has
/// a single writer anyway), so two of them cannot both remove "the other" superadmin.
macro_rules! lock_superadmins {
    ($tx:ident) => {
        sqlx::query("UPDATE meta SET value = value WHERE key = 'superadmin_lock'")
            .execute(&mut *$tx)
            .await?;
    };
}

/// Whether removing `$email`'s superadmin powers would leave none enabled.
macro_rules! is_last_superadmin {
    ($tx:ident, $email:expr) => {{
        let others: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM account WHERE super_admin = TRUE AND disabled = FALSE AND email <> $1",
        )
        .bind($email)
        .fetch_one(&mut *$tx)
        .await?;
        others == 0
    }};
}

#[macro_use]
mod accounts;
mod audit;
mod auth;
mod chain;
mod group_commit;
mod groups;
#[macro_use]
mod instance_groups;
mod scim;
pub mod sink;
mod sso;
mod tokens;
pub mod transfer;
mod verify_sqlite;
mod workspaces;

/// Connection settings for [`SqlStore::connect`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `postgres://…`, or a `sqlite:` URL / file path.
    pub url: String,
    /// Largest number of connections to the database (read pool for SQLite).
    pub max_connections: u32,
    /// How long a statement may run (on SQLite: a read, or the wait for the write lock).
    pub statement_timeout: Duration,
    /// How long to wait for a free connection before a request fails.
    pub acquire_timeout: Duration,
}

/// Where a database URL points, decided before anything is opened or created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A PostgreSQL URL, as given.
    Postgres(String),
    /// A SQLite file; a relative path is taken relative to the data folder.
    Sqlite(std::path::PathBuf),
}

impl DbTarget {
    /// Parses `--database-url`: `postgres://…` or `postgresql://…`, `sqlite:PATH` or
    /// `sqlite://PATH`. Anything else is refused, so that a mistyped URL never becomes a new,
    /// empty SQLite file (with the password in its folder name).
    pub fn parse(url: &str) -> Result<DbTarget, String> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(DbTarget::Postgres(url.to_string()));
        }
        let path = if lower.starts_with("sqlite://") {
            url.get("sqlite://".len()..)
        } else if lower.starts_with("sqlite:") {
            url.get("sqlite:".len()..)
        } else {
            None
        };
        match path {
            Some(p) if !p.is_empty() && !p.contains('?') => Ok(DbTarget::Sqlite(p.into())),
            Some(_) => Err(
                "the SQLite database URL needs a file path, e.g. sqlite:wmill.db \
                 (options after '?' are not supported)"
                    .into(),
            ),
            None => {
                let scheme = url.split_once(':').map_or("", |(s, _)| s);
                let scheme: String = scheme.chars().take(20).collect();
                Err(format!(
                    "the database URL must start with postgres://, postgresql:// or sqlite: \
                     (got the scheme {scheme:?}); leave it unset for the SQLite file in the data folder"
                ))
            }
        }
    }

    /// The target for the log: the SQLite path, or PostgreSQL's host, port, database and
    /// user, never a password.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            DbTarget::Sqlite(p) => format!("SQLite at {}", data_dir.join(p).display()),
            DbTarget::Postgres(url) => match PgConnectOptions::from_str(url) {
                Ok(o) => format!(
                    "PostgreSQL database {:?} on {}:{} as user {:?}",
                    o.get_database().unwrap_or("(default)"),
                    o.get_host(),
                    o.get_port(),
                    o.get_username()
                ),
                Err(_) => "PostgreSQL (unparsable URL)".into(),
            },
        }
    }
}

/// What [`SqlStore::connect`] did to the schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaReport {
    /// The migrations this start applied, in order: `(version, name)`.
    pub applied: Vec<(i64, String)>,
    /// The schema's version now: the highest migration applied.
    pub version: i64,
}

pub(super) enum Db {
    Sqlite {
        read: SqlitePool,
        /// The one write connection: for the migrations and the chain's sealing at start.
        write: SqlitePool,
        /// The same connection, for write transactions, with group commit.
        writer: std::sync::Arc<group_commit::Writer>,
    },
    Postgres(PgPool),
}

/// The SQL store.
pub struct SqlStore {
    pub(super) db: Db,
    /// On SQLite only (see [`AuthCache`]).
    pub(super) cache: Option<AuthCache>,
    /// On PostgreSQL with `--pg-cache=on`, once started (see [`PgCache`]).
    pg_cache: std::sync::OnceLock<Arc<PgCache>>,
    /// On PostgreSQL, once connected with migrations (see `chain.rs`).
    chainer: std::sync::OnceLock<chain::Chainer>,
    /// The SQLite database's lock file, held until the store is closed or dropped.
    lock: std::sync::Mutex<Option<std::fs::File>>,
    /// What connecting did to the schema.
    schema: SchemaReport,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if !matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation()) {
            crate::metrics::get().db_errors.inc();
        }
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Unique,
            // PostgreSQL's statement_timeout (query_canceled), SQLite's interrupt by the
            // progress handler (SQLITE_INTERRUPT, 9).
            sqlx::Error::Database(d)
                if matches!(d.code().as_deref(), Some("57014") | Some("9")) =>
            {
                StoreError::Timeout(e.to_string())
            }
            // PostgreSQL going away: connection exceptions (08), operator intervention
            // such as a shutdown or terminated backend (57P), too many connections (53),
            // or a database that does not accept connections now.
            sqlx::Error::Database(d)
                if d.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")
                }) || d.message().contains("not currently accepting connections") =>
            {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// Takes the lock file next to a SQLite database (`<file>.lock`), held until the store is
/// dropped (or the process exits): a second server on the same database refuses to start
/// instead of silently defeating the first one's cache.
pub(crate) fn lock_sqlite(path: &Path) -> Result<std::fs::File, String> {
    let lock_path = path.with_file_name(format!(
        "{}.lock",
        path.file_name()
            .map_or("wmill.db".into(), |n| n.to_string_lossy())
    ));
    if let Some(dir) = lock_path.parent() {
        crate::files::private_dir(dir)?;
    }
    let file = crate::files::open_private(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another wmill-server is using the SQLite database {} (it holds {}); run one \
             server per SQLite database, or share a PostgreSQL database between several",
            path.display(),
            lock_path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("cannot lock {}: {e}", lock_path.display()))
        }
    }
}

/// A PostgreSQL connection idle this long is checked before use.
const RECHECK_IDLE_CONNECTIONS_AFTER: Duration = Duration::from_secs(1);

/// A SQLite connection idle this long is closed, with its thread and its page cache
/// (sqlx's pool checks every this long: a connection goes within twice it), and opened
/// again when needed (a millisecond or so). A burst of reads opens up to
/// `--db-max-connections` of them; an idle server keeps none.
const SQLITE_IDLE: Duration = Duration::from_secs(15);

/// SQLite virtual-machine steps between two looks at a read's deadline (a few microseconds).
const PROGRESS_STEPS: i32 = 10_000;

/// The migrations of one database: sqlx's migrator, with the files compiled in and their
/// checksums checked against what the database recorded.
fn migrator(postgres: bool) -> Migrator {
    macro_rules! migrations {
        ($dir:literal: $($version:literal $name:literal),* $(,)?) => {
            vec![$(Migration::new(
                $version,
                $name.into(),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(include_str!(concat!("../../../migrations/", $dir, "/", $name, ".sql"))),
                false,
            )),*]
        };
    }
    Migrator::with_migrations(if postgres {
        migrations!("postgres":
            1 "0001_init",
            2 "0002_audit_by_user_time",
            3 "0003_credentials_and_ownership",
            4 "0004_scopes_and_service_accounts",
            5 "0005_instance_groups_and_workspace_settings",
            6 "0006_single_sign_on",
            7 "0007_scim",
            8 "0008_audit_chain",
            9 "0009_audit_sink",
            10 "0010_pg_cache",
            11 "0011_audit_pending",
            12 "0012_cache_notify",
        )
    } else {
        migrations!("sqlite":
            1 "0001_init",
            2 "0002_audit_by_user_time",
            3 "0003_credentials_and_ownership",
            4 "0004_scopes_and_service_accounts",
            5 "0005_instance_groups_and_workspace_settings",
            6 "0006_single_sign_on",
            7 "0007_scim",
            8 "0008_audit_chain",
            9 "0009_audit_sink",
            10 "0010_pg_cache",
            11 "0011_audit_pending",
            12 "0012_cache_notify",
        )
    })
}

/// The versions of this binary's migrations for one database.
pub fn migration_versions(postgres: bool) -> Vec<i64> {
    migrator(postgres).iter().map(|m| m.version).collect()
}

impl SqlStore {
    /// Connects to the database named by `opts.url` and applies pending migrations.
    /// A relative SQLite path is taken relative to `data_dir`.
    pub async fn connect(opts: &DbOptions, data_dir: &Path) -> Result<SqlStore, String> {
        Self::open(opts, data_dir, true).await
    }

    /// Connects without migrating nor chaining anything: for tools that only read
    /// (`wmill-server audit verify`), which must not change what they check.
    pub async fn connect_as_is(opts: &DbOptions, data_dir: &Path) -> Result<SqlStore, String> {
        Self::open(opts, data_dir, false).await
    }

    async fn open(opts: &DbOptions, data_dir: &Path, migrate: bool) -> Result<SqlStore, String> {
        let mut store = match DbTarget::parse(&opts.url)? {
            DbTarget::Postgres(url) => {
                let mut pg = PgConnectOptions::from_str(&url)
                    .map_err(|e| format!("invalid database URL: {e}"))?;
                let timeout_ms = opts.statement_timeout.as_millis().to_string();
                pg = pg.options([("statement_timeout", timeout_ms.as_str())]);
                // sqlx checks a connection with a round trip when it goes back to the pool
                // and, by default, again when it is taken out: a second round trip per query,
                // microseconds after the first. Only a connection that sat idle a while (long
                // enough for the database to have restarted under it) is checked again.
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= RECHECK_IDLE_CONNECTIONS_AFTER {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(pg)
                    .await
                    .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
                SqlStore {
                    db: Db::Postgres(pool),
                    cache: None,
                    pg_cache: std::sync::OnceLock::new(),
                    chainer: std::sync::OnceLock::new(),
                    lock: std::sync::Mutex::new(None),
                    schema: SchemaReport::default(),
                }
            }
            DbTarget::Sqlite(path) => {
                let path = data_dir.join(path);
                let lock = lock_sqlite(&path)?;
                // Created owner-only before SQLite opens it: its -wal and -shm files take
                // the database file's permissions.
                crate::files::open_private(&path)?;
                for suffix in ["-wal", "-shm"] {
                    let mut name = path.clone().into_os_string();
                    name.push(suffix);
                    crate::files::tighten_if_present(Path::new(&name))?;
                }
                let base = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(opts.statement_timeout)
                    .foreign_keys(true);
                // A file does not hang up: no check before each use (a round trip to the
                // connection's worker thread).
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(SQLITE_IDLE)
                    .acquire_timeout(opts.acquire_timeout)
                    .test_before_acquire(false)
                    .connect_with(base.clone())
                    .await
                    .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
                // Every read gets a deadline when its connection is taken out of the pool: a
                // progress handler interrupts a statement that runs past it.
                let limit = opts.statement_timeout;
                let read = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .idle_timeout(SQLITE_IDLE)
                    .acquire_timeout(opts.acquire_timeout)
                    .test_before_acquire(false)
                    .before_acquire(move |conn, _| {
                        Box::pin(async move {
                            let deadline = Instant::now() + limit;
                            conn.lock_handle()
                                .await?
                                .set_progress_handler(PROGRESS_STEPS, move || {
                                    Instant::now() < deadline
                                });
                            Ok(true)
                        })
                    })
                    // A connection opened for an acquire is not passed to `before_acquire`:
                    // its first read gets its deadline here.
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            let deadline = Instant::now() + limit;
                            conn.lock_handle()
                                .await?
                                .set_progress_handler(PROGRESS_STEPS, move || {
                                    Instant::now() < deadline
                                });
                            Ok(())
                        })
                    })
                    .connect_with(base.read_only(true))
                    .await
                    .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
                SqlStore {
                    db: Db::Sqlite {
                        read,
                        writer: group_commit::Writer::new(write.clone()),
                        write,
                    },
                    cache: Some(AuthCache::default()),
                    pg_cache: std::sync::OnceLock::new(),
                    chainer: std::sync::OnceLock::new(),
                    lock: std::sync::Mutex::new(Some(lock)),
                    schema: SchemaReport::default(),
                }
            }
        };
        if !migrate {
            return Ok(store);
        }
        store.schema = store
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate the database: {e}"))?;
        store
            .seal_if_new()
            .await
            .map_err(|e| format!("cannot chain the audit log: {e}"))?;
        if let Db::Postgres(pool) = &store.db {
            let _ = store.chainer.set(chain::Chainer::start(pool.clone()));
        }
        // The migrations and the chain's check read every table: their pages need not stay
        // in the connections' caches of an idle server.
        if let Db::Sqlite { read, write, .. } = &store.db {
            for pool in [write, read] {
                let _ = sqlx::raw_sql("PRAGMA shrink_memory").execute(pool).await;
            }
        }
        Ok(store)
    }

    /// What connecting did to the schema: the migrations applied, the version now.
    pub fn schema(&self) -> &SchemaReport {
        &self.schema
    }

    /// Applies pending migrations with sqlx's migrator (under its lock: an advisory lock on
    /// PostgreSQL, so that instances starting together migrate once). A database made by
    /// the server's first, hand-written migration runner (a `schema_migrations` table) is
    /// adopted: the versions it applied are recorded as applied, then the rest run.
    /// Returns the migrations that ran (not those adopted) and the version reached.
    async fn migrate(&self) -> Result<SchemaReport, StoreError> {
        let migrator = migrator(self.is_postgres());
        let legacy_exists = if self.is_postgres() {
            "SELECT (to_regclass('schema_migrations') IS NOT NULL \
             AND to_regclass('_sqlx_migrations') IS NULL)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations') \
             AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')"
        };
        // One connection throughout; on PostgreSQL it first takes the advisory lock the old
        // runner took, so that an instance adopting the old table, an instance of the old
        // version and one migrating normally never interleave.
        macro_rules! run {
            ($conn:expr) => {{
                let conn = $conn;
                let legacy: bool = sqlx::query_scalar(legacy_exists)
                    .fetch_one(&mut *conn)
                    .await?;
                if legacy {
                    let applied: Option<i64> =
                        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
                            .fetch_one(&mut *conn)
                            .await?;
                    migrator
                        .skip(&mut *conn, Some(applied.unwrap_or(0)))
                        .await?;
                    sqlx::query("DROP TABLE schema_migrations")
                        .execute(&mut *conn)
                        .await?;
                }
                conn.ensure_migrations_table(&migrator.table_name).await?;
                let before: std::collections::HashSet<i64> = conn
                    .list_applied_migrations(&migrator.table_name)
                    .await?
                    .into_iter()
                    .map(|m| m.version)
                    .collect();
                migrator.run(&mut *conn).await?;
                SchemaReport {
                    applied: migrator
                        .iter()
                        .filter(|m| !before.contains(&m.version))
                        .map(|m| (m.version, m.description.to_string()))
                        .collect(),
                    version: migrator.iter().map(|m| m.version).max().unwrap_or(0),
                }
            }};
        }
        let report = match &self.db {
            Db::Sqlite { write, .. } => {
                let mut conn = write.acquire().await?;
                run!(&mut *conn)
            }
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock(7012026)")
                    .execute(&mut *conn)
                    .await?;
                let ran: Result<SchemaReport, StoreError> = async { Ok(run!(&mut *conn)) }.await;
                sqlx::query("SELECT pg_advisory_unlock(7012026)")
                    .execute(&mut *conn)
                    .await?;
                ran?
            }
        };
        self.forget_cached();
        Ok(report)
    }

    /// Each pool's connections: `(name, open, idle)`.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, usize)> {
        match &self.db {
            Db::Sqlite { read, write, .. } => vec![
                ("sqlite_read", read.size(), read.num_idle()),
                ("sqlite_write", write.size(), write.num_idle()),
            ],
            Db::Postgres(pool) => vec![("postgres", pool.size(), pool.num_idle())],
        }
    }

    /// Whether this store runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Whether authentication reads are cached: on SQLite (this server is alone), and on
    /// PostgreSQL once [`SqlStore::start_pg_cache`] was called (whether or not the cache
    /// may answer at this moment).
    pub fn caches_auth(&self) -> bool {
        self.cache_fill().is_some()
    }

    /// Whether the cache may answer now (SQLite: always; PostgreSQL: while it holds a
    /// lease and listens, see `store/pg_cache.rs`).
    pub fn cache_answers(&self) -> bool {
        self.cache_read().is_some()
    }

    /// The group-list cache's size in bytes (estimated), 0 without a cache.
    pub fn cached_group_bytes(&self) -> usize {
        self.cache_fill().map_or(0, AuthCache::group_bytes)
    }

    /// Cached tokens, accounts and memberships (0 without a cache).
    pub fn cached_entries(&self) -> (usize, usize, usize) {
        self.cache_fill().map_or((0, 0, 0), AuthCache::sizes)
    }

    /// On PostgreSQL: starts the coherent cache (`--pg-cache=on`): from its first lease on,
    /// this instance caches what authentication reads and group lists. Does nothing on
    /// SQLite (always cached) or when already started.
    pub fn start_pg_cache(&self) {
        if let Db::Postgres(pool) = &self.db {
            self.pg_cache.get_or_init(|| PgCache::start(pool));
        }
    }

    /// The cache to look up, if it may answer now.
    pub(super) fn cache_read(&self) -> Option<&AuthCache> {
        match &self.cache {
            Some(c) => Some(c),
            None => self.pg_cache.get().and_then(|p| p.serving()),
        }
    }

    /// The cache to note a generation in and store reads into (whether it may answer or
    /// not: it answers again only after it was emptied).
    pub(super) fn cache_fill(&self) -> Option<&AuthCache> {
        match &self.cache {
            Some(c) => Some(c),
            None => self.pg_cache.get().map(|p| p.cache()),
        }
    }

    pub(super) fn forget_cached(&self) {
        if let Some(c) = self.cache_fill() {
            c.invalidate();
        }
    }

    pub(super) fn forget_cached_groups(&self) {
        if let Some(c) = self.cache_fill() {
            c.invalidate_groups();
        }
    }

    /// After a committed write that published an invalidation (`cache_notify()`): waits
    /// for every other instance that may serve from its cache to apply it (see
    /// `store/pg_cache.rs`).
    pub(super) async fn await_invalidated(&self) -> StoreResult<()> {
        match &self.db {
            Db::Postgres(pool) => {
                let me = self.pg_cache.get().map_or(0, |p| p.id());
                super::pg_cache::await_acks(pool, me).await
            }
            Db::Sqlite { .. } => Ok(()),
        }
    }

    /// The cache's generation before a read, to store what it reads afterwards.
    pub(super) fn cache_generation(&self) -> u64 {
        self.cache_fill().map_or(0, AuthCache::generation)
    }

    /// Rows per table and the highest audit id: a fingerprint for tests that check that
    /// a refused request changed nothing.
    pub async fn fingerprint(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const TABLES: [&str; 14] = [
            "account",
            "username",
            "workspace",
            "member",
            "grp",
            "group_member",
            "group_acl",
            "token",
            "audit",
            "login_throttle",
            "instance_group",
            "instance_group_member",
            "workspace_instance_group",
            "scim_token",
        ];
        let mut out = Vec::new();
        for t in TABLES {
            let sql = AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}"));
            let n: i64 = read!(self, |c| sqlx::query_scalar(sql).fetch_one(c).await?);
            out.push((t.to_string(), n));
        }
        let max: Option<i64> = read!(self, |c| sqlx::query_scalar("SELECT MAX(id) FROM audit")
            .fetch_one(c)
            .await?);
        out.push(("audit.max_id".into(), max.unwrap_or(0)));
        Ok(out)
    }

    /// Closes every connection (graceful shutdown) and lets go of a SQLite database's lock
    /// file, so that another server may open it.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => {
                if let Some(p) = self.pg_cache.get() {
                    p.close(pool).await;
                }
                pool.close().await
            }
        }
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::DbTarget;

    #[test]
    fn database_urls_name_a_known_database() {
        assert_eq!(
            DbTarget::parse("postgres://u:p@h/db").unwrap(),
            DbTarget::Postgres("postgres://u:p@h/db".into())
        );
        assert!(matches!(
            DbTarget::parse("POSTGRESQL://h/db"),
            Ok(DbTarget::Postgres(_))
        ));
        assert_eq!(
            DbTarget::parse("sqlite:data.db").unwrap(),
            DbTarget::Sqlite("data.db".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:///var/lib/w.db").unwrap(),
            DbTarget::Sqlite("/var/lib/w.db".into())
        );
        for bad in [
            "postgress://u:secret@h/db",
            "mysql://h/db",
            "wmill.db",
            "/var/lib/wmill.db",
            "sqlite:",
            "sqlite:x.db?mode=ro",
            "",
        ] {
            let e = DbTarget::parse(bad).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn a_postgres_url_is_described_without_its_password() {
        let d = DbTarget::Postgres("postgres://bob:hunter2@db.example:6543/wmill".into())
            .describe(std::path::Path::new("."));
        assert!(d.contains("db.example:6543") && d.contains("wmill") && d.contains("bob"));
        assert!(!d.contains("hunter2"), "{d}");
        // In the query string, percent-encoded, or in a URL that does not parse.
        for url in [
            "postgres://bob@db.example/wmill?password=hunter2&sslmode=require",
            "postgresql://bob:hun%74er2@db.example/wmill",
            "postgres://bob:hunter2@db.example:notaport/wmill",
            "postgres://bob:hunter2@[::1/wmill",
        ] {
            let d = DbTarget::parse(url)
                .unwrap()
                .describe(std::path::Path::new("."));
            assert!(d.starts_with("PostgreSQL"), "{d}");
            assert!(!d.contains("hunter2") && !d.contains("hun%74er2"), "{d}");
        }
    }
}
