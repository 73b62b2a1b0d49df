//! The audit chain in the database: appending an entry, chaining rows written before the
//! chain existed, signed checkpoints, and reading the log back for verification.
//!
//! On SQLite (a single writer) an entry is appended inside the transaction of the mutation
//! it records. On PostgreSQL the mutation's transaction writes it to `audit_pending` and,
//! after the commit, the instance's [`Chainer`] moves it into the chain: the chaining
//! transactions of every instance take turns on the single `audit_chain` row (`FOR
//! UPDATE`), so ids are consecutive in the order entries join the chain, while the
//! mutations themselves commit in parallel (docs/design.md, "Audit chain").

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::{Db, SqlStore};
use crate::audit_chain::{
    ChainState, Checkpoint, EntryRef, GENESIS, Hash, Progress, Report, StoredEntry, Verifier,
    entry_hash, sign_checkpoint,
};
use crate::store::*;

/// Entries read per statement when verifying or chaining old rows.
const BATCH: i64 = 20_000;

fn hash32(v: &[u8]) -> Result<Hash, sqlx::Error> {
    <Hash>::try_from(v)
        .map_err(|_| sqlx::Error::Protocol("audit_chain holds a hash that is not 32 bytes".into()))
}

const HEAD: &str =
    "SELECT head_id, head_hash, (SELECT MAX(id) FROM audit) FROM audit_chain WHERE id = 1";

/// The chain's head: the last entry's id and hash.
pub(super) type Head = (i64, Hash);

/// Appends an audit entry to the chain on SQLite's single writer, inside its transaction,
/// after `head` when the caller knows it (it is read otherwise); returns the new head.
pub(super) async fn append_sqlite(
    c: &mut sqlx::SqliteConnection,
    head: Option<Head>,
    a: &NewAudit,
) -> Result<Head, sqlx::Error> {
    let params = a.parameters.as_ref().map(|p| p.to_string());
    append_sqlite_entry(
        c,
        head,
        EntryRef {
            id: 0,
            workspace_id: &a.workspace_id,
            timestamp: a.timestamp,
            username: &a.username,
            email: a.email.as_deref(),
            operation: a.operation,
            action_kind: a.action_kind.as_str(),
            resource: a.resource.as_deref(),
            parameters: params.as_deref(),
            impersonator: a.impersonator.as_deref(),
        },
    )
    .await
}

/// Appends `e` (its id is chosen here) after the chain's head.
async fn append_sqlite_entry(
    c: &mut sqlx::SqliteConnection,
    head: Option<Head>,
    mut e: EntryRef<'_>,
) -> Result<Head, sqlx::Error> {
    let (head_id, prev) = match head {
        Some(h) => h,
        None => {
            let (head_id, head_hash, max_id): (i64, Vec<u8>, Option<i64>) =
                sqlx::query_as(HEAD).fetch_one(&mut *c).await?;
            // Past any row written behind the store's back too (they stay outside the
            // chain, and verification names them).
            (head_id.max(max_id.unwrap_or(0)), hash32(&head_hash)?)
        }
    };
    e.id = head_id + 1;
    let h = entry_hash(&prev, &e);
    // Both statements in one round trip to the connection's thread.
    sqlx::query(
        "INSERT INTO audit (id, workspace_id, timestamp, username, email, operation, action_kind, \
         resource, parameters, impersonator, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11); \
         UPDATE audit_chain SET head_id = $1, head_hash = $11 WHERE id = 1",
    )
    .bind(e.id)
    .bind(e.workspace_id)
    .bind(e.timestamp)
    .bind(e.username)
    .bind(e.email)
    .bind(e.operation)
    .bind(e.action_kind)
    .bind(e.resource)
    .bind(e.parameters)
    .bind(e.impersonator)
    .bind(h.as_slice())
    .execute(&mut *c)
    .await?;
    Ok((e.id, h))
}

/// A write transaction on PostgreSQL that knows whether it wrote an audit entry, so that
/// the entry is chained after its commit (see [`Chainer`]).
pub(crate) struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    /// An audit entry was written to `audit_pending`.
    pub(super) audited: bool,
    /// The transaction must publish a cache invalidation (`cache_notify()`, see
    /// `store/pg_cache.rs`) ...
    notify: bool,
    /// ... and did, with its audit entry's insert (one round trip less, while the
    /// transaction may hold row locks).
    pub(super) notified: bool,
}

