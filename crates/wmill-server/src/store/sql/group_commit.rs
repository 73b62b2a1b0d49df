//! SQLite's single writer, with group commit.
//!
//! SQLite takes one writer at a time, so write transactions queue for the one write
//! connection. Instead of a `BEGIN` … `COMMIT` each, the transactions waiting in line share
//! one: each runs inside a savepoint of the open transaction, and the last one in line (or
//! the 64th) commits them all at once. A transaction is answered only after the commit that
//! holds it, with that commit's outcome; one that fails (an error, an early return, a request
//! gone away) is rolled back to its savepoint and leaves nothing, without touching the others
//! in the batch, which is then committed at once. Each savepoint's `RELEASE` goes with the next one's `SAVEPOINT` (or the
//! `COMMIT`) in one round trip to the connection's thread, so that a transaction in a batch
//! costs one round trip besides its own statements, where `BEGIN` and `COMMIT` cost two; and
//! the commit's WAL writes (and the checkpoints that follow them) are made once per batch.
//! (A profile of audited writes at 32 clients showed the server's time going to waking
//! threads: each statement is a round trip to the SQLite connection's thread.)

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// Transactions committed together at most (a bound on the batch's latency).
pub(crate) const MAX_BATCH: usize = 64;

/// The write connection and the batch open on it.
pub(crate) struct Writer {
    pool: SqlitePool,
    batch: Arc<Mutex<Batch>>,
    /// Transactions waiting for their turn: while there are some, the batch stays open for
    /// them.
    queued: AtomicUsize,
    /// Batches committed (for tests).
    commits: AtomicU64,
}

/// The savepoint of the last transaction in the open batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Savepoint {
    /// None open.
    #[default]
    None,
    /// Its transaction is running.
    Running,
    /// Its transaction is done: released with the next statement sent.
    Done,
    /// Its transaction went away (an error, an early return, a dropped request): rolled
    /// back with the next statement sent.
    Abandoned,
    /// A statement that opens or closes it was interrupted: the batch's state is not known,
    /// and the batch is rolled back whole.
    Unknown,
}

#[derive(Default)]
struct Batch {
    /// The connection, while a batch (a transaction) is open on it.
    conn: Option<PoolConnection<Sqlite>>,
    savepoint: Savepoint,
    /// Transactions done, waiting for the batch's commit.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    /// The audit chain's head as the batch's last audit entry left it: the next entry's
    /// append need not read it. Forgotten when the batch ends (a transaction rolled back
    /// to its savepoint ends the batch before the next one runs, see `WriteTx::open`), so
    /// it is never older than the database's: nobody else writes during a batch, which
    /// holds SQLite's write lock.
    head: Option<super::chain::Head>,
}

/// What a batch's failed commit tells each of its transactions.
fn shared_failure(msg: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!(
        "the commit of this write failed: {msg}"
    )))
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sql).execute(conn).await.map(|_| ())
}

impl Batch {
    /// Sends `sql` with what the last savepoint needs first (released, or rolled back);
    /// `None` when the batch's state is unknown and it must be rolled back whole.
    fn with_savepoint_closed(&self, then_savepoint: bool) -> Option<&'static str> {
        Some(match (self.savepoint, then_savepoint) {
            (Savepoint::None, true) => "SAVEPOINT w",
            (Savepoint::None, false) => "COMMIT",
            (Savepoint::Done, true) => "RELEASE w; SAVEPOINT w",
            (Savepoint::Done, false) => "RELEASE w; COMMIT",
            (Savepoint::Running | Savepoint::Abandoned, true) => {
                "ROLLBACK TO w; RELEASE w; SAVEPOINT w"
            }
            (Savepoint::Running | Savepoint::Abandoned, false) => {
                "ROLLBACK TO w; RELEASE w; COMMIT"
            }
            (Savepoint::Unknown, _) => return None,
        })
    }

    /// Rolls back the whole open batch (its state is not known, or a statement failed):
    /// every transaction waiting in it fails, nothing of it stays.
    async fn abort(&mut self, msg: &str) {
        let waiters = std::mem::take(&mut self.waiters);
        self.savepoint = Savepoint::None;
        self.head = None;
        if let Some(mut conn) = self.conn.take()
            && exec(&mut conn, "ROLLBACK").await.is_err()
        {
            let _ = conn.close().await;
        }
        for w in waiters {
            let _ = w.send(Err(msg.to_string()));
        }
    }

    /// Commits the open batch (after closing the last savepoint) and tells its
    /// transactions; the error, if it failed.
    async fn commit(&mut self, commits: &AtomicU64) -> Option<String> {
        let Some(sql) = self.with_savepoint_closed(false) else {
            self.abort("a write was interrupted").await;
            return Some("a write was interrupted".into());
        };
        let mut conn = self.conn.take()?;
        // Taken first: if this is dropped half-way, the waiters hear of a failure (the
        // outcome is unknown), never of a success.
        let waiters = std::mem::take(&mut self.waiters);
        self.savepoint = Savepoint::None;
        self.head = None;
        let failed = match exec(&mut conn, sql).await {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!("a group commit of {} writes failed: {msg}", waiters.len());
                // Nothing of the batch stays; a connection that cannot roll back is closed.
                if exec(&mut conn, "ROLLBACK").await.is_err() {
                    let _ = conn.close().await;
                }
                Some(msg)
            }
        };
        for w in waiters {
            let _ = w.send(failed.clone().map_or(Ok(()), Err));
        }
        failed
    }
}

