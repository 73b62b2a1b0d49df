//! End-to-end tests of the real `wmill-server` process: first start and bootstrap,
//! restart, graceful shutdown, that no secret reaches the database file or the logs, that
//! the files it keeps are its user's alone, that a mistake at start creates nothing, and
//! what an operator reads in its first hour: the configuration summary, who holds a port,
//! lockouts and refused logins at the default level, no SQL at debug level; the audit
//! chain's key, checkpoint at shutdown and offline verification.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Proc, run_to_exit, start, start_logging};

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_bootstraps_once_and_data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = start(&data, "first", &[]);
    let pw_file = data.join("initial-admin-password");
    let password = std::fs::read_to_string(&pw_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        password.len() >= 20 && password != "changeme",
        "a random password: {password:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pw_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "readable by its owner only");
    }
    let admin = first.login("admin@windmill.dev", &password);
    let (s, _) = first.call(
        "POST",
        "/api/users/create",
        Some(&admin),
        Some(json!({"email": "bob@example.com", "password": "bob-password", "super_admin": false})),
    );
    assert_eq!(s, 201);
    let (s, api) = first.call(
        "POST",
        "/api/users/tokens/create",
        Some(&admin),
        Some(json!({"label": "kept"})),
    );
    assert_eq!(s, 201);
    let (s, version) = first.call("GET", "/api/version", None, None);
    assert_eq!(
        (s, version.as_str()),
        (200, concat!("CE v", env!("CARGO_PKG_VERSION")))
    );
    let (out, _) = first.stop();
    assert_eq!(
        out.matches(&password).count(),
        1,
        "the generated password is printed once: {out}"
    );
    let line = out.lines().find(|l| l.contains(&password)).unwrap();
    assert!(
        line.contains("change it with 'wmill user set-password' once 'wmill workspace add'"),
        "it names the command that changes it: {line}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("listening on http://127.0.0.1:"))
            .count(),
        1
    );

    let second = start(&data, "second", &[]);
    assert_eq!(
        std::fs::read_to_string(&pw_file).unwrap().trim(),
        password,
        "bootstrap does not run again"
    );
    let (s, me) = second.call("GET", "/api/users/whoami", Some(&api), None);
    assert_eq!(s, 200, "tokens survive a restart: {me}");
    let (s, _) = second.call("GET", "/api/users/whoami", Some(&admin), None);
    assert_eq!(s, 200);
    second.login("bob@example.com", "bob-password");
    let (_, audit) = second.call(
        "GET",
        "/api/w/admins/audit/list?all_workspaces=true",
        Some(&admin),
        None,
    );
    let audit: Vec<Value> = serde_json::from_str(&audit).unwrap();
    let bootstraps = audit
        .iter()
        .filter(|a| a["username"] == "system" && a["operation"] == "users.add_global")
        .count();
    assert_eq!(bootstraps, 1);
    let (out, _) = second.stop();
    assert!(!out.contains(&password), "later starts print no password");
}

