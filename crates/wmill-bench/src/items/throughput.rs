//! Item 2: authenticated requests per second at 64 connections on loopback, as a ratio to
//! a bare axum handler loaded by the same wrk in the same run; rounds alternate between the
//! three targets so that a noisy neighbour hits them alike. Item 1 runs on the same server
//! and data first.

use serde::{Deserialize, Serialize};

use crate::items::cli::{self, CliResult};
use crate::run::{Backend, Ctx};
use crate::say;
use crate::seed::Target;
use crate::server::{Argon2, Server, ServerOpts};
use crate::util::{Result, median};
use crate::wrk::{self, Measured, Run, Workload};

/// The endpoints loaded, in the order of each round.
pub const TARGETS: [(&str, &str); 3] = [
    ("bare axum", "/"),
    ("whoami", "/api/users/whoami"),
    ("groups/list", "/api/w/admins/groups/list"),
];

/// Item 2 on one database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputResult {
    pub backend: Backend,
    pub connections: u32,
    pub threads: u32,
    /// For each target (in [`TARGETS`] order), one measurement per round.
    pub runs: Vec<Vec<Measured>>,
    /// PostgreSQL only: whoami against a second server on the same database, by the size
    /// of its connection pool.
    pub pool_sweep: Vec<(u32, Measured)>,
    /// PostgreSQL only: whoami and groups/list against a server with `--pg-cache=off` on
    /// the same database (today's path, side by side with the cached one above).
    #[serde(default)]
    pub cache_off: Vec<Measured>,
    /// PostgreSQL only: three instances with the cache on, loaded together (whoami; one
    /// wrk per instance, the connections split between them): one measurement each.
    #[serde(default)]
    pub three: Vec<Measured>,
    /// PostgreSQL only, three instances: how long a revocation (a token deleted through a
    /// random instance, after every instance cached it) took to be answered, in ms.
    #[serde(default)]
    pub revocation_ms: Vec<f64>,
}

/// Revocations timed with three instances.
pub const REVOCATIONS: usize = 300;

/// Pool sizes tried on PostgreSQL (the default is 16).
pub const POOL_SIZES: [u32; 4] = [4, 8, 16, 32];

impl ThroughputResult {
    /// Median requests per second of target `t`.
    pub fn rps(&self, t: usize) -> f64 {
        median(&self.runs[t].iter().map(Measured::rps).collect::<Vec<_>>())
    }

    /// The round whose rate is the median, for latencies.
    pub fn typical(&self, t: usize) -> &Measured {
        let mut v: Vec<&Measured> = self.runs[t].iter().collect();
        v.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
        v[v.len() / 2]
    }

    /// Rate of target `t` over the bare handler's.
    pub fn ratio(&self, t: usize) -> f64 {
        self.rps(t) / self.rps(0)
    }
}