impl Writer {
    /// A writer on `pool`, a pool of one connection.
    pub(crate) fn new(pool: SqlitePool) -> Arc<Writer> {
        Arc::new(Writer {
            pool,
            batch: Arc::new(Mutex::new(Batch::default())),
            queued: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
        })
    }

    /// Batches committed so far.
    #[cfg(test)]
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Starts a write transaction: waits for its turn, then opens its savepoint in the
    /// open batch (or a new one).
    pub(crate) async fn begin(self: &Arc<Self>) -> Result<WriteTx, sqlx::Error> {
        let mut ticket = Queued {
            writer: self.clone(),
            waiting: true,
        };
        self.queued.fetch_add(1, Ordering::AcqRel);
        let guard = self.batch.clone().lock_owned().await;
        ticket.admitted();
        let mut tx = WriteTx {
            writer: self.clone(),
            guard: Some(guard),
        };
        tx.open().await?;
        Ok(tx)
    }

    /// Commits the open batch, if any (after a transaction went away while nobody was in
    /// line to do it).
    async fn flush(self: Arc<Self>) {
        let mut guard = self.batch.clone().lock_owned().await;
        if guard.conn.is_some() {
            guard.commit(&self.commits).await;
        }
    }

    /// Commits the open batch soon, on the runtime, if nobody is in line to do it.
    fn flush_soon(self: &Arc<Self>) {
        if self.queued.load(Ordering::Acquire) == 0
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(self.clone().flush());
        }
    }
}

/// A transaction waiting for its turn; if it goes away before (its request dropped), the
/// batch it would have joined is committed without it.
struct Queued {
    writer: Arc<Writer>,
    waiting: bool,
}

impl Queued {
    fn admitted(&mut self) {
        self.waiting = false;
        self.writer.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.waiting {
            self.writer.queued.fetch_sub(1, Ordering::AcqRel);
            self.writer.flush_soon();
        }
    }
}

/// A write transaction: a savepoint in the writer's open batch. [`WriteTx::commit`] answers
/// once the batch holding it is committed; dropped without it, it is rolled back.
pub(crate) struct WriteTx {
    writer: Arc<Writer>,
    guard: Option<OwnedMutexGuard<Batch>>,
}

impl WriteTx {
    /// Closes what the previous transaction left open, opens the batch if needed, then
    /// this transaction's savepoint, in one round trip.
    async fn open(&mut self) -> Result<(), sqlx::Error> {
        let pool = self.writer.pool.clone();
        let before = self
            .guard
            .as_deref()
            .ok_or(sqlx::Error::WorkerCrashed)?
            .savepoint;
        // The one before went away without its change: its savepoint is rolled back and
        // the batch committed now, not kept open for more. (A request that read before
        // writing and found the data changed under it, as a SCIM PATCH does, reads again:
        // it must see the batch's changes, which readers see once committed.)
        if matches!(before, Savepoint::Running | Savepoint::Abandoned) {
            let guard = self.guard.take().ok_or(sqlx::Error::WorkerCrashed)?;
            let guard = commit_detached(&self.writer, guard)
                .await
                .map_err(|_| sqlx::Error::WorkerCrashed)?;
            self.guard = Some(guard);
        }
        let b = self
            .guard
            .as_deref_mut()
            .ok_or(sqlx::Error::WorkerCrashed)?;
        if b.savepoint == Savepoint::Unknown {
            b.abort("a write before it was interrupted").await;
        }
        let sql = match b.with_savepoint_closed(true) {
            Some(sql) if b.conn.is_some() => sql,
            _ => {
                b.conn = Some(pool.acquire().await?);
                b.head = None;
                "BEGIN; SAVEPOINT w"
            }
        };
        b.savepoint = Savepoint::Unknown;
        let sent = match b.conn.as_deref_mut() {
            Some(conn) => exec(conn, sql).await,
            None => Err(sqlx::Error::WorkerCrashed),
        };
        if let Err(e) = sent {
            b.abort(&e.to_string()).await;
            return Err(e);
        }
        b.savepoint = Savepoint::Running;
        Ok(())
    }