/// The `wmill` commands the server's messages name (the initial password's line, the
/// last-superadmin refusal) exist in the CLI, read from its source: clap derives
/// `set-password` from the variant `SetPassword` and `--superadmin` from `superadmin: bool`.
#[test]
fn the_wmill_commands_the_server_names_exist() {
    let source = |file: &str| {
        std::fs::read_to_string(format!(
            "{}/../wmill-cli/src/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    // The body of the subcommand variant `name` in `enum Cmd`.
    let variant = |src: &str, name: &str| -> String {
        let start = src
            .find(&format!("\n    {name} {{"))
            .unwrap_or_else(|| panic!("no subcommand {name}"));
        let rest = &src[start..];
        rest[..rest.find("\n    },").unwrap()].to_string()
    };
    let user = source("user.rs");
    variant(&user, "SetPassword"); // wmill user set-password
    assert!(variant(&user, "Update").contains("superadmin: bool")); // wmill user update --superadmin
    variant(&source("workspace.rs"), "Add"); // wmill workspace add
}

#[test]
fn a_given_admin_password_is_used_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = start(
        &data,
        "given",
        &[
            ("WM_ADMIN_PASSWORD", "given-password-1"),
            ("WM_ADMIN_EMAIL", "Root@Example.com"),
        ],
    );
    p.login("root@example.com", "given-password-1");
    assert!(!data.join("initial-admin-password").exists());
    let (out, err) = p.stop();
    assert!(!out.contains("given-password-1") && !err.contains("given-password-1"));
}

#[test]
fn no_secret_reaches_the_database_or_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = start(
        &data,
        "secrets",
        &[("WM_ADMIN_PASSWORD", "admin-secret-pw-1")],
    );
    let admin = p.login("admin@windmill.dev", "admin-secret-pw-1");
    let mut secrets = vec!["admin-secret-pw-1".to_string(), admin.clone()];
    for (i, pw) in ["alice-secret-pw-1", "bob-secret-pw-22"].iter().enumerate() {
        let email = format!("user{i}@example.com");
        let (s, _) = p.call(
            "POST",
            "/api/users/create",
            Some(&admin),
            Some(json!({"email": email, "password": pw, "super_admin": false})),
        );
        assert_eq!(s, 201);
        secrets.push(pw.to_string());
        let session = p.login(&email, pw);
        let (s, t) = p.call(
            "POST",
            "/api/users/tokens/create",
            Some(&session),
            Some(json!({"label": "ci"})),
        );
        assert_eq!(s, 201);
        secrets.extend([session.clone(), t.clone()]);
        let (s, _) = p.call(
            "POST",
            "/api/users/setpassword",
            Some(&session),
            Some(json!({"password": format!("{pw}-changed")})),
        );
        assert_eq!(s, 200);
        secrets.push(format!("{pw}-changed"));
        let (s, _) = p.call("GET", &format!("/api/users/email?token={t}"), None, None);
        assert_eq!(s, 200, "a token in the query string");
        let (s, _) = p.call(
            "DELETE",
            &format!("/api/users/tokens/delete/{t}"),
            Some(&session),
            None,
        );
        assert_eq!(s, 200, "deleting by the whole token");
    }
    let (s, _) = p.call(
        "POST",
        "/api/users/set_password_of/user0@example.com",
        Some(&admin),
        Some(json!({"password": "reset-secret-pw-3"})),
    );
    assert_eq!(s, 200);
    secrets.push("reset-secret-pw-3".into());
    let (s, imp) = p.call(
        "POST",
        "/api/users/tokens/impersonate",
        Some(&admin),
        Some(json!({"impersonate_email": "user1@example.com"})),
    );
    assert_eq!(s, 201);
    secrets.push(imp);
    let (s, _) = p.call(
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": "user1@example.com", "password": "wrong-secret-pw-4"})),
    );
    assert_eq!(s, 400);
    secrets.push("wrong-secret-pw-4".into());
    let (s, short) = p.call(
        "POST",
        "/api/users/setpassword",
        Some(&admin),
        Some(json!({"password": "tiny77"})),
    );
    assert_eq!(s, 400);
    assert!(!short.contains("tiny77"));
    secrets.push("tiny77".into());
    let (out, err) = p.stop();

    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), out.into_bytes()),
        ("stderr".into(), err.into_bytes()),
    ];
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    assert!(files.iter().any(|(n, _)| n.ends_with("wmill.db")));
    assert!(
        files[1].1.len() > 100,
        "the debug log has content to search"
    );
    // Request lines are written at debug level, a token in the path cut to its prefix.
    let log = String::from_utf8_lossy(&files[1].1);
    assert!(
        log.contains("path=/api/users/tokens/delete/wm_") && log.contains('…'),
        "the debug log shows requests with token segments cut"
    );
    for (name, bytes) in &files {
        for s in &secrets {
            let found = bytes.windows(s.len()).any(|w| w == s.as_bytes());
            assert!(!found, "{name} contains the secret {}…", &s[..6]);
        }
    }
}

