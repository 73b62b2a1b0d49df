//! The SQL implementation of [`Store`], for SQLite (embedded, WAL mode) and PostgreSQL.
//!
//! The SQL is written once: it sticks to what both databases accept (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`, integer timestamps, JSON as text), and the macros below run
//! each body against whichever pool is configured, so both backends are typed and checked
//! by the compiler without `sqlx::Any`. What differs (schema DDL, migration locking, pool
//! layout) is kept apart in [`SqlStore::connect`] and the migration files.
//!
//! SQLite allows one writer at a time, so writes go through a pool of one connection
//! (requests queue in-process instead of failing with `SQLITE_BUSY`), while reads use a
//! pool of their own. The store holds a lock file next to a SQLite database, so that one
//! server at most uses it; being provably alone, it caches what authentication reads and
//! group lists ([`AuthCache`], emptied by every write that may change them).

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::cache::AuthCache;
use super::*;
use crate::domain::Username;

/// Migrations, in order: (version, DDL). The DDL is shared by both databases; its one
/// dialect difference, the auto-incrementing id column, is written `__AUTO_ID__`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/0002_audit_by_user_time.sql"),
    ),
];

/// Connection settings for [`SqlStore::connect`].
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `postgres://…`, or a SQLite file path / `sqlite://` URL.
    pub url: String,
    /// Largest number of connections to the database (read pool for SQLite).
    pub max_connections: u32,
    /// How long a statement may run (PostgreSQL) or wait for the write lock (SQLite).
    pub statement_timeout: Duration,
    /// How long to wait for a free connection before a request fails.
    pub acquire_timeout: Duration,
}

enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

/// The SQL store.
pub struct SqlStore {
    db: Db,
    /// On SQLite only (see [`AuthCache`]).
    cache: Option<AuthCache>,
    /// The SQLite database's lock file, held while the store lives.
    _lock: Option<std::fs::File>,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Unique,
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
/// empties the authentication cache. An early return or `?` drops the transaction, which
/// rolls it back (nothing changed, nothing to forget).
macro_rules! write_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { write, .. } => {
                let mut $tx = write.begin().await?;
                let out = $body;
                let committed = $tx.commit().await;
                // Before anyone is answered, even if the commit reported an error.
                $self.forget_cached();
                committed?;
                Ok(out)
            }
            Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
        }
    };
}

/// Like `write_tx!` but leaves the authentication cache as it is: only for transactions
/// that add rows the cache cannot hold (new tokens, audit entries) or change columns it
/// does not hold (`last_used_at`). Anything else goes through `write_tx!`.
macro_rules! insert_tx {
    ($self:ident, |$tx:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { write, .. } => {
                let mut $tx = write.begin().await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
            Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                Ok(out)
            }
        }
    };
}

