//! The error paths a user meets: each has its exit code and a line a person can act on.

use std::time::{Duration, Instant};

use crate::harness::{ADMIN_EMAIL, Server, Shell};

#[test]
fn wrong_password() {
    let server = Server::start();
    let sh = Shell::new();
    let out = sh.wmill(&[
        "user",
        "create-token",
        "--email",
        ADMIN_EMAIL,
        "--password",
        "not-the-password",
        "--base-url",
        &server.url,
    ]);
    out.fails(1, &["Invalid login", "check the email and password"]);
    let out = sh.wmill(&[
        "workspace",
        "add",
        "local",
        "admins",
        &server.url,
        "--email",
        ADMIN_EMAIL,
        "--password",
        "nope-nope",
    ]);
    out.fails(1, &["Invalid login"]);
    // Nothing was saved.
    assert!(!sh.config().join("windmill/remotes.ndjson").exists());
}

#[test]
fn expired_token() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let short = sh
        .wmill(&["token", "create", "--expires-in", "1"])
        .ok()
        .trim()
        .to_owned();
    // Poll until the server refuses it (it expires one second after creation).
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let out = sh.wmill(&["token", "list", "--token", &short]);
        if out.code != 0 {
            break out;
        }
        assert!(Instant::now() < deadline, "token still accepted after 15 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    refused.fails(1, &["Not authorized", "wmill workspace add", "--token"]);

    // An expiration in the past is refused by the server.
    let out = sh.wmill(&["token", "create", "--expiration", "2000-01-01T00:00:00Z"]);
    out.fails(1, &["Bad request", "in the future"]);
}

#[test]
fn unknown_group() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    sh.wmill(&["group", "get", "nosuch"])
        .fails(1, &["Not found", "wmill group list"]);
    sh.wmill(&["group", "add-user", "nosuch", "admin"])
        .fails(1, &["Not found"]);
    sh.wmill(&["group", "delete", "nosuch"])
        .fails(1, &["Not found"]);
    sh.wmill(&["audit", "get", "999999"])
        .fails(1, &["Not found", "wmill audit list"]);
}

#[test]
fn not_an_admin() {
    let server = Server::start();
    let (sh, dave) = Shell::admin_and_dave(&server);
    sh.wmill(&["group", "create", "admins-only"]).ok();

    dave.wmill(&["user", "add", "eve@example.com", "eve-password"])
        .fails(1, &["super admin", "superadmin"]);
    dave.wmill(&["user", "list"]).fails(1, &["super admin"]);
    dave.wmill(&["workspace", "add-user", "eve@example.com"])
        .fails(1, &["Require Admin privileges for dave"]);
    dave.wmill(&["group", "delete", "admins-only", "--yes"])
        .fails(1, &["not an owner of group admins-only"]);
}

#[test]
fn server_down() {
    let mut server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    server.stop();
    let out = sh.wmill(&["group", "list"]);
    out.fails(
        3,
        &[
            "cannot reach the server at http://127.0.0.1:",
            "check that the server is running",
        ],
    );
    // `version` still works offline, with a warning.
    let out = sh.wmill(&["version"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .starts_with("warning: cannot get the server's version"),
        "{out:?}"
    );
}

#[test]
fn no_profile_configured() {
    let sh = Shell::new();
    for args in [
        &["group", "list"][..],
        &["user"],
        &["token", "create"],
        &["workspace", "whoami"],
    ] {
        sh.wmill(args).fails(
            3,
            &["no server configured", "wmill workspace add", "--base-url"],
        );
    }
    sh.wmill(&["workspace", "switch", "prod"])
        .fails(2, &["no profile named 'prod'", "wmill workspace add"]);
    assert_eq!(
        sh.wmill(&["workspace", "list"]).ok(),
        "No profiles. Add one with 'wmill workspace add <name> <workspace_id> <remote> --token <token>'.\n"
    );
    let empty: Vec<serde_json::Value> = sh.wmill(&["workspace", "--json"]).json();
    assert!(empty.is_empty());
    // A server but no token or workspace.
    sh.wmill(&["group", "list", "--base-url", "http://127.0.0.1:9"])
        .fails(3, &["not logged in", "--token"]);
    sh.wmill(&[
        "group",
        "list",
        "--base-url",
        "http://127.0.0.1:9",
        "--token",
        "t",
    ])
    .fails(3, &["no workspace selected", "--workspace"]);
}

#[test]
fn usage_errors() {
    let sh = Shell::new();
    sh.wmill(&[
        "token",
        "create",
        "--expires-in",
        "3600",
        "--expiration",
        "2030-01-01T00:00:00Z",
    ])
    .fails(2, &["cannot be used with", "wmill token create --help"]);
    sh.wmill(&["audit", "get", "abc"])
        .fails(2, &["invalid value 'abc'", "wmill audit get --help"]);
    sh.wmill(&["audit", "list", "--action-kind", "created"])
        .fails(2, &["create, update, delete, execute"]);
    sh.wmill(&["group", "craete", "x"])
        .fails(2, &["unrecognized subcommand 'craete'", "create"]);
    sh.wmill(&["workspace", "add", "p", "w", "not a url", "--token", "t"])
        .fails(2, &["not an http"]);
    // A needed password with no terminal to ask on.
    sh.wmill(&[
        "user",
        "create-token",
        "--email",
        "a@example.com",
        "--base-url",
        "http://127.0.0.1:9",
    ])
    .fails(2, &["stdin is not a terminal", "--password"]);
    sh.wmill(&["workspace", "add", "p", "w", "http://127.0.0.1:9"])
        .fails(2, &["needs credentials", "--token"]);
}