#[cfg(unix)]
#[test]
fn the_servers_files_are_its_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = start(&data, "perms", &[]);
    let password = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
    p.login("admin@windmill.dev", password.trim());
    assert_eq!(mode(&data), 0o700, "the data folder");
    for f in [
        "wmill.db",
        "wmill.db-wal",
        "wmill.db-shm",
        "wmill.db.lock",
        "initial-admin-password",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let (_, err) = p.stop();
    assert!(
        err.contains(&format!(
            "database: SQLite at {}",
            data.join("wmill.db").display()
        )),
        "the log says which database: {err}"
    );
    // A password file others can read stops the server before it serves anything.
    let pw = data.join("initial-admin-password");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, out, err) = run_to_exit(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!status.success());
    assert!(!out.contains("listening on"), "{out}");
    assert!(err.contains("can be read by other users"), "{err}");
    // Loose database files left by an older version are tightened.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        data.join("wmill.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let p = start(&data, "tightened", &[]);
    assert_eq!(mode(&data.join("wmill.db")), 0o600);
    p.stop();
}

#[test]
fn a_mistyped_database_url_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for url in [
        "postgress://admin:hunter2@db.example/wmill",
        "mysql://h/db",
        "wmill.db",
    ] {
        let (status, out, err) = run_to_exit(
            &[
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                data.to_str().unwrap(),
                "--database-url",
                url,
            ],
            &[],
        );
        assert!(!status.success(), "{url}");
        assert!(
            err.contains("--database-url: the database URL must start with postgres://"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2") && !out.contains("hunter2"),
            "{err}"
        );
        assert!(!data.exists(), "nothing created for {url}");
    }
}

#[test]
fn help_never_shows_a_secrets_value() {
    // clap shows an environment variable's value in --help unless told not to.
    for flag in ["--help", "-h"] {
        let (status, out, err) = run_to_exit(
            &[flag],
            &[
                ("DATABASE_URL", "postgres://u:hunter2-in-env@h/db"),
                ("WM_ADMIN_PASSWORD", "s3cret-admin-pw"),
                ("WM_LISTEN", "127.0.0.1:8123"),
            ],
        );
        assert!(status.success(), "{err}");
        assert!(
            out.contains("DATABASE_URL") && out.contains("WM_ADMIN_PASSWORD"),
            "{out}"
        );
        assert!(
            out.contains("127.0.0.1:8123"),
            "other values are shown: {out}"
        );
        for secret in ["hunter2-in-env", "s3cret-admin-pw"] {
            assert!(
                !out.contains(secret) && !err.contains(secret),
                "{flag}: {out}"
            );
        }
    }
}

/// The `label: value` line of the configuration summary in `log`.
fn summary_line<'a>(log: &'a str, label: &str) -> &'a str {
    let prefix = format!("{label}: ");
    let mut lines = log.lines().filter(|l| l.trim_start().starts_with(&prefix));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no {label:?} line: {log}"));
    assert!(lines.next().is_none(), "one {label:?} line: {log}");
    line.trim_start().trim_start_matches(&prefix)
}

/// The schema version the server's SQLite migrations reach (the highest number: numbers
/// are reserved per branch, so one may be missing until its branch is merged).
fn sqlite_migrations() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter_map(|f| {
            let name = f.unwrap().file_name().into_string().unwrap();
            name.split('_').next().and_then(|n| n.parse::<usize>().ok())
        })
        .max()
        .unwrap()
}

