//! Every seed example of the CLI contract, typed as a user would type it.

use serde_json::Value;
use wmill_api::{AuditLog, GlobalUserInfo, Group, TruncatedToken, User, UserInfo};

use crate::harness::{ADMIN_EMAIL, Server, Shell};

/// Adds `email` to the instance and the `admins` workspace and returns a token for them.
fn member(sh: &Shell, email: &str, password: &str) -> String {
    sh.wmill(&["user", "add", email, password]).ok();
    sh.wmill(&["workspace", "add-user", email]).ok();
    sh.wmill(&[
        "user",
        "create-token",
        "--email",
        email,
        "--password",
        password,
    ])
    .ok()
    .trim()
    .to_owned()
}

#[test]
fn user_add_and_remove_as_documented() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);

    // Without a password: a strong one is generated and shown once.
    let out = sh.wmill(&["user", "add", "example@example.com"]);
    let stdout = out.ok();
    let password = stdout
        .split("password: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no generated password in {stdout:?}"));
    assert!(password.len() >= 20, "{password}");
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{password}"
    );
    assert!(
        stdout.starts_with("Created user example@example.com"),
        "{stdout}"
    );
    // The generated password works: exchanging it for a token needs no prior login.
    let fresh = Shell::new();
    let token = fresh.wmill(&[
        "user",
        "create-token",
        "--email",
        "example@example.com",
        "--password",
        password,
        "--base-url",
        &server.url,
    ]);
    assert!(token.ok().trim().starts_with("wm_"), "{token:?}");
    assert_eq!(token.stdout.lines().count(), 1);

    assert_eq!(
        sh.wmill(&["user", "remove", "example@example.com"]).ok(),
        "Removed user example@example.com.\n"
    );

    assert_eq!(
        sh.wmill(&["user", "add", "example@example.com", "mypassword123"])
            .ok(),
        "Created user example@example.com.\n"
    );
    sh.wmill(&["user", "remove", "example@example.com"]).ok();

    let out = sh.wmill(&[
        "user",
        "add",
        "example@example.com",
        "mypassword123",
        "--superadmin",
        "--company",
        "Acme Inc.",
        "--name",
        "John Doe",
    ]);
    assert_eq!(out.ok(), "Created superadmin example@example.com.\n");
    let users: Vec<GlobalUserInfo> = sh.wmill(&["user", "list", "--json"]).json();
    let u = users
        .iter()
        .find(|u| u.email == "example@example.com")
        .expect("listed");
    assert!(u.super_admin);
    assert_eq!(u.company.as_deref(), Some("Acme Inc."));
    assert_eq!(u.name.as_deref(), Some("John Doe"));
    // Bare `wmill user` lists too, as a table.
    let table = sh.wmill(&["user"]);
    let table = table.ok();
    assert!(table.starts_with("EMAIL"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("example@example.com") && l.contains("Acme Inc.")),
        "{table}"
    );

    sh.wmill(&["user", "remove", "example@example.com"]).ok();
    let users: Vec<GlobalUserInfo> = sh.wmill(&["user", "--json"]).json();
    assert!(users.iter().all(|u| u.email != "example@example.com"));
    assert!(users.iter().any(|u| u.email == ADMIN_EMAIL));
}

#[test]
fn groups_as_documented() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    member(&sh, "alice@example.com", "alice-password");
    member(&sh, "bob@example.com", "bob-password1");

    let list = sh.wmill(&["group", "list"]);
    let list = list.ok();
    assert!(list.starts_with("NAME"), "{list}");
    assert!(list.lines().any(|l| l.starts_with("all ")), "{list}");

    assert_eq!(
        sh.wmill(&[
            "group",
            "create",
            "data-team",
            "--summary",
            "Data engineering"
        ])
        .ok(),
        "Created group data-team.\n"
    );
    assert_eq!(
        sh.wmill(&["group", "add-user", "data-team", "alice"]).ok(),
        "Added alice to group data-team.\n"
    );
    sh.wmill(&["group", "add-user", "data-team", "bob"]).ok();
    assert_eq!(
        sh.wmill(&["group", "remove-user", "data-team", "bob"]).ok(),
        "Removed bob from group data-team.\n"
    );

    let g: Group = sh.wmill(&["group", "get", "data-team", "--json"]).json();
    assert_eq!(g.summary.as_deref(), Some("Data engineering"));
    assert!(g.members.contains(&"alice".to_owned()));
    assert!(!g.members.contains(&"bob".to_owned()));
    let human = sh.wmill(&["group", "get", "data-team"]);
    assert!(
        human.ok().contains("Summary: Data engineering"),
        "{human:?}"
    );

    let groups: Vec<Group> = sh.wmill(&["group", "--json"]).json();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["all", "data-team"]);
    let table = sh.wmill(&["group"]);
    let line = table
        .ok()
        .lines()
        .find(|l| l.starts_with("data-team"))
        .expect("row")
        .to_owned();
    assert!(line.contains("Data engineering"), "{line}");

    // Mutations answer one JSON object with --json.
    let done: Value = sh.wmill(&["group", "delete", "data-team", "--json"]).json();
    assert!(
        done["message"]
            .as_str()
            .is_some_and(|m| m.contains("data-team")),
        "{done}"
    );
    let groups: Vec<Group> = sh.wmill(&["group", "list", "--json"]).json();
    assert_eq!(groups.len(), 1);
}

