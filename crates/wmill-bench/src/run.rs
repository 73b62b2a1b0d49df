//! `wmill-bench all`: sizes, the shared context (binaries, work folder, PostgreSQL), one
//! fresh server per measurement, every item on every database, then the report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::api::Api;
use crate::items;
use crate::machine::{self, Machine};
use crate::pg::Pg;
use crate::say;
use crate::seed::Target;
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, Argon2, Server, ServerOpts};
use crate::util::{Context, Result, human_secs};

/// Options of `wmill-bench all`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Tiny sizes and a second or so per measurement: checks that the harness works.
    #[arg(long)]
    pub smoke: bool,
    /// Where `benchmarks.md` and `bench/` go [default: docs/, or a temporary folder with --smoke].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use this PostgreSQL server (a fresh database per run) instead of starting a cluster.
    #[arg(long, env = "WMILL_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Measure SQLite only.
    #[arg(long)]
    pub no_postgres: bool,
    /// Items to run, e.g. `1,2` [default: all nine]. Into the default folder, a partial run
    /// replaces those items' results in `docs/bench/results.json` and keeps the others.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<u8>,
    /// Folder holding the release `wmill-server` and `wmill` binaries.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Windmill's official client [default: .ci/official-client/node_modules/.bin/wmill].
    #[arg(long, env = "WMILL_OFFICIAL_CLIENT")]
    pub official: Option<PathBuf>,
    /// Keep the work folder (server logs, wrk scripts and outputs) for inspection.
    #[arg(long)]
    pub keep: bool,
}

/// Sizes and durations of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub smoke: bool,
    /// hyperfine runs of our CLI / of the official client, and warm-up runs.
    pub cli_runs_ours: u32,
    pub cli_runs_official: u32,
    pub cli_warmup: u32,
    /// Throughput: seconds per wrk run, rounds of (bare, whoami, groups).
    pub load: Duration,
    pub load_rounds: u32,
    pub load_connections: u32,
    /// Login storm: raw argon2 measurement, probe runs, storm clients.
    pub argon2_time: Duration,
    pub probe: Duration,
    pub probe_connections: u32,
    pub probe_delay_ms: u32,
    pub storm_clients: u32,
    /// Audit log sizes, seconds per query measurement.
    pub audit_sizes: Vec<i64>,
    pub audit_query: Duration,
    /// Audited writes: seconds per workload, clients.
    pub writes: Duration,
    pub write_clients: u32,
    /// Users created for the memory measurement, and how many of them log in.
    pub memory_users: usize,
    pub memory_logins: usize,
    /// Pages: workspace members (each with an account), groups and their size, audit
    /// entries; warm-up rounds and timed rounds (one request per page each).
    #[serde(default)]
    pub pages_members: usize,
    #[serde(default)]
    pub pages_groups: usize,
    #[serde(default)]
    pub pages_group_size: usize,
    #[serde(default)]
    pub pages_audit: i64,
    #[serde(default)]
    pub pages_warmup: u32,
    #[serde(default)]
    pub pages_requests: u32,
    /// SCIM sync: users and groups a provider provisions.
    #[serde(default)]
    pub scim_users: usize,
    #[serde(default)]
    pub scim_groups: usize,
    /// Moving to PostgreSQL: accounts and audit entries in the SQLite source.
    #[serde(default)]
    pub migrate_users: usize,
    #[serde(default)]
    pub migrate_audit: usize,
}

impl Profile {
    fn new(smoke: bool) -> Profile {
        if smoke {
            Profile {
                smoke,
                cli_runs_ours: 2,
                cli_runs_official: 1,
                cli_warmup: 0,
                load: Duration::from_secs(1),
                load_rounds: 1,
                load_connections: 64,
                argon2_time: Duration::from_secs(1),
                probe: Duration::from_secs(1),
                probe_connections: 2,
                probe_delay_ms: 10,
                storm_clients: 16,
                audit_sizes: vec![1_000, 3_000, 10_000],
                audit_query: Duration::from_secs(1),
                writes: Duration::from_secs(1),
                write_clients: 32,
                memory_users: 300,
                memory_logins: 100,
                pages_members: 60,
                pages_groups: 4,
                pages_group_size: 5,
                pages_audit: 1_000,
                pages_warmup: 1,
                pages_requests: 5,
                scim_users: 50,
                scim_groups: 5,
                migrate_users: 200,
                migrate_audit: 2_000,
            }
        } else {
            Profile {
                smoke,
                cli_runs_ours: 30,
                cli_runs_official: 10,
                cli_warmup: 2,
                load: Duration::from_secs(8),
                load_rounds: 3,
                load_connections: 64,
                argon2_time: Duration::from_secs(9),
                probe: Duration::from_secs(20),
                probe_connections: 2,
                probe_delay_ms: 20,
                storm_clients: 16,
                audit_sizes: vec![100_000, 1_000_000, 10_000_000],
                audit_query: Duration::from_secs(3),
                writes: Duration::from_secs(10),
                write_clients: 32,
                memory_users: 100_000,
                memory_logins: 25_000,
                pages_members: 1_000,
                pages_groups: 20,
                pages_group_size: 25,
                pages_audit: 10_000,
                pages_warmup: 20,
                pages_requests: 200,
                scim_users: 10_000,
                scim_groups: 500,
                migrate_users: 100_000,
                migrate_audit: 1_000_000,
            }
        }
    }
}