/// Inserts an audit entry inside the transaction `$tx`.
macro_rules! insert_audit {
    ($tx:ident, $a:expr) => {{
        let a: &NewAudit = &$a;
        sqlx::query(
            "INSERT INTO audit (workspace_id, timestamp, username, email, operation, action_kind, \
             resource, parameters) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&a.workspace_id)
        .bind(a.timestamp)
        .bind(&a.username)
        .bind(&a.email)
        .bind(a.operation)
        .bind(a.action_kind.as_str())
        .bind(&a.resource)
        .bind(a.parameters.as_ref().map(|p| p.to_string()))
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Inserts a token row inside `$tx`.
macro_rules! insert_token {
    ($tx:ident, $t:expr) => {{
        let t: &NewTokenRow = &$t;
        sqlx::query(
            "INSERT INTO token (hash, prefix, email, label, expiration, workspace_id, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&t.hash)
        .bind(&t.prefix)
        .bind(&t.email)
        .bind(&t.label)
        .bind(t.expiration)
        .bind(&t.workspace_id)
        .bind(t.created_at)
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
                let taken: HashSet<String> = taken.into_iter().collect();
                Ok(Username::pick_free(&base, &taken).as_str().to_string())
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

/// Whether group `$group` of workspace `$ws` exists, read inside `$tx`.
macro_rules! group_exists {
    ($tx:ident, $ws:expr, $group:expr) => {{
        let g: Option<String> =
            sqlx::query_scalar("SELECT name FROM grp WHERE workspace_id = $1 AND name = $2")
                .bind($ws)
                .bind($group)
                .fetch_optional(&mut *$tx)
                .await?;
        g.is_some()
    }};
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

enum Bind {
    S(String),
    I(i64),
}

const AUDIT_COLUMNS: &str =
    "id, workspace_id, timestamp, username, email, operation, action_kind, resource, parameters";

/// Appends `f`'s conditions to `sql`; with `only_op`, the operation conditions become
/// `operation = only_op`.
fn audit_conditions(
    sql: &mut String,
    binds: &mut Vec<Bind>,
    f: &AuditFilter,
    only_op: Option<&str>,
) {
    let mut push = |sql: &mut String, clause: &str, b: Bind| {
        binds.push(b);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(ws) = &f.workspace_id {
        push(sql, " AND workspace_id = ?", Bind::S(ws.clone()));
    }
    if let Some(u) = &f.username {
        push(sql, " AND username = ?", Bind::S(u.clone()));
    }
    if let Some(t) = f.before {
        push(sql, " AND timestamp <= ?", Bind::I(t));
    }
    if let Some(t) = f.after {
        push(sql, " AND timestamp > ?", Bind::I(t));
    }
    if let Some(op) = only_op {
        push(sql, " AND operation = ?", Bind::S(op.to_string()));
    } else {
        if let Some(op) = &f.operation {
            // Exact, or a dotted prefix: `users` matches `users.x` — the range
            // ["users.", "users/") is index-friendly on both databases ('/' follows '.').
            push(sql, " AND (operation = ?", Bind::S(op.clone()));
            push(sql, " OR (operation >= ?", Bind::S(format!("{op}.")));
            push(sql, " AND operation < ?))", Bind::S(format!("{op}/")));
        }
        if !f.operations.is_empty() {
            sql.push_str(" AND operation IN (");
            for (i, op) in f.operations.iter().enumerate() {
                push(sql, if i == 0 { "?" } else { ", ?" }, Bind::S(op.clone()));
            }
            sql.push(')');
        }
    }
    for op in &f.exclude_operations {
        push(sql, " AND operation <> ?", Bind::S(op.clone()));
    }
    if let Some(r) = &f.resource {
        push(sql, " AND resource = ?", Bind::S(r.clone()));
    }
    if let Some(k) = f.action_kind {
        push(sql, " AND action_kind = ?", Bind::S(k.as_str().to_string()));
    }
    if let Some(id) = f.before_id {
        push(sql, " AND id < ?", Bind::I(id));
    }
}

/// Builds the audit list query: `(sql, binds)`. With `branches` (the operations a prefix or
/// a list stands for, see `list_audit`), one branch per operation, each served in id order
/// by the `(workspace_id, operation, id)` index and cut at `offset + limit` rows, merged:
/// the cost no longer depends on how rare the operations are or on the planner's guesses
/// (one plan of `operation IN (…) ORDER BY id` sorts every matching row).
fn audit_query(f: &AuditFilter, branches: Option<&[String]>, sqlite: bool) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut sql = String::new();
    // A user's entries are read through `audit_by_user` (workspace, username, id, timestamp)
    // newest first: a page stops the scan, and `after`/`before` are checked in the index.
    // SQLite keeps no statistics (the server does not run ANALYZE, and sampled ones mislead
    // it on this skewed data), so without the hint it may read a time range and sort it
    // (30 ms for a week of 1 M entries); PostgreSQL's planner has statistics and chooses.
    let from = if sqlite && f.workspace_id.is_some() && f.username.is_some() {
        "audit INDEXED BY audit_by_user"
    } else {
        "audit"
    };
    match branches {
        None => {
            sql.push_str(&format!("SELECT {AUDIT_COLUMNS} FROM {from} WHERE 1 = 1"));
            audit_conditions(&mut sql, &mut binds, f, None);
        }
        Some(ops) => {
            for (i, op) in ops.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" UNION ALL ");
                }
                sql.push_str(&format!(
                    "SELECT * FROM (SELECT {AUDIT_COLUMNS} FROM {from} WHERE 1 = 1"
                ));
                audit_conditions(&mut sql, &mut binds, f, Some(op));
                binds.push(Bind::I(f.offset.saturating_add(f.limit)));
                sql.push_str(&format!(
                    " ORDER BY id DESC LIMIT ${}) AS b{i}",
                    binds.len()
                ));
            }
        }
    }
    binds.push(Bind::I(f.limit));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", binds.len()));
    binds.push(Bind::I(f.offset));
    sql.push_str(&format!(" OFFSET ${}", binds.len()));
    (sql, binds)
}

/// Most branches an audit query is split into; past that, one query.
const MAX_AUDIT_BRANCHES: usize = 64;

const ACCOUNT_COLUMNS: &str = "a.email, a.password_hash, a.super_admin, a.name, a.company, a.disabled, \
     a.first_time_user, u.username, a.created_at FROM account a LEFT JOIN username u ON u.email = a.email";

/// What authenticating a token reads (`TokenAuthRow`), and from where.
const TOKEN_AUTH: &str = "t.email, t.prefix, t.label, t.expiration, t.workspace_id, \
     a.super_admin, a.disabled, a.name, a.company, a.first_time_user, u.username";
const TOKEN_AUTH_FROM: &str = "FROM token t JOIN account a ON a.email = t.email \
     LEFT JOIN username u ON u.email = a.email";

/// `TokenAuthRow` with a membership (all `None` for a non-member) and the workspace's
/// existence.
#[derive(sqlx::FromRow)]
struct WorkspaceAuthRow {
    #[sqlx(flatten)]
    token: TokenAuthRow,
    m_username: Option<String>,
    m_is_admin: Option<bool>,
    m_operator: Option<bool>,
    m_disabled: Option<bool>,
    m_created_at: Option<i64>,
    workspace_exists: bool,
}

const MEMBER_COLUMNS: &str =
    "workspace_id, username, email, is_admin, operator, disabled, created_at FROM member";

/// Takes the lock file next to a SQLite database (`<file>.lock`), held until the store is
/// dropped (or the process exits): a second server on the same database refuses to start
/// instead of silently defeating the first one's cache.
fn lock_sqlite(path: &Path) -> Result<std::fs::File, String> {
    let lock_path = path.with_file_name(format!(
        "{}.lock",
        path.file_name()
            .map_or("wmill.db".into(), |n| n.to_string_lossy())
    ));
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", lock_path.display()))?;
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

impl SqlStore {
    /// Connects to the database named by `opts.url` and applies pending migrations.
    /// A relative SQLite path is taken relative to `data_dir`.
    pub async fn connect(opts: &DbOptions, data_dir: &Path) -> Result<SqlStore, String> {
        let url = opts.url.as_str();
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut pg = PgConnectOptions::from_str(url)
                .map_err(|e| format!("invalid database URL: {e}"))?;
            let timeout_ms = opts.statement_timeout.as_millis().to_string();
            pg = pg.options([("statement_timeout", timeout_ms.as_str())]);
            // sqlx checks a connection with a round trip when it goes back to the pool and,
            // by default, again when it is taken out: a second round trip per query, microseconds
            // after the first. Only a connection that sat idle a while (long enough for the
            // database to have restarted under it) is checked again.
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
                _lock: None,
            }
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let path = data_dir.join(path);
            let lock = lock_sqlite(&path)?;
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
                .acquire_timeout(opts.acquire_timeout)
                .test_before_acquire(false)
                .connect_with(base.clone())
                .await
                .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
            let read = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .test_before_acquire(false)
                .connect_with(base.read_only(true))
                .await
                .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
            SqlStore {
                db: Db::Sqlite { read, write },
                cache: Some(AuthCache::default()),
                _lock: Some(lock),
            }
        };
        store
            .migrate()
            .await
            .map_err(|e| format!("cannot migrate the database: {e}"))?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let postgres = self.is_postgres();
        write_tx!(self, |tx| {
            if postgres {
                // Several instances may start at once: one migrates, the others wait.
                sqlx::query("SELECT pg_advisory_xact_lock(7012026)")
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
            )
            .execute(&mut *tx)
            .await?;
            for (version, ddl) in MIGRATIONS {
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                        .bind(version)
                        .fetch_optional(&mut *tx)
                        .await?;
                if done.is_none() {
                    let ddl = ddl.replace(
                        "__AUTO_ID__",
                        if postgres {
                            "BIGSERIAL PRIMARY KEY"
                        } else {
                            "INTEGER PRIMARY KEY AUTOINCREMENT"
                        },
                    );
                    sqlx::raw_sql(AssertSqlSafe(ddl)).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('superadmin_lock', '') ON CONFLICT (key) DO NOTHING",
            )
            .execute(&mut *tx)
            .await?;
        })
    }

    /// Whether this store runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Whether authentication reads are cached (SQLite: this server is alone).
    pub fn caches_auth(&self) -> bool {
        self.cache.is_some()
    }

    fn forget_cached(&self) {
        if let Some(c) = &self.cache {
            c.invalidate();
        }
    }

    /// The cache's generation before a read, to store what it reads afterwards.
    fn cache_generation(&self) -> u64 {
        self.cache.as_ref().map_or(0, AuthCache::generation)
    }

    /// Rows per table and the highest audit id: a fingerprint for tests that check that
    /// a refused request changed nothing.
    pub async fn fingerprint(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const TABLES: [&str; 8] = [
            "account",
            "username",
            "workspace",
            "member",
            "grp",
            "group_member",
            "token",
            "audit",
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

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn healthy(&self) -> bool {
        read!(self, |c| sqlx::query("SELECT 1").execute(c).await.is_ok())
    }

    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let claimed = sqlx::query("INSERT INTO meta (key, value) VALUES ('bootstrapped', $1) ON CONFLICT (key) DO NOTHING")
                .bind(b.admin.created_at.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                return Ok(false);
            }
            let a = &b.admin;
            sqlx::query(
                "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, first_time_user, created_at) \
                 VALUES ($1, $2, TRUE, $3, $4, FALSE, TRUE, $5)",
            )
            .bind(&a.email)
            .bind(&a.password_hash)
            .bind(&a.name)
            .bind(&a.company)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await?;
            let system = |op: &'static str, kind, resource: &str, ws: &str| NewAudit {
                workspace_id: ws.to_string(),
                timestamp: a.created_at,
                username: "system".into(),
                email: None,
                operation: op,
                action_kind: kind,
                resource: Some(resource.to_string()),
                parameters: None,
            };
            insert_audit!(
                tx,
                system(
                    "users.add_global",
                    ActionKind::Create,
                    &a.email,
                    wmill_api::GLOBAL_WORKSPACE
                )
            );
            let creator = NewMember {
                email: a.email.clone(),
                username: UsernameChoice::Derive(b.username_base.clone()),
                is_admin: true,
                operator: false,
                created_at: a.created_at,
            };
            let ws = WorkspaceRow {
                id: b.workspace_id.clone(),
                name: b.workspace_name.clone(),
                owner: a.email.clone(),
            };
            sqlx::query("INSERT INTO workspace (id, name, owner) VALUES ($1, $2, $3)")
                .bind(&ws.id)
                .bind(&ws.name)
                .bind(&ws.owner)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO grp (workspace_id, name, summary, extra_perms) VALUES ($1, 'all', $2, '{}')")
                .bind(&ws.id)
                .bind("The group that always contains all users of this workspace")
                .execute(&mut *tx)
                .await?;
            let username = match assign_username!(tx, &creator.email, creator.username.clone()) {
                Ok(u) => u,
                Err(e) => return Err(StoreError::Other(format!("bootstrap username: {e:?}"))),
            };
            insert_member!(tx, &ws.id, &username, creator);
            insert_audit!(
                tx,
                system(
                    "workspaces.create",
                    ActionKind::Create,
                    &ws.id,
                    wmill_api::GLOBAL_WORKSPACE
                )
            );
            true
        })
    }

    async fn token_auth(&self, hash: &str) -> StoreResult<Option<TokenAuthRow>> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.token(hash)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<TokenAuthRow> = read!(self, |c| {
            sqlx::query_as::<_, TokenAuthRow>(AssertSqlSafe(format!(
                "SELECT {TOKEN_AUTH} {TOKEN_AUTH_FROM} WHERE t.hash = $1"
            )))
            .bind(hash)
            .fetch_optional(c)
            .await?
        });
        if let (Some(c), Some(r)) = (&self.cache, &row) {
            c.put_token(since, hash, r);
        }
        Ok(row)
    }

    async fn token_auth_in(&self, hash: &str, ws: &str) -> StoreResult<Option<WorkspaceAuth>> {
        if self.cache.is_some() {
            // Each part from the cache, or filling it.
            let Some(token) = self.token_auth(hash).await? else {
                return Ok(None);
            };
            let member = self.member(ws, &token.email).await?;
            let workspace_exists = member.is_some() || self.workspace(ws).await?.is_some();
            return Ok(Some(WorkspaceAuth {
                token,
                member,
                workspace_exists,
            }));
        }
        // No cache (PostgreSQL): one round trip instead of three.
        let row: Option<WorkspaceAuthRow> = read!(self, |c| sqlx::query_as::<_, WorkspaceAuthRow>(
            AssertSqlSafe(format!(
                "SELECT {TOKEN_AUTH}, m.username AS m_username, m.is_admin AS m_is_admin, \
                 m.operator AS m_operator, m.disabled AS m_disabled, m.created_at AS m_created_at, \
                 EXISTS (SELECT 1 FROM workspace w WHERE w.id = $2) AS workspace_exists \
                 {TOKEN_AUTH_FROM} LEFT JOIN member m ON m.workspace_id = $2 AND m.email = t.email \
                 WHERE t.hash = $1"
            ))
        )
        .bind(hash)
        .bind(ws)
        .fetch_optional(c)
        .await?);
        Ok(row.map(|r| {
            let member = match (
                r.m_username,
                r.m_is_admin,
                r.m_operator,
                r.m_disabled,
                r.m_created_at,
            ) {
                (
                    Some(username),
                    Some(is_admin),
                    Some(operator),
                    Some(disabled),
                    Some(created_at),
                ) => Some(MemberRow {
                    workspace_id: ws.to_string(),
                    username,
                    email: r.token.email.clone(),
                    is_admin,
                    operator,
                    disabled,
                    created_at,
                }),
                _ => None,
            };
            WorkspaceAuth {
                token: r.token,
                member,
                workspace_exists: r.workspace_exists,
            }
        }))
    }

    async fn touch_tokens(&self, used: Vec<(String, Micros)>) -> StoreResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        insert_tx!(self, |tx| {
            for (hash, at) in &used {
                sqlx::query(
                    "UPDATE token SET last_used_at = $1 WHERE hash = $2 AND last_used_at < $1",
                )
                .bind(at)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
            }
        })
    }

    async fn account(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.account(email)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<AccountRow> = read!(self, |c| sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} WHERE a.email = $1"))
        )
        .bind(email)
        .fetch_optional(c)
        .await?);
        if let (Some(c), Some(r)) = (&self.cache, &row) {
            c.put_account(since, email, r);
        }
        Ok(row)
    }

    async fn list_accounts(&self, offset: i64, limit: i64) -> StoreResult<Vec<AccountRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AccountRow>(
            AssertSqlSafe(format!(
                "SELECT {ACCOUNT_COLUMNS} ORDER BY a.super_admin DESC, a.email LIMIT $1 OFFSET $2"
            ))
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?))
    }

    async fn create_account(&self, a: NewAccount, audit: NewAudit) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO account (email, password_hash, super_admin, name, company, disabled, first_time_user, created_at) \
                 VALUES ($1, $2, $3, $4, $5, FALSE, TRUE, $6)",
            )
            .bind(&a.email)
            .bind(&a.password_hash)
            .bind(a.super_admin)
            .bind(&a.name)
            .bind(&a.company)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await?;
            insert_audit!(tx, audit);
        })
    }

    async fn update_account(
        &self,
        email: &str,
        c: AccountChanges,
        audit: NewAudit,
    ) -> StoreResult<AccountOutcome> {
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let cur: Option<(bool, bool)> =
                sqlx::query_as("SELECT super_admin, disabled FROM account WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((is_super, is_disabled)) = cur else {
                return Ok(AccountOutcome::NotFound);
            };
            let loses_power = is_super
                && !is_disabled
                && (c.super_admin == Some(false) || c.disabled == Some(true));
            if loses_power && is_last_superadmin!(tx, email) {
                return Ok(AccountOutcome::LastSuperadmin);
            }
            sqlx::query(
                "UPDATE account SET super_admin = COALESCE($2, super_admin), name = COALESCE($3, name), \
                 company = COALESCE($4, company), disabled = COALESCE($5, disabled) WHERE email = $1",
            )
            .bind(email)
            .bind(c.super_admin)
            .bind(&c.name)
            .bind(&c.company)
            .bind(c.disabled)
            .execute(&mut *tx)
            .await?;
            if c.disabled == Some(true) {
                sqlx::query("DELETE FROM token WHERE email = $1")
                    .bind(email)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_audit!(tx, audit);
            AccountOutcome::Done
        })
    }

    async fn delete_account(&self, email: &str, audit: NewAudit) -> StoreResult<AccountOutcome> {
        write_tx!(self, |tx| {
            lock_superadmins!(tx);
            let cur: Option<(bool, bool)> =
                sqlx::query_as("SELECT super_admin, disabled FROM account WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((is_super, is_disabled)) = cur else {
                return Ok(AccountOutcome::NotFound);
            };
            if is_super && !is_disabled && is_last_superadmin!(tx, email) {
                return Ok(AccountOutcome::LastSuperadmin);
            }
            sqlx::query("DELETE FROM token WHERE email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM group_member WHERE EXISTS (SELECT 1 FROM member m WHERE m.email = $1 \
                 AND m.workspace_id = group_member.workspace_id AND m.username = group_member.username)",
            )
            .bind(email)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM member WHERE email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM username WHERE email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM account WHERE email = $1")
                .bind(email)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            AccountOutcome::Done
        })
    }

    async fn set_password(
        &self,
        email: &str,
        hash: &str,
        audit: Option<NewAudit>,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query("UPDATE account SET password_hash = $2 WHERE email = $1")
                .bind(email)
                .bind(hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            if let Some(a) = audit {
                insert_audit!(tx, a);
            }
            true
        })
    }

    async fn login(
        &self,
        t: NewTokenRow,
        rehash: Option<String>,
        first_login: bool,
        audit: NewAudit,
    ) -> StoreResult<()> {
        // Most logins only add a token and an audit entry and keep the cache; a first login
        // or an upgraded hash changes the account, which is then forgotten. (Nothing sets
        // `first_time_user` again, so an account read without it needs no UPDATE: one round
        // trip less per login.)
        let changed: StoreResult<bool> = insert_tx!(self, |tx| {
            if let Some(h) = &rehash {
                sqlx::query("UPDATE account SET password_hash = $2 WHERE email = $1")
                    .bind(&t.email)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
            }
            let first = if first_login {
                sqlx::query("UPDATE account SET first_time_user = FALSE WHERE email = $1 AND first_time_user = TRUE")
                    .bind(&t.email)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            insert_token!(tx, t);
            insert_audit!(tx, audit);
            rehash.is_some() || first > 0
        });
        if !matches!(changed, Ok(false)) {
            self.forget_cached();
        }
        changed.map(|_| ())
    }

    async fn create_token(&self, t: NewTokenRow, audit: NewAudit) -> StoreResult<()> {
        insert_tx!(self, |tx| {
            insert_token!(tx, t);
            insert_audit!(tx, audit);
        })
    }

    async fn list_tokens(
        &self,
        email: &str,
        exclude_ephemeral: bool,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<TokenRow>> {
        let filter = if exclude_ephemeral {
            " AND (label IS NULL OR label <> 'ephemeral-script')"
        } else {
            ""
        };
        read!(self, |c| {
            Ok(sqlx::query_as::<_, TokenRow>(AssertSqlSafe(format!(
            "SELECT prefix, label, expiration, created_at, last_used_at, workspace_id FROM token \
             WHERE email = $1{filter} ORDER BY created_at DESC, prefix LIMIT $2 OFFSET $3"
        )))
        .bind(email)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?)
        })
    }

    async fn delete_tokens(
        &self,
        email: &str,
        which: TokenSelector,
        audit: NewAudit,
    ) -> StoreResult<TokenDeletion> {
        write_tx!(self, |tx| {
            let (column, value) = match &which {
                TokenSelector::Hash(h) => ("hash", h.as_str()),
                TokenSelector::Prefix(p) => ("prefix", p.as_str()),
            };
            let found: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT hash, prefix FROM token WHERE email = $1 AND {column} = $2"
            )))
            .bind(email)
            .bind(value)
            .fetch_all(&mut *tx)
            .await?;
            match found.len() {
                0 => return Ok(TokenDeletion::NotFound),
                1 => {}
                n => return Ok(TokenDeletion::Ambiguous(n)),
            }
            sqlx::query("DELETE FROM token WHERE hash = $1")
                .bind(&found[0].0)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            TokenDeletion::Deleted(found.into_iter().map(|(_, p)| p).collect())
        })
    }

    async fn revoke_token(&self, hash: &str, audit: NewAudit) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query("DELETE FROM token WHERE hash = $1")
                .bind(hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                insert_audit!(tx, audit);
            }
            n > 0
        })
    }

    async fn workspace(&self, id: &str) -> StoreResult<Option<WorkspaceRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, WorkspaceRow>(
            "SELECT id, name, owner FROM workspace WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(c)
        .await?))
    }

    async fn create_workspace(
        &self,
        ws: WorkspaceRow,
        creator: NewMember,
        audit: NewAudit,
    ) -> StoreResult<AddMember> {
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO workspace (id, name, owner) VALUES ($1, $2, $3)")
                .bind(&ws.id)
                .bind(&ws.name)
                .bind(&ws.owner)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO grp (workspace_id, name, summary, extra_perms) VALUES ($1, 'all', $2, '{}')")
                .bind(&ws.id)
                .bind("The group that always contains all users of this workspace")
                .execute(&mut *tx)
                .await?;
            let username = match assign_username!(tx, &creator.email, creator.username.clone()) {
                Ok(u) => u,
                Err(outcome) => return Ok(outcome),
            };
            insert_member!(tx, &ws.id, &username, creator);
            insert_audit!(tx, audit);
            AddMember::Added(username)
        })
    }

    async fn list_workspaces(
        &self,
        email: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<WorkspaceRow>> {
        read!(self, |c| Ok(match email {
            Some(e) => {
                sqlx::query_as::<_, WorkspaceRow>(
                    "SELECT w.id, w.name, w.owner FROM workspace w JOIN member m ON m.workspace_id = w.id \
                     WHERE m.email = $1 ORDER BY w.id LIMIT $2 OFFSET $3",
                )
                .bind(e)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
            None => {
                sqlx::query_as::<_, WorkspaceRow>(
                    "SELECT id, name, owner FROM workspace ORDER BY id LIMIT $1 OFFSET $2",
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
        }))
    }

    async fn user_workspaces(&self, email: &str) -> StoreResult<Vec<UserWorkspaceRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, UserWorkspaceRow>(
            "SELECT w.id, w.name, m.username, m.disabled FROM workspace w JOIN member m ON m.workspace_id = w.id \
             WHERE m.email = $1 ORDER BY w.id",
        )
        .bind(email)
        .fetch_all(c)
        .await?)
        })
    }

    async fn member(&self, ws: &str, email: &str) -> StoreResult<Option<MemberRow>> {
        if let Some(hit) = self.cache.as_ref().and_then(|c| c.member(ws, email)) {
            return Ok(Some(hit));
        }
        let since = self.cache_generation();
        let row: Option<MemberRow> =
            read!(self, |c| sqlx::query_as::<_, MemberRow>(AssertSqlSafe(
                format!("SELECT {MEMBER_COLUMNS} WHERE workspace_id = $1 AND email = $2")
            ))
            .bind(ws)
            .bind(email)
            .fetch_optional(c)
            .await?);
        if let (Some(c), Some(r)) = (&self.cache, &row) {
            c.put_member(since, ws, email, r);
        }
        Ok(row)
    }

    async fn member_by_username(&self, ws: &str, username: &str) -> StoreResult<Option<MemberRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, MemberRow>(AssertSqlSafe(
            format!("SELECT {MEMBER_COLUMNS} WHERE workspace_id = $1 AND username = $2")
        ))
        .bind(ws)
        .bind(username)
        .fetch_optional(c)
        .await?))
    }

    async fn list_members(&self, ws: &str, offset: i64, limit: i64) -> StoreResult<Vec<MemberRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, MemberRow>(AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} WHERE workspace_id = $1 ORDER BY username LIMIT $2 OFFSET $3"
        )))
        .bind(ws)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await?)
        })
    }

    async fn add_member(&self, ws: &str, m: NewMember, audit: NewAudit) -> StoreResult<AddMember> {
        write_tx!(self, |tx| {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM workspace WHERE id = $1")
                    .bind(ws)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Ok(AddMember::NoWorkspace);
            }
            let already: Option<String> = sqlx::query_scalar(
                "SELECT username FROM member WHERE workspace_id = $1 AND email = $2",
            )
            .bind(ws)
            .bind(&m.email)
            .fetch_optional(&mut *tx)
            .await?;
            if already.is_some() {
                return Ok(AddMember::AlreadyMember);
            }
            let username = match assign_username!(tx, &m.email, m.username.clone()) {
                Ok(u) => u,
                Err(outcome) => return Ok(outcome),
            };
            insert_member!(tx, ws, &username, m);
            insert_audit!(tx, audit);
            AddMember::Added(username)
        })
    }

    async fn update_member(
        &self,
        ws: &str,
        username: &str,
        c: MemberChanges,
        audit: NewAudit,
    ) -> StoreResult<Option<String>> {
        write_tx!(self, |tx| {
            let email: Option<String> = sqlx::query_scalar(
                "UPDATE member SET is_admin = COALESCE($3, is_admin), operator = COALESCE($4, operator), \
                 disabled = COALESCE($5, disabled) WHERE workspace_id = $1 AND username = $2 RETURNING email",
            )
            .bind(ws)
            .bind(username)
            .bind(c.is_admin)
            .bind(c.operator)
            .bind(c.disabled)
            .fetch_optional(&mut *tx)
            .await?;
            if email.is_some() {
                insert_audit!(tx, audit);
            }
            email
        })
    }

    async fn remove_member(&self, ws: &str, username: &str, audit: NewAudit) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let email: Option<String> = sqlx::query_scalar(
                "DELETE FROM member WHERE workspace_id = $1 AND username = $2 RETURNING email",
            )
            .bind(ws)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(email) = email else {
                return Ok(false);
            };
            sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND username = $2")
                .bind(ws)
                .bind(username)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM token WHERE email = $1 AND workspace_id = $2")
                .bind(&email)
                .bind(ws)
                .execute(&mut *tx)
                .await?;
            insert_audit!(tx, audit);
            true
        })
    }

    async fn username_of(&self, email: &str) -> StoreResult<Option<String>> {
        read!(self, |c| Ok(sqlx::query_scalar(
            "SELECT username FROM username WHERE email = $1"
        )
        .bind(email)
        .fetch_optional(c)
        .await?))
    }

    async fn list_groups(&self, ws: &str, offset: i64, limit: i64) -> StoreResult<Vec<GroupRow>> {
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.groups(ws, offset, limit))
        {
            return Ok(hit);
        }
        let since = self.cache_generation();
        // One row per group, its members as a JSON array built by the database: a row per
        // member costs far more in the driver than the query (SQLite: 1 300 lists/s against
        // 20 groups of 10 members before, see docs/benchmarks.md). The aggregate is the one
        // word that differs between the two databases.
        let agg = if self.is_postgres() {
            "json_agg"
        } else {
            "json_group_array"
        };
        let sql = format!(
            "SELECT g.name, g.summary, g.extra_perms, \
               (SELECT CAST(COALESCE({agg}(m.username ORDER BY m.username), '[]') AS TEXT) \
                FROM group_member m WHERE m.workspace_id = g.workspace_id AND m.group_name = g.name) \
             FROM grp g WHERE g.workspace_id = $1 ORDER BY g.name LIMIT $2 OFFSET $3"
        );
        let groups: Vec<(String, Option<String>, String, String)> = read!(self, |c| {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(ws)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
        });
        let rows = groups
            .into_iter()
            .map(|(name, summary, extra_perms, members)| {
                Ok(GroupRow {
                    workspace_id: ws.to_string(),
                    members: serde_json::from_str(&members)
                        .map_err(|e| StoreError::Other(format!("members of {name}: {e}")))?,
                    name,
                    summary,
                    extra_perms,
                })
            })
            .collect::<StoreResult<Vec<GroupRow>>>()?;
        if let Some(c) = &self.cache {
            c.put_groups(since, ws, offset, limit, &rows);
        }
        Ok(rows)
    }

    async fn group(&self, ws: &str, name: &str) -> StoreResult<Option<GroupRow>> {
        read!(self, |c| {
            let g: Option<(Option<String>, String)> = sqlx::query_as(
                "SELECT summary, extra_perms FROM grp WHERE workspace_id = $1 AND name = $2",
            )
            .bind(ws)
            .bind(name)
            .fetch_optional(c)
            .await?;
            let Some((summary, extra_perms)) = g else {
                return Ok(None);
            };
            let members: Vec<String> = sqlx::query_scalar(
                "SELECT username FROM group_member WHERE workspace_id = $1 AND group_name = $2 ORDER BY username",
            )
            .bind(ws)
            .bind(name)
            .fetch_all(c)
            .await?;
            Ok(Some(GroupRow {
                workspace_id: ws.to_string(),
                name: name.to_string(),
                summary,
                extra_perms,
                members,
            }))
        })
    }

    async fn group_names(
        &self,
        ws: &str,
        member: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        read!(self, |c| Ok(match member {
            Some(u) => {
                sqlx::query_scalar(
                    "SELECT group_name FROM group_member WHERE workspace_id = $1 AND username = $2 \
                     ORDER BY group_name LIMIT $3 OFFSET $4",
                )
                .bind(ws)
                .bind(u)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
            None => {
                sqlx::query_scalar(
                    "SELECT name FROM grp WHERE workspace_id = $1 ORDER BY name LIMIT $2 OFFSET $3",
                )
                .bind(ws)
                .bind(limit)
                .bind(offset)
                .fetch_all(c)
                .await?
            }
        }))
    }

    async fn create_group(
        &self,
        ws: &str,
        name: &str,
        summary: Option<&str>,
        owner: &str,
        audit: NewAudit,
    ) -> StoreResult<()> {
        let perms = serde_json::json!({ format!("u/{owner}"): true }).to_string();
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO grp (workspace_id, name, summary, extra_perms) VALUES ($1, $2, $3, $4)")
                .bind(ws)
                .bind(name)
                .bind(summary)
                .bind(&perms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO group_member (workspace_id, group_name, username) VALUES ($1, $2, $3)",
            )
            .bind(ws)
            .bind(name)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
            insert_audit!(tx, audit);
        })
    }

    async fn update_group(
        &self,
        ws: &str,
        name: &str,
        summary: Option<&str>,
        audit: NewAudit,
    ) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            let n =
                sqlx::query("UPDATE grp SET summary = $3 WHERE workspace_id = $1 AND name = $2")
                    .bind(ws)
                    .bind(name)
                    .bind(summary)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if n > 0 {
                insert_audit!(tx, audit);
            }
            n > 0
        })
    }

    async fn delete_group(&self, ws: &str, name: &str, audit: NewAudit) -> StoreResult<bool> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND group_name = $2")
                .bind(ws)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM grp WHERE workspace_id = $1 AND name = $2")
                .bind(ws)
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            insert_audit!(tx, audit);
            true
        })
    }

    async fn add_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        audit: NewAudit,
    ) -> StoreResult<GroupAdd> {
        write_tx!(self, |tx| {
            if !group_exists!(tx, ws, group) {
                return Ok(GroupAdd::NoGroup);
            }
            let m: Option<String> = sqlx::query_scalar(
                "SELECT username FROM member WHERE workspace_id = $1 AND username = $2",
            )
            .bind(ws)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
            if m.is_none() {
                return Ok(GroupAdd::NotInWorkspace);
            }
            let n = sqlx::query(
                "INSERT INTO group_member (workspace_id, group_name, username) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(ws)
            .bind(group)
            .bind(username)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(GroupAdd::AlreadyMember);
            }
            insert_audit!(tx, audit);
            GroupAdd::Added
        })
    }

    async fn remove_group_member(
        &self,
        ws: &str,
        group: &str,
        username: &str,
        audit: NewAudit,
    ) -> StoreResult<GroupRemove> {
        write_tx!(self, |tx| {
            if !group_exists!(tx, ws, group) {
                return Ok(GroupRemove::NoGroup);
            }
            let n = sqlx::query("DELETE FROM group_member WHERE workspace_id = $1 AND group_name = $2 AND username = $3")
                .bind(ws)
                .bind(group)
                .bind(username)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(GroupRemove::NotMember);
            }
            insert_audit!(tx, audit);
            GroupRemove::Removed
        })
    }

    async fn record_audit(&self, audit: NewAudit) -> StoreResult<()> {
        insert_tx!(self, |tx| {
            insert_audit!(tx, audit);
        })
    }

    async fn list_audit(&self, f: AuditFilter) -> StoreResult<Vec<AuditRow>> {
        // Within a workspace, an operation prefix or list becomes the operations it stands
        // for: the prefix's own name, and those under it found by a skip scan of the
        // `(workspace_id, operation, id)` index (one index probe per distinct operation).
        let mut branches: Option<Vec<String>> = match (&f.workspace_id, &f.operation) {
            (Some(ws), Some(op)) if f.operations.is_empty() => {
                let under: Vec<Option<String>> = read!(self, |c| {
                    sqlx::query_scalar(
                        "WITH RECURSIVE ops(op) AS ( \
                           SELECT MIN(operation) FROM audit \
                           WHERE workspace_id = $1 AND operation >= $2 AND operation < $3 \
                           UNION ALL \
                           SELECT (SELECT MIN(operation) FROM audit \
                                   WHERE workspace_id = $1 AND operation > ops.op AND operation < $3) \
                           FROM ops WHERE ops.op IS NOT NULL) \
                         SELECT op FROM ops WHERE op IS NOT NULL LIMIT $4",
                    )
                    .bind(ws)
                    .bind(format!("{op}."))
                    .bind(format!("{op}/"))
                    .bind(MAX_AUDIT_BRANCHES as i64)
                    .fetch_all(c)
                    .await?
                });
                let mut ops = vec![op.clone()];
                ops.extend(under.into_iter().flatten());
                Some(ops)
            }
            (Some(_), None) if !f.operations.is_empty() => {
                let mut ops = f.operations.clone();
                ops.sort();
                ops.dedup();
                Some(ops)
            }
            _ => None,
        };
        if let Some(ops) = &mut branches {
            ops.retain(|o| !f.exclude_operations.contains(o));
            if ops.is_empty() {
                return Ok(Vec::new());
            }
            if ops.len() > MAX_AUDIT_BRANCHES {
                branches = None;
            }
        }
        let (sql, binds) = audit_query(&f, branches.as_deref(), !self.is_postgres());
        read!(self, |c| {
            let mut q = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql.as_str()));
            for b in &binds {
                q = match b {
                    Bind::S(s) => q.bind(s.as_str()),
                    Bind::I(i) => q.bind(*i),
                };
            }
            Ok(q.fetch_all(c).await?)
        })
    }

    async fn audit_entry(&self, id: i64) -> StoreResult<Option<AuditRow>> {
        read!(self, |c| {
            Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT id, workspace_id, timestamp, username, email, operation, action_kind, resource, parameters \
             FROM audit WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(c)
        .await?)
        })
    }
}
