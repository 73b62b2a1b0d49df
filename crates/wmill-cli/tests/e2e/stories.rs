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
        sh.wmill(&["user", "remove", "example@example.com", "--yes"])
            .ok(),
        "Removed user example@example.com.\n"
    );

    assert_eq!(
        sh.wmill(&["user", "add", "example@example.com", "mypassword123"])
            .ok(),
        "Created user example@example.com.\n"
    );
    sh.wmill(&["user", "remove", "example@example.com", "--yes"])
        .ok();

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

    sh.wmill(&["user", "remove", "example@example.com", "--yes"])
        .ok();
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
    let done: Value = sh
        .wmill(&["group", "delete", "data-team", "--yes", "--json"])
        .json();
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
        sh.wmill(&[
            "workspace",
            "remove-user",
            "carol",
            "--workspace",
            "data",
            "--yes"
        ])
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
        assert!(out.stdout.contains("scim"), "{shell}");
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

/// Every mutation the server offers has a command: users, members, groups and their
/// owners, instance groups, workspace settings and lifecycle, export and import.
#[test]
fn the_whole_identity_surface_from_the_command_line() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let alice = member(&sh, "alice@example.com", "alice-password-1");

    // Instance users.
    sh.wmill(&["user", "update", "alice@example.com", "--name", "Alice A"])
        .ok();
    sh.wmill(&["user", "update", "alice@example.com"])
        .fails(2, &["nothing to change"]);
    let users: Vec<GlobalUserInfo> = sh.wmill(&["user", "list", "--json"]).json();
    assert!(
        users
            .iter()
            .any(|u| u.email == "alice@example.com" && u.name.as_deref() == Some("Alice A"))
    );
    sh.wmill(&[
        "user",
        "set-password",
        "alice@example.com",
        "--password",
        "alice-password-2",
    ])
    .ok();
    sh.wmill(&["user", "set-password", "alice@example.com"])
        .fails(2, &["stdin is not a terminal"]);
    // The old session ended with the password change.
    sh.wmill(&["workspace", "whoami", "--token", &alice])
        .fails(1, &["Unauthorized"]);
    let alice = sh
        .wmill(&[
            "user",
            "create-token",
            "--email",
            "alice@example.com",
            "--password",
            "alice-password-2",
        ])
        .ok()
        .trim()
        .to_owned();

    // Members.
    sh.wmill(&["workspace", "member", "role", "alice", "operator"])
        .ok();
    let members: Vec<User> = sh.wmill(&["workspace", "users", "--json"]).json();
    assert!(members.iter().any(|u| u.username == "alice" && u.operator));
    sh.wmill(&["workspace", "member", "role", "alice", "king"])
        .fails(2, &["king"]);
    sh.wmill(&["workspace", "member", "disable", "alice"]).ok();
    sh.wmill(&["group", "list", "--token", &alice])
        .fails(1, &["Unauthorized"]);
    sh.wmill(&["workspace", "member", "enable", "alice"]).ok();
    sh.wmill(&["workspace", "member", "role", "alice", "developer"])
        .ok();

    // Groups, owners, history.
    sh.wmill(&["group", "create", "devs"]).ok();
    sh.wmill(&["group", "add-user", "devs", "alice"]).ok();
    sh.wmill(&["group", "owner", "add", "devs", "alice"]).ok();
    let owners: Vec<Value> = sh
        .wmill(&["group", "owner", "list", "devs", "--json"])
        .json();
    assert!(
        owners
            .iter()
            .any(|o| o["principal"] == "u/alice" && o["owner"] == true),
        "{owners:?}"
    );
    sh.wmill(&[
        "group",
        "update",
        "devs",
        "--summary",
        "Developers",
        "--token",
        &alice,
    ])
    .ok();
    sh.wmill(&["group", "update", "devs"])
        .fails(2, &["--summary"]);
    sh.wmill(&[
        "group", "owner", "remove", "devs", "admin", "--token", &alice,
    ])
    .ok();
    sh.wmill(&[
        "group", "owner", "remove", "devs", "alice", "--token", &alice,
    ])
    .fails(1, &["last owner", "make someone else an owner first"]);
    let g: Group = sh.wmill(&["group", "get", "devs", "--json"]).json();
    assert_eq!(g.summary.as_deref(), Some("Developers"));
    let history: Vec<Value> = sh.wmill(&["group", "history", "devs", "--json"]).json();
    assert!(
        history.iter().any(|h| h["change_type"] == "acls.remove"),
        "{history:?}"
    );
    assert!(
        sh.wmill(&["group", "history", "devs"])
            .ok()
            .contains("acls.add")
    );

    // Renames.
    sh.wmill(&["user", "rename", "alice@example.com", "ali"])
        .ok();
    let g: Group = sh.wmill(&["group", "get", "devs", "--json"]).json();
    assert!(g.members.contains(&"ali".to_owned()), "{g:?}");

    // Instance groups feeding the workspace.
    sh.wmill(&["user", "add", "bob@example.com", "bob-password-1"])
        .ok();
    sh.wmill(&["instance-group", "create", "eng", "--summary", "Engineers"])
        .ok();
    sh.wmill(&["instance-group", "add-user", "eng", "bob@example.com"])
        .ok();
    sh.wmill(&["instance-group", "update", "eng", "--role", "devops"])
        .ok();
    let eng: Value = sh.wmill(&["instance-group", "get", "eng", "--json"]).json();
    assert_eq!(
        (eng["instance_role"].as_str(), eng["summary"].as_str()),
        (Some("devops"), Some("Engineers"))
    );
    assert!(sh.wmill(&["instance-group"]).ok().contains("eng"));
    sh.wmill(&["workspace", "instance-groups", "eng:operator"])
        .ok();
    let members: Vec<User> = sh.wmill(&["workspace", "users", "--json"]).json();
    assert!(
        members
            .iter()
            .any(|u| u.email == "bob@example.com" && u.operator),
        "bob joined through eng"
    );
    let settings: Value = sh.wmill(&["workspace", "settings", "--json"]).json();
    assert_eq!(
        settings["auto_invite"]["instance_groups_roles"]["eng"],
        "operator"
    );
    assert!(
        sh.wmill(&["workspace", "settings"])
            .ok()
            .contains("eng (operator)")
    );
    sh.wmill(&["instance-group", "remove-user", "eng", "bob@example.com"])
        .ok();
    let members: Vec<User> = sh.wmill(&["workspace", "users", "--json"]).json();
    assert!(
        !members.iter().any(|u| u.email == "bob@example.com"),
        "bob left with the group"
    );

    // Auto-invite and operator settings.
    sh.wmill(&[
        "workspace",
        "auto-invite",
        "--role",
        "developer",
        "--all",
        "--add",
    ])
    .ok();
    sh.wmill(&["user", "add", "newbie@example.com", "newbie-password-1"])
        .ok();
    let members: Vec<User> = sh.wmill(&["workspace", "users", "--json"]).json();
    assert!(members.iter().any(|u| u.email == "newbie@example.com"));
    sh.wmill(&["workspace", "auto-invite", "--off"]).ok();
    sh.wmill(&[
        "workspace",
        "operator-settings",
        "groups=false",
        "audit_logs=false",
    ])
    .ok();
    sh.wmill(&["workspace", "operator-settings", "groups"])
        .fails(2, &["FLAG=true"]);
    let settings: Value = sh.wmill(&["workspace", "settings", "--json"]).json();
    assert_eq!(settings["operator_settings"]["groups"], false);
    assert!(
        settings
            .get("auto_invite")
            .is_none_or(|a| a.get("enabled").is_none()),
        "{settings}"
    );

    // Export and import: the same file changes nothing; a user added in it is created.
    let exported = sh.wmill(&["instance", "export"]).ok().to_owned();
    assert!(
        exported.contains("email: alice@example.com") && exported.contains("$argon2id$"),
        "{exported}"
    );
    let file = sh.config().join("users.yaml");
    std::fs::write(&file, &exported).unwrap();
    let file = file.to_str().unwrap();
    let same: Value = sh
        .wmill(&["instance", "import", file, "--dry-run", "--json"])
        .json();
    assert_eq!(same["report"]["created"], serde_json::json!([]));
    assert_eq!(same["report"]["deleted"], serde_json::json!([]));
    let added = format!(
        "{exported}- email: carol@example.com\n  super_admin: false\n  verified: true\n  first_time_user: true\n"
    );
    std::fs::write(file, added).unwrap();
    let out = sh.wmill(&["instance", "import", file]).ok().to_owned();
    assert!(out.contains("1 created (carol@example.com)"), "{out}");
    let users: Vec<GlobalUserInfo> = sh.wmill(&["user", "list", "--json"]).json();
    assert!(users.iter().any(|u| u.email == "carol@example.com"));
    std::fs::write(file, "not: [a list").unwrap();
    sh.wmill(&["instance", "import", file])
        .fails(1, &["not a list of the expected entries"]);
    let groups = sh
        .wmill(&["instance", "export", "--groups"])
        .ok()
        .to_owned();
    assert!(groups.contains("name: eng"), "{groups}");

    // Impersonation, email changes.
    let as_ali = sh.wmill(&["user", "impersonate", "ali@example.com"]);
    as_ali.fails(1, &["not found"]);
    let token = sh
        .wmill(&["user", "impersonate", "alice@example.com"])
        .ok()
        .trim()
        .to_owned();
    let who: UserInfo = sh
        .wmill(&["workspace", "whoami", "--json", "--token", &token])
        .json();
    assert_eq!(who.email, "alice@example.com");
    sh.wmill(&[
        "user",
        "change-email",
        "alice@example.com",
        "alice@new.example",
    ])
    .ok();
    let who: UserInfo = sh
        .wmill(&["workspace", "whoami", "--json", "--token", &alice])
        .json();
    assert_eq!(
        (who.email.as_str(), who.username.as_str()),
        ("alice@new.example", "ali")
    );

    // The workspace itself.
    sh.wmill(&["workspace", "rename", "The admins"]).ok();
    assert!(
        sh.wmill(&["workspace", "settings"])
            .ok()
            .contains("admins (The admins)")
    );
    sh.wmill(&["workspace", "create", "tmp"]).ok();
    sh.wmill(&["workspace", "delete", "tmp"])
        .fails(2, &["--yes"]);
    sh.wmill(&["workspace", "delete", "tmp", "--yes"]).ok();
    sh.wmill(&["workspace", "archive", "--token", &alice])
        .fails(1, &["admin"]);
    sh.wmill(&["workspace", "archive"]).ok();
    sh.wmill(&["workspace", "unarchive"]).ok();
    sh.wmill(&["workspace", "leave", "--token", &alice]).ok();
    sh.wmill(&["group", "list", "--token", &alice])
        .fails(1, &["Unauthorized"]);
    sh.wmill(&["user", "update", "alice@new.example", "--disable"])
        .ok();
    sh.wmill(&["workspace", "whoami", "--json", "--token", &alice])
        .fails(1, &["Unauthorized"]);
}

