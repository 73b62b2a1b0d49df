//! A newcomer's first hour: confirmations before destructive commands, no orphaned
//! credentials, `wmill status`, hints that name the real cause, secrets on stdin, quiet
//! output, help on every command.

use serde_json::Value;
use wmill_api::{GlobalUserInfo, Group, TruncatedToken, User};

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Shell};

fn users(sh: &Shell) -> Vec<GlobalUserInfo> {
    sh.wmill(&["user", "list", "--json"]).json()
}

fn my_tokens(sh: &Shell) -> Vec<TruncatedToken> {
    sh.wmill(&["token", "list", "--json"]).json()
}

#[test]
fn destructive_commands_confirm_and_refuse_without_a_terminal() {
    let server = Server::start();
    let (sh, _dave) = Shell::admin_and_dave(&server);
    sh.wmill(&["group", "create", "data-team"]).ok();
    sh.wmill(&["group", "add-user", "data-team", "dave"]).ok();
    sh.wmill(&["instance-group", "create", "eng"]).ok();
    let before = users(&sh);

    // Without a terminal and without --yes: refused (exit 2), what it costs is said, and
    // nothing changed.
    let refusals: &[(&[&str], &str)] = &[
        (
            &["user", "remove", "dave@example.com"],
            "membership of every workspace",
        ),
        (&["group", "delete", "data-team"], "its 2 member(s)"),
        (&["workspace", "remove-user", "dave"], "tokens pinned"),
        (&["instance-group", "delete", "eng"], "instance role"),
        (&["workspace", "delete", "admins"], "cannot be undone"),
    ];
    for (args, cost) in refusals {
        sh.wmill(args)
            .fails(2, &["not confirmed, nothing done", cost, "add --yes"]);
    }
    assert_eq!(users(&sh), before);
    let group: Group = sh.wmill(&["group", "get", "data-team", "--json"]).json();
    assert_eq!(group.members, ["admin", "dave"]);
    let members: Vec<User> = sh.wmill(&["workspace", "users", "--json"]).json();
    assert!(members.iter().any(|u| u.username == "dave"));

    // Removing yourself, or the last superadmin, says what it will cost.
    sh.wmill(&["user", "remove", ADMIN_EMAIL]).fails(
        2,
        &[
            "It is your own account",
            "the last enabled superadmin",
            "wmill user update <email> --superadmin",
        ],
    );
    sh.wmill(&["workspace", "remove-user", "admin"])
        .fails(2, &["It is you: you lose access to admins"]);

    // --yes (or -y) does it.
    sh.wmill(&["group", "delete", "data-team", "-y"]).ok();
    sh.wmill(&["user", "remove", "dave@example.com", "--yes"])
        .ok();
    assert_eq!(users(&sh).len(), before.len() - 1);
}

#[test]
fn a_terminal_is_asked_and_no_keeps_everything() {
    let server = Server::start();
    let (sh, _dave) = Shell::admin_and_dave(&server);
    sh.wmill(&["group", "create", "data-team"]).ok();

    let no = sh.tty("wmill group delete data-team", &[], "[y/N]", Some("n"));
    assert_eq!(no.code, 1, "{no:?}");
    assert!(no.stdout.contains("Deleting group data-team"), "{no:?}");
    assert!(no.stdout.contains("cancelled"), "{no:?}");
    sh.wmill(&["group", "get", "data-team"]).ok();

    let yes = sh.tty(
        "wmill user remove dave@example.com",
        &[],
        "[y/N]",
        Some("y"),
    );
    assert_eq!(yes.code, 0, "{yes:?}");
    assert!(
        yes.stdout.contains("Removed user dave@example.com."),
        "{yes:?}"
    );
    assert!(!users(&sh).iter().any(|u| u.email == "dave@example.com"));
}

#[test]
fn deleting_the_token_in_use_confirms_other_tokens_do_not() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let other = sh.wmill(&["token", "create"]).ok().trim().to_owned();
    sh.wmill(&["token", "delete", &other[..10]]).ok();

    let profile = std::fs::read_to_string(sh.config().join("windmill/remotes.ndjson")).unwrap();
    let saved: Value = serde_json::from_str(profile.lines().next().unwrap()).unwrap();
    let in_use = saved["token"].as_str().unwrap().to_owned();
    sh.wmill(&["token", "delete", &in_use[..10]]).fails(
        2,
        &["the token wmill is using (from profile 'local')", "--yes"],
    );
    // Still works: nothing was deleted.
    sh.wmill(&["group", "list"]).ok();
    sh.wmill(&["token", "delete", &in_use, "--yes"]).ok();
    sh.wmill(&["group", "list"])
        .fails(1, &["expired, revoked", "from profile 'local'"]);
}

