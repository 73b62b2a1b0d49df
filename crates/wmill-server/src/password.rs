//! Password hashing with argon2id, off the async runtime on a bounded pool, so that a storm
//! of logins never stalls token-authenticated requests.
//!
//! The pool is a fixed set of long-lived threads at the lowest scheduling priority (Linux's
//! `SCHED_IDLE`), fed by one queue: request threads pre-empt a hash whenever they have work.
//! Their number is bounded by a memory budget (`--hash-memory-mib`: threads × m_cost within
//! it), so that a login storm's memory does not grow with the number of cores. Each hashing
//! thread reuses its ~19 MiB of argon2 memory while hashes keep coming, and gives it back
//! to the system after [`RELEASE_MEMORY_AFTER`] without one. (On tokio's blocking pool the
//! hashes wandered over dozens of short-lived threads, each leaving its memory in an
//! allocator arena of its own: 600 MiB resident after a few seconds of logins.)

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::error::{Error, Result};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Argon2Params {
    /// OWASP's floor for argon2id: m=19456 KiB, t=2, p=1.
    pub const OWASP: Argon2Params = Argon2Params {
        m_cost: 19456,
        t_cost: 2,
        p_cost: 1,
    };

    /// Cheap parameters for tests only; never below argon2's own minimums.
    pub const TEST: Argon2Params = Argon2Params {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    /// Checks that argon2 accepts these parameters.
    pub fn validate(&self) -> std::result::Result<(), String> {
        Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .map(|_| ())
            .map_err(|e| format!("invalid argon2 parameters: {e}"))
    }
}

/// Outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or no account).
    No,
    /// Right password; the stored hash is as strong as configured.
    Yes,
    /// Right password; here is a new hash with the current parameters to store.
    YesRehashed(String),
}

/// Nice value of the hashing threads where `SCHED_IDLE` is refused: a thread at 10 gets
/// about a tenth of the CPU time that a normal one (the async runtime's) wants too, and all
/// of a core nobody else wants.
pub const HASH_THREAD_NICE: i32 = 10;

/// Linux's `SCHED_IDLE` policy number, as `/proc/<pid>/task/<tid>/stat` shows it.
pub const SCHED_IDLE: u32 = 5;

type Job = Box<dyn FnOnce() + Send>;

/// A hashing thread that has had no job for this long gives its argon2 memory back (a
/// storm reuses it from one hash to the next; an idle server holds none).
pub const RELEASE_MEMORY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Default bound on the argon2 memory of the hashes running at once, in KiB (40 MiB: two
/// hashes at OWASP's m=19456 KiB).
pub const DEFAULT_HASH_MEMORY_KIB: u32 = 40 * 1024;

/// How many hashes may run at once: at most `threads`, and no more than fit in `budget_kib`
/// of argon2 memory at `m_cost` KiB each (never fewer than one).
pub fn concurrency_within(threads: usize, budget_kib: u32, m_cost: u32) -> usize {
    let fit = (budget_kib / m_cost.max(1)).max(1) as usize;
    threads.clamp(1, fit.max(1))
}

/// The queue the hashing threads wait on, with a deadline (std's channel cannot be waited
/// on by several threads, each with a timeout of its own).
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    /// [`RELEASE_MEMORY_AFTER`], shorter in tests.
    release_after: std::time::Duration,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// Set when the last [`Hasher`] is dropped: the threads finish the queue and exit.
    closed: bool,
}

/// Closes the queue when the last clone of a [`Hasher`] goes.
struct Closer(Arc<Queue>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.closed = true;
        }
        self.0.ready.notify_all();
    }
}

/// Hashes and verifies passwords on `concurrency` dedicated threads, with at most
/// `max_pending` jobs waiting or running: past that, a job is refused at once (a flood of
/// logins must not grow memory without bound).
#[derive(Clone)]
pub struct Hasher {
    params: Argon2Params,
    /// The pool's queue; its threads exit when the last clone is dropped.
    queue: Arc<Closer>,
    dummy: Arc<String>,
    pending: Arc<AtomicUsize>,
    max_pending: usize,
    threads: usize,
}

