//! Audit sinks in the database: each sink's cursor (the last entry it acknowledged), and on
//! PostgreSQL the lease that lets one instance at a time deliver a sink: a session advisory
//! lock held on a connection of its own, which the database releases when that connection
//! ends (the instance died or lost its database), so another instance takes over.
//!
//! The cursor moves by compare-and-set (`WHERE delivered_id = <the value read>`), and on
//! PostgreSQL through the lease's own connection: a deliverer whose lock is gone cannot move
//! it, and two deliverers can never both move it from the same value.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::Connection;

use super::{Db, SqlStore};
use crate::store::*;

/// The right to deliver one sink (see the module's documentation).
pub enum SinkLease {
    /// SQLite: the server is alone on its database (its lock file).
    Alone,
    /// PostgreSQL: a connection holding the sink's advisory lock.
    Postgres(sqlx::PgConnection),
}

/// The advisory lock key of a sink: 64 bits of a digest of its name.
fn lock_key(name: &str) -> i64 {
    let d = Sha256::digest(format!("wmill-audit-sink\0{name}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    i64::from_be_bytes(b)
}

impl SqlStore {
    /// Takes the lease of sink `name` (making its cursor row, at 0, if it has none):
    /// `None` when another instance holds it.
    pub async fn lease_audit_sink(
        &self,
        name: &str,
        now: Micros,
    ) -> StoreResult<Option<SinkLease>> {
        let lease = match &self.db {
            Db::Sqlite { .. } => SinkLease::Alone,
            Db::Postgres(pool) => {
                let opts = pool.connect_options();
                let mut conn = sqlx::PgConnection::connect_with(&opts).await?;
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(lock_key(name))
                    .fetch_one(&mut conn)
                    .await?;
                if !got {
                    let _ = conn.close().await;
                    return Ok(None);
                }
                SinkLease::Postgres(conn)
            }
        };
        insert_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO audit_sink (name, delivered_id, updated_at) VALUES ($1, 0, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        })
        .map_err(|e: sqlx::Error| StoreError::from(e))?;
        Ok(Some(lease))
    }

    /// The sink's cursor, read through its lease (on PostgreSQL this also proves that the
    /// lease's connection, hence the lock, is still there).
    pub async fn audit_sink_cursor(&self, lease: &mut SinkLease, name: &str) -> StoreResult<i64> {
        const SQL: &str = "SELECT delivered_id FROM audit_sink WHERE name = $1";
        let id: Option<i64> = match lease {
            SinkLease::Postgres(conn) => {
                sqlx::query_scalar(SQL)
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            SinkLease::Alone => read!(self, |c| sqlx::query_scalar(SQL)
                .bind(name)
                .fetch_optional(c)
                .await?),
        };
        Ok(id.unwrap_or(0))
    }

    /// Moves the sink's cursor from `from` to `to`, through its lease: `false` when it was no
    /// longer at `from` (another deliverer moved it).
    pub async fn advance_audit_sink(
        &self,
        lease: &mut SinkLease,
        name: &str,
        from: i64,
        to: i64,
        now: Micros,
    ) -> StoreResult<bool> {
        const SQL: &str = "UPDATE audit_sink SET delivered_id = $3, updated_at = $4 \
                           WHERE name = $1 AND delivered_id = $2";
        let n = match lease {
            SinkLease::Postgres(conn) => sqlx::query(SQL)
                .bind(name)
                .bind(from)
                .bind(to)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            SinkLease::Alone => insert_tx!(self, |tx| {
                sqlx::query(SQL)
                    .bind(name)
                    .bind(from)
                    .bind(to)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            })
            .map_err(|e: sqlx::Error| StoreError::from(e))?,
        };
        Ok(n == 1)
    }

    /// Gives the lease back (the lock with its connection).
    pub async fn release_audit_sink(&self, lease: SinkLease) {
        if let SinkLease::Postgres(conn) = lease {
            let _ = conn.close().await;
        }
    }
}

#[async_trait]
impl AuditSinkStore for SqlStore {
    async fn audit_sink_cursors(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(read!(self, |c| sqlx::query_as(
            "SELECT name, delivered_id FROM audit_sink ORDER BY name"
        )
        .fetch_all(c)
        .await?))
    }

    async fn audit_head_id(&self) -> StoreResult<i64> {
        Ok(read!(self, |c| sqlx::query_scalar(
            "SELECT head_id FROM audit_chain WHERE id = 1"
        )
        .fetch_one(c)
        .await?))
    }
}
