//! Operating the server: `wmill-server migrate` (SQLite to PostgreSQL and back, verified,
//! in one transaction), `backup` and `restore` of SQLite under write load, and PostgreSQL's
//! own `pg_dump` / `pg_restore` round trip. Real processes, real databases.
//!
//! The PostgreSQL tests need `WMILL_TEST_POSTGRES_URL` (reported as ignored without it; a
//! failure under `CI`, see `tests/server/meta.rs`).

mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Row};
use support::{Proc, start};

const ADMIN: &str = "admin@windmill.dev";
const ADMIN_PW: &str = "admin-password-1";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("WM_ADMIN_PASSWORD", ADMIN_PW),
        ("WM_LOGIN_PER_IP_PER_MINUTE", "1000000"),
    ]
}

/// Runs `wmill-server` with `args` (an operation) to its end: `(success, stdout, stderr)`.
fn op(args: &[&str], extra_env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wmill-server"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("WM_MIGRATE_TO")
        .stdin(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run wmill-server");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `table name: rows, checksum c` lines of a migrate report.
fn report(stdout: &str) -> BTreeMap<String, (u64, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("table "))
        .map(|l| {
            let (name, rest) = l.split_once(": ").unwrap();
            let (rows, sum) = rest.split_once(" rows, checksum ").unwrap();
            (name.to_string(), (rows.parse().unwrap(), sum.to_string()))
        })
        .collect()
}

/// The tables of a SQLite database and their row counts (sqlx's and SQLite's own left out).
async fn sqlite_counts(path: &Path) -> BTreeMap<String, i64> {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for n in names {
        let q = format!("SELECT COUNT(*) FROM \"{n}\"");
        let k: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&mut c)
            .await
            .unwrap();
        out.insert(n, k);
    }
    out
}

async fn pg_tables(url: &str) -> Vec<String> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

/// Every audit entry, as text, in id order.
async fn audit_dump_sqlite(path: &Path) -> Vec<String> {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "SELECT id, workspace_id, timestamp, username, email, operation, action_kind, resource, \
         parameters, impersonator FROM audit ORDER BY id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        format!(
            "{}|{}|{}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}",
            r.get::<i64, _>(0),
            r.get::<String, _>(1),
            r.get::<i64, _>(2),
            r.get::<String, _>(3),
            r.get::<Option<String>, _>(4),
            r.get::<String, _>(5),
            r.get::<String, _>(6),
            r.get::<Option<String>, _>(7),
            r.get::<Option<String>, _>(8),
            r.get::<Option<String>, _>(9),
        )
    })
    .collect()
}

async fn audit_dump_pg(url: &str) -> Vec<String> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "SELECT id, workspace_id, timestamp, username, email, operation, action_kind, resource, \
         parameters, impersonator FROM audit ORDER BY id",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        format!(
            "{}|{}|{}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}",
            r.get::<i64, _>(0),
            r.get::<String, _>(1),
            r.get::<i64, _>(2),
            r.get::<String, _>(3),
            r.get::<Option<String>, _>(4),
            r.get::<String, _>(5),
            r.get::<String, _>(6),
            r.get::<Option<String>, _>(7),
            r.get::<Option<String>, _>(8),
            r.get::<Option<String>, _>(9),
        )
    })
    .collect()
}

/// Adds audit entries straight into a stopped server's SQLite database until it holds
/// `total`.
async fn top_up_audit(db: &Path, total: i64) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit")
        .fetch_one(&mut c)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO audit (workspace_id, timestamp, username, email, operation, action_kind, \
         resource, parameters) SELECT 'ops', 1700000000000000 + i, 'u' || (i % 1000), \
         'u' || (i % 1000) || '@example.com', 'groups.update', 'Update', 'g' || (i % 100), \
         '{\"note\":\"tab\there, newline\nthere, back\\\\slash ''quote'' ü\"}' FROM n",
    )
    .bind((total - have).max(0))
    .execute(&mut c)
    .await
    .unwrap();
    // Rows written behind the server's back: its next start chains them (as it chains a
    // log from before the chain existed).
    sqlx::query("UPDATE audit_chain SET sealed = FALSE WHERE id = 1")
        .execute(&mut c)
        .await
        .unwrap();
}

/// What the populated database handed out: passwords by email, and tokens by kind.
struct Populated {
    passwords: Vec<(String, String)>,
    tokens: Vec<(String, String)>,
    groups: String,
    /// The public key of the audit signing key the server signed checkpoints with.
    audit_public_key: String,
}

