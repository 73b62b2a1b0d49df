//! `docs/benchmarks.md` and `docs/bench/*.svg`, written from one run's results (also kept
//! as `docs/bench/results.json`). Every verdict is computed from the numbers.

use std::fmt::Write;
use std::path::Path;

use crate::items::throughput::TARGETS;
use crate::run::{Backend, Results};
use crate::seed::share;
use crate::svg::{self, Bars, Line, Scale, Series};
use crate::util::{Context, Result, human_secs, ms, ratio, thousands};

/// A goal's outcome, as a table cell.
fn verdict(met: bool, detail: String) -> String {
    if met {
        format!("**met**: {detail}")
    } else {
        format!("**missed**: {detail}")
    }
}

struct Doc {
    md: String,
    svgs: Vec<(String, String)>,
}

impl Doc {
    fn p(&mut self, s: impl AsRef<str>) {
        self.md.push_str(s.as_ref());
        self.md.push_str("\n\n");
    }

    fn table(&mut self, head: &[&str], rows: Vec<Vec<String>>) {
        let _ = writeln!(self.md, "| {} |", head.join(" | "));
        let _ = writeln!(
            self.md,
            "|{}|",
            head.iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---" } else { "---:" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in rows {
            let _ = writeln!(self.md, "| {} |", r.join(" | "));
        }
        self.md.push('\n');
    }

    fn plot(&mut self, name: &str, alt: &str, svg: String) {
        self.p(format!("![{alt}](bench/{name}.svg)"));
        self.svgs.push((format!("{name}.svg"), svg));
    }
}

fn mib(v: f64) -> String {
    format!("{v:.1} MiB")
}

/// Writes the report and its plots into `out` (`benchmarks.md`, `bench/`).
pub fn write(out: &Path, r: &Results) -> Result<()> {
    let mut d = Doc {
        md: String::new(),
        svgs: Vec::new(),
    };
    intro(&mut d, r);
    summary(&mut d, r);
    machine(&mut d, r);
    item1(&mut d, r);
    item2(&mut d, r);
    item3(&mut d, r);
    item4(&mut d, r);
    item5(&mut d, r);
    item6(&mut d, r);
    let bench = out.join("bench");
    std::fs::create_dir_all(&bench).ctx(format!("cannot create {}", bench.display()))?;
    for (name, svg) in &d.svgs {
        std::fs::write(bench.join(name), svg).ctx(format!("cannot write {name}"))?;
    }
    let json = serde_json::to_string_pretty(r).ctx("results as JSON")?;
    std::fs::write(bench.join("results.json"), json).ctx("cannot write results.json")?;
    std::fs::write(out.join("benchmarks.md"), &d.md).ctx("cannot write benchmarks.md")?;
    Ok(())
}

fn intro(d: &mut Doc, r: &Results) {
    d.md.push_str("# Benchmarks\n\n");
    d.p(format!(
        "Written by the harness (`crates/wmill-bench`) on {}, in one {} run of {}: every ratio \
         below compares numbers measured side by side in that run, on the machine described in \
         [The machine](#the-machine). Rerun it, do not edit it: `{}`.",
        r.started,
        if r.profile.smoke { "**smoke**" } else { "full" },
        human_secs(r.seconds),
        r.command
    ));
    if r.profile.smoke {
        d.p(
            "**This is a smoke run** (tiny sizes, a second per measurement): it checks that the \
             harness works; its numbers mean little.",
        );
    }
}

