//! Item 9: moving from SQLite to PostgreSQL. A SQLite data folder is made by the server
//! (started once on it, so that it applies its migrations and bootstraps the superadmin),
//! then filled with SQL while it is stopped: accounts (each with the superadmin's real
//! argon2id hash, so every seeded user's password is known), their usernames, workspace
//! members, groups and their members, API tokens (as SHA-256-sized hex digests), and the
//! audit log (seeded like item 4's). Then `wmill-server migrate --to URL --data-dir DIR`
//! runs into a fresh PostgreSQL database, timed end to end with its peak resident memory;
//! its exit status and report are checked, the account and audit row counts are read back
//! on PostgreSQL, and a server started on the copy must accept a seeded user's login.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::Connection;

use crate::api::Api;
use crate::run::Ctx;
use crate::say;
use crate::seed::{self, STEP_MICROS, Target};
use crate::server::{ADMIN_EMAIL, ADMIN_PASSWORD, Argon2, Server, ServerOpts, memory_kib};
use crate::util::{Context, Result, human_secs, thousands};

/// The goal: the whole migration in under two minutes.
pub const GOAL_SECONDS: f64 = 120.0;
/// One seeded user in this many is a member of workspace `admins`.
pub const MEMBER_EVERY: i64 = 10;
/// One seeded user in this many has an API token.
pub const TOKEN_EVERY: i64 = 5;
/// Groups the members are spread over.
pub const GROUPS: i64 = 100;

/// One table of the migrate command's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableReport {
    pub name: String,
    pub rows: u64,
    pub checksum: String,
}

/// Item 9's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrateResult {
    pub users: i64,
    pub audit: i64,
    /// Rows seeded besides (the bootstrap's own not counted): members, groups, group
    /// members, tokens.
    pub members: i64,
    pub groups: i64,
    pub group_members: i64,
    pub tokens: i64,
    /// Seconds to make the source (server start and stop, then SQL).
    pub seed_seconds: f64,
    /// Size of the SQLite file (MiB).
    pub source_mib: f64,
    /// Wall time of `wmill-server migrate`, from spawn to exit.
    pub seconds: f64,
    /// Its peak resident memory (`VmHWM`, sampled every 20 ms; MiB).
    pub peak_rss_mib: f64,
    /// Its last report line (`migration complete: …`).
    pub summary: String,
    pub tables: Vec<TableReport>,
    /// Row counts of `account` and `audit`: in SQLite before, in PostgreSQL after.
    pub source_accounts: i64,
    pub source_audit: i64,
    pub target_accounts: i64,
    pub target_audit: i64,
    /// The seeded user that logged in on a server started on the copy.
    pub login_checked: String,
    /// Seconds of the server start that chained the seeded audit entries (part of the
    /// seeding).
    #[serde(default)]
    pub chain_seconds: f64,
    /// The first line of `wmill-server audit verify` on the copy, and how long it took.
    #[serde(default)]
    pub chain_verified: String,
    #[serde(default)]
    pub verify_seconds: f64,
    /// Issue 18's rates, on this log: `wmill-server audit verify` pinned to one core
    /// (`taskset -c 0`; the median of three runs) on the SQLite source and on the
    /// PostgreSQL copy, and the NDJSON export of every entry through a server on each.
    #[serde(default)]
    pub verify: Vec<ChainRate>,
    #[serde(default)]
    pub export: Vec<ChainRate>,
}

/// One database's figure for verify or export.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainRate {
    pub database: String,
    pub entries: u64,
    pub seconds: f64,
    /// Whether the command ran pinned to one core.
    pub one_core: bool,
}

impl ChainRate {
    pub fn per_second(&self) -> f64 {
        self.entries as f64 / self.seconds.max(1e-9)
    }
}

/// Goals of issue 18.
pub const VERIFY_GOAL_PER_SECOND: f64 = 500_000.0;
pub const EXPORT_GOAL_PER_SECOND: f64 = 100_000.0;

