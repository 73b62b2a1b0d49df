//! The coherent authentication cache on PostgreSQL (issue 21; the argument is in
//! docs/design.md, "Caching on PostgreSQL").
//!
//! Each instance keeps the same [`AuthCache`] as on SQLite, and may answer from it only while
//! it holds a *lease* and listens for invalidations:
//!
//! - A task of its own holds a dedicated connection that `LISTEN`s on [`CHANNEL`], and
//!   through that same connection joins (a row in `cache_instance`) and renews the row's
//!   lease every [`RENEW_EVERY`]. The instance may serve from its cache until
//!   `t0 + LEASE - MARGIN`, `t0` read on the local clock (one that counts suspended time and
//!   never goes back) *before* the renewal was sent; the row's lease ends `LEASE` after the
//!   database executed it, later in real time. A renewal only succeeds on a row that is
//!   neither fenced nor expired; otherwise the instance joins again: empty cache.
//! - Every write that may change what is cached calls `cache_notify()` in its transaction (a
//!   `NOTIFY` delivered at commit). After the commit its own instance empties its cache,
//!   then [`await_acks`] draws an epoch (`cache_mark()`: after the commit, sent in a
//!   notification of its own, which PostgreSQL delivers after the write's) and waits until
//!   no other instance holds a live lease with a smaller acknowledged epoch. An
//!   instance acknowledges an epoch after emptying its cache. One that does not answer within
//!   [`PATIENCE`] is fenced (it may no longer renew) and the writer waits for its lease to
//!   run out, at most [`LEASE`].
//! - Losing the listening connection, a failed renewal or a fence stops serving at once and
//!   empties the cache; joining again empties it after noting the last epoch under the
//!   epochs' lock, so the acknowledged epoch is never ahead of what the cache reflects.
//! - A read notes the cache's generation before reading and stores what it read only if no
//!   invalidation happened since (see [`AuthCache`]): a stale read never lands in the cache
//!   after the invalidation that should have removed it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use super::StoreError;
use super::cache::AuthCache;

/// The channel invalidations are sent on (by `cache_notify()` and `cache_mark()`,
/// migration 0012; `cache_invalidate()`, 0010, for SQL run by hand).
pub const CHANNEL: &str = "wmill_cache";
/// The `application_name` of the listening connections (for operators and tests).
pub const LISTENER_NAME: &str = "wmill-cache-listener";
/// How long a lease lasts on the database's clock.
pub const LEASE: Duration = Duration::from_secs(5);
/// How much sooner than its lease an instance stops serving from its cache: covers a local
/// clock running up to 20 % slower than the database's.
pub const MARGIN: Duration = Duration::from_secs(1);
/// How often a lease is renewed.
pub const RENEW_EVERY: Duration = Duration::from_millis(1000);
/// How long a renewal (or an acknowledgement) may take before the connection is deemed lost.
const STATEMENT_LIMIT: Duration = Duration::from_millis(1500);
/// How long a writer waits for an acknowledgement before fencing the instance.
pub const PATIENCE: Duration = Duration::from_millis(250);
/// Pause between two attempts to join after a failure.
const RETRY_AFTER: Duration = Duration::from_millis(200);
/// The advisory lock `cache_invalidate()` takes (epochs in commit order). Writers of this
/// version do not take it; joins do, which keeps the waits of the previous version's
/// writers sound during a rolling upgrade.
const EPOCH_LOCK: i64 = 7_012_027;

/// Now on the database's clock, in microseconds (not `now()`: the transaction's start).
const DB_NOW_US: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT";

/// Nanoseconds on a clock that never goes back and keeps counting while the process is
/// stopped or the machine suspended (Linux's `CLOCK_BOOTTIME`; elsewhere the monotonic
/// clock from the process's first reading).
fn local_nanos() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        (t.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec as u64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
            + 1
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos() as u64
}

/// The cache of one instance on PostgreSQL, and the right to serve from it.
pub struct PgCache {
    cache: AuthCache,
    /// This instance's row in `cache_instance` (0 before it first joined).
    id: AtomicI64,
    /// [`local_nanos`] before which the cache may answer; 0: it may not.
    serve_until: AtomicU64,
    /// Set to stop the task.
    stop: tokio::sync::watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl PgCache {
    /// Starts the task that listens, joins and renews; the cache serves once it has joined.
    pub fn start(pool: &PgPool) -> Arc<PgCache> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let me = Arc::new(PgCache {
            cache: AuthCache::default(),
            id: AtomicI64::new(0),
            serve_until: AtomicU64::new(0),
            stop,
            task: Mutex::new(None),
        });
        let options = (*pool.connect_options()).clone();
        let handle = tokio::spawn(me.clone().run(options, stopped));
        *me.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        me
    }

    /// The cache, if it may answer now: the listener is up and the lease's local deadline
    /// is ahead. Checked before every lookup.
    pub fn serving(&self) -> Option<&AuthCache> {
        (local_nanos() < self.serve_until.load(Ordering::Acquire)).then_some(&self.cache)
    }