impl PgTx {
    /// A transaction; `notify`: one that will publish a cache invalidation.
    pub(super) async fn begin(pool: &sqlx::PgPool, notify: bool) -> Result<PgTx, sqlx::Error> {
        Ok(PgTx {
            tx: pool.begin().await?,
            audited: false,
            notify,
            notified: false,
        })
    }

    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Writes an audit entry, to be chained after the commit: appending to the chain here
    /// would hold the chain's head from this statement to the commit, and so make every
    /// audited write on every instance commit one after the other.
    pub(crate) async fn append_audit(&mut self, a: &NewAudit) -> Result<(), sqlx::Error> {
        let params = a.parameters.as_ref().map(|p| p.to_string());
        let sql = if self.notify && !self.notified {
            "INSERT INTO audit_pending (workspace_id, timestamp, username, email, operation, \
             action_kind, resource, parameters, impersonator) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM cache_notify()"
        } else {
            "INSERT INTO audit_pending (workspace_id, timestamp, username, email, operation, \
             action_kind, resource, parameters, impersonator) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        };
        sqlx::query(sql)
            .bind(&a.workspace_id)
            .bind(a.timestamp)
            .bind(&a.username)
            .bind(&a.email)
            .bind(a.operation)
            .bind(a.action_kind.as_str())
            .bind(&a.resource)
            .bind(&params)
            .bind(&a.impersonator)
            .execute(&mut *self.tx)
            .await?;
        self.audited = true;
        self.notified |= self.notify;
        Ok(())
    }
}

impl std::ops::Deref for PgTx {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &sqlx::PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for PgTx {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }
}

/// An entry of `audit_pending`.
#[derive(sqlx::FromRow)]
struct PendingRow {
    workspace_id: String,
    timestamp: i64,
    username: String,
    email: Option<String>,
    operation: String,
    action_kind: String,
    resource: Option<String>,
    parameters: Option<String>,
    impersonator: Option<String>,
}

impl PendingRow {
    fn entry(&self, id: i64) -> EntryRef<'_> {
        EntryRef {
            id,
            workspace_id: &self.workspace_id,
            timestamp: self.timestamp,
            username: &self.username,
            email: self.email.as_deref(),
            operation: &self.operation,
            action_kind: &self.action_kind,
            resource: self.resource.as_deref(),
            parameters: self.parameters.as_deref(),
            impersonator: self.impersonator.as_deref(),
        }
    }
}

const PENDING_COLUMNS: &str = "workspace_id, timestamp, username, email, operation, \
     action_kind, resource, parameters, impersonator";

/// Moves every entry waiting in `audit_pending` into the chain, in `pid` order: one call of
/// `audit_chain_pending()` (migration 0011), which holds the chain's head row to its commit,
/// so that concurrent chainers (other instances) take turns and each sees what the previous
/// one moved. Returns how many.
async fn chain_pending_pg(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT audit_chain_pending()")
        .fetch_one(pool)
        .await?;
    Ok(n as u64)
}

/// On SQLite: chains entries left in `audit_pending` (copied from a PostgreSQL database by
/// `wmill-server migrate`), at open.
async fn chain_pending_sqlite(pool: &sqlx::SqlitePool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<PendingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PENDING_COLUMNS} FROM audit_pending ORDER BY pid"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let mut head = None;
    for r in &rows {
        head = Some(append_sqlite_entry(&mut tx, head, r.entry(0)).await?);
    }
    sqlx::query("DELETE FROM audit_pending")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// How often an idle chainer looks for entries left by an instance that died between a