/// Fills a SQLite server through its API: 1 000 users, a workspace with 100 groups (members
/// and an owner each), an instance group feeding it, a deleted workspace, a failed login,
/// tokens of each kind (session, API, workspace-pinned, scoped read-only, impersonation,
/// SCIM) and what a SCIM token provisions;
/// then, stopped, a pending single sign-on, a throttled email and audit entries up to
/// 10 000.
fn populate(data: &Path) -> Populated {
    let key = data.with_file_name("audit.key");
    let key_path = key.to_str().unwrap();
    let (ok, audit_public_key, err) = op(&["audit", "keygen", "--out", key_path], &[]);
    assert!(ok, "{err}");
    let audit_public_key = audit_public_key.trim().to_string();
    let mut env = env();
    env.push(("WM_AUDIT_SIGNING_KEY", key_path));
    // An audit sink, so that `audit_sink` has its cursor row to copy.
    let sink = format!("file:{}", data.with_file_name("audit-sink.jsonl").display());
    env.push(("WM_AUDIT_SINK", sink.as_str()));
    let p = start(data, "populate", &env);
    let admin = p.login(ADMIN, ADMIN_PW);
    let call = |method: &str, path: &str, body: Option<Value>| {
        let (s, b) = p.call(method, path, Some(&admin), body);
        assert!(s < 300, "{method} {path}: {s} {b}");
        b
    };
    call(
        "POST",
        "/api/workspaces/create",
        Some(json!({"id": "ops", "name": "Operations"})),
    );
    let mut passwords = vec![(ADMIN.to_string(), ADMIN_PW.to_string())];
    for i in 0..1000 {
        let email = format!("u{i}@example.com");
        let pw = format!("password-{i}-x");
        call(
            "POST",
            "/api/users/create",
            Some(
                json!({"email": email, "password": pw, "super_admin": false, "name": format!("User {i}")}),
            ),
        );
        if i < 200 {
            call(
                "POST",
                "/api/w/ops/workspaces/add_user",
                Some(
                    json!({"email": email, "is_admin": i == 0, "operator": i % 7 == 0, "username": format!("u{i}")}),
                ),
            );
        }
        passwords.push((email, pw));
    }
    for g in 0..100 {
        call(
            "POST",
            "/api/w/ops/groups/create",
            Some(json!({"name": format!("g{g}"), "summary": format!("group {g}")})),
        );
        for u in [g, g + 100] {
            call(
                "POST",
                &format!("/api/w/ops/groups/adduser/g{g}"),
                Some(json!({"username": format!("u{u}")})),
            );
        }
        call(
            "POST",
            &format!("/api/w/ops/acls/add/group_/g{g}"),
            Some(json!({"owner": format!("u/u{g}"), "write": true})),
        );
    }
    call("POST", "/api/groups/create", Some(json!({"name": "staff"})));
    call(
        "POST",
        "/api/groups/adduser/staff",
        Some(json!({"email": "u500@example.com"})),
    );
    call(
        "POST",
        "/api/w/ops/workspaces/edit_instance_groups",
        Some(json!({"groups": ["staff"], "roles": {"staff": "developer"}})),
    );
    call(
        "POST",
        "/api/workspaces/create",
        Some(json!({"id": "gone", "name": "Gone"})),
    );
    call("DELETE", "/api/workspaces/delete/gone", None);
    let (s, _) = p.call(
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "u1@example.com", "password": "wrong-password"})),
    );
    assert!((400..500).contains(&s), "a failed login: {s}");

    let mut tokens = vec![("session".to_string(), admin.clone())];
    for i in 0..20 {
        let user = p.login(&format!("u{i}@example.com"), &format!("password-{i}-x"));
        tokens.push(("session".into(), user.clone()));
        let (s, t) = p.call(
            "POST",
            "/api/users/tokens/create",
            Some(&user),
            Some(json!({"label": format!("api {i}")})),
        );
        assert_eq!(s, 201, "{t}");
        tokens.push(("api".into(), t));
    }
    let (s, t) = p.call(
        "POST",
        "/api/users/tokens/create",
        Some(&admin),
        Some(json!({"label": "pinned", "workspace_id": "ops"})),
    );
    assert_eq!(s, 201, "{t}");
    tokens.push(("pinned".into(), t));
    let (s, t) = p.call(
        "POST",
        "/api/users/tokens/create",
        Some(&admin),
        Some(json!({"label": "scoped", "scopes": ["users:read"]})),
    );
    assert_eq!(s, 201, "{t}");
    tokens.push(("scoped".into(), t));
    let (s, t) = p.call(
        "POST",
        "/api/users/tokens/impersonate",
        Some(&admin),
        Some(json!({"impersonate_email": "u3@example.com"})),
    );
    assert_eq!(s, 201, "{t}");
    tokens.push(("impersonation".into(), t));
    // An identity provider's token, an account and a group it provisioned.
    let (s, scim) = p.call(
        "POST",
        "/api/scim_tokens/create",
        Some(&admin),
        Some(json!({"label": "okta"})),
    );
    assert_eq!(s, 201, "{scim}");
    let (s, b) = p.call(
        "POST",
        "/api/scim/v2/Users",
        Some(&scim),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Provisioned.Person", "externalId": "00u1",
            "name": {"givenName": "Pro", "familyName": "Visioned"},
            "emails": [{"value": "provisioned@example.com", "primary": true}],
        })),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = p.call(
        "POST",
        "/api/scim/v2/Groups",
        Some(&scim),
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Provisioned Group"})),
    );
    assert_eq!(s, 201, "{b}");
    tokens.push(("scim".into(), scim));
    let groups = call("GET", "/api/w/ops/groups/list", None);
    p.stop();

    // Audit entries up to 10 000, chained and signed by the server as it starts and stops.
    let db = data.join("wmill.db");
    rt().block_on(top_up_audit(&db, 10_000));
    start(data, "populate-seal", &env).stop();
    rt().block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO oidc_login (state_hash, browser_hash, provider, nonce, pkce_verifier, \
             redirect_uri, next, created_at) VALUES ('s', 'b', 'okta', 'n', 'v', 'http://x/cb', '/', 1)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO login_throttle (email, failures, locked_until, updated_at) \
             VALUES ('u2@example.com', 3, 0, 1) ON CONFLICT (email) DO NOTHING",
        )
        .execute(&mut c)
        .await
        .unwrap();
        // An entry committed but not yet chained, as a PostgreSQL instance that died
        // between the two leaves it: copied as it is, chained by the next server.
        sqlx::query(
            "INSERT INTO audit_pending (workspace_id, timestamp, username, operation, action_kind) \
             VALUES ('admins', 1, 'ghost', 'test.pending', 'Create')",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
    });
    Populated {
        passwords,
        tokens,
        groups,
        audit_public_key,
    }
}