    /// The cache, to note a generation or store a read (whether or not it may answer).
    pub fn cache(&self) -> &AuthCache {
        &self.cache
    }

    /// This instance's row (0 before it joined): a writer does not wait for itself.
    pub fn id(&self) -> i64 {
        self.id.load(Ordering::Acquire)
    }

    /// Stops serving and forgets everything (in this order).
    fn stop_serving(&self) {
        self.serve_until.store(0, Ordering::Release);
        self.cache.invalidate();
    }

    /// Stops the task and removes this instance's row, so that writers stop waiting for it.
    pub async fn close(&self, pool: &PgPool) {
        self.stop_serving();
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        self.stop_serving();
        let id = self.id();
        if id != 0 {
            let _ = sqlx::query("DELETE FROM cache_instance WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await;
        }
    }

    async fn run(
        self: Arc<Self>,
        options: sqlx::postgres::PgConnectOptions,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut was_up = false;
        loop {
            if *stopped.borrow() {
                break;
            }
            self.stop_serving();
            // A pool of its own per session: a connection that hangs stays with it.
            let own = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(STATEMENT_LIMIT * 2)
                .connect_lazy_with(options.clone().application_name(LISTENER_NAME));
            let ended = self.session(&own, &mut stopped, &mut was_up).await;
            self.stop_serving();
            match ended {
                Ok(()) => break,
                Err(e) if was_up => {
                    // A session that had joined is retried at once (a terminated backend, a
                    // failover): the cache answers again as soon as it can.
                    tracing::warn!(
                        "the authentication cache stops answering until it can listen again: {e}"
                    );
                    was_up = false;
                    continue;
                }
                Err(e) => tracing::debug!("the authentication cache cannot join yet: {e}"),
            }
            tokio::select! {
                _ = stopped.changed() => break,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
        self.stop_serving();
    }

    /// Listens, joins, then applies invalidations and renews the lease until something
    /// fails (`Err`: join again) or the store closes (`Ok`).
    async fn session(
        &self,
        own: &PgPool,
        stopped: &mut tokio::sync::watch::Receiver<bool>,
        was_up: &mut bool,
    ) -> Result<(), String> {
        let mut listener = limit(PgListener::connect_with(own)).await?;
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        limit(listener.listen(CHANNEL)).await?;
        // Join: every epoch up to `last` was drawn by a writer after its write committed
        // (`cache_mark()`), so every such write is visible to every read that starts after
        // the cache is emptied below; writes that commit later will arrive on the listener,
        // which listens already. (The epochs' lock is for writers of the previous version,
        // which drew theirs before their commit, under it.)
        let t0 = local_nanos();
        let id = self.id();
        let joined: Result<(i64, i64), sqlx::Error> = limit_sql(async {
            let mut tx = sqlx::Acquire::begin(&mut listener).await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EPOCH_LOCK)
                .execute(&mut *tx)
                .await?;
            let last: i64 = sqlx::query_scalar(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cache_epoch",
            )
            .fetch_one(&mut *tx)
            .await?;
            self.cache.invalidate();
            let lease = format!("{DB_NOW_US} + {}", LEASE.as_micros());
            let mut row: Option<i64> = None;
            if id != 0 {
                row = sqlx::query_scalar(AssertSqlSafe(format!(
                    "UPDATE cache_instance SET lease_until = {lease}, acked_epoch = $2, \
                     fenced = FALSE WHERE id = $1 RETURNING id"
                )))
                .bind(id)
                .bind(last)
                .fetch_optional(&mut *tx)
                .await?;
            }
            let row = match row {
                Some(r) => r,
                None => {
                    // Rows of instances gone for an hour are forgotten.
                    sqlx::query(AssertSqlSafe(format!(
                        "DELETE FROM cache_instance WHERE lease_until < {DB_NOW_US} - 3600000000"
                    )))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query_scalar(AssertSqlSafe(format!(
                        "INSERT INTO cache_instance (lease_until, acked_epoch) \
                         VALUES ({lease}, $1) RETURNING id"
                    )))
                    .bind(last)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            tx.commit().await?;
            Ok((row, last))
        })
        .await;
        let (row, mut acked) = joined.map_err(|e| e.to_string())?;
        self.id.store(row, Ordering::Release);
        self.serve_until
            .store(t0 + nanos(LEASE - MARGIN), Ordering::Release);
        tracing::debug!("the authentication cache answers (instance {row})");
        *was_up = true;
        let renew = format!(
            "UPDATE cache_instance SET lease_until = {DB_NOW_US} + {} \
             WHERE id = $1 AND NOT fenced AND lease_until > {DB_NOW_US}",
            LEASE.as_micros()
        );
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = stopped.changed() => return Ok(()),
                got = listener.try_recv() => {
                    let first = got
                        .map_err(|e| e.to_string())?
                        .ok_or("the listening connection was lost")?;
                    let mut newest = epoch_of(first.payload());
                    while let Some(n) = listener.next_buffered() {
                        newest = newest.max(epoch_of(n.payload()));
                    }
                    // Forget first, then say so.
                    self.cache.invalidate();
                    if newest > acked {
                        limit_sql(
                            sqlx::query(
                                "UPDATE cache_instance SET acked_epoch = GREATEST(acked_epoch, $2) \
                                 WHERE id = $1",
                            )
                            .bind(row)
                            .bind(newest)
                            .execute(&mut listener),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                        acked = newest;
                    }
                }
                _ = tick.tick() => {
                    let t0 = local_nanos();
                    let done = limit_sql(
                        sqlx::query(AssertSqlSafe(renew.clone()))
                            .bind(row)
                            .execute(&mut listener),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    if done.rows_affected() != 1 {
                        return Err("the lease ran out or a writer fenced this instance".into());
                    }
                    // A renewal that matched just before its lease ran out may complete
                    // after a writer saw it run out (and did not wait for this instance):
                    // a right to serve that lapsed is only resumed with an empty cache.
                    if local_nanos() >= self.serve_until.load(Ordering::Acquire) {
                        self.cache.invalidate();
                    }
                    self.serve_until
                        .store(t0 + nanos(LEASE - MARGIN), Ordering::Release);
                }
            }
        }
    }
}

fn epoch_of(payload: &str) -> i64 {
    payload.parse().unwrap_or(0)
}

async fn limit<T>(
    f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, String> {
    limit_sql(f).await.map_err(|e| e.to_string())
}

async fn limit_sql<T>(
    f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(STATEMENT_LIMIT, f).await {
        Ok(r) => r,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// After a write that called `cache_notify()` committed (and this instance, `me`, emptied
/// its own cache): draws an epoch after the commit and sends it (`cache_mark()`), then
/// waits until no other instance holds a live lease without having acknowledged it (an
/// instance acknowledges an epoch after emptying its cache on that notification, which
/// PostgreSQL delivers after the write's, committed before the epoch was drawn). An instance silent for [`PATIENCE`] is fenced, and waited for
/// until its lease runs out. If the database cannot be asked for longer than a lease, the
/// write is reported unavailable (it is committed; its effect on other instances' caches
/// is not confirmed).
pub async fn await_acks(pool: &PgPool, me: i64) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let unsure = |e: sqlx::Error| {
        StoreError::Unavailable(format!(
            "the change is saved, but other instances could not be confirmed to have dropped \
             their cached copies: {e}"
        ))
    };
    // No other live lease: nobody to wait for (an instance whose lease has run out joins
    // again, with an empty cache, before it serves).
    let others = format!(
        "SELECT EXISTS (SELECT 1 FROM cache_instance WHERE id <> $1 AND lease_until > {DB_NOW_US})"
    );
    let epoch: i64 = loop {
        let asked: Result<Option<i64>, sqlx::Error> = async {
            let any: bool = sqlx::query_scalar(AssertSqlSafe(others.clone()))
                .bind(me)
                .fetch_one(pool)
                .await?;
            if !any {
                return Ok(None);
            }
            Ok(Some(
                sqlx::query_scalar("SELECT cache_mark()")
                    .fetch_one(pool)
                    .await?,
            ))
        }
        .await;
        match asked {
            Ok(None) => return Ok(()),
            Ok(Some(e)) => break e,
            Err(e) if started.elapsed() > LEASE + PATIENCE => return Err(unsure(e)),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut pause = Duration::from_micros(300);
    let pending = format!(
        "SELECT id, fenced FROM cache_instance \
         WHERE id <> $1 AND acked_epoch < $2 AND lease_until > {DB_NOW_US}"
    );
    loop {
        let rows: Result<Vec<(i64, bool)>, sqlx::Error> =
            sqlx::query_as(AssertSqlSafe(pending.clone()))
                .bind(me)
                .bind(epoch)
                .fetch_all(pool)
                .await;
        match rows {
            Ok(rows) if rows.is_empty() => return Ok(()),
            Ok(rows) => {
                let silent: Vec<i64> = rows.iter().filter(|r| !r.1).map(|r| r.0).collect();
                if started.elapsed() >= PATIENCE && !silent.is_empty() {
                    tracing::warn!(
                        "cache instances {silent:?} did not apply invalidation {epoch} within \
                         {} ms: fenced, waiting for their leases to run out",
                        PATIENCE.as_millis()
                    );
                    sqlx::query(
                        "UPDATE cache_instance SET fenced = TRUE \
                         WHERE id = ANY($1) AND acked_epoch < $2",
                    )
                    .bind(&silent)
                    .bind(epoch)
                    .execute(pool)
                    .await
                    .ok();
                }
            }
            Err(e) => {
                if started.elapsed() > LEASE + PATIENCE {
                    return Err(unsure(e));
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
