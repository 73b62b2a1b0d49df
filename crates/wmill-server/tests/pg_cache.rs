//! The coherent cache on PostgreSQL (issue 21, docs/design.md "Caching on PostgreSQL"):
//! several real server processes, each caching authentication and group lists, and a
//! revocation through any of them refused by every one on the next request, whatever the
//! path, the interleaving, or the fault (a cut listening connection, an instance stopped
//! with SIGSTOP past its lease, PostgreSQL restarted). A checker thread keeps sending the
//! revoked credential to random instances while each revocation runs: any request sent
//! after the revocation was answered and accepted is a failure.
//!
//! Needs `WMILL_TEST_POSTGRES_URL` (and, for the restart, PostgreSQL's `initdb`/`pg_ctl`, as
//! `.ci/pg` uses them); without them each test is reported as ignored, which fails under
//! `CI` (`tests/server/meta.rs`).

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Proc;

const ADMIN_PASSWORD: &str = "cache-admin-password";

/// A small seeded generator (xorshift64*): the same interleavings on every run of a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn order(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            v.swap(i, self.below(i + 1));
        }
        v
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `sql` on the database at `url`; the first column of each row, as text.
fn sql(url: &str, sql: &str) -> Vec<String> {
    block_on(async {
        use sqlx::{Connection, Row};
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)
                    .or_else(|_| r.try_get::<i64, _>(0).map(|v| v.to_string()))
                    .or_else(|_| r.try_get::<i32, _>(0).map(|v| v.to_string()))
                    .or_else(|_| r.try_get::<bool, _>(0).map(|v| v.to_string()))
                    .unwrap_or_default()
            })
            .collect()
    })
}

