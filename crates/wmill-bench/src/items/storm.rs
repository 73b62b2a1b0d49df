//! Item 3: isolation under a login storm. Authenticated reads (whoami, groups/list) are
//! probed at a steady pace, first on a quiet server, then while 16 clients log in
//! continuously with the server's real argon2id parameters; the login rate is compared with
//! raw argon2id verifications per second on all cores, measured in the same run (the
//! fastest way the argon2 crate allows: no parsing, no allocation, nothing else running).

use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::parallel;
use crate::run::{Backend, Ctx};
use crate::say;
use crate::server::{Argon2 as Cost, RssSampler};
use crate::util::{Context, Result, median};
use crate::wrk::{self, Measured, Run, Workload};

/// The server's default argon2id parameters (OWASP): m=19456 KiB, t=2, p=1.
pub const M_COST: u32 = 19456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

fn argon() -> Argon2<'static> {
    let params = Params::new(M_COST, T_COST, P_COST, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// One verification the fastest way argon2 allows: the PHC string parsed once, the
/// memory allocated once, then `hash_password_into_with_memory` and a comparison.
struct Verifier {
    argon: Argon2<'static>,
    salt: Vec<u8>,
    want: Vec<u8>,
    memory: Vec<Block>,
}

impl Verifier {
    fn new() -> Verifier {
        let phc = argon()
            .hash_password(b"benchmark password")
            .expect("hashing works");
        let parsed = PasswordHash::new(&phc.to_string()).expect("a PHC string");
        let params = Params::try_from(&parsed).expect("argon2 parameters");
        Verifier {
            memory: vec![Block::default(); params.block_count()],
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            salt: parsed.salt.expect("a salt").as_ref().to_vec(),
            want: parsed.hash.expect("a hash").as_bytes().to_vec(),
        }
    }

    fn verify(&mut self) -> bool {
        let mut out = vec![0u8; self.want.len()];
        self.argon
            .hash_password_into_with_memory(
                b"benchmark password",
                &self.salt,
                &mut out,
                &mut self.memory,
            )
            .is_ok()
            && out == self.want
    }
}

/// Median milliseconds of one verification on one core.
pub fn hash_time_ms(n: usize) -> f64 {
    let mut v = Verifier::new();
    v.verify();
    let times: Vec<f64> = (0..n.max(1))
        .map(|_| {
            let t = Instant::now();
            assert!(v.verify());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&times)
}

/// Verifications per second on `threads` threads for `d`.
pub fn raw_rate(threads: usize, d: Duration) -> f64 {
    let started = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut v = Verifier::new();
                    let mut n = 0u64;
                    while started.elapsed() < d {
                        if v.verify() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64()
}

/// Item 3 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StormResult {
    pub backend: Backend,
    pub clients: u32,
    pub threads: usize,
    /// Raw argon2id verifications per second on `threads` threads: the median of
    /// `raw_windows` (half measured before the storm's server starts, half after it stops),
    /// so that a neighbour's burst in one window does not set the reference.
    pub raw_per_sec: f64,
    pub raw_windows: Vec<f64>,
    /// One verification on one core, in ms.
    pub hash_ms: f64,
    /// The storm (wrk's view): `ok` logins.
    pub logins: Measured,
    /// Probes on the quiet server: (endpoint, measurement).
    pub quiet: Vec<(String, Measured)>,
    /// The same probes during the storm.
    pub stormy: Vec<(String, Measured)>,
    /// Probe pace: connections per endpoint and delay between requests.
    pub probe_connections: u32,
    pub probe_delay_ms: u32,
    /// Right after the start, before any login.
    pub idle_rss_mib: f64,
    /// After the superadmin's login: one password hash done.
    pub after_login_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub rss: Vec<(f64, f64)>,
}

impl StormResult {
    /// Successful logins per second during the storm.
    pub fn login_rate(&self) -> f64 {
        self.logins.ok_per_sec()
    }
}

const PROBES: [(&str, &str); 2] = [
    ("whoami", "/api/users/whoami"),
    ("groups/list", "/api/w/admins/groups/list"),
];

fn probes(
    ctx: &Ctx,
    dir: &std::path::Path,
    url: &str,
    token: &str,
    tag: &str,
) -> Result<Vec<(String, Measured)>> {
    std::thread::scope(|s| {
        let hs: Vec<_> = PROBES
            .iter()
            .enumerate()
            .map(|(i, (name, path))| {
                let url = format!("{url}{path}");
                s.spawn(move || {
                    wrk::run(
                        dir,
                        &format!("{tag}-probe{i}"),
                        &Run {
                            url,
                            token: Some(token),
                            workload: Workload::Paced {
                                delay_ms: ctx.p.probe_delay_ms,
                            },
                            threads: 1,
                            connections: ctx.p.probe_connections,
                            duration: ctx.p.probe,
                        },
                    )
                    .map(|m| (name.to_string(), m))
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a probe panicked".into())))
            .collect()
    })
}

/// Runs item 3 on a fresh server with the default argon2id parameters.
pub fn run(ctx: &mut Ctx, b: Backend) -> Result<StormResult> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    say!(
        "[3] login storm on {}: raw argon2id first ({threads} threads)",
        b.name()
    );
    let window = ctx.p.argon2_time / 3;
    let mut raw_windows: Vec<f64> = (0..3).map(|_| raw_rate(threads, window)).collect();
    let hash_ms = hash_time_ms(5);
    let stage = ctx.stage(b, Cost::Defaults, &[], "storm")?;
    let sampler = RssSampler::start(stage.server().pid, Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(500));
    let idle_rss_mib = stage.idle_rss_mib;
    let after_login_rss_mib = stage.server().memory_kib()?.0 as f64 / 1024.0;
    crate::items::setup_groups(&stage.api, &stage.admin)?;
    let clients = ctx.p.storm_clients;
    let users: Vec<String> = (0..clients)
        .map(|i| format!("storm{i}@bench.test:storm-password-{i}"))
        .collect();
    {
        let (api, admin, users) = (stage.api.clone(), stage.admin.clone(), users.clone());
        parallel(users.len(), 2, move |i| {
            let (email, pw) = users[i].split_once(':').ctx("user:password")?;
            api.expect(
                201,
                "POST",
                "/api/users/create",
                Some(&admin),
                Some(&json!({"email": email, "password": pw, "super_admin": false})),
            )
            .map(|_| ())
        })?;
    }
    let dir = ctx.dir(&format!("storm-{}", b.name().to_lowercase()));
    let url = stage.server().url.clone();
    say!("    probes on the quiet server");
    let quiet = probes(ctx, &dir, &url, &stage.admin, "quiet")?;
    say!("    probes while {clients} clients log in continuously");
    let (logins, stormy) = std::thread::scope(|s| {
        let storm = s.spawn(|| {
            wrk::run(
                &dir,
                "storm",
                &Run {
                    url: url.clone(),
                    token: None,
                    workload: Workload::Login {
                        users: users.clone(),
                    },
                    threads: 1,
                    connections: clients,
                    duration: ctx.p.probe + Duration::from_secs(2),
                },
            )
        });
        std::thread::sleep(Duration::from_secs(1));
        let stormy = probes(ctx, &dir, &url, &stage.admin, "stormy");
        let logins = storm
            .join()
            .unwrap_or_else(|_| Err("the storm panicked".into()));
        (logins, stormy)
    });
    let (logins, stormy) = (logins?, stormy?);
    let peak_rss_mib = stage.server().memory_kib()?.1 as f64 / 1024.0;
    let rss = sampler.finish();
    stage.stop()?;
    raw_windows.extend((0..3).map(|_| raw_rate(threads, window)));
    let raw_per_sec = median(&raw_windows);
    say!(
        "    raw argon2id: {raw_per_sec:.1} verifications/s (median of {}, before and after; \
         {hash_ms:.1} ms each on one core)",
        raw_windows
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, m) in quiet.iter().chain(stormy.iter()) {
        if m.error_count() > 0 {
            return Err(format!("probe {name} had errors: {:?}", m.errors));
        }
    }
    if logins.error_count() > 0 || logins.ok == 0 {
        return Err(format!(
            "the login storm had errors ({:?}) or no successful login ({})",
            logins.errors, logins.ok
        ));
    }
    let r = StormResult {
        backend: b,
        clients,
        threads,
        raw_per_sec,
        raw_windows,
        hash_ms,
        logins,
        quiet,
        stormy,
        probe_connections: ctx.p.probe_connections,
        probe_delay_ms: ctx.p.probe_delay_ms,
        idle_rss_mib,
        after_login_rss_mib,
        peak_rss_mib,
        rss,
    };
    for ((name, q), (_, s)) in r.quiet.iter().zip(r.stormy.iter()) {
        say!(
            "    {name}: p99 {:.2} ms quiet, {:.2} ms in the storm",
            q.p(99.0) / 1e3,
            s.p(99.0) / 1e3
        );
    }
    say!(
        "    {:.1} logins/s = {:.0}% of raw argon2id",
        r.login_rate(),
        100.0 * r.login_rate() / r.raw_per_sec
    );
    Ok(r)
}