#[test]
fn workspace_add_leaves_no_orphaned_token() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let minted = |sh: &Shell| {
        my_tokens(sh)
            .iter()
            .filter(|t| t.label.as_deref() == Some("wmill-cli"))
            .count()
    };
    assert_eq!(minted(&sh), 1);

    // A workspace that does not exist: refused before anything is minted.
    let other = Shell::new();
    other
        .wmill(&[
            "workspace",
            "add",
            "x",
            "nosuch",
            &server.url,
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
        ])
        .fails(1, &["does not exist"]);
    assert_eq!(minted(&sh), 1, "a failed add minted a token");
    assert!(!other.config().join("windmill/remotes.ndjson").exists());

    // Replacing a profile revokes the token wmill minted for it.
    let old = saved_token(&sh);
    let replaced = sh.add_profile(&server, "local", ADMIN_EMAIL, ADMIN_PASSWORD);
    assert!(
        replaced
            .ok()
            .contains("The replaced profile's token was revoked."),
        "{replaced:?}"
    );
    assert_eq!(minted(&sh), 1);
    sh.wmill(&["group", "list", "--token", &old])
        .fails(1, &["Not authorized"]);

    // A profile made from a token wmill did not mint: that token is left alone.
    let ci = sh
        .wmill(&["token", "create", "--label", "ci"])
        .ok()
        .trim()
        .to_owned();
    let by_token = Shell::new();
    by_token
        .wmill(&[
            "workspace",
            "add",
            "p",
            "admins",
            &server.url,
            "--token",
            &ci,
        ])
        .ok();
    let out = by_token.add_profile(&server, "p", ADMIN_EMAIL, ADMIN_PASSWORD);
    assert!(
        out.ok().contains("not minted by wmill and still works"),
        "{out:?}"
    );
    sh.wmill(&["group", "list", "--token", &ci]).ok();

    // `workspace remove --revoke` deletes the token on the server, then the profile.
    let kept = saved_token(&by_token);
    by_token
        .wmill(&["workspace", "remove", "p", "--revoke"])
        .ok();
    sh.wmill(&["group", "list", "--token", &kept])
        .fails(1, &["Not authorized"]);
    assert_eq!(
        by_token.wmill(&["workspace", "list", "--json"]).ok().trim(),
        "[]"
    );
}

fn saved_token(sh: &Shell) -> String {
    let text = std::fs::read_to_string(sh.config().join("windmill/remotes.ndjson")).unwrap();
    let active = std::fs::read_to_string(sh.config().join("windmill/activeWorkspace")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|p| p["name"] == active.trim())
        .and_then(|p| p["token"].as_str().map(str::to_owned))
        .expect("active profile")
}