    /// Ends the transaction and waits for the commit of the batch holding it: made by this
    /// transaction if nobody is in line after it (or the batch is full), else by the last
    /// one in line.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let (tell, told) = oneshot::channel();
        let alone = self.writer.queued.load(Ordering::Acquire) == 0;
        let mut guard = self.guard.take().ok_or(sqlx::Error::WorkerCrashed)?;
        guard.savepoint = Savepoint::Done;
        guard.waiters.push(tell);
        if alone || guard.waiters.len() >= MAX_BATCH {
            // Told like the others, by a commit that goes on if this caller goes away.
            drop(commit_detached(&self.writer, guard));
        } else {
            drop(guard);
            // A transaction in line may have gone away since: then nobody would commit.
            self.writer.flush_soon();
        }
        match told.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(shared_failure(&msg)),
            Err(_) => Err(shared_failure("its batch was dropped")),
        }
    }
}

impl WriteTx {
    /// Appends an audit entry to the chain, in this transaction.
    pub(crate) async fn append_audit(
        &mut self,
        a: &crate::store::NewAudit,
    ) -> Result<(), sqlx::Error> {
        let b = self
            .guard
            .as_deref_mut()
            .ok_or(sqlx::Error::WorkerCrashed)?;
        // Taken: a failed append leaves it unknown (read again by the next one).
        let head = b.head.take();
        let conn = b.conn.as_deref_mut().ok_or(sqlx::Error::WorkerCrashed)?;
        b.head = Some(super::chain::append_sqlite(conn, head, a).await?);
        Ok(())
    }
}