/// Counts a job as pending from its submission until it has run or been dropped.
struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Moves the calling thread to Linux's `SCHED_IDLE` policy: any normal thread that wakes up
/// (a request thread, a PostgreSQL backend) takes its core at once, so a hash never delays
/// a read. (Nice 10 only lowers a thread's share: a woken reader still waited behind a hash
/// for a few milliseconds, measured in docs/benchmarks.md.) The cost: while normal work
/// saturates every core, hashes (logins) get almost nothing until it ebbs. Where the policy
/// is refused, the thread falls back to nice 10.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let Err(e) = set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        ) else {
            return;
        };
        tracing::warn!(
            "cannot move a hashing thread to SCHED_IDLE ({e:?}); using nice {HASH_THREAD_NICE}"
        );
        let me = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(me), HASH_THREAD_NICE) {
            tracing::warn!("cannot lower the priority of a hashing thread: {e}");
        }
    }
}

/// A hashing thread: runs jobs from the queue, keeps its argon2 memory while jobs keep
/// coming, gives it back after [`RELEASE_MEMORY_AFTER`] without one, exits when the queue
/// is closed and empty.
fn hashing_thread(queue: Arc<Queue>) {
    lower_priority();
    KEEP_MEMORY.set(true);
    let Ok(mut state) = queue.state.lock() else {
        return;
    };
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            // A panic loses that job's answer (its caller sees an error), not the thread.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            state = match queue.state.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            continue;
        }
        if state.closed {
            return;
        }
        let holding = MEMORY.with_borrow(|m| m.capacity() > 0);
        state = if holding {
            match queue.ready.wait_timeout(state, queue.release_after) {
                Ok((s, t)) => {
                    if t.timed_out() && s.jobs.is_empty() {
                        release_memory();
                    }
                    s
                }
                Err(_) => return,
            }
        } else {
            match queue.ready.wait(state) {
                Ok(s) => s,
                Err(_) => return,
            }
        };
    }
}

impl Hasher {
    /// A hasher with these parameters and `concurrency` hashing threads, and no practical
    /// bound on waiting jobs.
    pub fn new(params: Argon2Params, concurrency: usize) -> Self {
        Self::bounded(params, concurrency, usize::MAX / 2)
    }

    /// A hasher that refuses jobs beyond `max_pending` waiting or running.
    pub fn bounded(params: Argon2Params, concurrency: usize, max_pending: usize) -> Self {
        Self::build(params, concurrency, max_pending, RELEASE_MEMORY_AFTER)
    }

    fn build(
        params: Argon2Params,
        concurrency: usize,
        max_pending: usize,
        release_after: std::time::Duration,
    ) -> Self {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
            release_after,
        });
        let threads = concurrency.max(1);
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                // A hash needs little stack (its memory is on the heap).
                .stack_size(256 * 1024)
                .spawn(move || hashing_thread(queue))
                .expect("the OS can start the hashing threads");
        }
        Hasher {
            dummy: Arc::new(dummy_hash(params)),
            params,
            queue: Arc::new(Closer(queue)),
            pending: Arc::new(AtomicUsize::new(0)),
            max_pending: max_pending.max(1),
            threads,
        }
    }

    /// How many hashes may run at once (the hashing threads).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs waiting or running now.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// The parameters new hashes get.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Runs `f` on a hashing thread, after the jobs queued before it; refused with
    /// [`Error::Busy`] when `max_pending` jobs are already waiting or running.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Busy(
                "too many password checks are waiting; try again in a moment".into(),
            ));
        }
        let pending = Pending(self.pending.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller went away (client disconnected): skip the work.
            if tx.is_closed() {
                return;
            }
            let out = f();
            // The place is free before the caller hears back.
            drop(pending);
            let _ = tx.send(out);
        });
        {
            let mut state = self
                .queue
                .0
                .state
                .lock()
                .map_err(|_| Error::internal("the password hashing threads are gone"))?;
            state.jobs.push_back(job);
        }
        self.queue.0.ready.notify_one();
        rx.await
            .map_err(|_| Error::internal("a password hashing job failed"))
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params;
        self.run(move || hash_now(params, &password)).await?
    }

    /// Hashes a new password and gives the thread's argon2 memory back at once: for a hash
    /// that is not followed by others (the bootstrap's, at start-up), so that an idle server
    /// holds no argon2 memory.
    pub async fn hash_once(&self, password: String) -> Result<String> {
        let params = self.params;
        self.run(move || {
            let out = hash_now(params, &password);
            release_memory();
            out
        })
        .await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no
    /// account, so that both cases take about the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<Verified> {
        let params = self.params;
        let dummy = self.dummy.clone();
        self.run(move || {
            let (phc, real) = match &stored {
                Some(s) => (s.as_str(), true),
                None => (dummy.as_str(), false),
            };
            let Ok(parsed) = PasswordHash::new(phc) else {
                return Ok(Verified::No);
            };
            let ok = matches(password.as_bytes(), &parsed, params);
            if !(ok && real) {
                return Ok(Verified::No);
            }
            if weaker_than(&parsed, params) {
                return Ok(Verified::YesRehashed(hash_now(params, &password)?));
            }
            Ok(Verified::Yes)
        })
        .await?
    }
}