/// Where a token of `kind` may ask who it is (a pinned token: in its workspace only).
fn whoami(kind: &str) -> &'static str {
    match kind {
        "pinned" => "/api/w/ops/users/whoami",
        "scim" => "/api/scim/v2/Users?count=1",
        _ => "/api/users/whoami",
    }
}

/// Every table of the schema holds rows in the populated database, so that a table the
/// copy forgot cannot go unnoticed; and the report names each, with the source's count.
fn assert_every_table_copied(source: &Path, stdout: &str) {
    let counts = rt().block_on(sqlite_counts(source));
    let rep = report(stdout);
    assert!(counts.len() >= 16, "{counts:?}");
    for (table, n) in &counts {
        assert!(
            *n > 0,
            "table {table} is empty in the populated database: fill it in populate() so that \
             its copy is tested"
        );
        assert_eq!(
            rep.get(table).map(|r| r.0),
            Some(*n as u64),
            "table {table} in the report: {stdout}"
        );
    }
    assert_eq!(rep.len(), counts.len(), "{stdout}");
}

#[test]
fn sqlite_to_sqlite_copies_every_table_and_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let populated = populate(&data);
    let d = data.to_str().unwrap();
    let (ok, out, err) = op(&["migrate", "--data-dir", d, "--to", "sqlite:copy.db"], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("migration complete"), "{out}");
    assert_every_table_copied(&data.join("wmill.db"), &out);
    let (a, b) = rt().block_on(async {
        (
            audit_dump_sqlite(&data.join("wmill.db")).await,
            audit_dump_sqlite(&data.join("copy.db")).await,
        )
    });
    assert_eq!(a.len(), 10_000);
    assert_eq!(a, b);

    // The copy serves: passwords and tokens work there.
    let copy_dir = dir.path().join("copy");
    std::fs::create_dir(&copy_dir).unwrap();
    let url = format!("sqlite:{}", data.join("copy.db").display());
    let mut e = env();
    e.push(("DATABASE_URL", url.as_str()));
    let p = start(&copy_dir, "copy", &e);
    for (email, pw) in populated.passwords.iter().step_by(97) {
        p.login(email, pw);
    }
    for (kind, t) in &populated.tokens {
        let (s, b) = p.call("GET", whoami(kind), Some(t), None);
        assert_eq!(s, 200, "{kind} token: {b}");
    }
    p.stop();

    // Into a database that holds something: refused, nothing changed.
    let (ok, out, err) = op(&["migrate", "--data-dir", d, "--to", "sqlite:copy.db"], &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("is not empty"), "{err}");
}

/// A database whose migrations are not this binary's is refused; so is a target in use.
#[test]
fn a_source_of_other_migrations_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    start(&data, "s", &env()).stop();
    let db = data.join("wmill.db");
    rt().block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let d = data.to_str().unwrap();
    let (ok, _, err) = op(&["migrate", "--data-dir", d, "--to", "sqlite:copy.db"], &[]);
    assert!(!ok);
    assert!(err.contains("has the migrations"), "{err}");
    assert!(
        !data.join("copy.db").exists()
            || std::fs::metadata(data.join("copy.db")).unwrap().len() == 0
    );
    let (ok, _, err) = op(&["migrate", "--data-dir", d, "--to", "mysql://h/db"], &[]);
    assert!(!ok);
    assert!(err.contains("must start with postgres://"), "{err}");
}