#[test]
fn the_configuration_and_the_schema_are_summarised_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("WM_ADMIN_PASSWORD", "summary-admin-pw-7"),
        ("DATABASE_URL", "sqlite:ids.db"),
        ("WM_LOCKOUT_THRESHOLD", "7"),
        ("WM_LOCKOUT_SECS", "120"),
        ("WM_LOGIN_PER_IP_PER_MINUTE", "42"),
        ("WM_SESSION_TTL_SECS", "7200"),
    ];
    let p = start_logging(&data, "summary", &env, None);
    let url = p.url.clone();
    let (out, err) = p.stop();
    let database = format!("SQLite at {}", data.join("ids.db").display());
    assert_eq!(summary_line(&err, "database"), database);
    assert_eq!(
        summary_line(&err, "listen"),
        url,
        "the address really listened on"
    );
    assert_eq!(
        summary_line(&err, "data folder"),
        data.display().to_string()
    );
    assert_eq!(summary_line(&err, "argon2id cost"), "m=64 KiB, t=1, p=1");
    assert_eq!(
        summary_line(&err, "lockout"),
        "7 failed logins in a row lock an account for 120 s"
    );
    assert_eq!(summary_line(&err, "logins per IP"), "42 a minute");
    assert_eq!(summary_line(&err, "session TTL"), "7200 s");
    let n = sqlite_migrations();
    assert!(
        err.contains("applied migrations 0001_init, 0002_audit_by_user_time, ")
            && err.contains(&format!("database schema now at version {n}")),
        "the migrations applied: {err}"
    );
    assert!(
        !out.contains("summary-admin-pw-7") && !err.contains("summary-admin-pw-7"),
        "{err}"
    );
    // Restarted: nothing to apply.
    let (_, err) = start_logging(&data, "again", &env, None).stop();
    assert!(
        err.contains(&format!("database schema up to date at version {n}"))
            && !err.contains("applied migrations"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_postgres_password_is_never_printed() {
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    // The test server's own password, or one it does not ask for (trust authentication).
    let (scheme, rest) = pg.url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').expect("a URL with a user");
    let (url, password) = match userinfo.split_once(':') {
        Some((_, pw)) => (pg.url.clone(), pw.to_string()),
        None => (
            format!("{scheme}://{userinfo}:pg-secret-pw-42@{host}"),
            "pg-secret-pw-42".to_string(),
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = start(
        &data,
        "pg",
        &[
            ("DATABASE_URL", url.as_str()),
            ("WM_ADMIN_PASSWORD", "pg-admin-pw-1"),
        ],
    );
    p.login("admin@windmill.dev", "pg-admin-pw-1");
    let (out, err) = p.stop();
    let database = summary_line(&err, "database");
    assert!(
        database.starts_with("PostgreSQL database") && database.contains("as user"),
        "{database}"
    );
    for text in [&out, &err] {
        assert!(!text.contains(&password), "{text}");
        assert!(!text.contains(&url), "{text}");
    }
}

/// Starts a server at the default log level with the account `carol@example.com`.
fn with_carol(data: &Path, tag: &str, extra: &[(&str, &str)]) -> Proc {
    let mut env = vec![("WM_ADMIN_PASSWORD", "admin-pw-for-logs")];
    env.extend_from_slice(extra);
    let p = start_logging(data, tag, &env, None);
    let admin = p.login("admin@windmill.dev", "admin-pw-for-logs");
    let (s, _) = p.call(
        "POST",
        "/api/users/create",
        Some(&admin),
        Some(json!({"email": "carol@example.com", "password": "carol-right-pw", "super_admin": false})),
    );
    assert_eq!(s, 201);
    p
}

/// A login with a wrong password; its status.
fn bad_login(p: &Proc, email: &str, password: &str) -> u16 {
    p.call(
        "POST",
        "/api/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .0
}

#[test]
fn a_lockout_is_logged_once_at_the_default_level() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let p = with_carol(&data, "lockout", &[]);
    let guesses: Vec<String> = (0..11).map(|i| format!("guess-pw-{i:02}")).collect();
    let statuses: Vec<u16> = guesses
        .iter()
        .map(|g| bad_login(&p, "carol@example.com", g))
        .collect();
    assert_eq!(statuses[..10], [400; 10]);
    assert_eq!(statuses[10], 429, "locked");
    let (out, err) = p.stop();
    let locks: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("account locked"))
        .collect();
    assert_eq!(locks.len(), 1, "{err}");
    let line = locks[0];
    assert!(
        line.contains("WARN")
            && line.contains("carol@example.com")
            && line.contains("after 10 failed logins in a row")
            && line.contains("until=20"),
        "the account and until when: {line}"
    );
    for g in &guesses {
        assert!(
            !out.contains(g.as_str()) && !err.contains(g.as_str()),
            "{err}"
        );
    }
}

#[test]
fn refused_logins_are_logged_once_a_minute_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Five attempts a minute from one address: the admin's login, four wrong passwords,
    // then refusals.
    let p = with_carol(&data, "refused", &[("WM_LOGIN_PER_IP_PER_MINUTE", "5")]);
    let attempts = [
        ("carol@example.com", "wrong-pw-carol-1"),
        ("nobody@example.com", "wrong-pw-nobody-2"),
        ("carol@example.com", "wrong-pw-carol-3"),
        ("carol@example.com", "wrong-pw-carol-4"),
        ("carol@example.com", "wrong-pw-carol-5"),
    ];
    let statuses: Vec<u16> = attempts
        .iter()
        .map(|(e, pw)| bad_login(&p, e, pw))
        .collect();
    assert_eq!(statuses, [400, 400, 400, 400, 429], "the address's budget");
    let (out, err) = p.stop();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("refused logins from one address"))
        .collect();
    assert_eq!(lines.len(), 1, "the rest are counted for a minute: {err}");
    let line = lines[0];
    assert!(
        line.contains("INFO")
            && line.contains("ip=127.0.0.1")
            && line.contains("refused=1")
            && line.contains("latest=\"wrong password\"")
            && line.contains("account=carol@example.com"),
        "{line}"
    );
    for (_, pw) in attempts {
        assert!(!out.contains(pw) && !err.contains(pw), "{err}");
    }
}

#[test]
fn debug_logs_show_requests_not_sql() {
    let dir = tempfile::tempdir().unwrap();
    // sqlx logs every statement under `sqlx::query`: only when RUST_LOG names sqlx.
    for (i, (filter, sql_expected)) in [
        ("wmill_server=debug", false),
        ("debug", false),
        ("info,wmill_server=debug,sqlx::query=debug", true),
    ]
    .into_iter()
    .enumerate()
    {
        let data = dir.path().join(format!("data{i}"));
        let p = start_logging(
            &data,
            &format!("debug{i}"),
            &[("WM_ADMIN_PASSWORD", "debug-admin-pw")],
            Some(filter),
        );
        let admin = p.login("admin@windmill.dev", "debug-admin-pw");
        for _ in 0..3 {
            assert_eq!(
                p.call("GET", "/api/users/whoami", Some(&admin), None).0,
                200
            );
        }
        let (_, err) = p.stop();
        assert!(
            err.contains("path=/api/users/whoami"),
            "{filter}: requests are logged: {err}"
        );
        let sql = err.contains("sqlx::query") || err.contains("SELECT");
        assert_eq!(sql, sql_expected, "{filter}: {err}");
    }
}

#[test]
fn the_initial_password_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    start(&data, "first", &[]).stop();
    let pw = data.join("initial-admin-password");
    let kept = std::fs::read_to_string(&pw).unwrap();
    // Another, empty database in the same folder would bootstrap with a new password.
    let (status, out, err) = run_to_exit(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--database-url",
            "sqlite:other.db",
        ],
        &[],
    );
    assert!(!status.success());
    assert!(
        err.contains("already exists") && err.contains("never overwritten"),
        "{err}"
    );
    assert!(!out.contains("password"), "{out}");
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), kept);
    // With a password given, that database starts, and the file is still the first one's.
    let p = start(
        &data,
        "other",
        &[
            ("DATABASE_URL", "sqlite:other.db"),
            ("WM_ADMIN_PASSWORD", "other-admin-pw"),
        ],
    );
    p.login("admin@windmill.dev", "other-admin-pw");
    p.stop();
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), kept);
}