thread_local! {
    /// The argon2 memory of this hashing thread, kept from one hash to the next while
    /// hashes keep coming. Allocating ~19 MiB per hash cost a fifth of the time in page
    /// faults; kept for ever, it was 19 MiB per thread on an idle server.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    /// Whether this thread keeps its memory between hashes (hashing threads only).
    static KEEP_MEMORY: Cell<bool> = const { Cell::new(false) };
}

/// Smallest allocation glibc's malloc always serves with its own `mmap` and gives back to
/// the system when freed: its dynamic mmap threshold never rises past 32 MiB on 64-bit
/// systems (mallopt(3), `M_MMAP_THRESHOLD`). A smaller argon2 buffer, once freed, raised
/// the threshold to its size and the next one came from (and stayed in) an arena. The
/// capacity beyond the blocks used is address space only: pages never touched take no
/// memory.
const ALWAYS_MAPPED_BLOCKS: usize = (32 * 1024 * 1024) / std::mem::size_of::<Block>() + 1;

/// `blocks` zeroed argon2 blocks, in an allocation given back to the system when dropped.
fn fresh_memory(blocks: usize) -> Vec<Block> {
    let mut m = Vec::with_capacity(blocks.max(ALWAYS_MAPPED_BLOCKS));
    m.resize(blocks, Block::default());
    m
}

/// Gives the calling thread's argon2 memory back.
fn release_memory() {
    MEMORY.with_borrow_mut(|m| *m = Vec::new());
}

/// Runs `f` on `blocks` blocks of argon2 memory: the thread's own buffer on a hashing
/// thread, or a buffer for this hash only (on other threads, or for a hash that needs more
/// than the configured cost: an odd stored hash must not pin a larger buffer).
fn with_memory<T>(blocks: usize, configured: Argon2Params, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > configured.m_cost as usize || !KEEP_MEMORY.get() {
        return f(&mut fresh_memory(blocks));
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            *memory = fresh_memory(blocks);
        }
        match memory.get_mut(..blocks) {
            Some(m) => f(m),
            None => f(&mut fresh_memory(blocks)),
        }
    })
}

/// The PHC string unknown accounts are verified against: the configured costs, a random
/// salt and a random output. Verifying against it costs what verifying a real hash does
/// (the cost is in the parameters); its output is never compared as a success (the account
/// does not exist), so it needs no hashing of its own, nor its memory, at start-up.
fn dummy_hash(configured: Argon2Params) -> String {
    let mut salt = [0u8; 16];
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    // Without the OS's randomness, zeros serve as well: the output is never accepted.
    let _ = getrandom::fill(&mut salt);
    let _ = getrandom::fill(&mut out);
    let phc = Params::new(
        configured.m_cost,
        configured.t_cost,
        configured.p_cost,
        None,
    )
    .ok()
    .and_then(|params| {
        Some(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).ok()?,
            salt: Some(Salt::new(&salt).ok()?),
            hash: Some(Output::new(&out).ok()?),
        })
    });
    phc.map_or_else(String::new, |p| p.to_string())
}