/// The source is locked while it is copied: a running server's database is refused.
#[test]
fn a_running_servers_database_is_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = start(&data, "s", &env());
    let d = data.to_str().unwrap();
    let (ok, _, err) = op(&["migrate", "--data-dir", d, "--to", "sqlite:copy.db"], &[]);
    assert!(!ok);
    assert!(err.contains("another wmill-server is using"), "{err}");
    p.stop();
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn sqlite_to_postgres_and_back_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let populated = populate(&data);
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let d = data.to_str().unwrap();

    // A dry run writes nothing.
    let (ok, out, err) = op(
        &["migrate", "--dry-run", "--data-dir", d],
        &[("WM_MIGRATE_TO", &pg.url)],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("dry run: would copy"), "{out}");
    assert!(out.contains("  audit: 10000 rows"), "{out}");
    assert!(rt().block_on(pg_tables(&pg.url)).is_empty());

    let (ok, there, err) = op(&["migrate", "--data-dir", d], &[("WM_MIGRATE_TO", &pg.url)]);
    assert!(ok, "{there}\n{err}");
    assert!(!there.contains(&pg.url) && !err.contains(&pg.url));
    assert_every_table_copied(&data.join("wmill.db"), &there);
    let (a, b) = rt().block_on(async {
        (
            audit_dump_sqlite(&data.join("wmill.db")).await,
            audit_dump_pg(&pg.url).await,
        )
    });
    assert_eq!(a.len(), 10_000);
    assert_eq!(a, b, "the audit log is identical, ids included");

    // And back into a new SQLite file: the same checksums, table by table.
    let (ok, back, err) = op(
        &[
            "migrate",
            "--data-dir",
            d,
            "--database-url",
            &pg.url,
            "--to",
            "sqlite:back.db",
        ],
        &[],
    );
    assert!(ok, "{back}\n{err}");
    assert_eq!(report(&there), report(&back));

    // The audit chain and its signed checkpoints verify on both copies, with the key's
    // public half: the copy is the log, not a rewrite of it.
    for url in [pg.url.as_str(), "sqlite:back.db"] {
        let (ok, out, err) = op(
            &["audit", "verify", "--data-dir", d, "--database-url", url],
            &[("WM_AUDIT_PUBLIC_KEY", &populated.audit_public_key)],
        );
        assert!(ok, "{url}: {out}\n{err}");
    }

    // A second migration into the now full database is refused.
    let (ok, _, err) = op(&["migrate", "--data-dir", d], &[("WM_MIGRATE_TO", &pg.url)]);
    assert!(!ok);
    assert!(err.contains("is not empty"), "{err}");

    // A server on PostgreSQL: every password and token works, the groups are the same, and
    // new audit ids follow the copied ones.
    let pg_dir = dir.path().join("pg");
    let mut e = env();
    e.push(("DATABASE_URL", pg.url.as_str()));
    let p: Proc = start(&pg_dir, "pg", &e);
    for (email, pw) in &populated.passwords {
        p.login(email, pw);
    }
    for (kind, t) in &populated.tokens {
        let (s, b) = p.call("GET", whoami(kind), Some(t), None);
        assert_eq!(s, 200, "{kind} token: {b}");
    }
    let admin = p.login(ADMIN, ADMIN_PW);
    let (_, groups) = p.call("GET", "/api/w/ops/groups/list", Some(&admin), None);
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert_eq!(parse(&groups), parse(&populated.groups));
    assert_eq!(
        parse(&groups).as_array().unwrap().len(),
        101,
        "100 groups and all"
    );
    let (s, _) = p.call(
        "POST",
        "/api/w/ops/groups/create",
        Some(&admin),
        Some(json!({"name": "after"})),
    );
    assert_eq!(s, 200);
    let (_, list) = p.call(
        "GET",
        "/api/w/ops/audit/list?per_page=1",
        Some(&admin),
        None,
    );
    let newest = parse(&list)[0]["id"].as_i64().unwrap();
    let max_before: i64 = a
        .last()
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(newest > max_before, "{newest} after {max_before}");
    p.stop();
    // The entry copied while waiting to be chained was chained by the server.
    let (waiting, chained): (i64, i64) = rt().block_on(async {
        let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM audit_pending), \
             (SELECT COUNT(*) FROM audit WHERE operation = 'test.pending' AND hash IS NOT NULL)",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
    });
    assert_eq!((waiting, chained), (0, 1));
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_migration_killed_midway_leaves_the_target_empty_and_can_be_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    start(&data, "s", &env()).stop();
    let db = data.join("wmill.db");
    // Enough rows that the copy is still running when it is killed.
    rt().block_on(top_up_audit(&db, 400_000));
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let mut child = Command::new(env!("CARGO_BIN_EXE_wmill-server"))
        .args(["migrate", "--data-dir", data.to_str().unwrap()])
        .env("WM_MIGRATE_TO", &pg.url)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("migrate printed progress").unwrap();
        seen.push(line.clone());
        if line.contains("audit: 50000 rows so far") {
            break;
        }
        assert!(Instant::now() < deadline, "{seen:?}");
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        !rest.iter().any(|l| l.contains("committed")),
        "killed before the commit: {rest:?}"
    );
    // PostgreSQL rolled the transaction back: not even the schema is there.
    assert!(rt().block_on(pg_tables(&pg.url)).is_empty());

    let (ok, out, err) = op(
        &["migrate", "--data-dir", data.to_str().unwrap()],
        &[("WM_MIGRATE_TO", &pg.url)],
    );
    assert!(ok, "{out}\n{err}");
    assert_eq!(report(&out)["audit"].0, 400_000);
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_postgres_target_with_tables_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    start(&data, "s", &env()).stop();
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    rt().block_on(async {
        let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        sqlx::raw_sql("CREATE TABLE keep (i int); INSERT INTO keep VALUES (1)")
            .execute(&mut c)
            .await
            .unwrap();
    });
    let (ok, _, err) = op(
        &["migrate", "--data-dir", data.to_str().unwrap()],
        &[("WM_MIGRATE_TO", &pg.url)],
    );
    assert!(!ok);
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(rt().block_on(pg_tables(&pg.url)), ["keep"]);
}