#[test]
fn audit_as_documented() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let alice = member(&sh, "alice@example.com", "alice-password");
    sh.wmill(&["group", "create", "alice-team", "--token", &alice])
        .ok();

    let out = sh.wmill(&[
        "audit",
        "list",
        "--username",
        "alice",
        "--after",
        "2026-01-01",
    ]);
    let table = out.ok();
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.lines().any(|l| l.contains("group.create")
            && l.contains("alice-team")
            && l.contains(" alice ")),
        "{table}"
    );
    let rows: Vec<AuditLog> = sh
        .wmill(&[
            "audit",
            "list",
            "--username",
            "alice",
            "--after",
            "2026-01-01",
            "--json",
        ])
        .json();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.username == "alice"));
    let created = rows
        .iter()
        .find(|r| r.operation == "group.create")
        .expect("group.create row");

    // --action-kind in any case; bare `wmill audit` takes the filters too.
    let deletes: Vec<AuditLog> = sh
        .wmill(&[
            "audit",
            "--username",
            "alice",
            "--action-kind",
            "delete",
            "--json",
        ])
        .json();
    assert!(deletes.is_empty(), "{deletes:?}");
    let future: Vec<AuditLog> = sh
        .wmill(&["audit", "list", "--after", "2999-01-01T00:00:00Z", "--json"])
        .json();
    assert!(future.is_empty());

    let id = created.id.to_string();
    let one: AuditLog = sh.wmill(&["audit", "get", &id, "--json"]).json();
    assert_eq!(&one, created);
    let human = sh.wmill(&["audit", "get", &id]);
    assert!(
        human.ok().contains("Operation:   group.create"),
        "{human:?}"
    );
}

/// `wmill audit get 1234`, verbatim: fill the log up to entry 1234, then read it.
#[test]
fn audit_get_1234() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    sh.wmill(&["group", "create", "filler"]).ok();
    let newest: Vec<AuditLog> = sh
        .wmill(&["audit", "list", "--limit", "1", "--json"])
        .json();
    let newest = newest[0].id;
    assert!(newest < 1234, "{newest}");

    let token = sh
        .wmill(&["token", "create", "--label", "filler"])
        .ok()
        .trim()
        .to_owned();
    let agent = ureq::Agent::new_with_defaults();
    let url = format!("{}/api/w/admins/groups/update/filler", server.url);
    for i in newest..1234 {
        let body = serde_json::to_vec(&serde_json::json!({ "summary": format!("edit {i}") }))
            .expect("json");
        agent
            .post(&url)
            .header("authorization", format!("Bearer {token}"))
            .content_type("application/json")
            .send(&body[..])
            .expect("edit group");
    }

    let entry: AuditLog = sh.wmill(&["audit", "get", "1234", "--json"]).json();
    assert_eq!(entry.id, 1234);
    assert_eq!(entry.operation, "group.edit");
    let human = sh.wmill(&["audit", "get", "1234"]);
    assert!(human.ok().starts_with("ID:          1234\n"), "{human:?}");
}