/// Commits the open batch in a task of its own, which finishes whatever happens to the
/// caller: a request that goes away (its client hung up) while its transaction commits the
/// batch must not leave the batch's other transactions without their outcome (they would
/// be told of a failure, their writes maybe committed). Gives the batch back once done.
fn commit_detached(
    writer: &Arc<Writer>,
    mut guard: OwnedMutexGuard<Batch>,
) -> tokio::task::JoinHandle<OwnedMutexGuard<Batch>> {
    let writer = writer.clone();
    tokio::spawn(async move {
        guard.commit(&writer.commits).await;
        guard
    })
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        // Not committed: its savepoint is rolled back by whoever takes the batch next (the
        // next transaction in line, or a flush if there is none).
        if let Some(mut guard) = self.guard.take() {
            if guard.savepoint == Savepoint::Running {
                guard.savepoint = Savepoint::Abandoned;
            }
            drop(guard);
            self.writer.flush_soon();
        }
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self.guard.as_deref().and_then(|b| b.conn.as_deref()) {
            Some(c) => c,
            // `begin` returns a transaction only with its connection open.
            None => unreachable!("a write transaction without its connection"),
        }
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self
            .guard
            .as_deref_mut()
            .and_then(|b| b.conn.as_deref_mut())
        {
            Some(c) => c,
            None => unreachable!("a write transaction without its connection"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    use super::*;

    /// A writer on a fresh SQLite file with a table `t (x UNIQUE)`, and a reader.
    async fn setup(dir: &std::path::Path) -> (Arc<Writer>, SqlitePool) {
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("t.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)")
            .execute(&pool)
            .await
            .unwrap();
        let read = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts.read_only(true))
            .await
            .unwrap();
        (Writer::new(pool), read)
    }

    async fn rows(read: &SqlitePool) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(read)
            .await
            .unwrap()
    }

    async fn insert(tx: &mut WriteTx, x: i64) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO t (x) VALUES ($1)")
            .bind(x)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    }

    /// 100 writers at once share commits; each is answered after its rows are committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writers_in_line_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, read) = setup(dir.path()).await;
        let mut tasks = Vec::new();
        for i in 0..100i64 {
            let (writer, read) = (writer.clone(), read.clone());
            tasks.push(tokio::spawn(async move {
                let mut tx = writer.begin().await.unwrap();
                insert(&mut tx, i).await.unwrap();
                tx.commit().await.unwrap();
                // Answered: committed, readers see it.
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t WHERE x = $1")
                    .bind(i)
                    .fetch_one(&read)
                    .await
                    .unwrap();
                assert_eq!(n, 1, "{i} answered before its commit");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(rows(&read).await, (0..100).collect::<Vec<_>>());
        let commits = writer.commits();
        assert!(commits < 50, "{commits} commits for 100 transactions");
        assert!(
            writer.batch.lock().await.conn.is_none(),
            "the batch is closed"
        );
    }

    /// 200 writers at once: every third fails after a write of its own (a unique
    /// violation), every seventh is dropped half-way; they leave nothing, and the others
    /// are all committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_transaction_leaves_nothing_and_takes_no_other_down() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, read) = setup(dir.path()).await;
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = writer.begin().await?;
                insert(&mut tx, 1000 + i).await?;
                if i % 3 == 0 {
                    // Its own row first, then a duplicate: the whole transaction fails.
                    insert(&mut tx, 1000 + i).await?;
                }
                if i % 7 == 0 {
                    drop(tx);
                    return Ok::<bool, sqlx::Error>(false);
                }
                insert(&mut tx, 5000 + i).await?;
                tx.commit().await?;
                Ok(true)
            }));
        }
        let mut committed = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            let i = i as i64;
            match t.await.unwrap() {
                Ok(true) => committed.push(i),
                Ok(false) => assert_eq!(i % 7, 0),
                Err(e) => {
                    assert_eq!(i % 3, 0, "{e}");
                    assert!(e.to_string().contains("UNIQUE"), "{e}");
                }
            }
        }
        let want: Vec<i64> = (0..200)
            .filter(|i| i % 3 != 0 && i % 7 != 0)
            .map(|i| 1000 + i)
            .chain(
                (0..200)
                    .filter(|i| i % 3 != 0 && i % 7 != 0)
                    .map(|i| 5000 + i),
            )
            .collect();
        assert_eq!(committed.len(), want.len() / 2);
        assert_eq!(rows(&read).await, want);
        // The batch is closed: the connection went back to its pool.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(writer.batch.lock().await.conn.is_none());
    }

    /// The transaction that commits a batch goes away half-way (its client hung up): the
    /// commit still completes, and the others in the batch hear that it did.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_whose_caller_goes_away_still_answers_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, read) = setup(dir.path()).await;
        let mut tx = writer.begin().await.unwrap();
        sqlx::raw_sql("CREATE TABLE big (b BLOB)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut want = Vec::new();
        for round in 0..5i64 {
            let mut first = writer.begin().await.unwrap();
            insert(&mut first, round * 10 + 1).await.unwrap();
            let w = writer.clone();
            let second = tokio::spawn(async move {
                let mut tx = w.begin().await.unwrap();
                insert(&mut tx, round * 10 + 2).await.unwrap();
                // Megabytes to write: the commit is still running after one poll.
                sqlx::raw_sql("INSERT INTO big VALUES (randomblob(8000000))")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                // Nobody in line after it: polled once, it starts the batch's commit, then
                // its caller goes away.
                let _ = tokio::time::timeout(Duration::ZERO, tx.commit()).await;
            });
            while writer.queued.load(Ordering::Acquire) == 0 {
                tokio::task::yield_now().await;
            }
            // Someone is in line: `first` leaves the batch to it and waits for its commit.
            tokio::time::timeout(Duration::from_secs(10), first.commit())
                .await
                .expect("answered")
                .expect("told of the commit its committer no longer waited for");
            second.await.unwrap();
            want.extend([round * 10 + 1, round * 10 + 2]);
            assert_eq!(rows(&read).await, want, "round {round}");
        }
    }

    /// A transaction that went away while others waited in line for the batch it would
    /// have committed: the batch is still committed, and its own savepoint rolled back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_left_open_by_a_dropped_transaction_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, read) = setup(dir.path()).await;
        let mut first = writer.begin().await.unwrap();
        insert(&mut first, 1).await.unwrap();
        // In line behind it: it will be admitted, write, and never finish.
        let w = writer.clone();
        let (written, wait) = oneshot::channel();
        let second = tokio::spawn(async move {
            let mut tx = w.begin().await.unwrap();
            insert(&mut tx, 2).await.unwrap();
            let _ = written.send(());
            std::future::pending::<()>().await;
            drop(tx);
        });
        while writer.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // Someone is in line: `first` leaves the batch open for it.
        let committing = tokio::spawn(async move { first.commit().await });
        wait.await.unwrap();
        second.abort();
        let done = tokio::time::timeout(Duration::from_secs(10), committing)
            .await
            .expect("the batch is committed without the dropped transaction");
        done.unwrap().unwrap();
        assert_eq!(rows(&read).await, vec![1]);
        // And one that went away while still in line.
        let holder = writer.begin().await.unwrap();
        let w = writer.clone();
        let queued = tokio::spawn(async move {
            let _tx = w.begin().await;
        });
        while writer.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        queued.abort();
        let _ = queued.await;
        let mut holder = holder;
        insert(&mut holder, 3).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), holder.commit())
            .await
            .expect("not left waiting for a transaction that went away")
            .unwrap();
        assert_eq!(rows(&read).await, vec![1, 3]);
    }
}