/// Group names `w<i>` in the workspace `admins` of a SQLite database, and the names their
/// `group.create` audit entries name.
async fn groups_and_their_entries(db: &Path) -> (Vec<i64>, Vec<i64>) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let num = |v: Vec<String>| {
        let mut n: Vec<i64> = v
            .iter()
            .filter_map(|g| g.strip_prefix('w').and_then(|x| x.parse().ok()))
            .collect();
        n.sort();
        n
    };
    let groups: Vec<String> =
        sqlx::query_scalar("SELECT name FROM grp WHERE workspace_id = 'admins'")
            .fetch_all(&mut c)
            .await
            .unwrap();
    let entries: Vec<String> = sqlx::query_scalar(
        "SELECT resource FROM audit WHERE workspace_id = 'admins' AND operation = 'group.create'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    (num(groups), num(entries))
}

#[test]
fn a_backup_under_write_load_restores_a_prefix_of_the_acknowledged_writes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = start(&data, "s", &env());
    let admin = p.login(ADMIN, ADMIN_PW);
    let acked = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let backup = dir.path().join("backup.db");
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            // One group at a time, in order: w0, w1, …; `acked` counts those answered.
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let (code, body) = p.call(
                    "POST",
                    "/api/w/admins/groups/create",
                    Some(&admin),
                    Some(json!({"name": format!("w{i}")})),
                );
                assert_eq!(code, 200, "{body}");
                i += 1;
                acked.store(i, Ordering::SeqCst);
            }
        });
        while acked.load(Ordering::SeqCst) < 30 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let before = acked.load(Ordering::SeqCst);
        let (ok, out, err) = op(
            &[
                "backup",
                backup.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &[],
        );
        let after = acked.load(Ordering::SeqCst);
        // Writes go on after the backup.
        while acked.load(Ordering::SeqCst) < after + 10 {
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        assert!(ok, "{out}\n{err}");
        assert!(out.contains("backup of"), "{out}");

        // Restored into an empty folder: a prefix w0..w(k-1) of the writes, each group with
        // its audit entry and no entry without its group, k between what was acknowledged
        // before the backup started and after it ended (plus the one in flight).
        let restored = dir.path().join("restored");
        let (ok, out, err) = op(
            &[
                "restore",
                backup.to_str().unwrap(),
                "--data-dir",
                restored.to_str().unwrap(),
            ],
            &[],
        );
        assert!(ok, "{out}\n{err}");
        let (groups, entries) = rt().block_on(groups_and_their_entries(&restored.join("wmill.db")));
        let k = groups.len() as i64;
        assert_eq!(groups, (0..k).collect::<Vec<_>>(), "a prefix, no hole");
        assert_eq!(
            groups, entries,
            "each group with its audit entry, nothing torn"
        );
        assert!(
            before <= k && k <= after + 1,
            "{before} <= {k} <= {after} + 1"
        );
    });
    let (live_groups, _) = {
        p.stop();
        rt().block_on(groups_and_their_entries(&data.join("wmill.db")))
    };
    assert!(live_groups.len() > 40);

    // The restored database serves.
    let restored = dir.path().join("restored");
    let r = start(&restored, "restored", &env());
    let token = r.login(ADMIN, ADMIN_PW);
    let (s, _) = r.call("GET", "/api/w/admins/groups/list", Some(&token), None);
    assert_eq!(s, 200);
    r.stop();

    // Never over anything: a backup over a file, a restore over a database, a restore of
    // something that is not a wmill database.
    let d = data.to_str().unwrap();
    let (ok, _, err) = op(&["backup", backup.to_str().unwrap(), "--data-dir", d], &[]);
    assert!(!ok);
    assert!(err.contains("exists already"), "{err}");
    let (ok, _, err) = op(&["restore", backup.to_str().unwrap(), "--data-dir", d], &[]);
    assert!(!ok);
    assert!(err.contains("exists already"), "{err}");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "not a database").unwrap();
    let empty = dir.path().join("empty");
    let (ok, _, err) = op(
        &[
            "restore",
            junk.to_str().unwrap(),
            "--data-dir",
            empty.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("not a"), "{err}");
    assert!(!empty.join("wmill.db").exists());
    // PostgreSQL has its own tools.
    let (ok, _, err) = op(
        &[
            "backup",
            "x.db",
            "--data-dir",
            d,
            "--database-url",
            "postgres://h/db",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("pg_dump"), "{err}");
}

/// `pg_dump` then `pg_restore` into a new database, as docs/operations.md describes: the
/// restored database serves the same accounts, tokens, groups and audit log, and new audit
/// ids follow the restored ones.
#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_pg_dump_restores_to_a_working_database() {
    let dir = tempfile::tempdir().unwrap();
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let mut e = env();
    e.push(("DATABASE_URL", pg.url.as_str()));
    let p = start(&dir.path().join("a"), "a", &e);
    let admin = p.login(ADMIN, ADMIN_PW);
    for i in 0..5 {
        let (s, b) = p.call(
            "POST",
            "/api/w/admins/groups/create",
            Some(&admin),
            Some(json!({"name": format!("g{i}")})),
        );
        assert_eq!(s, 200, "{b}");
    }
    let (_, api) = p.call(
        "POST",
        "/api/users/tokens/create",
        Some(&admin),
        Some(json!({"label": "kept"})),
    );
    let (_, groups) = p.call("GET", "/api/w/admins/groups/list", Some(&admin), None);
    p.stop();
    let audit = rt().block_on(audit_dump_pg(&pg.url));

    let dump = dir.path().join("wmill.dump");
    let status = Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(&dump)
        .arg(&pg.url)
        .status()
        .expect("pg_dump is installed (Debian: postgresql-client)");
    assert!(status.success());
    let copy = support::fresh_pg_database_blocking(&support::pg_url());
    let status = Command::new("pg_restore")
        .args([
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
        ])
        .arg(&copy.url)
        .arg(&dump)
        .status()
        .expect("pg_restore is installed (Debian: postgresql-client)");
    assert!(status.success());
    assert_eq!(rt().block_on(audit_dump_pg(&copy.url)), audit);

    let mut e = env();
    e.push(("DATABASE_URL", copy.url.as_str()));
    let r = start(&dir.path().join("b"), "b", &e);
    let token = r.login(ADMIN, ADMIN_PW);
    assert_eq!(r.call("GET", "/api/users/whoami", Some(&api), None).0, 200);
    let (_, again) = r.call("GET", "/api/w/admins/groups/list", Some(&token), None);
    assert_eq!(again, groups);
    let (s, _) = r.call(
        "POST",
        "/api/w/admins/groups/create",
        Some(&token),
        Some(json!({"name": "after"})),
    );
    assert_eq!(s, 200, "new audit ids do not collide with restored ones");
    r.stop();
}