fn summary(d: &mut Doc, r: &Results) {
    d.md.push_str("## Goals\n\n");
    let mut rows = Vec::new();
    let cols: Vec<Backend> = [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter(|b| {
            r.cli.iter().any(|x| x.backend == *b)
                || r.throughput.iter().any(|x| x.backend == *b)
                || r.storm.iter().any(|x| x.backend == *b)
                || r.audit.iter().any(|x| x.backend == *b)
        })
        .collect();
    let cell = |b: Backend, f: &dyn Fn(Backend) -> Option<String>| {
        f(b).unwrap_or_else(|| "not run".into())
    };
    type Goal<'a> = (&'a str, Box<dyn Fn(Backend) -> Option<String> + 'a>);
    let goals: Vec<Goal> = vec![
        (
            "1. our CLI ≥ 30× faster than the official one (each command, p50)",
            Box::new(|b| {
                let c = r.cli.iter().find(|c| c.backend == b)?;
                let worst = c
                    .rows
                    .iter()
                    .min_by(|x, y| x.speedup().total_cmp(&y.speedup()))?;
                let all: Vec<String> = c
                    .rows
                    .iter()
                    .map(|x| format!("{} {}", x.command, ratio(x.speedup())))
                    .collect();
                Some(verdict(worst.speedup() >= 30.0, all.join(", ")))
            }),
        ),
        (
            "2. whoami ≥ 0.5 × the bare axum handler (req/s at 64 connections)",
            Box::new(|b| {
                let t = r.throughput.iter().find(|t| t.backend == b)?;
                Some(verdict(t.ratio(1) >= 0.5, format!("{:.2}", t.ratio(1))))
            }),
        ),
        (
            "3. p99 of authenticated reads < 5 ms during a login storm",
            Box::new(|b| {
                let s = r.storm.iter().find(|s| s.backend == b)?;
                let worst = s.stormy.iter().map(|(_, m)| m.p(99.0)).fold(0.0, f64::max);
                Some(verdict(
                    worst < 5000.0,
                    format!("worst p99 {} ms", ms(worst)),
                ))
            }),
        ),
        (
            "3. login rate ≥ 90 % of raw argon2id verifications/s",
            Box::new(|b| {
                let s = r.storm.iter().find(|s| s.backend == b)?;
                let share = s.login_rate() / s.raw_per_sec;
                Some(verdict(share >= 0.9, format!("{:.0} %", share * 100.0)))
            }),
        ),
        (
            "4. audit list p50 < 5 ms at every size, each filter",
            Box::new(|b| {
                let a = r.audit.iter().find(|a| a.backend == b)?;
                let worst = a
                    .sizes
                    .iter()
                    .flat_map(|s| s.queries.iter().filter(|q| q.goal))
                    .map(|q| q.m.p(50.0))
                    .fold(0.0, f64::max);
                Some(verdict(
                    worst < 5000.0,
                    format!("worst p50 {} ms", ms(worst)),
                ))
            }),
        ),
        (
            "4. p50 at the largest size / p50 at the smallest < 2",
            Box::new(|b| {
                let a = r.audit.iter().find(|a| a.backend == b)?;
                let worst = a
                    .filters()
                    .iter()
                    .filter(|f| f.1)
                    .map(|(f, _)| {
                        let p = a.p50s(f);
                        p.last().map_or(0.0, |l| l.1) / p.first().map_or(1.0, |f| f.1)
                    })
                    .fold(0.0, f64::max);
                Some(verdict(worst < 2.0, format!("worst {:.2}", worst)))
            }),
        ),
    ];
    for (goal, f) in &goals {
        let mut row = vec![goal.to_string()];
        for b in &cols {
            row.push(cell(*b, f.as_ref()));
        }
        rows.push(row);
    }
    let mut head = vec!["Goal"];
    head.extend(cols.iter().map(|b| b.name()));
    d.table(&head, rows);
}

fn machine(d: &mut Doc, r: &Results) {
    d.md.push_str("## The machine\n\n");
    let m = &r.machine;
    let mut rows = vec![
        vec!["CPU".into(), format!("{} × {}", m.cpus, m.cpu_model)],
        vec!["Memory".into(), format!("{:.1} GiB", m.memory_gib)],
        vec!["Kernel, OS".into(), format!("{}, {}", m.kernel, m.os)],
        vec![
            "Load average (start → end)".into(),
            format!("{} → {}", m.load_at_start, r.load_at_end),
        ],
        vec!["SQLite".into(), r.sqlite_version.clone()],
    ];
    if let Some(v) = &r.postgres_version {
        let settings = r
            .postgres_settings
            .clone()
            .unwrap_or_else(|| "a server given by URL".into());
        rows.push(vec!["PostgreSQL".into(), format!("{v} ({settings})")]);
    }
    for (k, v) in &m.versions {
        rows.push(vec![k.clone(), format!("`{v}`")]);
    }
    d.table(&["", ""], rows);
    d.p(
        "The machine is shared (other builds may run): ratios are what to read, and each compares \
         numbers taken minutes apart at most. The load generators (wrk, hyperfine) run on the \
         same cores as the server, for the baseline as for the server.",
    );
    d.p(
        "Run it with `bench/run` (builds the release binaries, then runs `target/release/wmill-bench \
         all`). `bench/run --smoke` does everything with tiny sizes in a minute or so (CI runs \
         it); `--only 2,3`, `--no-postgres`, `--postgres-url URL` and `--keep` (keep server logs \
         and wrk outputs) narrow or explain a run. The harness installs `wrk` and `hyperfine` \
         with apt-get when they are missing, starts its own PostgreSQL cluster, one fresh \
         server per measurement, and sends load to 127.0.0.1 only.",
    );
}

fn item1(d: &mut Doc, r: &Results) {
    if r.cli.is_empty() {
        return;
    }
    d.md.push_str("## 1. CLI latency\n\n");
    d.p(format!(
        "Wall time of each command, ours (`target/release/wmill`) and Windmill's official client \
         (`windmill-cli`, Node.js), against the same local server, timed by hyperfine without a \
         shell: {} runs of ours, {} of theirs, {} warm-up runs each. Same flags for both \
         (`--base-url --token --workspace admins`), isolated config folders, stdin closed. \
         `user add` creates a user (a `prepare` step, not timed, removes it first); the server \
         hashes its password with its default argon2id parameters.",
        r.profile.cli_runs_ours, r.profile.cli_runs_official, r.profile.cli_warmup
    ));
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    for c in &r.cli {
        for row in &c.rows {
            rows.push(vec![
                c.backend.name().to_string(),
                format!("`{}`", row.command),
                format!(
                    "{} / {}",
                    ms(row.ours.p50() * 1e6),
                    ms(row.ours.p99() * 1e6)
                ),
                format!(
                    "{} / {}",
                    ms(row.official.p50() * 1e6),
                    ms(row.official.p99() * 1e6)
                ),
                ratio(row.speedup()),
            ]);
            groups.push((
                format!("{} {}", row.command, c.backend.name()),
                vec![row.ours.p50() * 1e3, row.official.p50() * 1e3],
            ));
        }
    }
    d.table(
        &[
            "Database",
            "Command",
            "ours p50 / p99 (ms)",
            "official p50 / p99 (ms)",
            "ours faster by",
        ],
        rows,
    );
    d.plot(
        "cli",
        "CLI wall time, ours vs official",
        svg::bars(&Bars {
            title: "CLI wall time (p50, log scale)".into(),
            value_label: "milliseconds".into(),
            log: true,
            series: vec!["wmill (ours)".into(), "windmill-cli 1.819.0".into()],
            groups,
            fmt: |v| format!("{v:.1} ms"),
        }),
    );
}

fn item2(d: &mut Doc, r: &Results) {
    if r.throughput.is_empty() {
        return;
    }
    d.md.push_str("## 2. Authenticated throughput\n\n");
    let t0 = &r.throughput[0];
    d.p(format!(
        "`wrk -t{} -c{}` on loopback, {} round(s) of {} s per target, alternating bare → whoami → \
         groups/list so that noise hits all three alike; the rate is the median round. Workspace \
         `admins` holds 20 groups of 10 members (plus `all`); the token is the superadmin's session.",
        t0.threads,
        t0.connections,
        t0.runs[0].len(),
        r.profile.load.as_secs()
    ));
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    for t in &r.throughput {
        for (i, (name, _)) in TARGETS.iter().enumerate() {
            let m = t.typical(i);
            rows.push(vec![
                t.backend.name().to_string(),
                format!("`{name}`"),
                thousands(t.rps(i)),
                format!("{:.2}", t.ratio(i)),
                ms(m.p(50.0)),
                ms(m.p(99.0)),
            ]);
        }
        groups.push((
            t.backend.name().to_string(),
            (0..TARGETS.len()).map(|i| t.rps(i)).collect(),
        ));
    }
    d.table(
        &[
            "Database", "Endpoint", "req/s", "÷ bare", "p50 (ms)", "p99 (ms)",
        ],
        rows,
    );
    d.plot(
        "throughput",
        "requests per second",
        svg::bars(&Bars {
            title: format!("Requests/s at {} connections", t0.connections),
            value_label: "requests per second".into(),
            log: false,
            series: TARGETS.iter().map(|t| t.0.to_string()).collect(),
            groups,
            fmt: |v| thousands(v),
        }),
    );
    let mut series = Vec::new();
    for t in &r.throughput {
        for (i, (name, _)) in TARGETS.iter().enumerate() {
            series.push(Series {
                name: format!("{name} ({})", t.backend.name()),
                points: t
                    .typical(i)
                    .percentiles
                    .iter()
                    .map(|(p, v)| (*p, v / 1e3))
                    .collect(),
                dashed: t.backend == Backend::Postgres,
            });
        }
    }
    d.plot(
        "throughput-latency",
        "latency distribution under load",
        svg::line(&Line {
            title: "Latency under full load, by percentile".into(),
            x_label: "percentile".into(),
            y_label: "ms (log)".into(),
            x: Scale::Nines,
            y: Scale::Log,
            series,
        }),
    );
}

fn item3(d: &mut Doc, r: &Results) {
    if r.storm.is_empty() {
        return;
    }
    d.md.push_str("## 3. Isolation under a login storm\n\n");
    let s0 = &r.storm[0];
    d.p(format!(
        "{} clients log in back to back (`wrk -c{}`, `POST /api/auth/login`, 16 accounts, the \
         server's default argon2id: m=19456 KiB, t=2, p=1) while two probes read `whoami` and \
         `groups/list` at a steady pace ({} connections each, {} ms between requests). The same \
         probes run first on the quiet server. Raw argon2id is measured in the same run: {} threads \
         verifying as fast as they can, no server involved.",
        s0.clients, s0.clients, s0.probe_connections, s0.probe_delay_ms, s0.threads
    ));
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for s in &r.storm {
        for ((name, q), (_, st)) in s.quiet.iter().zip(s.stormy.iter()) {
            rows.push(vec![
                s.backend.name().to_string(),
                format!("`{name}`"),
                format!("{} / {}", ms(q.p(50.0)), ms(q.p(99.0))),
                format!("{} / {}", ms(st.p(50.0)), ms(st.p(99.0))),
                ms(st.p(99.9)),
                thousands(st.requests as f64),
            ]);
            series.push(Series {
                name: format!("{name}, storm ({})", s.backend.name()),
                points: st.percentiles.iter().map(|(p, v)| (*p, v / 1e3)).collect(),
                dashed: false,
            });
            series.push(Series {
                name: format!("{name}, quiet ({})", s.backend.name()),
                points: q.percentiles.iter().map(|(p, v)| (*p, v / 1e3)).collect(),
                dashed: true,
            });
        }
    }
    d.table(
        &[
            "Database",
            "Read",
            "quiet p50 / p99 (ms)",
            "storm p50 / p99 (ms)",
            "storm p99.9 (ms)",
            "requests",
        ],
        rows,
    );
    let rows = r
        .storm
        .iter()
        .map(|s| {
            vec![
                s.backend.name().to_string(),
                format!("{:.1}", s.login_rate()),
                format!("{:.1}", s.raw_per_sec),
                format!("{:.0} %", 100.0 * s.login_rate() / s.raw_per_sec),
                format!("{} / {}", ms(s.logins.p(50.0)), ms(s.logins.p(99.0))),
                format!("{:.1}", s.hash_ms),
            ]
        })
        .collect();
    d.table(
        &[
            "Database",
            "logins/s",
            "raw argon2id/s",
            "share",
            "login p50 / p99 (ms)",
            "one hash (ms)",
        ],
        rows,
    );
    d.plot(
        "storm",
        "read latency during the login storm",
        svg::line(&Line {
            title: "Authenticated reads: quiet vs during the login storm".into(),
            x_label: "percentile".into(),
            y_label: "ms (log)".into(),
            x: Scale::Nines,
            y: Scale::Log,
            series,
        }),
    );
}

fn item4(d: &mut Doc, r: &Results) {
    if r.audit.is_empty() {
        return;
    }
    d.md.push_str("## 4. Audit log at scale\n\n");
    d.p(
        "The log is seeded in bulk into the stopped server's database (generated by the database \
         from a counter: the spec's operations and action kinds in realistic shares, 1009 users, \
         one entry every 3 s, all in workspace `admins`), grown in place from one size to the \
         next. PostgreSQL gets `VACUUM ANALYZE` after each step (autovacuum's job in \
         production); SQLite gets no `ANALYZE`, as the server never runs one. Each query is \
         `GET /api/w/admins/audit/list?per_page=30&…` (30 is what `wmill audit list` asks for) as \
         the superadmin, timed over HTTP by wrk on one connection.",
    );
    let mut seed_rows = Vec::new();
    for a in &r.audit {
        for s in &a.sizes {
            seed_rows.push(vec![
                a.backend.name().to_string(),
                thousands(s.entries as f64),
                thousands(s.seeded.rows as f64),
                human_secs(s.seeded.seconds),
                thousands(s.seeded.rows as f64 / s.seeded.seconds.max(1e-9)),
                human_secs(s.seeded.analyze_seconds),
            ]);
        }
    }
    d.p(format!(
        "Seeding ({} in all). Of the rows, `operation=group` matches {:.0} %, \
         `action_kind=Delete` {:.0} %, `operation=workspaces` {:.1} %, each of the 1009 users \
         about 0.1 %:",
        human_secs(r.audit.iter().map(|a| a.seeding_seconds()).sum()),
        100.0 * share(|op, _| op.starts_with("group.")),
        100.0 * share(|_, kind| kind == "Delete"),
        100.0 * share(|op, _| op.starts_with("workspaces.")),
    ));
    d.table(
        &[
            "Database",
            "log size",
            "rows added",
            "time",
            "rows/s",
            "VACUUM ANALYZE",
        ],
        seed_rows,
    );
    for a in &r.audit {
        let mut head: Vec<String> = vec!["Filter".into(), "rows".into()];
        for s in &a.sizes {
            head.push(format!("{} p50 / p99", thousands(s.entries as f64)));
        }
        head.push("largest ÷ smallest (p50)".into());
        let mut rows = Vec::new();
        for (f, goal) in a.filters() {
            let mut row = vec![
                if goal { f.clone() } else { format!("*{f}*") },
                a.sizes
                    .last()
                    .and_then(|s| s.queries.iter().find(|q| q.filter == f))
                    .map_or(String::new(), |q| q.rows.to_string()),
            ];
            for s in &a.sizes {
                let q = s.queries.iter().find(|q| q.filter == f);
                row.push(q.map_or(String::new(), |q| {
                    format!("{} / {}", ms(q.m.p(50.0)), ms(q.m.p(99.0)))
                }));
            }
            let p = a.p50s(&f);
            let ratio_v = p.last().map_or(0.0, |l| l.1) / p.first().map_or(1.0, |f| f.1);
            row.push(format!("{ratio_v:.2}"));
            rows.push(row);
        }
        d.p(format!(
            "**{}** (ms; edge cases outside the goal in italics):",
            a.backend.name()
        ));
        let head_ref: Vec<&str> = head.iter().map(String::as_str).collect();
        d.table(&head_ref, rows);
    }
    let mut series = Vec::new();
    for a in &r.audit {
        for (f, goal) in a.filters() {
            if !goal {
                continue;
            }
            series.push(Series {
                name: format!("{f} ({})", a.backend.name()),
                points: a
                    .p50s(&f)
                    .iter()
                    .map(|(n, v)| (*n as f64, v / 1e3))
                    .collect(),
                dashed: a.backend == Backend::Postgres,
            });
        }
    }
    d.plot(
        "audit",
        "audit list p50 by log size",
        svg::line(&Line {
            title: "audit list p50 by log size".into(),
            x_label: "entries in the log (log)".into(),
            y_label: "ms (log)".into(),
            x: Scale::Log,
            y: Scale::Log,
            series,
        }),
    );
}

fn item5(d: &mut Doc, r: &Results) {
    if r.writes.is_empty() {
        return;
    }
    d.md.push_str("## 5. Audited writes\n\n");
    d.p(format!(
        "`wrk -t2 -c{}`: group adduser/removeuser (each connection toggles users of its own, so \
         every request changes something) and token create. Each success commits its audit entry \
         in the same transaction; the harness counts the entries in the database before and after \
         and checks one per success (plus at most one per connection still in flight when wrk \
         stops).",
        r.writes[0].clients
    ));
    let mut rows = Vec::new();
    for w in &r.writes {
        for m in &w.runs {
            rows.push(vec![
                w.backend.name().to_string(),
                m.name.clone(),
                thousands(m.rate()),
                ms(m.m.p(50.0)),
                ms(m.m.p(99.0)),
                format!(
                    "{} / {}",
                    thousands(m.m.ok as f64),
                    thousands(m.audited as f64)
                ),
            ]);
        }
    }
    d.table(
        &[
            "Database",
            "Mutation",
            "per second",
            "p50 (ms)",
            "p99 (ms)",
            "successes / audit entries",
        ],
        rows,
    );
}

fn item6(d: &mut Doc, r: &Results) {
    if r.memory.is_empty() && r.storm.is_empty() && r.writes.is_empty() {
        return;
    }
    d.md.push_str("## 6. Memory\n\n");
    d.p("Resident set size (`VmRSS`, and `VmHWM` for peaks) of the server process, from `/proc`.");
    let mut rows = Vec::new();
    for b in [Backend::Sqlite, Backend::Postgres] {
        let s = r.storm.iter().find(|x| x.backend == b);
        let w = r.writes.iter().find(|x| x.backend == b);
        let m = r.memory.iter().find(|x| x.backend == b);
        if s.is_none() && w.is_none() && m.is_none() {
            continue;
        }
        rows.push(vec![
            b.name().to_string(),
            s.or(None)
                .map(|s| mib(s.idle_rss_mib))
                .or_else(|| w.map(|w| mib(w.idle_rss_mib)))
                .unwrap_or_default(),
            m.map(|m| {
                format!(
                    "{} ({} users)",
                    mib(m.after_rss_mib),
                    thousands(m.users as f64)
                )
            })
            .unwrap_or_default(),
            s.map(|s| mib(s.peak_rss_mib)).unwrap_or_default(),
            w.map(|w| mib(w.peak_rss_mib)).unwrap_or_default(),
        ]);
    }
    d.table(
        &[
            "Database",
            "idle",
            "after N users",
            "peak during 3 (storm)",
            "peak during 5 (writes)",
        ],
        rows,
    );
    let mut series = Vec::new();
    for s in &r.storm {
        series.push(Series {
            name: format!("3 storm ({})", s.backend.name()),
            points: s.rss.clone(),
            dashed: s.backend == Backend::Postgres,
        });
    }
    for w in &r.writes {
        series.push(Series {
            name: format!("5 writes ({})", w.backend.name()),
            points: w.rss.clone(),
            dashed: w.backend == Backend::Postgres,
        });
    }
    for m in &r.memory {
        series.push(Series {
            name: format!("6 users ({})", m.backend.name()),
            points: m.rss.clone(),
            dashed: m.backend == Backend::Postgres,
        });
    }
    if !series.is_empty() {
        d.plot(
            "memory",
            "server RSS over time",
            svg::line(&Line {
                title: "Server resident memory over each run".into(),
                x_label: "seconds since the server started".into(),
                y_label: "MiB".into(),
                x: Scale::Linear,
                y: Scale::Linear,
                series,
            }),
        );
    }
}