#[test]
fn a_port_clash_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (status, _, err) = run_to_exit(
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!status.success());
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    // This test process holds the socket: the message names it.
    #[cfg(target_os = "linux")]
    assert!(
        err.contains(&format!(
            "port {port} is held by pid {} (",
            std::process::id()
        )),
        "{err}"
    );
    assert!(!data.exists(), "no data folder, no database, no password");
    drop(taken);
}

/// `wmill-server audit …` as a process: its exit status, stdout and stderr.
fn audit_cmd(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wmill-server"));
    cmd.arg("audit").args(args).env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A key made by `audit keygen`, a server signing with it and stopped (its last checkpoint
/// written on shutdown), then `audit verify` offline: intact with the published key, and
/// after an entry is changed in the database, not intact, naming it, with exit status 1.
fn audit_chain_end_to_end(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("audit.key");
    let (code, public, err) = audit_cmd(&["keygen", "--out", key.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let public = public.trim().to_string();
    assert_eq!(public.len(), 64, "{public}");
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    let (code, _, err) = audit_cmd(&["keygen", "--out", key.to_str().unwrap()], &[]);
    assert_ne!(code, 0, "never over an existing key: {err}");

    let mut env = vec![
        ("WM_ADMIN_PASSWORD", "audit-admin-pw-1"),
        ("WM_AUDIT_SIGNING_KEY", key.to_str().unwrap()),
    ];
    if let Some(url) = database_url {
        env.push(("DATABASE_URL", url));
    }
    let p = start_logging(&data, "audit", &env, None);
    let (s, body) = p.call("GET", "/api/audit/public_key", None, None);
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["public_key"],
        public.as_str()
    );
    let admin = p.login("admin@windmill.dev", "audit-admin-pw-1");
    let (s, _) = p.call(
        "POST",
        "/api/users/create",
        Some(&admin),
        Some(json!({"email": "bob@example.com", "password": "bob-password", "super_admin": false})),
    );
    assert_eq!(s, 201);
    let (s, body) = p.call("GET", "/api/audit/verify", Some(&admin), None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["intact"],
        true,
        "{body}"
    );
    let (_, err) = p.stop();
    assert!(
        err.contains("signed an audit checkpoint up to entry"),
        "{err}"
    );

    let mut target = vec!["verify", "--data-dir", data.to_str().unwrap()];
    if let Some(url) = database_url {
        target.extend(["--database-url", url]);
    }
    let with_key = |extra: &[&str]| {
        let mut args = target.clone();
        args.extend(["--public-key", public.as_str()]);
        args.extend(extra);
        audit_cmd(&args, &[])
    };
    let (code, out, err) = with_key(&[]);
    assert_eq!(code, 0, "{out}{err}");
    // Signed at start and on shutdown: the whole log is covered.
    assert!(
        out.ends_with("intact\n")
            && out.contains("2 checkpoints signed by the trusted key")
            && !out.contains("not yet covered"),
        "{out}"
    );
    let (code, out, _) = audit_cmd(&target, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("signatures not checked"), "{out}");
    let (code, _, err) = audit_cmd(&[target.as_slice(), &["--public-key", "abc"]].concat(), &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--public-key: an audit public key is 64 hexadecimal digits"),
        "{err}"
    );

    // Someone with the database but not the key changes entry 2.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let sql = "UPDATE audit SET username = 'mallory' WHERE id = 2";
        match database_url {
            Some(url) => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
            None => {
                let url = format!("sqlite:{}", data.join("wmill.db").display());
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        }
    });
    let (code, out, err) = with_key(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT INTACT: entry 2 was modified"), "{out}");
    assert!(
        err.contains("the audit log is not intact: entry 2 was modified"),
        "{err}"
    );
    let (code, out, _) = with_key(&["--json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["problems"][0],
        json!({"kind": "modified", "id": 2}),
        "{out}"
    );
}

#[test]
fn the_audit_chain_is_signed_and_verified_offline_on_sqlite() {
    audit_chain_end_to_end(None);
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn the_audit_chain_is_signed_and_verified_offline_on_postgres() {
    let pg = support::fresh_pg_database_blocking(&support::pg_url());
    audit_chain_end_to_end(Some(&pg.url));
}