#[test]
fn audit_export_writes_ndjson_and_verify_checks_the_chain() {
    let server = Server::start();
    let (sh, dave) = Shell::admin_and_dave(&server);
    // A member: neither the export nor the verification.
    dave.wmill(&["audit", "export"])
        .fails(1, &["exporting the audit log requires a workspace admin"]);
    dave.wmill(&["audit", "verify"])
        .fails(1, &["verifying the audit log needs a superadmin's token"]);
    sh.wmill(&["group", "create", "auditors"]).ok();
    sh.wmill(&["group", "create", "readers"]).ok();
    let out = sh.wmill(&["audit", "export"]);
    let lines: Vec<Value> = out
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(
        ids.len() >= 2 && ids.windows(2).all(|w| w[0] < w[1]),
        "{ids:?}"
    );
    assert!(
        lines.iter().any(|l| l["operation"] == "group.create"),
        "{lines:?}"
    );
    // Resumed after an id: what follows it only.
    let since = ids[ids.len() - 2].to_string();
    let rest = sh.wmill(&["audit", "export", "--since-id", &since]);
    assert_eq!(rest.ok().lines().count(), 1);
    let verified = sh.wmill(&["audit", "verify"]);
    let text = verified.ok();
    assert!(
        text.contains("intact") && text.contains("signatures not checked"),
        "{text}"
    );
}