/// A database family the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// What every item needs.
pub struct Ctx {
    pub p: Profile,
    pub work: PathBuf,
    pub server_bin: PathBuf,
    pub cli_bin: PathBuf,
    pub official: PathBuf,
    pub rt: tokio::runtime::Runtime,
    pub pg: Option<Pg>,
    n: u32,
}

/// A running server on a database of its own, with the superadmin logged in.
pub struct Stage {
    pub backend: Backend,
    server: Option<Server>,
    pub api: Api,
    /// The superadmin's session token.
    pub admin: String,
    /// Resident memory right after the start, before the superadmin logged in (MiB).
    pub idle_rss_mib: f64,
    pub target: Target,
    data_dir: PathBuf,
    db_url: Option<String>,
    argon2: Argon2,
    extra: Vec<String>,
}

impl Ctx {
    /// A new folder in the work folder.
    pub fn dir(&mut self, tag: &str) -> PathBuf {
        self.n += 1;
        let d = self.work.join(format!("{:02}-{tag}", self.n));
        let _ = std::fs::create_dir_all(&d);
        d
    }

    /// A fresh server on a fresh database.
    pub fn stage(
        &mut self,
        backend: Backend,
        argon2: Argon2,
        extra: &[&str],
        tag: &str,
    ) -> Result<Stage> {
        let data_dir = self.dir(&format!("{tag}-{}", backend.name().to_lowercase()));
        let db_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let pg = self.pg.as_mut().ctx("PostgreSQL is not available")?;
                Some(pg.fresh_db(&self.rt, tag)?)
            }
        };
        let target = match &db_url {
            Some(u) => Target::Postgres(u.clone()),
            None => Target::Sqlite(data_dir.join("wmill.db")),
        };
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let server = Server::start(&ServerOpts {
            bin: &self.server_bin,
            data_dir: &data_dir,
            database_url: db_url.as_deref(),
            argon2,
            extra: extra.clone(),
        })?;
        std::thread::sleep(Duration::from_millis(300));
        let idle_rss_mib = server.memory_kib()?.0 as f64 / 1024.0;
        let api = Api::new(&server.url);
        let admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
        Ok(Stage {
            backend,
            server: Some(server),
            api,
            admin,
            idle_rss_mib,
            target,
            data_dir,
            db_url,
            argon2,
            extra,
        })
    }
}

impl Stage {
    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the server runs between calls")
    }

    /// Stops the server, runs `f` on its stopped database, starts it again.
    pub fn with_server_stopped<T>(
        &mut self,
        ctx: &Ctx,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if let Some(s) = self.server.take() {
            s.stop()?;
        }
        let out = f()?;
        let server = Server::start(&ServerOpts {
            bin: &ctx.server_bin,
            data_dir: &self.data_dir,
            database_url: self.db_url.as_deref(),
            argon2: self.argon2,
            extra: self.extra.clone(),
        })?;
        self.api = Api::new(&server.url);
        self.server = Some(server);
        Ok(out)
    }

    /// Stops the server.
    pub fn stop(mut self) -> Result<()> {
        match self.server.take() {
            Some(s) => s.stop(),
            None => Ok(()),
        }
    }
}

/// Everything measured in one run.
#[derive(Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    pub command: String,
    pub profile: Profile,
    pub started: String,
    pub seconds: f64,
    pub load_at_end: String,
    pub sqlite_version: String,
    pub postgres_version: Option<String>,
    pub postgres_settings: Option<String>,
    pub cli: Vec<items::cli::CliResult>,
    pub throughput: Vec<items::throughput::ThroughputResult>,
    pub storm: Vec<items::storm::StormResult>,
    pub audit: Vec<items::audit::AuditResult>,
    pub writes: Vec<items::writes::WritesResult>,
    pub memory: Vec<items::memory::MemoryResult>,
    #[serde(default)]
    pub pages: Vec<items::pages::PagesResult>,
    #[serde(default)]
    pub scim: Vec<items::scim::ScimResult>,
    #[serde(default)]
    pub migrate: Vec<items::migrate::MigrateResult>,
    /// Items measured again later by partial runs (`--only`), merged into this report.
    #[serde(default)]
    pub reruns: Vec<Rerun>,
}