/// Items 1 and 2 on one database: one server, 20 groups of 10 members.
pub fn run_with_cli(
    ctx: &mut Ctx,
    b: Backend,
    want_cli: bool,
    want_load: bool,
) -> Result<(Option<CliResult>, Option<ThroughputResult>)> {
    let stage = ctx.stage(b, Argon2::Defaults, &[], "load")?;
    crate::items::setup_groups(&stage.api, &stage.admin)?;
    let cli = if want_cli {
        Some(cli::run(ctx, &stage)?)
    } else {
        None
    };
    let load = if want_load {
        say!(
            "[2] throughput on {} at {} connections: bare axum vs whoami vs groups/list",
            b.name(),
            ctx.p.load_connections
        );
        let dir = ctx.dir(&format!("load-{}", b.name().to_lowercase()));
        let baseline = Server::start_baseline(&dir)?;
        let threads = 2;
        let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); TARGETS.len()];
        let base_of = |t: usize| {
            if t == 0 {
                baseline.url.clone()
            } else {
                stage.server().url.clone()
            }
        };
        // Warm-up: connections, caches, the allocator.
        for (t, (_, path)) in TARGETS.iter().enumerate() {
            wrk::run(
                &dir,
                &format!("warmup-{t}"),
                &Run {
                    url: format!("{}{path}", base_of(t)),
                    token: Some(&stage.admin),
                    workload: Workload::Get,
                    threads,
                    connections: ctx.p.load_connections,
                    duration: std::time::Duration::from_secs(1),
                },
            )?;
        }
        for round in 0..ctx.p.load_rounds {
            for (t, (name, path)) in TARGETS.iter().enumerate() {
                let m = wrk::run(
                    &dir,
                    &format!("round{round}-{t}"),
                    &Run {
                        url: format!("{}{path}", base_of(t)),
                        token: Some(&stage.admin),
                        workload: Workload::Get,
                        threads,
                        connections: ctx.p.load_connections,
                        duration: ctx.p.load,
                    },
                )?;
                if m.error_count() > 0 {
                    return Err(format!("{name} had errors under load: {:?}", m.errors));
                }
                say!(
                    "    round {}: {name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                    round + 1,
                    m.rps(),
                    m.p(50.0) / 1e3,
                    m.p(99.0) / 1e3
                );
                runs[t].push(m);
            }
        }
        baseline.stop()?;
        let mut pool_sweep = Vec::new();
        if let Target::Postgres(url) = &stage.target {
            for n in POOL_SIZES {
                let other = Server::start(&ServerOpts {
                    bin: &ctx.server_bin,
                    data_dir: &dir.join(format!("pool-{n}")),
                    database_url: Some(url),
                    argon2: Argon2::Defaults,
                    extra: vec!["--db-max-connections".into(), n.to_string()],
                })?;
                let m = wrk::run(
                    &dir,
                    &format!("pool-{n}"),
                    &Run {
                        url: format!("{}/api/users/whoami", other.url),
                        token: Some(&stage.admin),
                        workload: Workload::Get,
                        threads,
                        connections: ctx.p.load_connections,
                        duration: ctx.p.load,
                    },
                )?;
                other.stop()?;
                say!("    whoami with a pool of {n}: {:.0} req/s", m.rps());
                pool_sweep.push((n, m));
            }
        }
        let (mut cache_off, mut three, mut revocation_ms) = (Vec::new(), Vec::new(), Vec::new());
        if let Target::Postgres(url) = &stage.target {
            // Today's path, side by side: the cache off.
            let off = Server::start(&ServerOpts {
                bin: &ctx.server_bin,
                data_dir: &dir.join("cache-off"),
                database_url: Some(url),
                argon2: Argon2::Defaults,
                extra: vec!["--pg-cache".into(), "off".into()],
            })?;
            for (t, (name, path)) in TARGETS.iter().enumerate().skip(1) {
                let m = wrk::run(
                    &dir,
                    &format!("cache-off-{t}"),
                    &Run {
                        url: format!("{}{path}", off.url),
                        token: Some(&stage.admin),
                        workload: Workload::Get,
                        threads,
                        connections: ctx.p.load_connections,
                        duration: ctx.p.load,
                    },
                )?;
                say!("    {name} with --pg-cache=off: {:.0} req/s", m.rps());
                cache_off.push(m);
            }
            off.stop()?;
            // Three instances with the cache on: the stage's and two more.
            let others: Vec<Server> = (1..3)
                .map(|i| {
                    Server::start(&ServerOpts {
                        bin: &ctx.server_bin,
                        data_dir: &dir.join(format!("instance-{i}")),
                        database_url: Some(url),
                        argon2: Argon2::Defaults,
                        extra: vec![],
                    })
                })
                .collect::<Result<_>>()?;
            let urls: Vec<String> = std::iter::once(stage.server().url.clone())
                .chain(others.iter().map(|o| o.url.clone()))
                .collect();
            // Leases taken, caches warm.
            std::thread::sleep(std::time::Duration::from_secs(1));
            let per = (ctx.p.load_connections / 3).max(1);
            let measured: Vec<Result<Measured>> = std::thread::scope(|s| {
                let hs: Vec<_> = urls
                    .iter()
                    .enumerate()
                    .map(|(i, u)| {
                        let dir = &dir;
                        let admin = &stage.admin;
                        let duration = ctx.p.load;
                        s.spawn(move || {
                            wrk::run(
                                dir,
                                &format!("three-{i}"),
                                &Run {
                                    url: format!("{u}/api/users/whoami"),
                                    token: Some(admin),
                                    workload: Workload::Get,
                                    threads: 1,
                                    connections: per,
                                    duration,
                                },
                            )
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for m in measured {
                three.push(m?);
            }
            say!(
                "    whoami on three instances: {:.0} req/s in all",
                three.iter().map(Measured::rps).sum::<f64>()
            );
            // Revocation latency with three instances.
            let apis: Vec<crate::api::Api> = urls.iter().map(|u| crate::api::Api::new(u)).collect();
            let mut pick = 0x2545_F491_4F6C_DD1Du64;
            for n in 0..REVOCATIONS {
                pick ^= pick << 13;
                pick ^= pick >> 7;
                pick ^= pick << 17;
                let token = apis[n % 3].expect(
                    201,
                    "POST",
                    "/api/users/tokens/create",
                    Some(&stage.admin),
                    Some(&serde_json::json!({"label": format!("revoked-{n}")})),
                )?;
                for a in &apis {
                    a.expect(200, "GET", "/api/users/whoami", Some(&token), None)?;
                    a.expect(200, "GET", "/api/users/whoami", Some(&token), None)?;
                }
                let writer = &apis[(pick % 3) as usize];
                let started = std::time::Instant::now();
                writer.expect(
                    200,
                    "DELETE",
                    &format!("/api/users/tokens/delete/{token}"),
                    Some(&stage.admin),
                    None,
                )?;
                revocation_ms.push(started.elapsed().as_secs_f64() * 1e3);
                for a in &apis {
                    a.expect(401, "GET", "/api/users/whoami", Some(&token), None)?;
                }
            }
            say!(
                "    revocation with three instances: p50 {:.2} ms, p99 {:.2} ms",
                crate::util::percentile(&revocation_ms, 50.0),
                crate::util::percentile(&revocation_ms, 99.0)
            );
            for o in others {
                o.stop()?;
            }
        }
        let r = ThroughputResult {
            backend: b,
            connections: ctx.p.load_connections,
            threads,
            runs,
            pool_sweep,
            cache_off,
            three,
            revocation_ms,
        };
        say!(
            "    whoami {:.2}× and groups/list {:.2}× of the bare handler",
            r.ratio(1),
            r.ratio(2)
        );
        Some(r)
    } else {
        None
    };
    stage.stop()?;
    Ok((cli, load))
}
