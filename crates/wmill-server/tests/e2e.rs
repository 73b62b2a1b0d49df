//! End-to-end tests of the real `wmill-server` process: first start and bootstrap,
//! restart, graceful shutdown, that no secret reaches the database file or the logs, that
//! the files it keeps are its user's alone, and that a mistake at start creates nothing.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{run_to_exit, start};

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
    // The same from the environment, where the password would otherwise show in --help.
    let (status, out, _) = run_to_exit(
        &["--help"],
        &[
            ("DATABASE_URL", "postgres://u:hunter2@h/db"),
            ("WM_ADMIN_PASSWORD", "s3cret-pw"),
        ],
    );
    assert!(status.success());
    assert!(
        !out.contains("hunter2") && !out.contains("s3cret-pw"),
        "{out}"
    );
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
    assert!(!data.exists(), "no data folder, no database, no password");
}