/// A partial run merged into the report of an earlier one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rerun {
    pub items: Vec<u8>,
    pub command: String,
    pub started: String,
    pub seconds: f64,
    pub load_at_start: String,
    pub load_at_end: String,
    pub versions: Vec<(String, String)>,
    /// The PostgreSQL it used, if any (version and settings).
    pub postgres: Option<String>,
}

fn find_official(opts: &Options, root: &Path) -> Result<PathBuf> {
    let p = opts
        .official
        .clone()
        .unwrap_or_else(|| root.join(".ci/official-client/node_modules/.bin/wmill"));
    if !p.exists() {
        return Err(format!(
            "Windmill's official client is not at {} (run `npm ci` in .ci/official-client, or pass --official)",
            p.display()
        ));
    }
    Ok(p)
}

/// `wmill-bench all`.
pub fn all(opts: Options) -> Result<()> {
    let started = Instant::now();
    let root = crate::workspace_root();
    let p = Profile::new(opts.smoke);
    let wants = |i: u8| opts.only.is_empty() || opts.only.contains(&i);
    let bin_dir = opts
        .bin_dir
        .clone()
        .unwrap_or_else(|| root.join("target/release"));
    // Absolute: the CLIs run from a folder of their own.
    let bin_dir =
        std::fs::canonicalize(&bin_dir).ctx(format!("no binaries folder {}", bin_dir.display()))?;
    let server_bin = bin_dir.join("wmill-server");
    let cli_bin = bin_dir.join("wmill");
    for b in [&server_bin, &cli_bin] {
        if !b.exists() {
            return Err(format!(
                "{} is missing: build it first (`cargo build --release -p wmill-server -p wmill-cli`, or use bench/run)",
                b.display()
            ));
        }
    }
    let official = find_official(&opts, &root)?;
    machine::ensure_tools(&[("wrk", "wrk"), ("hyperfine", "hyperfine")])?;
    let out = match &opts.out {
        Some(o) => o.clone(),
        None if opts.smoke => {
            std::env::temp_dir().join(format!("wmill-bench-smoke-{}", std::process::id()))
        }
        None => root.join("docs"),
    };
    let work = std::env::temp_dir().join(format!("wmill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).ctx("cannot create the work folder")?;
    set_mode_755(&work);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .ctx("cannot start the async runtime")?;
    let machine = machine::describe(
        &[("wmill-server", &server_bin), ("wmill", &cli_bin)],
        Some(&official),
    );
    say!(
        "{} run on {} × {} ({:.0} GiB), load {}; work folder {}",
        if p.smoke { "smoke" } else { "full" },
        machine.cpus,
        machine.cpu_model,
        machine.memory_gib,
        machine.load_at_start,
        work.display()
    );
    let pg = if opts.no_postgres {
        None
    } else {
        Some(match &opts.postgres_url {
            Some(u) => Pg::external(u),
            None => Pg::start_own(&work.join("pg"))?,
        })
    };
    let mut ctx = Ctx {
        p: p.clone(),
        work: work.clone(),
        server_bin,
        cli_bin,
        official,
        rt,
        pg,
        n: 0,
    };
    let postgres_version = match &ctx.pg {
        Some(pg) => Some(pg.version(&ctx.rt)?),
        None => None,
    };
    let sqlite_version = ctx.rt.block_on(crate::seed::sqlite_version())?;
    let backends: Vec<Backend> = if ctx.pg.is_some() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        vec![Backend::Sqlite]
    };

    let mut results = Results {
        machine,
        command: command_line(&opts),
        profile: p.clone(),
        started: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        seconds: 0.0,
        load_at_end: String::new(),
        sqlite_version,
        postgres_settings: postgres_version
            .as_ref()
            .filter(|_| opts.postgres_url.is_none())
            .map(|_| crate::pg::SETTINGS.to_string()),
        postgres_version,
        cli: vec![],
        throughput: vec![],
        storm: vec![],
        audit: vec![],
        writes: vec![],
        memory: vec![],
        pages: vec![],
        scim: vec![],
        migrate: vec![],
        reruns: vec![],
    };

    let outcome = (|| -> Result<()> {
        for &b in &backends {
            if wants(1) || wants(2) {
                let (cli, tp) = items::throughput::run_with_cli(&mut ctx, b, wants(1), wants(2))?;
                results.cli.extend(cli);
                results.throughput.extend(tp);
            }
            if wants(3) {
                results.storm.push(items::storm::run(&mut ctx, b)?);
            }
            if wants(5) {
                results.writes.push(items::writes::run(&mut ctx, b)?);
            }
            if wants(6) {
                results.memory.push(items::memory::run(&mut ctx, b)?);
            }
            if wants(7) {
                results.pages.push(items::pages::run(&mut ctx, b)?);
            }
            if wants(8) {
                results.scim.push(items::scim::run(&mut ctx, b)?);
            }
            if wants(4) {
                results.audit.push(items::audit::run(&mut ctx, b)?);
            }
        }
        if wants(9) {
            results.migrate.extend(items::migrate::run(&mut ctx)?);
        }
        Ok(())
    })();

    if let Some(pg) = ctx.pg.take() {
        pg.finish(&ctx.rt);
    }
    if opts.keep || outcome.is_err() {
        say!("work folder kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    outcome?;

    results.seconds = started.elapsed().as_secs_f64();
    results.load_at_end = machine::load_average();
    let took = results.seconds;
    let results = if opts.only.is_empty() {
        results
    } else {
        merge(&out, results, &opts.only)?
    };
    crate::report::write(&out, &results)?;
    say!(
        "done in {}: {} and {}",
        human_secs(took),
        out.join("benchmarks.md").display(),
        out.join("bench").display()
    );
    Ok(())
}

/// A partial run's results merged into the previous report's, if `out` holds one: the items
/// run replace theirs (on every database), the others stay as they were measured.
fn merge(out: &Path, new: Results, only: &[u8]) -> Result<Results> {
    let path = out.join("bench/results.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(new);
    };
    let mut old: Results = serde_json::from_str(&text).ctx(format!(
        "cannot merge this partial run into {} (run every item, or pass --out)",
        path.display()
    ))?;
    if old.profile.smoke != new.profile.smoke {
        return Err(format!(
            "{} holds a {} run and this one is a {} run: pass --out to write it elsewhere",
            path.display(),
            if old.profile.smoke { "smoke" } else { "full" },
            if new.profile.smoke { "smoke" } else { "full" }
        ));
    }
    let has = |i: u8| only.contains(&i);
    if has(1) || has(2) {
        // Items 1 and 2 share a server: both are measured when either is asked for.
        old.cli = new.cli;
        old.throughput = new.throughput;
    }
    if has(3) {
        old.storm = new.storm;
    }
    if has(4) {
        old.audit = new.audit;
    }
    if has(5) {
        old.writes = new.writes;
    }
    if has(6) {
        old.memory = new.memory;
    }
    if has(7) {
        old.pages = new.pages;
    }
    if has(8) {
        old.scim = new.scim;
    }
    if has(9) {
        old.migrate = new.migrate;
    }
    // The sizes of the items run now; the others' are the same constants.
    old.profile = new.profile;
    let mut items: Vec<u8> = only.to_vec();
    items.sort_unstable();
    items.dedup();
    old.reruns.retain(|r| r.items != items);
    old.reruns.push(Rerun {
        items,
        command: new.command,
        started: new.started,
        seconds: new.seconds,
        load_at_start: new.machine.load_at_start,
        load_at_end: new.load_at_end,
        versions: new.machine.versions,
        postgres: new.postgres_version.map(|v| {
            let how = new
                .postgres_settings
                .unwrap_or_else(|| "a server given by URL, its own settings".into());
            format!("{v} ({how})")
        }),
    });
    say!(
        "merged into the report of {} ({})",
        old.started,
        old.command
    );
    Ok(old)
}

/// `wmill-bench report`: the report written again from the results it was written from.
pub fn rewrite_report(out: &Path) -> Result<()> {
    let path = out.join("bench/results.json");
    let text = std::fs::read_to_string(&path).ctx(format!("cannot read {}", path.display()))?;
    let r: Results =
        serde_json::from_str(&text).ctx(format!("{} does not read", path.display()))?;
    crate::report::write(out, &r)?;
    say!(
        "{} written again from {}",
        out.join("benchmarks.md").display(),
        path.display()
    );
    Ok(())
}

fn command_line(opts: &Options) -> String {
    let mut c = String::from("bench/run");
    if opts.smoke {
        c.push_str(" --smoke");
    }
    if opts.no_postgres {
        c.push_str(" --no-postgres");
    }
    if !opts.only.is_empty() {
        let items: Vec<String> = opts.only.iter().map(|i| i.to_string()).collect();
        c.push_str(&format!(" --only {}", items.join(",")));
    }
    c
}

fn set_mode_755(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partial run merges into the committed results: they must still read.
    #[test]
    fn the_committed_results_read_back() {
        let path = crate::workspace_root().join("docs/bench/results.json");
        let text = std::fs::read_to_string(&path).expect("docs/bench/results.json");
        let r: Results = serde_json::from_str(&text).expect("results.json matches Results");
        assert!(!r.machine.versions.is_empty());
    }
}