#[test]
fn status_says_where_each_setting_came_from() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let token = saved_token(&sh);

    let out = sh.wmill(&["status"]);
    let text = out.ok();
    for needle in [
        "Server:",
        "(profile 'local')",
        "Workspace:",
        "admins  (profile 'local')",
        &format!("{}…  (profile 'local')", &token[..10]),
        "admin@windmill.dev as admin, admin, superadmin",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    assert!(!text.contains(&token), "the whole token is shown: {text}");

    let status: Value = sh
        .wmill_env(&["status", "--json"], &[("WM_WORKSPACE", "admins")])
        .json();
    assert_eq!(status["workspace"]["source"], "environment WM_WORKSPACE");
    assert_eq!(status["token"]["source"], "profile 'local'");
    assert_eq!(status["email"], ADMIN_EMAIL);
    assert_eq!(status["problem"], Value::Null);

    // The same server under another name: the profile is skipped, and status says why.
    let localhost = server.url.replace("127.0.0.1", "localhost");
    let out = sh.wmill(&["status", "--base-url", &localhost]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stdout
            .contains("profile 'local' is for http://127.0.0.1:")
            && out.stdout.contains("its token and workspace are not used"),
        "{out:?}"
    );
    sh.wmill(&["group", "list", "--base-url", &localhost])
        .fails(
            3,
            &[
                "Profile 'local' was not used: it is for http://127.0.0.1",
                "(from --base-url)",
            ],
        );

    // A token that no longer works: status shows the settings and says what is wrong.
    let out = sh.wmill(&["status", "--token", "wm_nonsense"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("(--token)"), "{out:?}");
    assert!(
        out.stdout.contains("Problem:") && out.stdout.contains("expired, revoked"),
        "{out:?}"
    );
}

#[test]
fn hints_name_the_real_cause() {
    let server = Server::start();
    let (sh, dave) = Shell::admin_and_dave(&server);
    sh.wmill(&["workspace", "member", "role", "dave", "admin"])
        .ok();
    sh.wmill(&["workspace", "create", "other"]).ok();

    // A workspace admin asking for every workspace's audit log: a superadmin is needed.
    dave.wmill(&["audit", "list", "--all-workspaces"]).fails(
        1,
        &["--all-workspaces needs a superadmin's token, not a workspace admin's"],
    );
    // A valid token that is not a member of the workspace is not "expired or revoked".
    dave.wmill(&["group", "list", "--workspace", "other"]).fails(
        1,
        &[
            "the token works (dave@example.com's) but not in workspace 'other' (from --workspace)",
            "wmill workspace add-user dave@example.com",
        ],
    );
    // A workspace that does not exist is named with where its id came from.
    sh.wmill_env(&["group", "list"], &[("WM_WORKSPACE", "nosuch")])
        .fails(
            1,
            &["workspace 'nosuch' (from environment WM_WORKSPACE) does not exist"],
        );
    // A revoked token is.
    sh.wmill(&["group", "list", "--token", "wm_nonsense"])
        .fails(1, &["the token (from --token) is expired, revoked"]);
    // Missing arguments: named, with the usage line.
    sh.wmill(&["group", "add-user"]).fails(
        2,
        &[
            "<GROUP>, <USERNAME>",
            "usage: wmill group add-user ",
            " <GROUP> <USERNAME>; see 'wmill group add-user --help'",
        ],
    );
}

#[test]
fn secrets_from_stdin_and_quiet_output() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let token = saved_token(&sh);

    // --password-stdin for a new user, then for a login with it.
    let out =
        sh.sh("printf 'pipe password 1\\n' | wmill user add pipe@example.com --password-stdin");
    assert!(
        out.ok().contains("Created user pipe@example.com."),
        "{out:?}"
    );
    let piped = Shell::new();
    let out = piped.sh(&format!(
        "printf 'pipe password 1' | wmill user create-token --email pipe@example.com --password-stdin --base-url {}",
        server.url
    ));
    assert!(out.ok().trim().starts_with("wm_"), "{out:?}");
    // --token-stdin, and an empty stdin is a clear usage error.
    let bare = Shell::new();
    let out = bare.sh(&format!(
        "printf '%s\\n' {token} | wmill group list --token-stdin --base-url {} --workspace admins",
        server.url
    ));
    assert!(out.ok().contains("all"), "{out:?}");
    bare.sh(&format!(
        "wmill group list --token-stdin --base-url {} --workspace admins < /dev/null",
        server.url
    ))
    .fails(2, &["--token-stdin read no token"]);
    bare.wmill(&["group", "list", "--token-stdin", "--token", "x"])
        .fails(2, &["cannot be used with"]);

    // -q: nothing on success but the data asked for.
    assert_eq!(sh.wmill(&["group", "create", "quiet", "-q"]).ok(), "");
    let generated = sh.wmill(&["user", "add", "gen@example.com", "--quiet"]);
    assert_eq!(generated.ok().trim().len(), 24, "{generated:?}");
    assert!(sh.wmill(&["group", "list", "-q"]).ok().contains("quiet"));
}

#[test]
fn help_as_a_command_with_examples_everywhere() {
    let sh = Shell::new();
    let via_command = sh.wmill(&["help", "group", "add-user"]);
    let via_flag = sh.wmill(&["group", "add-user", "--help"]);
    assert_eq!(via_command.ok(), via_flag.ok());
    assert!(
        via_flag
            .stdout
            .contains("Examples:\n  wmill group add-user data-team alice")
    );
    let completions = sh.wmill(&["help", "completions"]);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        assert!(
            completions.ok().contains(&format!("  {shell} ")),
            "no install step for {shell}"
        );
    }
}