/// Whether `password` hashes to `expected`: what argon2's `verify_password` decides, on
/// the thread's reusable memory.
fn matches(password: &[u8], expected: &PasswordHash, configured: Argon2Params) -> bool {
    let (Some(salt), Some(want)) = (&expected.salt, &expected.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(expected) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(expected.algorithm.as_str()) else {
        return false;
    };
    let version = match expected.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut buf = [0u8; Output::MAX_LENGTH];
    let Some(out) = buf.get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let hashed = with_memory(blocks, configured, |memory| {
        argon.hash_password_into_with_memory(password, salt, out, memory)
    });
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(out).is_ok_and(|got| got == *want)
}

/// Checks a password hash brought by an import (Windmill's users export): an argon2 PHC
/// string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, argon2i and argon2d too) with a salt, a
/// hash and costs a login can afford. A hash weaker than the configured costs is upgraded
/// at the account's next login.
///
/// An imported hash may cost a login at most twice the configured costs or Windmill's own
/// (m=19456, t=2, p=1), whichever is more, and 4 lanes: every login attempt on the account,
/// failed ones included, pays it, and a much slower verification would tell that the account
/// exists.
pub fn check_imported(phc: &str, configured: Argon2Params) -> std::result::Result<(), String> {
    let max = Argon2Params {
        m_cost: 2 * configured.m_cost.max(Argon2Params::OWASP.m_cost),
        t_cost: 2 * configured.t_cost.max(Argon2Params::OWASP.t_cost),
        p_cost: 4,
    };
    let parsed = PasswordHash::new(phc).map_err(|_| {
        "it is not a PHC string such as $argon2id$v=19$m=19456,t=2,p=1$salt$hash".to_string()
    })?;
    Algorithm::try_from(parsed.algorithm.as_str())
        .map_err(|_| format!("{} is not an argon2 algorithm", parsed.algorithm))?;
    if let Some(v) = parsed.version {
        Version::try_from(v).map_err(|_| format!("argon2 version {v} is not known"))?;
    }
    let params =
        Params::try_from(&parsed).map_err(|e| format!("its parameters are not valid: {e}"))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("it has no salt or no hash".into());
    }
    if params.m_cost() > max.m_cost || params.t_cost() > max.t_cost || params.p_cost() > max.p_cost
    {
        return Err(format!(
            "its costs exceed m={},t={},p={}",
            max.m_cost, max.t_cost, max.p_cost
        ));
    }
    Ok(())
}

/// A new PHC string for `password`: argon2id v19 with the configured costs, a 16-byte
/// salt from the OS, a 32-byte hash (what argon2's `hash_password` makes).
fn hash_now(configured: Argon2Params, password: &str) -> Result<String> {
    let params = Params::new(
        configured.m_cost,
        configured.t_cost,
        configured.p_cost,
        None,
    )
    .map_err(Error::internal)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(Error::internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.block_count(), configured, |memory| {
        argon.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
    })
    .map_err(Error::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(Error::internal)?,
        salt: Some(Salt::new(&salt).map_err(Error::internal)?),
        hash: Some(Output::new(&out).map_err(Error::internal)?),
    };
    Ok(phc.to_string())
}