#[test]
fn tokens_as_documented() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);

    // The seed, through a real shell: the token is captured, used, then deleted whole.
    let out = sh.sh(
        r#"TOKEN=$(wmill token create --label ci --expires-in 3600) && wmill --token "$TOKEN" workspace whoami --json >/dev/null && wmill token delete "$TOKEN""#,
    );
    let said = out.ok();
    // Only the 10-character prefix is echoed, never the whole token.
    assert!(
        said.starts_with("Deleted token wm_") && said.ends_with(".\n"),
        "{said}"
    );
    assert_eq!(
        said.len(),
        "Deleted token ".len() + 10 + ".\n".len(),
        "{said}"
    );

    let tokens: Vec<TruncatedToken> = sh.wmill(&["token", "list", "--json"]).json();
    assert!(
        tokens.iter().all(|t| t.label.as_deref() != Some("ci")),
        "{tokens:?}"
    );

    // The token itself is all that `token create` prints; it expires as asked.
    let before = chrono::Utc::now();
    let token = sh.wmill(&["token", "create", "--label", "ci", "--expires-in", "3600"]);
    let token = token.ok().trim_end_matches('\n').to_owned();
    assert!(
        token.starts_with("wm_") && !token.contains(char::is_whitespace),
        "{token:?}"
    );
    let tokens: Vec<TruncatedToken> = sh.wmill(&["token", "--json"]).json();
    let ci = tokens
        .iter()
        .find(|t| t.label.as_deref() == Some("ci"))
        .expect("listed");
    assert_eq!(ci.token_prefix, token[..10]);
    let expires = ci.expiration.expect("an expiration");
    let secs = (expires - before).num_seconds();
    assert!((3590..=3610).contains(&secs), "{secs}");

    // Windmill's spelling, and deletion by the prefix shown in the table.
    let other = sh.wmill(&[
        "token",
        "create",
        "--label",
        "later",
        "--expiration",
        "2099-01-01T00:00:00Z",
    ]);
    let other = other.ok().trim().to_owned();
    let table = sh.wmill(&["token"]);
    let row = table
        .ok()
        .lines()
        .find(|l| l.contains("later"))
        .expect("row")
        .to_owned();
    assert!(
        row.starts_with(&other[..10]) && row.contains("2099-01-01T00:00:00Z"),
        "{row}"
    );
    let done: Value = sh
        .wmill(&["token", "delete", &other[..10], "--json"])
        .json();
    assert_eq!(done["token_prefix"], other[..10]);
    let refused = sh.wmill(&["token", "list", "--token", &other]);
    refused.fails(1, &["Not authorized"]);

    // `user create-token` without credentials uses the current login.
    let mine = sh.wmill(&["user", "create-token", "--json"]);
    let mine: Value = mine.json();
    assert!(
        mine["token"].as_str().is_some_and(|t| t.starts_with("wm_")),
        "{mine}"
    );
}

#[test]
fn workspaces_and_members() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);

    let me: UserInfo = sh.wmill(&["workspace", "whoami", "--json"]).json();
    assert_eq!(me.email, ADMIN_EMAIL);
    assert_eq!(me.workspace_id, "admins");
    assert!(me.is_admin);

    assert_eq!(
        sh.wmill(&["workspace", "create", "data"]).ok(),
        "Created workspace data.\n"
    );
    sh.wmill(&["user", "add", "carol@example.com", "carol-password"])
        .ok();
    sh.wmill(&[
        "workspace",
        "add-user",
        "carol@example.com",
        "--workspace",
        "data",
        "--operator",
    ])
    .ok();
    let users: Vec<User> = sh
        .wmill(&["workspace", "users", "--workspace", "data", "--json"])
        .json();
    let carol = users
        .iter()
        .find(|u| u.email == "carol@example.com")
        .expect("carol");
    assert_eq!(carol.username, "carol");
    assert!(carol.operator);
    let table = sh.wmill(&["workspace", "users", "--workspace", "data"]);
    assert!(table.ok().starts_with("USERNAME"), "{table:?}");

    // Carol logs in with her password into her own profile.
    let carol_sh = Shell::new();
    let added = carol_sh.wmill(&[
        "workspace",
        "add",
        "mine",
        "data",
        &server.url,
        "--email",
        "carol@example.com",
        "--password",
        "carol-password",
    ]);
    assert!(added.ok().contains("as carol@example.com"), "{added:?}");
    let me: UserInfo = carol_sh.wmill(&["workspace", "whoami", "--json"]).json();
    assert_eq!((me.username.as_str(), me.is_admin), ("carol", false));
    // The saved token is a long-lived one labelled wmill-cli, not the 3-day session.
    let tokens: Vec<TruncatedToken> = carol_sh.wmill(&["token", "list", "--json"]).json();
    let saved = tokens
        .iter()
        .find(|t| t.label.as_deref() == Some("wmill-cli"))
        .expect("wmill-cli token");
    assert_eq!(saved.expiration, None);

    assert_eq!(
        sh.wmill(&["workspace", "remove-user", "carol", "--workspace", "data"])
            .ok(),
        "Removed carol from workspace data.\n"
    );
    carol_sh
        .wmill(&["group", "list"])
        .fails(1, &["Not authorized"]);
}

