//! Password hashing with argon2id, off the async runtime on a bounded pool, so that a storm
//! of logins never stalls token-authenticated requests.
//!
//! The pool is a fixed set of long-lived threads at the lowest scheduling priority (Linux's
//! `SCHED_IDLE`), fed by one queue: request threads pre-empt a hash whenever they have work, and each
//! hashing thread reuses its own ~19 MiB of argon2 memory. (On tokio's blocking pool the
//! hashes wandered over dozens of short-lived threads, each leaving its memory in an
//! allocator arena of its own: 600 MiB resident after a few seconds of logins.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use std::cell::RefCell;

use argon2::password_hash::PasswordHasher;
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

    fn argon2(&self) -> Argon2<'static> {
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .expect("argon2 parameters are validated at start-up");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

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

/// Hashes and verifies passwords on `concurrency` dedicated threads, with at most
/// `max_pending` jobs waiting or running: past that, a job is refused at once (a flood of
/// logins must not grow memory without bound).
#[derive(Clone)]
pub struct Hasher {
    params: Argon2Params,
    /// The pool's queue; its threads exit when the last clone is dropped.
    queue: mpsc::Sender<Job>,
    dummy: Arc<String>,
    pending: Arc<AtomicUsize>,
    max_pending: usize,
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

impl Hasher {
    /// A hasher with these parameters and `concurrency` hashing threads, and no practical
    /// bound on waiting jobs.
    pub fn new(params: Argon2Params, concurrency: usize) -> Self {
        Self::bounded(params, concurrency, usize::MAX / 2)
    }

    /// A hasher that refuses jobs beyond `max_pending` waiting or running.
    pub fn bounded(params: Argon2Params, concurrency: usize, max_pending: usize) -> Self {
        let argon = params.argon2();
        let dummy = argon
            .hash_password(b"dummy password for unknown accounts")
            .expect("hashing a constant cannot fail")
            .to_string();
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..concurrency.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let next = match jobs.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = next else { return };
                        // A panic loses that job's answer (its caller sees an error), not
                        // the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("the OS can start the hashing threads");
        }
        Hasher {
            params,
            queue,
            dummy: Arc::new(dummy),
            pending: Arc::new(AtomicUsize::new(0)),
            max_pending: max_pending.max(1),
        }
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
        self.queue
            .send(job)
            .map_err(|_| Error::internal("the password hashing threads are gone"))?;
        rx.await
            .map_err(|_| Error::internal("a password hashing job failed"))
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params;
        self.run(move || hash_now(params, &password)).await?
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
    /// The argon2 memory of this hashing thread, kept from one hash to the next. Allocating
    /// ~19 MiB per hash cost a fifth of the time in page faults, and the freed blocks were
    /// rarely reused by the allocator: 360 MiB resident after a few dozen hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `blocks` blocks of argon2 memory: the thread's own buffer, or a buffer of
/// its own for a hash that needs more than the configured cost (an odd stored hash must
/// not pin a larger buffer).
fn with_memory<T>(blocks: usize, configured: Argon2Params, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > configured.m_cost as usize {
        return f(&mut vec![Block::default(); blocks]);
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        match memory.get_mut(..blocks) {
            Some(m) => f(m),
            None => f(&mut vec![Block::default(); blocks]),
        }
    })
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