/// `n` instances on the database at `url`: the first bootstraps it, the others start
/// together once it has. `env(i)` adds to instance `i`'s environment.
fn instances(
    dir: &Path,
    url: &str,
    n: usize,
    env: impl Fn(usize) -> Vec<(&'static str, &'static str)> + Sync,
) -> Vec<Proc> {
    let base = |i: usize| {
        let mut e: Vec<(&str, &str)> = vec![
            ("DATABASE_URL", url),
            ("WM_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("WM_LOGIN_PER_IP_PER_MINUTE", "1000000"),
            ("WM_METRICS_LISTEN", "127.0.0.1:0"),
        ];
        e.extend(env(i));
        e
    };
    let first = start_logging(&dir.join("i0"), "i0", &base(0));
    let mut rest: Vec<Proc> = std::thread::scope(|s| {
        let hs: Vec<_> = (1..n)
            .map(|i| {
                let e = base(i);
                s.spawn(move || start_logging(&dir.join(format!("i{i}")), &format!("i{i}"), &e))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    rest.insert(0, first);
    rest
}

fn start_logging(data: &Path, tag: &str, env: &[(&str, &str)]) -> Proc {
    support::start_logging(data, tag, env, None)
}

/// The instance's cache hits so far (every kind), from its metrics.
fn cache_hits(p: &Proc) -> u64 {
    let out = std::fs::read_to_string(&p.out).unwrap();
    let Some(m) = out.lines().find_map(|l| l.strip_prefix("metrics on ")) else {
        panic!("no metrics address in {out}");
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let text = agent
        .get(format!("{m}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("wmill_auth_cache_lookups") && l.contains("result=\"hit\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until `n` instances hold a live, unfenced lease.
fn wait_for_leases(url: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = sql(
            url,
            "SELECT COUNT(*) FROM cache_instance WHERE NOT fenced \
             AND lease_until > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
        );
        if live.first().map(String::as_str) == Some(&n.to_string()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{live:?} live leases, expected {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ways a credential (or a cached group list) stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path_ {
    TokenDelete,
    Logout,
    UserDelete,
    UserDisable,
    MemberRemoval,
    Demotion,
    PasswordChange,
    ScimDeactivation,
    GroupMemberRemoval,
}

const PATHS: [Path_; 9] = [
    Path_::TokenDelete,
    Path_::Logout,
    Path_::UserDelete,
    Path_::UserDisable,
    Path_::MemberRemoval,
    Path_::Demotion,
    Path_::PasswordChange,
    Path_::ScimDeactivation,
    Path_::GroupMemberRemoval,
];

/// A request whose answer says whether the revoked thing was still accepted.
#[derive(Clone)]
struct Probe {
    path: String,
    token: String,
    /// For a group list: the username that must have left group `g`.
    member: Option<String>,
    /// A 503 counts as a refusal (PostgreSQL is being restarted: a pooled connection that
    /// was cut fails one request), not as an error of the test.
    unavailable_ok: bool,
}

impl Probe {
    /// Whether `p` accepts it (the stale answer, once revoked).
    fn accepted(&self, p: &Proc) -> bool {
        let (s, body) = p.call("GET", &self.path, Some(&self.token), None);
        if s == 503 && self.unavailable_ok {
            return false;
        }
        match &self.member {
            None => {
                assert!(
                    s == 200 || s == 401 || s == 403,
                    "{} answered {s}: {body}",
                    self.path
                );
                s == 200
            }
            Some(u) => {
                assert_eq!(s, 200, "{body}");
                let groups: Vec<Value> = serde_json::from_str(&body).unwrap();
                groups.iter().find(|g| g["name"] == "g").unwrap().clone()["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m == u.as_str())
            }
        }
    }
}

/// The revocation under test, shared with the checker thread.
#[derive(Default)]
struct Current {
    probe: Option<Probe>,
    /// When the revocation's answer arrived.
    answered: Option<Instant>,
}

/// Keeps sending the current probe to random instances; counts the requests sent after
/// the revocation was answered, and records any that was accepted.
struct Checker {
    current: Arc<Mutex<Current>>,
    stop: Arc<AtomicBool>,
    checked: Arc<AtomicU64>,
    stale: Arc<Mutex<Vec<String>>>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Checker {
    fn start(procs: Arc<Vec<Proc>>, seed: u64, threads: usize) -> Checker {
        let current = Arc::new(Mutex::new(Current::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let checked = Arc::new(AtomicU64::new(0));
        let stale = Arc::new(Mutex::new(Vec::new()));
        let handles = (0..threads)
            .map(|t| {
                let (procs, current, stop, checked, stale) = (
                    procs.clone(),
                    current.clone(),
                    stop.clone(),
                    checked.clone(),
                    stale.clone(),
                );
                std::thread::spawn(move || {
                    let mut rng = Rng::new(seed ^ ((t as u64 + 1) * 0x9E37_79B9));
                    while !stop.load(Ordering::Relaxed) {
                        let Some(probe) = current.lock().unwrap().probe.clone() else {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        };
                        let i = rng.below(procs.len());
                        let sent = Instant::now();
                        let accepted = probe.accepted(&procs[i]);
                        let cur = current.lock().unwrap();
                        // Only the same revocation, answered before this request was sent.
                        let same = cur.probe.as_ref().is_some_and(|p| {
                            p.token == probe.token && p.member == probe.member
                        });
                        if same && cur.answered.is_some_and(|a| a < sent) {
                            checked.fetch_add(1, Ordering::Relaxed);
                            if accepted {
                                stale.lock().unwrap().push(format!(
                                    "instance {i} accepted {} {:?} {:?} after the revocation was answered",
                                    probe.path, probe.member, sent - cur.answered.unwrap()
                                ));
                            }
                        }
                    }
                })
            })
            .collect();
        Checker {
            current,
            stop,
            checked,
            stale,
            handles,
        }
    }

    fn set(&self, probe: Option<Probe>) {
        *self.current.lock().unwrap() = Current {
            probe,
            answered: None,
        };
    }

    fn answered(&self) {
        self.current.lock().unwrap().answered = Some(Instant::now());
    }

    /// Stops the threads; (requests checked after an answer, stale accepts).
    fn finish(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            h.join().unwrap();
        }
        (
            self.checked.load(Ordering::Relaxed),
            self.stale.lock().unwrap().clone(),
        )
    }
}

/// Everything a round needs: the instances, the admin's session, a SCIM token.
struct World {
    procs: Arc<Vec<Proc>>,
    admin: String,
    scim: String,
    /// PostgreSQL is restarted under the instances (see [`Probe::unavailable_ok`]).
    restarts: bool,
}

impl World {
    fn new(procs: Vec<Proc>) -> World {
        let admin = procs[0].login("admin@windmill.dev", ADMIN_PASSWORD);
        let (s, scim) = procs[0].call(
            "POST",
            "/api/scim_tokens/create",
            Some(&admin),
            Some(json!({"label": "idp"})),
        );
        assert_eq!(s, 201, "{scim}");
        let (s, body) = procs[0].call(
            "POST",
            "/api/w/admins/groups/create",
            Some(&admin),
            Some(json!({"name": "g"})),
        );
        assert_eq!(s, 200, "{body}");
        World {
            procs: Arc::new(procs),
            admin,
            scim,
            restarts: false,
        }
    }

    fn p(&self, i: usize) -> &Proc {
        &self.procs[i]
    }

    /// A setup request through instance `i`; while PostgreSQL is being restarted, a 503
    /// (a pooled connection that was cut fails one request) is asked again.
    fn call(
        &self,
        i: usize,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (s, text) = self.p(i).call(method, path, token, body.clone());
            if s != 503 || !self.restarts || Instant::now() > deadline {
                return (s, text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn login(&self, i: usize, email: &str, password: &str) -> String {
        let (s, body) = self.call(
            i,
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        );
        assert_eq!(s, 200, "login {email}: {body}");
        body
    }

    /// Sets up round `n` of `path` through random instances: the probe that works now,
    /// and the revocation (method, path, token, body) that must end it.
    fn prepare(
        &self,
        rng: &mut Rng,
        n: usize,
        path: Path_,
    ) -> (Probe, (&'static str, String, String, Option<Value>)) {
        let k = self.procs.len();
        let email = format!("u{n}@example.com");
        let username = format!("u{n}");
        let password = format!("password-{n}-a");
        let mut scim_id = String::new();
        if path == Path_::ScimDeactivation {
            let (s, body) = self.call(
                rng.below(k),
                "POST",
                "/api/scim/v2/Users",
                Some(&self.scim),
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": email,
                    "emails": [{"value": email, "primary": true}],
                    "password": password,
                    "active": true,
                })),
            );
            assert_eq!(s, 201, "{body}");
            scim_id = serde_json::from_str::<Value>(&body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        } else {
            let (s, body) = self.call(
                rng.below(k),
                "POST",
                "/api/users/create",
                Some(&self.admin),
                Some(json!({"email": email, "password": password,
                            "super_admin": path == Path_::Demotion})),
            );
            assert_eq!(s, 201, "{body}");
        }
        if matches!(path, Path_::MemberRemoval | Path_::GroupMemberRemoval) {
            let (s, body) = self.call(
                rng.below(k),
                "POST",
                "/api/w/admins/workspaces/add_user",
                Some(&self.admin),
                Some(json!({"email": email, "is_admin": false, "operator": false,
                            "username": username})),
            );
            assert_eq!(s, 201, "{body}");
        }
        let session = self.login(rng.below(k), &email, &password);
        let whoami = |token: &str| Probe {
            path: "/api/users/whoami".into(),
            token: token.into(),
            member: None,
            unavailable_ok: self.restarts,
        };
        match path {
            Path_::TokenDelete => {
                let (s, token) = self.call(
                    rng.below(k),
                    "POST",
                    "/api/users/tokens/create",
                    Some(&session),
                    Some(json!({})),
                );
                assert_eq!(s, 201, "{token}");
                let revoke = format!("/api/users/tokens/delete/{token}");
                (whoami(&token), ("DELETE", revoke, session, None))
            }
            Path_::Logout => (
                whoami(&session),
                ("POST", "/api/auth/logout".into(), session.clone(), None),
            ),
            Path_::UserDelete => (
                whoami(&session),
                (
                    "DELETE",
                    format!("/api/users/delete/{email}"),
                    self.admin.clone(),
                    None,
                ),
            ),
            Path_::UserDisable => (
                whoami(&session),
                (
                    "POST",
                    format!("/api/users/update/{email}"),
                    self.admin.clone(),
                    Some(json!({"disabled": true})),
                ),
            ),
            Path_::MemberRemoval => (
                Probe {
                    path: "/api/w/admins/users/list_usernames".into(),
                    token: session,
                    member: None,
                    unavailable_ok: self.restarts,
                },
                (
                    "DELETE",
                    format!("/api/w/admins/users/delete/{username}"),
                    self.admin.clone(),
                    None,
                ),
            ),
            Path_::Demotion => (
                Probe {
                    path: "/api/users/list_as_super_admin".into(),
                    token: session,
                    member: None,
                    unavailable_ok: self.restarts,
                },
                (
                    "POST",
                    format!("/api/users/update/{email}"),
                    self.admin.clone(),
                    Some(json!({"is_super_admin": false})),
                ),
            ),
            Path_::PasswordChange => (
                whoami(&session),
                (
                    "POST",
                    format!("/api/users/set_password_of/{email}"),
                    self.admin.clone(),
                    Some(json!({"password": format!("password-{n}-b")})),
                ),
            ),
            Path_::ScimDeactivation => (
                whoami(&session),
                (
                    "PATCH",
                    format!("/api/scim/v2/Users/{scim_id}"),
                    self.scim.clone(),
                    Some(json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "value": {"active": false}}],
                    })),
                ),
            ),
            Path_::GroupMemberRemoval => {
                let (s, body) = self.call(
                    rng.below(k),
                    "POST",
                    "/api/w/admins/groups/adduser/g",
                    Some(&self.admin),
                    Some(json!({"username": username})),
                );
                assert_eq!(s, 200, "{body}");
                (
                    Probe {
                        path: "/api/w/admins/groups/list".into(),
                        token: self.admin.clone(),
                        member: Some(username.clone()),
                        unavailable_ok: self.restarts,
                    },
                    (
                        "POST",
                        "/api/w/admins/groups/removeuser/g".into(),
                        self.admin.clone(),
                        Some(json!({"username": username})),
                    ),
                )
            }
        }
    }

    /// One round: prepare, warm every instance's cache (random order, twice), run
    /// `before_revoke`, revoke through `writer` while the checker runs, then ask every
    /// instance (random order) at once. `after_answer` runs between the answer and the
    /// checks of the instances it names (they may be stopped: their checks run in threads).
    #[allow(clippy::too_many_arguments)]
    fn round(
        &self,
        rng: &mut Rng,
        checker: &Checker,
        n: usize,
        path: Path_,
        not_writer: Option<usize>,
        before_revoke: impl FnOnce(&mut Rng),
        after_answer: impl FnOnce(),
    ) -> Duration {
        let k = self.procs.len();
        let (probe, (method, rpath, rtoken, rbody)) = self.prepare(rng, n, path);
        for _ in 0..2 {
            for i in rng.order(k) {
                // (After a restart, a cut pooled connection may fail one request: 503.)
                let deadline = Instant::now() + Duration::from_secs(10);
                while !probe.accepted(self.p(i)) {
                    assert!(
                        self.restarts && Instant::now() < deadline,
                        "round {n} {path:?}: instance {i} refuses before the revocation"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        before_revoke(rng);
        checker.set(Some(probe.clone()));
        let writer = loop {
            let w = rng.below(k);
            if Some(w) != not_writer {
                break w;
            }
        };
        let started = Instant::now();
        // A 503 (the database restarting) is no answer: ask again.
        let (s, body) = loop {
            let (s, body) = self
                .p(writer)
                .call(method, &rpath, Some(&rtoken), rbody.clone());
            if s != 503 || started.elapsed() > Duration::from_secs(30) {
                break (s, body);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        checker.answered();
        let took = started.elapsed();
        assert_eq!(
            s, 200,
            "round {n} {path:?}: revocation through {writer}: {body}"
        );
        let order = rng.order(k);
        let stale: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = order
                .iter()
                .map(|&i| {
                    let probe = &probe;
                    s.spawn(move || probe.accepted(self.p(i)).then_some(i))
                })
                .collect();
            after_answer();
            hs.into_iter().filter_map(|h| h.join().unwrap()).collect()
        });
        assert!(
            stale.is_empty(),
            "round {n} {path:?} through {writer}: instances {stale:?} still accepted it"
        );
        checker.set(None);
        took
    }
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn revocation_by_every_path_is_refused_by_every_instance_1000_times() {
    let rounds: usize = std::env::var("WMILL_PG_CACHE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seed: u64 = std::env::var("WMILL_PG_CACHE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(instances(dir.path(), &pg.url, 3, |_| vec![]));
    wait_for_leases(&pg.url, 3);
    let hits_before: Vec<u64> = w.procs.iter().map(cache_hits).collect();
    let checker = Checker::start(w.procs.clone(), seed, 2);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut took = Vec::new();
    let mut per_path = [0usize; PATHS.len()];
    for n in 0..rounds {
        let which = rng.below(PATHS.len());
        per_path[which] += 1;
        took.push(w.round(&mut rng, &checker, n, PATHS[which], None, |_| {}, || {}));
    }
    let (checked, stale) = checker.finish();
    assert!(stale.is_empty(), "stale accepts: {stale:#?}");
    // The caches did answer (this is not the uncached path), and no instance fell back for
    // long: every lease is live at the end.
    let hits: Vec<u64> = w
        .procs
        .iter()
        .zip(&hits_before)
        .map(|(p, b)| cache_hits(p) - b)
        .collect();
    assert!(
        hits.iter().all(|&h| h >= rounds as u64),
        "cache hits per instance: {hits:?}"
    );
    wait_for_leases(&pg.url, 3);
    eprintln!(
        "{rounds} revocations (seed {seed}, per path {per_path:?}) in {:?}; p99 {:?}, max {:?}; \
         {checked} checker requests after an answer, none stale; cache hits {hits:?}",
        started.elapsed(),
        p99(took.clone()),
        took.iter().max().unwrap()
    );
    assert!(per_path.iter().all(|&c| c > 0 || rounds < 100));
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_cut_listening_connection_never_serves_a_stale_entry() {
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let dbname = pg.url.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(instances(dir.path(), &pg.url, 3, |_| vec![]));
    wait_for_leases(&pg.url, 3);
    let checker = Checker::start(w.procs.clone(), 7, 2);
    let mut rng = Rng::new(7);
    let base = support::pg_url();
    let listeners = || {
        sql(
            &base,
            &format!(
                "SELECT pid::BIGINT FROM pg_stat_activity WHERE datname = '{dbname}' \
                 AND application_name = 'wmill-cache-listener' ORDER BY pid"
            ),
        )
    };
    for n in 0..30 {
        let path = [Path_::UserDisable, Path_::TokenDelete, Path_::Logout][n % 3];
        let mut cut = Vec::new();
        w.round(
            &mut rng,
            &checker,
            n,
            path,
            None,
            |rng| {
                // One listener, or all of them, terminated just before the revocation.
                // (Those cut in the round before may still be reconnecting.)
                let deadline = Instant::now() + Duration::from_secs(10);
                let mut pids = listeners();
                while pids.is_empty() {
                    assert!(
                        Instant::now() < deadline,
                        "no listening connection comes back"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                    pids = listeners();
                }
                cut = if rng.below(3) == 0 {
                    pids
                } else {
                    vec![pids[rng.below(pids.len())].clone()]
                };
                for pid in &cut {
                    sql(&base, &format!("SELECT pg_terminate_backend({pid})"));
                }
            },
            || {},
        );
        if n % 5 == 4 {
            // They come back, and serve again.
            wait_for_leases(&pg.url, 3);
        }
    }
    let (checked, stale) = checker.finish();
    assert!(stale.is_empty(), "stale accepts: {stale:#?}");
    wait_for_leases(&pg.url, 3);
    let before: Vec<u64> = w.procs.iter().map(cache_hits).collect();
    let t = w.admin.clone();
    for p in w.procs.iter() {
        for _ in 0..3 {
            assert_eq!(p.call("GET", "/api/users/whoami", Some(&t), None).0, 200);
        }
    }
    let after: Vec<u64> = w.procs.iter().map(cache_hits).collect();
    assert!(
        before.iter().zip(&after).all(|(b, a)| a > b),
        "the caches answer again after their listeners came back: {before:?} {after:?}"
    );
    eprintln!("{checked} checker requests after an answer, none stale");
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_hung_listening_connection_never_serves_a_stale_entry() {
    // The instance goes on answering while its listening connection delivers nothing: its
    // PostgreSQL backend is stopped (SIGSTOP, then SIGCONT after 7 s whatever happens). A
    // writer that did not wait for that instance would let it serve its cached copy.
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let dbname = pg.url.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(instances(dir.path(), &pg.url, 3, |_| vec![]));
    let checker = Checker::start(w.procs.clone(), 17, 1);
    let mut rng = Rng::new(17);
    let base = support::pg_url();
    for (n, path) in [
        Path_::UserDisable,
        Path_::TokenDelete,
        Path_::GroupMemberRemoval,
    ]
    .into_iter()
    .enumerate()
    {
        wait_for_leases(&pg.url, 3);
        let resume: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);
        // Should this test fail, the backends it stopped go on all the same (a stopped
        // backend left behind would hold up the cluster for other tests).
        struct ContinueOnDrop(Mutex<Vec<String>>);
        impl Drop for ContinueOnDrop {
            fn drop(&mut self) {
                let pids = self.0.lock().unwrap_or_else(|e| e.into_inner());
                if !pids.is_empty() {
                    let _ = std::process::Command::new("kill")
                        .arg("-CONT")
                        .args(pids.iter())
                        .status();
                }
            }
        }
        let stopped = ContinueOnDrop(Mutex::new(Vec::new()));
        let took = w.round(
            &mut rng,
            &checker,
            n,
            path,
            None,
            |rng| {
                let pids = sql(
                    &base,
                    &format!(
                        "SELECT pid::BIGINT FROM pg_stat_activity WHERE datname = '{dbname}' \
                         AND application_name = 'wmill-cache-listener' ORDER BY pid"
                    ),
                );
                assert_eq!(pids.len(), 3, "{pids:?}");
                // All three, or one: with all, the two instances that do not write are
                // silent whichever writes.
                let pids = if n == 0 {
                    vec![pids[rng.below(3)].clone()]
                } else {
                    pids
                };
                let kill = |sig: &str, pids: &[String]| {
                    let ok = std::process::Command::new("kill")
                        .arg(sig)
                        .args(pids)
                        .status()
                        .unwrap()
                        .success();
                    assert!(ok, "kill {sig} {pids:?}");
                };
                *stopped.0.lock().unwrap() = pids.clone();
                kill("-STOP", &pids);
                *resume.lock().unwrap() = Some(std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(7));
                    kill("-CONT", &pids);
                }));
            },
            || {},
        );
        resume.lock().unwrap().take().unwrap().join().unwrap();
        eprintln!("listeners' backends stopped: the revocation took {took:?}");
        if n > 0 {
            assert!(
                took >= Duration::from_millis(250),
                "the writer waited for the silent instances (fenced after 250 ms): {took:?}"
            );
        }
    }
    let (_, stale) = checker.finish();
    assert!(stale.is_empty(), "stale accepts: {stale:#?}");
}

fn signal(p: &Proc, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &p.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn an_instance_stopped_past_its_lease_never_serves_a_stale_entry() {
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(instances(dir.path(), &pg.url, 3, |_| vec![]));
    wait_for_leases(&pg.url, 3);
    let checker = Checker::start(w.procs.clone(), 11, 1);
    let mut rng = Rng::new(11);
    // Stopped for longer than a lease (then continued after the answer), and for less
    // than one (the writer must still not answer before it has dropped its copy).
    for (n, (stop_for, path)) in [
        (Duration::from_millis(6500), Path_::UserDisable),
        (Duration::from_millis(1500), Path_::TokenDelete),
        (Duration::from_millis(6500), Path_::GroupMemberRemoval),
        (Duration::from_millis(300), Path_::PasswordChange),
    ]
    .into_iter()
    .enumerate()
    {
        let victim = 1 + n % 2;
        let pid = w.p(victim).child.id().to_string();
        let resume: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);
        let took = w.round(
            &mut rng,
            &checker,
            n,
            path,
            Some(victim),
            |_| {
                signal(w.p(victim), "-STOP");
                // Continued after `stop_for`, whether the revocation was answered or not;
                // checks sent to it meanwhile wait in its socket.
                let pid = pid.clone();
                *resume.lock().unwrap() = Some(std::thread::spawn(move || {
                    std::thread::sleep(stop_for);
                    let ok = std::process::Command::new("kill")
                        .args(["-CONT", &pid])
                        .status()
                        .unwrap()
                        .success();
                    assert!(ok, "kill -CONT");
                }));
            },
            || {
                resume.lock().unwrap().take().unwrap().join().unwrap();
            },
        );
        eprintln!("stopped {stop_for:?}: the revocation took {took:?}");
        wait_for_leases(&pg.url, 3);
    }
    let (_, stale) = checker.finish();
    assert!(stale.is_empty(), "stale accepts: {stale:#?}");
}

#[test]
#[cfg_attr(
    not(all(wmill_pg, wmill_pg_ctl)),
    ignore = "needs PostgreSQL (WMILL_TEST_POSTGRES_URL) and its server binaries (initdb, pg_ctl) to restart a cluster of its own"
)]
fn postgresql_restarted_never_serves_a_stale_entry() {
    // A cluster of our own, which we restart; the shared one is never touched.
    let root = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(root.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(root.path(), perms).unwrap();
    let data = root.path().join("pg");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/pg");
    let port = 0u16;
    let pg = |args: &[&str]| {
        let out = std::process::Command::new(&script)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            ".ci/pg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    struct Cluster<'a>(&'a Path, std::path::PathBuf);
    impl Drop for Cluster<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new(self.0)
                .args(["stop", self.1.to_str().unwrap()])
                .status();
        }
    }
    let data_s = data.to_str().unwrap().to_string();
    // A free port in the range: servers and clients take ephemeral ports there too.
    let mut base = String::new();
    let mut port = port;
    for attempt in 0..20 {
        port = 55500 + ((std::process::id() as u16).wrapping_add(attempt * 7) % 100);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let out = std::process::Command::new(&script)
            .args(["start", &data_s, &port.to_string()])
            .output()
            .unwrap();
        if out.status.success() {
            base = String::from_utf8_lossy(&out.stdout).trim().to_string();
            break;
        }
    }
    assert!(!base.is_empty(), "no free port for a cluster of our own");
    let restart = |data_s: &str| {
        pg(&["stop", data_s]);
        // The same port (the instances' URL): retried if something took it meanwhile.
        for _ in 0..50 {
            let out = std::process::Command::new(&script)
                .args(["start", data_s, &port.to_string()])
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("PostgreSQL did not start again on port {port}");
    };
    let _cluster = Cluster(&script, data.clone());
    let url = format!("{}/wmill", base.rsplit_once('/').unwrap().0);
    sql(&base, "CREATE DATABASE wmill");
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(instances(dir.path(), &url, 3, |_| vec![]));
    w.restarts = true;
    wait_for_leases(&url, 3);
    let checker = Checker::start(w.procs.clone(), 13, 1);
    let mut rng = Rng::new(13);
    for n in 0..4 {
        // Revocations that may be asked again after a 503.
        let path = [Path_::UserDisable, Path_::PasswordChange][n % 2];
        w.round(
            &mut rng,
            &checker,
            n,
            path,
            None,
            |_| {
                restart(&data_s);
                // The revocation below is the first write after the restart: its
                // instance may need a moment to reconnect, so wait until it can write.
                let deadline = Instant::now() + Duration::from_secs(30);
                while w.p(0).call("GET", "/api/health/status", None, None).0 != 200 {
                    assert!(Instant::now() < deadline, "no recovery");
                    std::thread::sleep(Duration::from_millis(50));
                }
            },
            || {},
        );
        wait_for_leases(&url, 3);
    }
    let (checked, stale) = checker.finish();
    assert!(stale.is_empty(), "stale accepts: {stale:#?}");
    // Serving from the caches again (once each pool has dropped its cut connections).
    for p in w.procs.iter() {
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.call("GET", "/api/users/whoami", Some(&w.admin), None).0 != 200 {
            assert!(Instant::now() < deadline, "no recovery");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let before: Vec<u64> = w.procs.iter().map(cache_hits).collect();
    for p in w.procs.iter() {
        for _ in 0..3 {
            assert_eq!(
                p.call("GET", "/api/users/whoami", Some(&w.admin), None).0,
                200
            );
        }
    }
    let after: Vec<u64> = w.procs.iter().map(cache_hits).collect();
    assert!(
        before.iter().zip(&after).all(|(b, a)| a > b),
        "{before:?} {after:?}"
    );
    eprintln!("{checked} checker requests after an answer, none stale");
    drop(w);
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn with_the_cache_off_an_instance_reads_the_database_and_still_invalidates_others() {
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let dir = tempfile::tempdir().unwrap();
    // Instance 0 with the cache off, 1 with it on.
    let w = World::new(instances(dir.path(), &pg.url, 2, |i| {
        if i == 0 {
            vec![("WM_PG_CACHE", "off")]
        } else {
            vec![]
        }
    }));
    wait_for_leases(&pg.url, 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        sql(&pg.url, "SELECT COUNT(*) FROM cache_instance"),
        vec!["1"],
        "an instance with the cache off holds no lease"
    );
    let off = w.p(0);
    let before = cache_hits(off);
    for _ in 0..20 {
        assert_eq!(
            off.call("GET", "/api/users/whoami", Some(&w.admin), None).0,
            200
        );
        assert_eq!(
            off.call("GET", "/api/w/admins/groups/list", Some(&w.admin), None)
                .0,
            200
        );
    }
    assert_eq!(
        cache_hits(off),
        before,
        "no cache lookups with --pg-cache=off"
    );
    // Revocations through the uncached instance reach the cached one, and the reverse.
    let checker = Checker::start(w.procs.clone(), 5, 1);
    let mut rng = Rng::new(5);
    for (n, path) in PATHS.iter().enumerate() {
        w.round(&mut rng, &checker, n, *path, None, |_| {}, || {});
    }
    let (_, stale) = checker.finish();
    assert!(stale.is_empty(), "stale accepts: {stale:#?}");
    assert_eq!(cache_hits(off), before, "still no cache lookups");
    assert!(
        cache_hits(w.p(1)) > 0,
        "the instance with the cache on used it"
    );
}

#[test]
fn the_server_accepts_pg_cache_on_and_off_only() {
    let dir = tempfile::tempdir().unwrap();
    let (status, _, err) = support::run_to_exit(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--pg-cache",
            "maybe",
        ],
        &[],
    );
    assert!(!status.success());
    assert!(err.contains("--pg-cache") && err.contains("on"), "{err}");
}