#[test]
fn version_reports_client_and_server() {
    let server = Server::start();
    let sh = Shell::new();
    let offline = sh.wmill(&["version"]);
    assert_eq!(
        offline.ok(),
        format!("wmill {}\n", env!("CARGO_PKG_VERSION"))
    );
    sh.login_admin(&server);
    let v: Value = sh.wmill(&["version", "--json"]).json();
    assert_eq!(v["client"], env!("CARGO_PKG_VERSION"));
    assert!(
        v["server"].as_str().is_some_and(|s| s.starts_with("CE v")),
        "{v}"
    );
}

#[test]
fn completions_are_printed() {
    let sh = Shell::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = sh.wmill(&["completions", shell]);
        assert!(out.ok().contains("wmill"), "{shell}");
        assert!(out.stdout.contains("create-token"), "{shell}");
    }
}

#[test]
fn scoped_tokens_and_service_accounts() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);

    // The scope list, and a token that may only read groups.
    let scopes = sh.wmill(&["token", "scopes"]);
    assert!(scopes.ok().contains("groups:read") && scopes.stdout.contains("audit:admin"));
    let reader = sh
        .wmill(&[
            "token",
            "create",
            "--label",
            "reader",
            "--scope",
            "groups:read",
            "--read-only",
        ])
        .ok()
        .trim()
        .to_owned();
    assert!(reader.starts_with("wm_"));
    let list = sh.wmill(&["token", "list"]);
    let row = list
        .ok()
        .lines()
        .find(|l| l.contains("reader"))
        .unwrap_or_else(|| panic!("{list:?}"))
        .to_owned();
    assert!(row.contains("groups:read (read-only)"), "{row}");
    let tokens: Vec<TruncatedToken> = sh.wmill(&["token", "list", "--json"]).json();
    let t = tokens
        .iter()
        .find(|t| t.label.as_deref() == Some("reader"))
        .unwrap();
    assert_eq!(t.scopes.as_deref(), Some(&["groups:read".to_owned()][..]));
    assert!(t.read_only);
    sh.wmill(&["group", "list", "--token", &reader]).ok();
    sh.wmill(&["group", "create", "nope", "--token", &reader])
        .fails(1, &["Not authorized: this token is read-only"]);
    sh.wmill(&["token", "create", "--scope", "scripts:run"])
        .fails(
            1,
            &[
                "scope \"scripts:run\" is not one this server knows",
                "wmill token scopes",
            ],
        );
    // Narrowed and renamed.
    let prefix = &reader[..10];
    sh.wmill(&[
        "token",
        "update",
        prefix,
        "--label",
        "audit-reader",
        "--scope",
        "audit:read",
    ])
    .ok();
    let tokens: Vec<TruncatedToken> = sh.wmill(&["token", "list", "--json"]).json();
    let t = tokens.iter().find(|t| t.token_prefix == prefix).unwrap();
    assert_eq!(t.label.as_deref(), Some("audit-reader"));
    assert_eq!(t.scopes.as_deref(), Some(&["audit:read".to_owned()][..]));
    sh.wmill(&["token", "update", prefix])
        .fails(2, &["nothing to change"]);

    // A service account, its token, its removal.
    sh.wmill(&[
        "workspace",
        "service-account",
        "create",
        "ci_bot",
        "--developer",
    ])
    .ok();
    let sas = sh.wmill(&["workspace", "service-account", "list"]);
    assert!(
        sas.ok().contains("ci_bot") && sas.stdout.contains("developer"),
        "{sas:?}"
    );
    let bot = sh
        .wmill(&[
            "workspace",
            "service-account",
            "token",
            "ci_bot",
            "--scope",
            "groups:write",
            "--scope",
            "groups:read",
        ])
        .ok()
        .trim()
        .to_owned();
    assert_eq!(bot.lines().count(), 1);
    sh.wmill(&["group", "create", "deploys", "--token", &bot])
        .ok();
    let g: Group = sh.wmill(&["group", "get", "deploys", "--json"]).json();
    assert_eq!(g.members, ["ci_bot"]);
    sh.wmill(&["workspace", "service-account", "remove", "ci_bot"])
        .ok();
    sh.wmill(&["group", "list", "--token", &bot])
        .fails(1, &["Not authorized"]);
}