/// Whether a stored hash is weaker than (or of another algorithm than) the configuration.
fn weaker_than(parsed: &PasswordHash, want: Argon2Params) -> bool {
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(parsed) {
        Ok(p) => p.m_cost() < want.m_cost || p.t_cost() < want.t_cost || p.p_cost() < want.p_cost,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_weak_ones_are_upgraded() {
        let weak = Hasher::new(Argon2Params::TEST, 2);
        let h = weak.hash("mypassword123".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            weak.verify("mypassword123".into(), Some(h.clone()))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            weak.verify("wrong".into(), Some(h.clone())).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            weak.verify("mypassword123".into(), None).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            weak.verify("x".into(), Some("garbage".into()))
                .await
                .unwrap(),
            Verified::No
        );

        let stronger = Hasher::new(
            Argon2Params {
                m_cost: 128,
                t_cost: 2,
                p_cost: 1,
            },
            2,
        );
        match stronger
            .verify("mypassword123".into(), Some(h))
            .await
            .unwrap()
        {
            Verified::YesRehashed(new) => assert!(new.starts_with("$argon2id$v=19$m=128,t=2,p=1$")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once_and_frees_its_places() {
        let hasher = Hasher::bounded(Argon2Params::TEST, 1, 3);
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut held = Vec::new();
        for _ in 0..3 {
            let h = hasher.clone();
            let g = gate.clone();
            held.push(tokio::spawn(async move {
                h.run(move || {
                    let _ = g.lock().unwrap().recv();
                })
                .await
            }));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hasher.pending() < 3 {
            assert!(std::time::Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        let refused = hasher.run(|| ()).await;
        assert!(matches!(refused, Err(Error::Busy(_))), "{refused:?}");
        for _ in 0..3 {
            release.send(()).unwrap();
        }
        for h in held {
            h.await.unwrap().unwrap();
        }
        assert_eq!(hasher.pending(), 0);
        hasher.run(|| ()).await.unwrap();
    }

    /// The argon2 memory the hashing thread holds, in blocks.
    async fn held(hasher: &Hasher) -> usize {
        hasher
            .run(|| MEMORY.with_borrow(|m| m.capacity()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_hashing_thread_gives_its_memory_back_when_idle() {
        let params = Argon2Params {
            m_cost: 256,
            t_cost: 1,
            p_cost: 1,
        };
        let hasher = Hasher::build(params, 1, 100, std::time::Duration::from_millis(300));
        assert_eq!(held(&hasher).await, 0, "nothing before the first hash");
        let h = hasher.hash("mypassword123".into()).await.unwrap();
        // Kept while hashes keep coming, in an allocation glibc maps on its own.
        assert!(held(&hasher).await >= ALWAYS_MAPPED_BLOCKS);
        assert_eq!(
            hasher
                .verify("mypassword123".into(), Some(h))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert!(held(&hasher).await >= ALWAYS_MAPPED_BLOCKS);
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        assert_eq!(held(&hasher).await, 0, "given back after the idle delay");
        // The bootstrap's hash gives it back at once.
        hasher.hash_once("mypassword123".into()).await.unwrap();
        assert_eq!(held(&hasher).await, 0);
        // Hashes on other threads never keep any.
        hash_now(params, "mypassword123").unwrap();
        assert_eq!(MEMORY.with_borrow(|m| m.capacity()), 0);
    }

    #[test]
    fn hashes_in_parallel_are_bounded_by_the_memory_budget() {
        let budget = DEFAULT_HASH_MEMORY_KIB;
        let m = Argon2Params::OWASP.m_cost;
        assert_eq!(concurrency_within(2, budget, m), 2);
        assert_eq!(concurrency_within(64, budget, m), 2, "not one per core");
        assert_eq!(concurrency_within(1, budget, m), 1);
        assert_eq!(concurrency_within(8, 1024, m), 1, "never fewer than one");
        assert_eq!(concurrency_within(8, budget, 64), 8, "at most one per core");
        assert_eq!(concurrency_within(0, budget, m), 1);
    }

    #[tokio::test]
    async fn unknown_accounts_are_verified_at_the_configured_cost() {
        let params = Argon2Params {
            m_cost: 128,
            t_cost: 3,
            p_cost: 1,
        };
        let dummy = dummy_hash(params);
        let parsed = PasswordHash::new(&dummy).unwrap();
        let p = Params::try_from(&parsed).unwrap();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (128, 3, 1));
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_ne!(
            dummy,
            dummy_hash(params),
            "a random salt and output each time"
        );
        let hasher = Hasher::new(params, 1);
        assert_eq!(
            hasher.verify(String::new(), None).await.unwrap(),
            Verified::No
        );
    }

    #[test]
    fn owasp_parameters_are_valid() {
        assert!(Argon2Params::OWASP.validate().is_ok());
        assert!(
            Argon2Params {
                m_cost: 1,
                t_cost: 0,
                p_cost: 0
            }
            .validate()
            .is_err()
        );
    }
}