/// `wmill-server audit verify` with `args`/`envs`, pinned to one core when `taskset` is
/// there; three runs, the median. Every run must find the log intact and read `entries`.
fn time_verify(
    ctx: &Ctx,
    database: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    entries: i64,
) -> Result<ChainRate> {
    let one_core = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut times = Vec::new();
    for _ in 0..3 {
        let mut cmd = if one_core {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(&ctx.server_bin);
            c
        } else {
            Command::new(&ctx.server_bin)
        };
        cmd.args(["audit", "verify"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let t = Instant::now();
        let out = cmd.output().ctx("cannot start wmill-server audit verify")?;
        times.push(t.elapsed().as_secs_f64());
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(format!(
                "audit verify on {database} exited with {}:\n{text}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let read = format!("{} audit entries read", entries);
        if !text.contains(&read) {
            return Err(format!(
                "audit verify on {database} did not read the {entries} entries:\n{text}"
            ));
        }
    }
    let rate = ChainRate {
        database: database.into(),
        entries: entries as u64,
        seconds: crate::util::median(&times),
        one_core,
    };
    say!(
        "    audit verify on {database}{}: {} ({} entries/s)",
        if one_core { ", one core" } else { "" },
        human_secs(rate.seconds),
        thousands(rate.per_second())
    );
    Ok(rate)
}

/// Exports every entry through the server at `url` as its superadmin, counting lines and
/// checking that their ids rise; `entries`: the log's size before the superadmin's login,
/// which the export may show with an entry or two of its own.
fn time_export(database: &str, url: &str, entries: i64) -> Result<ChainRate> {
    let api = Api::new(url);
    let token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
    let (mut lines, mut last, mut bad) = (0i64, 0i64, None);
    let t = Instant::now();
    let status = api.stream_lines(
        "/api/w/admins/audit/export?all_workspaces=true",
        &token,
        |line| {
            lines += 1;
            let id = line
                .find("\"id\":")
                .and_then(|i| {
                    line[i + 5..]
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .and_then(|d| d.parse::<i64>().ok())
                })
                .unwrap_or(-1);
            if id <= last && bad.is_none() {
                bad = Some(format!("line {lines}: id {id} after {last}"));
            }
            last = id;
        },
    )?;
    let seconds = t.elapsed().as_secs_f64();
    if status != 200 {
        return Err(format!("the export on {database} answered {status}"));
    }
    if let Some(b) = bad {
        return Err(format!("the export on {database} is not in id order: {b}"));
    }
    if !(entries..=entries + 2).contains(&lines) {
        return Err(format!(
            "the export on {database} gave {lines} lines, the log held {entries} entries"
        ));
    }
    let rate = ChainRate {
        database: database.into(),
        entries: lines as u64,
        seconds,
        one_core: false,
    };
    say!(
        "    audit export on {database}: {} lines in {} ({} entries/s)",
        thousands(lines as f64),
        human_secs(seconds),
        thousands(rate.per_second())
    );
    Ok(rate)
}

impl MigrateResult {
    pub fn met(&self) -> bool {
        self.seconds < GOAL_SECONDS
    }

    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

fn user_email(i: i64) -> String {
    format!("mu{i:06}@bench.test")
}

/// `table name: rows, checksum c` lines of the report.
fn parse_report(stdout: &str) -> Result<Vec<TableReport>> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("table "))
        .map(|l| {
            let (name, rest) = l.split_once(": ").ctx(format!("report line {l:?}"))?;
            let (rows, sum) = rest
                .split_once(" rows, checksum ")
                .ctx(format!("report line {l:?}"))?;
            Ok(TableReport {
                name: name.to_string(),
                rows: rows.trim().parse().ctx(format!("rows in {l:?}"))?,
                checksum: sum.trim().to_string(),
            })
        })
        .collect()
}

async fn sqlite(path: &Path) -> Result<sqlx::SqliteConnection> {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .ctx("SQLite options")?
        .filename(path)
        .busy_timeout(Duration::from_secs(30));
    sqlx::SqliteConnection::connect_with(&opts)
        .await
        .ctx(format!("cannot open {}", path.display()))
}

async fn count(c: &mut sqlx::SqliteConnection, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
        .fetch_one(c)
        .await
        .ctx(format!("counting {table}"))
}

async fn count_pg(c: &mut sqlx::PgConnection, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
        .fetch_one(c)
        .await
        .ctx(format!("counting {table} on PostgreSQL"))
}

/// The audit entries of the PostgreSQL database at `url`.
async fn audit_entries_pg(url: &str) -> Result<i64> {
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .ctx("cannot connect to the copy")?;
    let n = count_pg(&mut c, "audit").await?;
    c.close().await.ctx("closing PostgreSQL")?;
    Ok(n)
}

/// Accounts, usernames, members, groups, group members and tokens, in two transactions.
async fn seed_accounts(db: &Path, users: i64) -> Result<(i64, i64, i64, i64)> {
    let mut c = sqlite(db).await?;
    sqlx::raw_sql(
        "PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY",
    )
    .execute(&mut c)
    .await
    .ctx("SQLite pragmas")?;
    let counter =
        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $1 - 1) ";
    let email = "'mu' || printf('%06d', i) || '@bench.test'";
    let mut tx = c.begin().await.ctx("BEGIN")?;
    // Every account gets the superadmin's hash (a real argon2id PHC string, default cost):
    // the password of each is the superadmin's, so a login can be checked on the copy.
    let sql = format!(
        "{counter}INSERT INTO account (email, password_hash, super_admin, name, company, disabled, \
           first_time_user, created_at, service_account, login_type, scim_id) \
         SELECT {email}, a.password_hash, 0, 'Migrated User ' || i, \
           CASE WHEN i % 3 = 0 THEN 'Acme ' || (i % 17) END, i % 50 = 49, i % 4 = 0, \
           a.created_at + i, 0, a.login_type, lower(hex(randomblob(16))) \
         FROM s, account a WHERE a.email = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(users)
        .bind(ADMIN_EMAIL)
        .execute(&mut *tx)
        .await
        .ctx("seeding accounts")?;
    let sql = format!(
        "{counter}INSERT INTO username (email, username) SELECT {email}, 'mu' || printf('%06d', i) FROM s"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(users)
        .execute(&mut *tx)
        .await
        .ctx("seeding usernames")?;
    tx.commit().await.ctx("COMMIT")?;

    let mut tx = c.begin().await.ctx("BEGIN")?;
    let now: i64 = sqlx::query_scalar("SELECT created_at FROM account WHERE email = $1")
        .bind(ADMIN_EMAIL)
        .fetch_one(&mut *tx)
        .await
        .ctx("the superadmin's account")?;
    let sql = format!(
        "{counter}INSERT INTO member (workspace_id, username, email, is_admin, operator, disabled, created_at) \
         SELECT 'admins', 'mu' || printf('%06d', i), {email}, i % 100 = 0, i % 7 = 3, 0, $2 + i \
         FROM s WHERE i % {MEMBER_EVERY} = 0"
    );
    let n_members = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(users)
        .bind(now)
        .execute(&mut *tx)
        .await
        .ctx("seeding members")?
        .rows_affected() as i64;
    let groups = GROUPS.min((users + MEMBER_EVERY - 1) / MEMBER_EVERY).max(1);
    let sql = "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $1 - 1) \
               INSERT INTO grp (workspace_id, name, summary) \
               SELECT 'admins', 'mg' || printf('%03d', i), 'Migrated group ' || i FROM s";
    sqlx::query(sql)
        .bind(groups)
        .execute(&mut *tx)
        .await
        .ctx("seeding groups")?;
    let sql = format!(
        "{counter}INSERT INTO group_member (workspace_id, group_name, username) \
         SELECT 'admins', 'mg' || printf('%03d', (i / {MEMBER_EVERY}) % $2), 'mu' || printf('%06d', i) \
         FROM s WHERE i % {MEMBER_EVERY} = 0"
    );
    let group_members = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(users)
        .bind(groups)
        .execute(&mut *tx)
        .await
        .ctx("seeding group members")?
        .rows_affected() as i64;
    // Tokens as the database holds them: a SHA-256 digest in hex and the token's prefix.
    let sql = format!(
        "{counter}INSERT INTO token (hash, prefix, email, label, expiration, workspace_id, created_at, \
           last_used_at, kind, scopes, read_only) \
         SELECT h, substr(h, 1, 10), {email}, 'ci token ' || i, NULL, \
           CASE WHEN i % {MEMBER_EVERY} = 0 THEN 'admins' END, $2 + i, $2 + i * 2, 'api', NULL, i % 3 = 0 \
         FROM (SELECT i, lower(hex(randomblob(32))) AS h FROM s WHERE i % {TOKEN_EVERY} = 0)"
    );
    let n_tokens = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(users)
        .bind(now)
        .execute(&mut *tx)
        .await
        .ctx("seeding tokens")?
        .rows_affected() as i64;
    tx.commit().await.ctx("COMMIT")?;
    let (members, tokens) = (n_members, n_tokens);
    c.close().await.ctx("closing SQLite")?;
    Ok((members, groups, group_members, tokens))
}

/// Runs item 9, or says why not (it needs PostgreSQL).
pub fn run(ctx: &mut Ctx) -> Result<Option<MigrateResult>> {
    let (users, audit) = (ctx.p.migrate_users, ctx.p.migrate_audit);
    if ctx.pg.is_none() {
        say!("[9] SQLite to PostgreSQL: skipped, no PostgreSQL (--no-postgres)");
        return Ok(None);
    }
    say!(
        "[9] SQLite to PostgreSQL: {} users, {} audit entries",
        thousands(users as f64),
        thousands(audit as f64)
    );
    let data = ctx.dir("migrate-sqlite");
    let db = data.join("wmill.db");
    let t0 = Instant::now();
    // The server makes the database: its migrations, the superadmin, workspace `admins`.
    let server = Server::start(&ServerOpts {
        bin: &ctx.server_bin,
        data_dir: &data,
        database_url: None,
        argon2: Argon2::Defaults,
        extra: vec![],
    })?;
    Api::new(&server.url).login(ADMIN_EMAIL, ADMIN_PASSWORD)?;
    server.stop()?;
    let (members, groups, group_members, tokens) =
        ctx.rt.block_on(seed_accounts(&db, users as i64))?;
    let base = chrono::Utc::now().timestamp_micros() - audit as i64 * STEP_MICROS;
    let before = ctx
        .rt
        .block_on(seed::count_all_audit(&Target::Sqlite(db.clone())))?;
    ctx.rt.block_on(seed::seed_audit(
        &Target::Sqlite(db.clone()),
        0,
        audit as i64,
        base,
        |done| {
            if done % 500_000 == 0 {
                say!("      {} audit rows", thousands(done as f64));
            }
        },
    ))?;
    let (source_accounts, source_audit) = ctx.rt.block_on(async {
        let mut c = sqlite(&db).await?;
        let a = count(&mut c, "account").await?;
        let b = count(&mut c, "audit").await?;
        c.close().await.ctx("closing SQLite")?;
        Result::Ok((a, b))
    })?;
    // Rows inserted with SQL carry no hash: as the audit chain's migration does for a log
    // from before it, the chain is unsealed and the next start chains them (in id order,
    // after the bootstrap's entries), so that the source is the chained log a server keeps.
    let t_chain = Instant::now();
    ctx.rt.block_on(async {
        let mut c = sqlite(&db).await?;
        sqlx::query("UPDATE audit_chain SET sealed = FALSE WHERE id = 1")
            .execute(&mut c)
            .await
            .ctx("unsealing the audit chain")?;
        c.close().await.ctx("closing SQLite")
    })?;
    let server = Server::start(&ServerOpts {
        bin: &ctx.server_bin,
        data_dir: &data,
        database_url: None,
        argon2: Argon2::Defaults,
        extra: vec![],
    })?;
    server.stop()?;
    let chain_seconds = t_chain.elapsed().as_secs_f64();
    let unchained = ctx.rt.block_on(async {
        let mut c = sqlite(&db).await?;
        let n = count(&mut c, "audit WHERE hash IS NULL").await?;
        c.close().await.ctx("closing SQLite")?;
        Result::Ok(n)
    })?;
    if unchained != 0 {
        return Err(format!(
            "{unchained} audit entries are still unchained after a start"
        ));
    }
    if source_audit != before + audit as i64 {
        return Err(format!(
            "the source holds {source_audit} audit entries, not {}",
            before + audit as i64
        ));
    }
    let seed_seconds = t0.elapsed().as_secs_f64();
    let data_arg = data.to_string_lossy().to_string();
    let mut verify_rates = vec![time_verify(
        ctx,
        "SQLite",
        &["--data-dir", &data_arg],
        &[],
        source_audit,
    )?];
    let source_mib = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    say!(
        "    seeded in {}: {} accounts, {} audit entries, {} members, {} groups, {} group \
         members, {} tokens; {:.0} MiB",
        human_secs(seed_seconds),
        thousands(source_accounts as f64),
        thousands(source_audit as f64),
        thousands(members as f64),
        groups,
        thousands(group_members as f64),
        thousands(tokens as f64),
        source_mib
    );

    let url = {
        let pg = ctx.pg.as_mut().ctx("PostgreSQL is not available")?;
        pg.fresh_db(&ctx.rt, "migrate")?
    };
    let out_path = data.join("migrate.out");
    let err_path = data.join("migrate.err");
    let t1 = Instant::now();
    let mut child = Command::new(&ctx.server_bin)
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data)
        .env("WM_MIGRATE_TO", &url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).ctx("migrate.out")?)
        .stderr(std::fs::File::create(&err_path).ctx("migrate.err")?)
        .spawn()
        .ctx("cannot start wmill-server migrate")?;
    let pid = child.id();
    let mut peak_kib = 0;
    let status = loop {
        if let Some(s) = child.try_wait().ctx("waiting for migrate")? {
            break s;
        }
        // VmHWM only grows: the last reading before the exit is the peak, within 20 ms.
        if let Ok((_, hwm)) = memory_kib(pid) {
            peak_kib = peak_kib.max(hwm);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = t1.elapsed().as_secs_f64();
    let mut stdout = String::new();
    std::fs::File::open(&out_path)
        .and_then(|mut f| f.read_to_string(&mut stdout))
        .ctx("reading migrate's report")?;
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "wmill-server migrate exited with {status}:\n{stdout}\n{stderr}"
        ));
    }
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("migration complete"))
        .ctx(format!(
            "no `migration complete` in migrate's report:\n{stdout}"
        ))?
        .to_string();
    let tables = parse_report(&stdout)?;
    let reported = |name: &str| {
        tables
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.rows as i64)
    };
    if reported("account") != Some(source_accounts) || reported("audit") != Some(source_audit) {
        return Err(format!(
            "migrate's report does not give the source's counts ({source_accounts} accounts, \
             {source_audit} audit entries):\n{stdout}"
        ));
    }
    say!(
        "    migrate: {} ({:.0} MiB peak): {summary}",
        human_secs(seconds),
        peak_kib as f64 / 1024.0
    );

    let (target_accounts, target_audit) = ctx.rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(&url)
            .await
            .ctx("cannot connect to the copy")?;
        let a = count_pg(&mut c, "account").await?;
        let b = count_pg(&mut c, "audit").await?;
        c.close().await.ctx("closing PostgreSQL")?;
        Result::Ok((a, b))
    })?;
    if (target_accounts, target_audit) != (source_accounts, source_audit) {
        return Err(format!(
            "PostgreSQL holds {target_accounts} accounts and {target_audit} audit entries, \
             the source {source_accounts} and {source_audit}"
        ));
    }

    // A server on the copy: a seeded user logs in with the password of its hash (one in
    // the middle, a workspace member, not one of the disabled accounts, `i % 50 == 49`).
    let who = user_email(users as i64 / 2 / MEMBER_EVERY * MEMBER_EVERY);
    let copy = ctx.dir("migrate-copy");
    let server = Server::start(&ServerOpts {
        bin: &ctx.server_bin,
        data_dir: &copy,
        database_url: Some(&url),
        argon2: Argon2::Defaults,
        extra: vec![],
    })?;
    let api = Api::new(&server.url);
    let token = api.login(&who, ADMIN_PASSWORD)?;
    let me = api.get_json("/api/users/whoami", &token)?;
    // The copy's log (the login above added its entry).
    let logged: i64 = ctx.rt.block_on(audit_entries_pg(&url))?;
    let mut export_rates = vec![time_export("PostgreSQL", &server.url, logged)?];
    server.stop()?;
    if me["email"].as_str() != Some(who.as_str()) {
        return Err(format!("whoami on the copy answered {me} for {who}"));
    }
    say!("    checked: counts equal on PostgreSQL, {who} logs in on the copy");

    // The copied chain verifies on PostgreSQL.
    let t2 = Instant::now();
    let verify = Command::new(&ctx.server_bin)
        .args(["audit", "verify"])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .ctx("cannot start wmill-server audit verify")?;
    let verify_seconds = t2.elapsed().as_secs_f64();
    let verify_out = String::from_utf8_lossy(&verify.stdout).to_string();
    if !verify.status.success() {
        return Err(format!(
            "wmill-server audit verify on the copy exited with {}:\n{verify_out}\n{}",
            verify.status,
            String::from_utf8_lossy(&verify.stderr)
        ));
    }
    let chain_verified = verify_out.lines().next().unwrap_or("").trim().to_string();
    say!(
        "    audit verify on the copy: {} ({chain_verified})",
        human_secs(verify_seconds)
    );
    let copied: i64 = ctx.rt.block_on(audit_entries_pg(&url))?;
    verify_rates.push(time_verify(
        ctx,
        "PostgreSQL",
        &[],
        &[("DATABASE_URL", url.as_str())],
        copied,
    )?);
    // The export through a server on the SQLite source (its checks are done: the
    // superadmin's login adds an entry).
    let server = Server::start(&ServerOpts {
        bin: &ctx.server_bin,
        data_dir: &data,
        database_url: None,
        argon2: Argon2::Defaults,
        extra: vec![],
    })?;
    let exported = time_export("SQLite", &server.url, source_audit);
    server.stop()?;
    export_rates.push(exported?);

    Ok(Some(MigrateResult {
        users: users as i64,
        audit: audit as i64,
        members,
        groups,
        group_members,
        tokens,
        seed_seconds,
        source_mib,
        seconds,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        summary,
        tables,
        source_accounts,
        source_audit,
        target_accounts,
        target_audit,
        login_checked: who,
        chain_seconds,
        chain_verified,
        verify_seconds,
        verify: verify_rates,
        export: export_rates,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_reads() {
        let t = super::parse_report(
            "table account: 3 rows, checksum 3:ab\nmigration complete: 3 rows in 1 tables\n",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].name.as_str(), t[0].rows), ("account", 3));
    }
}