/// A GET with headers: `(status, x-request-id, body)`.
fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(format!("{base}{path}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut res = r.call().expect("the server answers");
    let id = res
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        res.status().as_u16(),
        id,
        res.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn health_probes_and_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(&dir.path().join("d"), "s", &env());
    assert_eq!(get(&p.url, "/api/health/live", &[]).0, 200);
    let (s, id, body) = get(&p.url, "/api/health/ready", &[]);
    assert_eq!((s, body.as_str()), (200, "ready"));
    // A random id when none is given, a fresh one each time.
    assert_eq!(id.len(), 12, "{id}");
    assert_ne!(get(&p.url, "/api/health/ready", &[]).1, id);
    // The caller's id is echoed when it is tame; anything else is replaced.
    let (_, id, _) = get(&p.url, "/api/version", &[("x-request-id", "lb-7f3a.2_x")]);
    assert_eq!(id, "lb-7f3a.2_x");
    for bad in ["has space", "quote\"d", &"x".repeat(65), "ünï"] {
        let (_, id, _) = get(&p.url, "/api/version", &[("x-request-id", bad)]);
        assert_eq!(id.len(), 12, "{bad:?} -> {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    // Errors carry it too.
    let (s, id, _) = get(&p.url, "/api/nowhere", &[("x-request-id", "r-1")]);
    assert_eq!((s, id.as_str()), (404, "r-1"));
    p.stop();
}

#[test]
fn json_logs_are_one_object_a_line_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = env();
    e.push(("WM_LOG_FORMAT", "json"));
    let p = start(&dir.path().join("d"), "s", &e);
    let (s, _, _) = get(&p.url, "/api/version", &[("x-request-id", "json-test-1")]);
    assert_eq!(s, 200);
    let (_, err) = p.stop();
    let lines: Vec<Value> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.iter().all(Value::is_object), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "configuration" && l["summary"].is_string()),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| l["message"] == "request"
            && l["span"]["request_id"] == "json-test-1"
            && l["status"] == 200),
        "{err}"
    );
    assert!(!err.contains(ADMIN_PW), "{err}");
}