/// write's commit and its chaining.
const SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a writer waits for its entry to be chained before it is answered anyway (its
/// entry is committed in `audit_pending`, and chained as soon as the database lets a
/// chainer).
const CHAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits after a failed chaining, doubling.
const BACKOFF_MIN: std::time::Duration = std::time::Duration::from_millis(100);
const BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// On PostgreSQL, one per store: chains the entries of this instance's committed writes,
/// many at a time (each write asks, and is answered by the first chaining transaction that
/// starts after its request), and sweeps what other instances left.
pub(super) struct Chainer {
    ask: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>,
}

impl Chainer {
    pub(super) fn start(pool: sqlx::PgPool) -> Chainer {
        let (ask, mut asks) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut waiting: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
            let mut backoff = BACKOFF_MIN;
            loop {
                if waiting.is_empty() {
                    tokio::select! {
                        w = asks.recv() => match w {
                            Some(w) => waiting.push(w),
                            None => return,
                        },
                        _ = tokio::time::sleep(SWEEP) => {
                            let any: Result<bool, _> = sqlx::query_scalar(
                                "SELECT EXISTS (SELECT 1 FROM audit_pending)",
                            )
                            .fetch_one(&pool)
                            .await;
                            if !matches!(any, Ok(true)) {
                                continue;
                            }
                        }
                    }
                }
                while let Ok(w) = asks.try_recv() {
                    waiting.push(w);
                }
                match chain_pending_pg(&pool).await {
                    Ok(_) => {
                        for w in waiting.drain(..) {
                            let _ = w.send(());
                        }
                        backoff = BACKOFF_MIN;
                    }
                    Err(e) => {
                        tracing::warn!("cannot chain audit entries (retrying): {e}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
        });
        Chainer { ask }
    }

    /// Returns once every entry committed before the call is chained (or after
    /// [`CHAIN_WAIT`]).
    pub(super) async fn chained(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.ask.send(tx).is_ok() {
            let _ = tokio::time::timeout(CHAIN_WAIT, rx).await;
        }
    }
}

const ENTRY_COLUMNS: &str = "id, workspace_id, timestamp, username, email, operation, action_kind, \
     resource, parameters, impersonator, hash";

/// The head row.
#[derive(sqlx::FromRow)]
struct ChainRow {
    sealed: bool,
    base_id: i64,
    base_hash: Vec<u8>,
    head_id: i64,
    head_hash: Vec<u8>,
}

impl ChainRow {
    fn state(&self) -> Result<ChainState, sqlx::Error> {
        Ok(ChainState {
            base_id: self.base_id,
            base_hash: hash32(&self.base_hash)?,
            head_id: self.head_id,
            head_hash: hash32(&self.head_hash)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    id: i64,
    created_at: i64,
    base_id: i64,
    base_hash: Vec<u8>,
    head_id: i64,
    head_hash: Vec<u8>,
    public_key: Vec<u8>,
    signature: Vec<u8>,
}

const CHAIN_ROW: &str =
    "SELECT sealed, base_id, base_hash, head_id, head_hash FROM audit_chain WHERE id = 1";

impl SqlStore {
    /// Chains the rows without a hash that come after the head, in id order: the rows
    /// written before the chain existed (done once, at the first start after the
    /// migration) and rows bulk-loaded by tools (benchmarks, tests). Returns how many.
    /// The server never calls it on a sealed chain: a row slipped into the table later is
    /// reported by verification, not adopted.
    pub async fn seal_audit_chain(&self) -> StoreResult<u64> {
        macro_rules! seal {
            ($tx:ident, $lock:literal, |$ids:ident, $hashes:ident| $update:block) => {{
                let row: ChainRow =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{CHAIN_ROW}{}", $lock)))
                        .fetch_one(&mut *$tx)
                        .await?;
                let mut head_id = row.head_id;
                let mut prev = hash32(&row.head_hash)?;
                let mut n = 0u64;
                loop {
                    let rows: Vec<StoredEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {ENTRY_COLUMNS} FROM audit WHERE id > $1 AND hash IS NULL \
                         ORDER BY id LIMIT $2"
                    )))
                    .bind(head_id)
                    .bind(BATCH)
                    .fetch_all(&mut *$tx)
                    .await?;
                    let Some(last) = rows.last() else { break };
                    head_id = last.id;
                    let mut $ids = Vec::with_capacity(rows.len());
                    let mut $hashes = Vec::with_capacity(rows.len());
                    for e in &rows {
                        prev = entry_hash(&prev, &e.as_ref());
                        $ids.push(e.id);
                        $hashes.push(prev.to_vec());
                    }
                    n += rows.len() as u64;
                    $update
                }
                sqlx::query(
                    "UPDATE audit_chain SET sealed = TRUE, head_id = $1, head_hash = $2 WHERE id = 1",
                )
                .bind(head_id)
                .bind(prev.as_slice())
                .execute(&mut *$tx)
                .await?;
                n
            }};
        }
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut tx = write.begin().await?;
                let n = seal!(tx, "", |ids, hashes| {
                    for (id, h) in ids.iter().zip(&hashes) {
                        sqlx::query("UPDATE audit SET hash = $1 WHERE id = $2")
                            .bind(h)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                });
                tx.commit().await?;
                Ok(n)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let n = seal!(tx, " FOR UPDATE", |ids, hashes| {
                    sqlx::query(
                        "UPDATE audit SET hash = u.h FROM UNNEST($1::bigint[], $2::bytea[]) AS u(id, h) \
                         WHERE audit.id = u.id",
                    )
                    .bind(ids)
                    .bind(hashes)
                    .execute(&mut *tx)
                    .await?;
                });
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Chains the rows from before the chain existed, once, and the entries waiting in
    /// `audit_pending` (at connection).
    pub(super) async fn seal_if_new(&self) -> StoreResult<()> {
        let row: ChainRow = read!(self, |c| sqlx::query_as(CHAIN_ROW).fetch_one(c).await?);
        if !row.sealed {
            let n = self.seal_audit_chain().await?;
            if n > 0 {
                tracing::info!("chained {n} audit entries written before the audit chain existed");
            }
        }
        let n = match &self.db {
            Db::Sqlite { write, .. } => chain_pending_sqlite(write).await?,
            Db::Postgres(pool) => chain_pending_pg(pool).await?,
        };
        if n > 0 {
            tracing::info!("chained {n} audit entries committed but not yet chained");
        }
        Ok(())
    }

    /// After a committed write that wrote an audit entry on PostgreSQL: returns once it is
    /// chained (see [`Chainer`]).
    pub(super) async fn await_chained(&self) {
        match (self.chainer.get(), &self.db) {
            (Some(c), _) => c.chained().await,
            // A store opened as it is (tools that only read) has no chainer.
            (None, Db::Postgres(pool)) => {
                if let Err(e) = chain_pending_pg(pool).await {
                    tracing::warn!("cannot chain audit entries: {e}");
                }
            }
            (None, Db::Sqlite { .. }) => {}
        }
    }

    async fn chain_state(&self) -> StoreResult<ChainState> {
        let row: ChainRow = read!(self, |c| sqlx::query_as(CHAIN_ROW).fetch_one(c).await?);
        Ok(row.state()?)
    }

    async fn checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        let rows: Vec<CheckpointRow> = read!(self, |c| {
            sqlx::query_as(
            "SELECT id, created_at, base_id, base_hash, head_id, head_hash, public_key, signature \
             FROM audit_checkpoint ORDER BY id"
        )
        .fetch_all(c)
        .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(Checkpoint {
                    id: r.id,
                    created_at: r.created_at,
                    chain: ChainState {
                        base_id: r.base_id,
                        // A malformed hash matches nothing.
                        base_hash: <Hash>::try_from(r.base_hash.as_slice()).unwrap_or(GENESIS),
                        head_id: r.head_id,
                        head_hash: <Hash>::try_from(r.head_hash.as_slice()).unwrap_or(GENESIS),
                    },
                    public_key: r.public_key,
                    signature: r.signature,
                })
            })
            .collect()
    }

    /// Feeds `v` the next batch of entries after `after` (PostgreSQL; SQLite verifies
    /// through `verify_sqlite`); the last id fed, `None` at the end. The rows are hashed
    /// as they stream in, so the database sends the next ones meanwhile, and each text is
    /// read in place from the row's buffer.
    async fn feed_after(&self, v: &mut Verifier, after: i64) -> StoreResult<Option<i64>> {
        use futures_util::TryStreamExt;
        use sqlx::Row;
        let Db::Postgres(pool) = &self.db else {
            return Err(StoreError::Other(
                "SQLite's log is verified on a connection of its own".into(),
            ));
        };
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit WHERE id > $1 ORDER BY id LIMIT $2");
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(after)
            .bind(BATCH)
            .fetch(pool);
        let mut last = None;
        while let Some(r) = rows.try_next().await? {
            let id: i64 = r.try_get(0)?;
            let e = EntryRef {
                id,
                workspace_id: r.try_get(1)?,
                timestamp: r.try_get(2)?,
                username: r.try_get(3)?,
                email: r.try_get(4)?,
                operation: r.try_get(5)?,
                action_kind: r.try_get(6)?,
                resource: r.try_get(7)?,
                parameters: r.try_get(8)?,
                impersonator: r.try_get(9)?,
            };
            v.feed_parts(&e, r.try_get(10)?);
            last = Some(id);
        }
        Ok(last)
    }
}

#[async_trait]
impl AuditChainStore for SqlStore {
    async fn prune_audit(&self, before: i64, limit: i64, up_to: i64) -> StoreResult<u64> {
        let lock = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let n: u64 = write_tx!(self, |tx| {
            let row: ChainRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{CHAIN_ROW}{lock}")))
                .fetch_one(&mut *tx)
                .await?;
            let oldest: Vec<(i64, i64, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT id, timestamp, hash FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(row.base_id)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            // The removed entries are a prefix of the chain, chained ones only, never the
            // head (the base must stay an entry the chain went through).
            let mut last: Option<(i64, Vec<u8>)> = None;
            for (id, ts, hash) in oldest {
                match hash {
                    Some(h) if ts < before && id < row.head_id && id <= up_to => {
                        last = Some((id, h))
                    }
                    _ => break,
                }
            }
            match last {
                None => 0,
                Some((id, hash)) => {
                    let gone = sqlx::query("DELETE FROM audit WHERE id > $1 AND id <= $2")
                        .bind(row.base_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query("UPDATE audit_chain SET base_id = $1, base_hash = $2 WHERE id = 1")
                        .bind(id)
                        .bind(&hash)
                        .execute(&mut *tx)
                        .await?;
                    gone
                }
            }
        })
        .map_err(|e: sqlx::Error| StoreError::from(e))?;
        Ok(n)
    }

    async fn audit_after(
        &self,
        ws: Option<&str>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRow>> {
        const COLS: &str = "id, workspace_id, timestamp, username, email, operation, action_kind, \
             resource, parameters, impersonator";
        // Served in id order by the primary key, or by `(workspace_id, id)`.
        let rows = match ws {
            Some(ws) => {
                let sql = format!(
                    "SELECT {COLS} FROM audit WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                );
                read!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(ws)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(c)
                    .await?)
            }
            None => {
                let sql = format!("SELECT {COLS} FROM audit WHERE id > $1 ORDER BY id LIMIT $2");
                read!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(c)
                    .await?)
            }
        };
        Ok(rows)
    }

    async fn verify_audit_chain_with(
        &self,
        key: Option<VerifyingKey>,
        progress: Option<Progress>,
    ) -> StoreResult<Report> {
        if let Db::Sqlite { read, .. } = &self.db {
            let path = read.connect_options().get_filename().to_path_buf();
            return tokio::task::spawn_blocking(move || {
                super::verify_sqlite::verify(&path, key, progress)
            })
            .await
            .map_err(|e| StoreError::Other(format!("the verification stopped: {e}")))?;
        }
        let start = self.chain_state().await?;
        let checkpoints = self.checkpoints().await?;
        let mut v = Verifier::new(start, &checkpoints, key).with_progress(progress);
        let mut last = i64::MIN;
        // In batches (each its own statement, within its time limit); entries appended
        // while this reads are read too, until the head read afterwards is reached.
        let mut rounds = 0;
        let state = loop {
            while let Some(l) = self.feed_after(&mut v, last).await? {
                last = l;
            }
            let now = self.chain_state().await?;
            rounds += 1;
            if now.head_id <= last || rounds >= 10 {
                break now;
            }
        };
        Ok(v.finish(&state))
    }

    async fn write_audit_checkpoint(
        &self,
        key: &SigningKey,
        now: i64,
    ) -> StoreResult<Option<Checkpoint>> {
        let state = self.chain_state().await?;
        let public = key.verifying_key().to_bytes().to_vec();
        let last: Option<(i64, Vec<u8>, i64)> = read!(self, |c| sqlx::query_as(
            "SELECT head_id, head_hash, base_id FROM audit_checkpoint WHERE public_key = $1 \
             ORDER BY id DESC LIMIT 1"
        )
        .bind(&public)
        .fetch_optional(c)
        .await?);
        if last.is_some_and(|(h, hh, b)| {
            h == state.head_id && hh == state.head_hash && b == state.base_id
        }) {
            return Ok(None);
        }
        let (public_key, signature) = sign_checkpoint(key, now, &state);
        let id: i64 = insert_tx!(self, |tx| {
            sqlx::query_scalar::<_, i64>(
                "INSERT INTO audit_checkpoint (created_at, base_id, base_hash, head_id, head_hash, \
                 public_key, signature) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(now)
            .bind(state.base_id)
            .bind(state.base_hash.as_slice())
            .bind(state.head_id)
            .bind(state.head_hash.as_slice())
            .bind(&public_key)
            .bind(&signature)
            .fetch_one(&mut *tx)
            .await?
        })
        .map_err(|e: sqlx::Error| StoreError::from(e))?;
        Ok(Some(Checkpoint {
            id,
            created_at: now,
            chain: state,
            public_key,
            signature,
        }))
    }
}
