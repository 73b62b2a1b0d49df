//! The audit chain in the database: appending an entry (inside the transaction of the
//! mutation it records), chaining rows written before the chain existed, signed
//! checkpoints, and reading the log back for verification.
//!
//! Appends are serialised by the single `audit_chain` row: on PostgreSQL it is locked
//! (`FOR UPDATE`) before the entry's id is chosen and stays locked until the transaction
//! ends, so the entries of concurrent transactions, on any instance, are chained in commit
//! order with consecutive ids, and a transaction that rolls back leaves no gap for a later
//! one to fill. SQLite has a single writer.

use async_trait::async_trait;
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

/// The hash an appended entry gets, and its id.
fn chain_entry(
    head_id: i64,
    head_hash: &[u8],
    max_id: Option<i64>,
    a: &NewAudit,
    params: Option<&str>,
) -> Result<(i64, Hash), sqlx::Error> {
    // Past any row written behind the store's back too (they stay outside the chain, and
    // verification names them).
    let id = head_id.max(max_id.unwrap_or(0)) + 1;
    let prev = hash32(head_hash)?;
    let h = entry_hash(
        &prev,
        &EntryRef {
            id,
            workspace_id: &a.workspace_id,
            timestamp: a.timestamp,
            username: &a.username,
            email: a.email.as_deref(),
            operation: a.operation,
            action_kind: a.action_kind.as_str(),
            resource: a.resource.as_deref(),
            parameters: params,
            impersonator: a.impersonator.as_deref(),
        },
    );
    Ok((id, h))
}

const HEAD: &str =
    "SELECT head_id, head_hash, (SELECT MAX(id) FROM audit) FROM audit_chain WHERE id = 1";

/// Appends an audit entry to the chain, inside the caller's transaction.
#[async_trait]
pub(crate) trait AppendAudit {
    async fn append_audit(&mut self, a: &NewAudit) -> Result<i64, sqlx::Error>;
}

#[async_trait]
impl AppendAudit for sqlx::SqliteConnection {
    async fn append_audit(&mut self, a: &NewAudit) -> Result<i64, sqlx::Error> {
        let (head_id, head_hash, max_id): (i64, Vec<u8>, Option<i64>) =
            sqlx::query_as(HEAD).fetch_one(&mut *self).await?;
        let params = a.parameters.as_ref().map(|p| p.to_string());
        let (id, h) = chain_entry(head_id, &head_hash, max_id, a, params.as_deref())?;
        sqlx::query(
            "INSERT INTO audit (id, workspace_id, timestamp, username, email, operation, action_kind, \
             resource, parameters, impersonator, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id)
        .bind(&a.workspace_id)
        .bind(a.timestamp)
        .bind(&a.username)
        .bind(&a.email)
        .bind(a.operation)
        .bind(a.action_kind.as_str())
        .bind(&a.resource)
        .bind(&params)
        .bind(&a.impersonator)
        .bind(h.as_slice())
        .execute(&mut *self)
        .await?;
        sqlx::query("UPDATE audit_chain SET head_id = $1, head_hash = $2 WHERE id = 1")
            .bind(id)
            .bind(h.as_slice())
            .execute(&mut *self)
            .await?;
        Ok(id)
    }
}

#[async_trait]
impl AppendAudit for sqlx::PgConnection {
    async fn append_audit(&mut self, a: &NewAudit) -> Result<i64, sqlx::Error> {
        // The head row's lock is held until the transaction ends; the head read after the
        // wait is the one the previous holder committed. The id sequence follows the ids
        // chosen here, so that a row added without one (bulk loads by tools) does not take
        // a chained entry's id.
        let (head_id, head_hash, max_id): (i64, Vec<u8>, Option<i64>) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{HEAD} FOR UPDATE")))
                .fetch_one(&mut *self)
                .await?;
        let params = a.parameters.as_ref().map(|p| p.to_string());
        let (id, h) = chain_entry(head_id, &head_hash, max_id, a, params.as_deref())?;
        sqlx::query(
            "WITH ins AS (INSERT INTO audit (id, workspace_id, timestamp, username, email, operation, \
             action_kind, resource, parameters, impersonator, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)), \
             seq AS (SELECT setval('audit_id_seq', $1)) \
             UPDATE audit_chain SET head_id = $1, head_hash = $11 FROM seq WHERE audit_chain.id = 1",
        )
        .bind(id)
        .bind(&a.workspace_id)
        .bind(a.timestamp)
        .bind(&a.username)
        .bind(&a.email)
        .bind(a.operation)
        .bind(a.action_kind.as_str())
        .bind(&a.resource)
        .bind(&params)
        .bind(&a.impersonator)
        .bind(h.as_slice())
        .execute(&mut *self)
        .await?;
        Ok(id)
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

    /// Chains the rows from before the chain existed, once (at connection).
    pub(super) async fn seal_if_new(&self) -> StoreResult<()> {
        let row: ChainRow = read!(self, |c| sqlx::query_as(CHAIN_ROW).fetch_one(c).await?);
        if !row.sealed {
            let n = self.seal_audit_chain().await?;
            if n > 0 {
                tracing::info!("chained {n} audit entries written before the audit chain existed");
            }
        }
        Ok(())
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