/// Live stays up while the database is away; ready says 503 and comes back; an error text's
/// incident id is the request's id.
#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn ready_follows_the_database_and_incidents_carry_the_request_id() {
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    let dbname = pg
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut e = env();
    e.push(("DATABASE_URL", pg.url.as_str()));
    let p = start(&dir.path().join("d"), "s", &e);
    let admin = p.login(ADMIN, ADMIN_PW);
    assert_eq!(get(&p.url, "/api/health/ready", &[]).0, 200);
    let admin_sql = |sql: String| {
        rt().block_on(async {
            let mut c = sqlx::PgConnection::connect(&support::pg_url())
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .unwrap();
        })
    };
    admin_sql(format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS false"));
    admin_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
    ));
    let (s, _, body) = get(&p.url, "/api/health/ready", &[]);
    assert_eq!(
        (s, body.as_str()),
        (503, "not ready: the database cannot be reached")
    );
    assert_eq!(get(&p.url, "/api/health/live", &[]).0, 200);
    let auth = format!("Bearer {admin}");
    let (s, id, body) = get(
        &p.url,
        "/api/users/whoami",
        &[("authorization", &auth), ("x-request-id", "incident-42")],
    );
    assert_eq!(s, 503, "{body}");
    assert_eq!(id, "incident-42");
    assert!(body.ends_with("(incident incident-42)"), "{body}");
    admin_sql(format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS true"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&p.url, "/api/health/ready", &[]).0 != 200 {
        assert!(Instant::now() < deadline, "ready did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, err) = p.stop();
    assert!(
        err.contains("incident-42"),
        "the log line has the id: {err}"
    );
}

/// One scrape, parsed by a Prometheus text-format parser: sample values by
/// `name{label=value,…}` (labels sorted), and the families documented.
fn scrape(metrics_url: &str) -> (BTreeMap<String, f64>, Vec<String>) {
    let (s, _, body) = get(metrics_url, "/metrics", &[]);
    assert_eq!(s, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut values = BTreeMap::new();
    for sample in parsed.samples {
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let v = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        values.insert(format!("{}{{{}}}", sample.metric, labels.join(",")), v);
    }
    (values, parsed.docs.keys().cloned().collect())
}

#[test]
fn metrics_are_served_on_their_own_listener_and_move_with_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = env();
    e.push(("WM_METRICS_LISTEN", "127.0.0.1:0"));
    e.push(("WM_LOCKOUT_THRESHOLD", "2"));
    let p = start(&dir.path().join("d"), "s", &e);
    let stdout = std::fs::read_to_string(&p.out).unwrap();
    let metrics = stdout
        .lines()
        .find_map(|l| l.strip_prefix("metrics on "))
        .expect("a 'metrics on' line")
        .to_string();
    assert!(metrics.starts_with("http://127.0.0.1:"), "{metrics}");
    assert_ne!(metrics, p.url);
    // Never on the public listener.
    assert_eq!(get(&p.url, "/metrics", &[]).0, 404);

    let (before, families) = scrape(&metrics);
    for family in [
        "wmill_http_requests",
        "wmill_http_request_duration_seconds",
        "wmill_logins",
        "wmill_lockouts",
        "wmill_auth_cache_lookups",
        "wmill_db_errors",
        "wmill_password_hash_queue",
        "wmill_db_connections",
    ] {
        assert!(
            families.iter().any(|f| f == family),
            "{family}: {families:?}"
        );
    }
    let at = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    for _ in 0..3 {
        assert_eq!(get(&p.url, "/api/version", &[]).0, 200);
    }
    let token = p.login(ADMIN, ADMIN_PW);
    let auth = format!("Bearer {token}");
    for _ in 0..2 {
        assert_eq!(
            get(&p.url, "/api/users/whoami", &[("authorization", &auth)]).0,
            200
        );
    }
    for _ in 0..2 {
        let (s, _) = p.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": "wrong-password"})),
        );
        assert!((400..500).contains(&s));
    }
    let (after, _) = scrape(&metrics);
    let version = "wmill_http_requests_total{method=GET,route=/api/version,status=200}";
    assert_eq!(at(&after, version) - at(&before, version), 3.0, "{after:?}");
    let success = "wmill_logins_total{outcome=success}";
    assert_eq!(at(&after, success) - at(&before, success), 1.0);
    let refused = "wmill_logins_total{outcome=refused}";
    assert_eq!(at(&after, refused) - at(&before, refused), 2.0);
    let locks = "wmill_lockouts_total{}";
    assert_eq!(at(&after, locks) - at(&before, locks), 1.0, "{after:?}");
    let hits = "wmill_auth_cache_lookups_total{kind=token,result=hit}";
    assert!(at(&after, hits) >= 1.0, "{after:?}");
    // A histogram's observations, counted in its +Inf bucket.
    let latency = "wmill_http_request_duration_seconds{method=GET,route=/api/version}";
    assert_eq!(at(&after, latency) - at(&before, latency), 3.0, "{after:?}");
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("wmill_db_connections{pool=sqlite_read")),
        "{after:?}"
    );
    assert!(
        after.contains_key("wmill_password_hash_queue{}"),
        "{after:?}"
    );
    // The route template, never the path with its values.
    assert!(
        after
            .keys()
            .all(|k| !k.contains("nobody") && !k.contains(&token)),
        "{after:?}"
    );
    p.stop();
}

/// The unit in `contrib/` passes `systemd-analyze verify` without a warning (its
/// `ExecStart` pointed at the binary these tests built, as verify checks that it exists),
/// and keeps its hardening.
#[test]
#[cfg_attr(
    not(wmill_systemd),
    ignore = "needs systemd-analyze (apt-get install systemd)"
)]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/wmill-server.service"),
    )
    .unwrap();
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=wmill",
        "Environment=WM_DATA_DIR=%S/wmill",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    assert!(unit.contains("ExecStart=/usr/local/bin/wmill-server"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wmill-server.service");
    std::fs::write(
        &path,
        unit.replace(
            "ExecStart=/usr/local/bin/wmill-server",
            &format!("ExecStart={}", env!("CARGO_BIN_EXE_wmill-server")),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.trim().is_empty(), "warnings: {err}");
    // A unit with a mistake does not pass: the check is real.
    std::fs::write(
        &path,
        "[Service]\nExecStart=/nonexistent/wmill-server\nBogus=1\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !out.status.success() || !out.stderr.is_empty(),
        "a broken unit passed"
    );
}

/// `--config wmill.toml` (here through `WM_CONFIG`) sets what flags set; a mistake in it
/// stops the start with a sentence.
#[test]
fn a_configuration_file_configures_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wmill.toml");
    std::fs::write(
        &file,
        "admin-password = \"from-the-file-1\"\nmetrics_listen = \"127.0.0.1:0\"\n\
         login-per-ip-per-minute = 1000\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let p = start(&dir.path().join("d"), "s", &[("WM_CONFIG", f)]);
    p.login(ADMIN, "from-the-file-1");
    let stdout = std::fs::read_to_string(&p.out).unwrap();
    assert!(
        stdout.lines().any(|l| l.starts_with("metrics on http://")),
        "{stdout}"
    );
    p.stop();
    std::fs::write(&file, "lockout = 3\n").unwrap();
    let (ok, _, err) = op(&["--config", f, "--data-dir", "/nonexistent/x"], &[]);
    assert!(!ok);
    assert!(err.contains("unknown setting \"lockout\""), "{err}");
}

/// Windmill's official client, run as a user would (`--base-url --token --workspace`,
/// stdin closed, a `HOME` of its own): `group list --json` on `url`.
#[cfg(wmill_official_client)]
fn official_group_list(url: &str, token: &str, home: &Path) -> Value {
    let bin = match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.ci/official-client/node_modules/.bin/wmill"),
    };
    assert!(
        bin.is_file(),
        "the official client is not at {}",
        bin.display()
    );
    std::fs::create_dir_all(home).unwrap();
    let out = Command::new(&bin)
        .args([
            "group",
            "list",
            "--json",
            "--base-url",
            url,
            "--token",
            token,
        ])
        .args(["--workspace", "ops"])
        .env("HOME", home)
        .env("WMILL_CONFIG_DIR", home.join("config"))
        .current_dir(home)
        .stdin(Stdio::null())
        .output()
        .expect("run the official client");
    assert!(
        out.status.success(),
        "official client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let json = &text[text.find('[').expect("a JSON list")..];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The official client lists the same groups, with the same members, from the SQLite
/// database and from its PostgreSQL copy.
#[test]
#[cfg_attr(
    any(not(wmill_pg), not(wmill_official_client)),
    ignore = "needs PostgreSQL (WMILL_TEST_POSTGRES_URL) and Windmill's official client (npm ci in .ci/official-client)"
)]
fn the_official_client_lists_the_same_groups_after_a_migration() {
    #[cfg(wmill_official_client)]
    {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let p = start(&data, "sqlite", &env());
        let admin = p.login(ADMIN, ADMIN_PW);
        let call = |path: &str, body: Value| {
            let (s, b) = p.call("POST", path, Some(&admin), Some(body));
            assert!(s < 300, "{path}: {s} {b}");
        };
        call(
            "/api/workspaces/create",
            json!({"id": "ops", "name": "Operations"}),
        );
        for i in 0..5 {
            let email = format!("m{i}@example.com");
            call(
                "/api/users/create",
                json!({"email": email, "password": "password-123", "super_admin": false}),
            );
            call(
                "/api/w/ops/workspaces/add_user",
                json!({"email": email, "is_admin": false, "operator": false}),
            );
        }
        for g in 0..4 {
            call(
                "/api/w/ops/groups/create",
                json!({"name": format!("team{g}"), "summary": format!("Team {g}")}),
            );
            for u in 0..=g {
                call(
                    &format!("/api/w/ops/groups/adduser/team{g}"),
                    json!({"username": format!("m{u}")}),
                );
            }
        }
        let before = official_group_list(&p.url, &admin, &dir.path().join("home1"));
        p.stop();
        assert_eq!(
            before.as_array().unwrap().len(),
            5,
            "all and four teams: {before}"
        );

        let pg = support::fresh_pg_database_blocking(&support::pg_url());
        let d = data.to_str().unwrap();
        let (ok, out, err) = op(&["migrate", "--data-dir", d, "--to", &pg.url], &[]);
        assert!(ok, "{out}\n{err}");
        let mut e = env();
        e.push(("DATABASE_URL", pg.url.as_str()));
        let q = start(&dir.path().join("pg"), "pg", &e);
        let admin = q.login(ADMIN, ADMIN_PW);
        let after = official_group_list(&q.url, &admin, &dir.path().join("home2"));
        q.stop();
        assert_eq!(after, before);
    }
}
