//! Every hint the client attaches to a server's refusal is triggered here (or in another
//! end-to-end test), against the real server: a hint that names the wrong cause, or that
//! no refusal can reach, fails a test.

use std::path::Path;

use crate::harness::{ADMIN_EMAIL, Server, Shell};

/// The hints `src/*.rs` attaches with `hint_on(<status>, "<literal>")`.
fn hint_literals() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        // Unit tests' own examples are not hints.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, _) in text.match_indices("hint_on(") {
            let rest = text[i + "hint_on(".len()..].trim_start();
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            let Some(rest) = rest.trim_start().strip_prefix(',') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('"') else {
                continue;
            };
            let literal: String = rest.chars().take_while(|&c| c != '"').collect();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            found.push((file, literal));
        }
    }
    assert!(found.len() > 20, "the scan found too few hints: {found:?}");
    found
}

#[test]
fn every_hint_is_triggered_by_some_test() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let mut corpus = String::new();
    for entry in std::fs::read_dir(&tests).expect("tests") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            corpus.push_str(&std::fs::read_to_string(&path).expect("test source"));
        }
    }
    // Long lines in the tests are split by rustfmt: compare without whitespace.
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    let corpus = squeeze(&corpus).replace("\"\"", "");
    let untested: Vec<(String, String)> = hint_literals()
        .into_iter()
        .filter(|(_, h)| {
            let needle: String = squeeze(h).chars().take(30).collect();
            !corpus.contains(&needle)
        })
        .collect();
    assert!(
        untested.is_empty(),
        "hints no test triggers (add them to the table in hints.rs): {untested:#?}"
    );
}

#[test]
fn each_refusal_gets_its_hint() {
    let server = Server::start();
    let (sh, dave) = Shell::admin_and_dave(&server);
    sh.wmill(&["group", "create", "data-team"]).ok();
    sh.wmill(&["workspace", "create", "other"]).ok();
    assert_eq!(
        sh.wmill(&["scim", "token", "create", "--label", "okta"])
            .code,
        0
    );
    let scoped = sh
        .wmill(&["token", "create", "--scope", "groups:read"])
        .ok()
        .trim()
        .to_owned();

    // (who, command, the hint it must get)
    let cases: &[(&Shell, &[&str], &str)] = &[
        (
            &sh,
            &["audit", "get", "999999"],
            "list entries with 'wmill audit list'",
        ),
        (
            &sh,
            &["group", "create", "data-team"],
            "pick another name, or see it with 'wmill group get <name>'",
        ),
        (
            &sh,
            &["group", "add-user", "nosuch", "admin"],
            "check the group with 'wmill group list' and the username with 'wmill workspace users'",
        ),
        (
            &sh,
            &["group", "remove-user", "data-team", "nobody"],
            "see the group's members with 'wmill group get <name>'",
        ),
        (
            &sh,
            &["instance-group", "get", "nosuch"],
            "list instance groups with 'wmill instance-group list'",
        ),
        (
            &sh,
            &["token", "create", "--expiration", "2000-01-01T00:00:00Z"],
            "an expiration must be in the future, and scopes are listed by 'wmill token scopes'",
        ),
        (
            &sh,
            &["token", "update", &scoped[..10], "--scope", "nosuch:scope"],
            "list the scopes with 'wmill token scopes'",
        ),
        (
            &sh,
            &["token", "delete", "wm_nosuchtokenprefix"],
            "list your tokens with 'wmill token list'",
        ),
        (
            &sh,
            &["user", "add", "dave@example.com", "dave-password"],
            "that email is taken: pick another one or remove the user first",
        ),
        (
            &dave,
            &["user", "add", "eve@example.com", "eve-password"],
            "creating users needs a superadmin's token",
        ),
        (
            &sh,
            &["user", "remove", "nosuch@example.com", "--yes"],
            "list users with 'wmill user list'",
        ),
        (
            &dave,
            &["user", "remove", ADMIN_EMAIL, "--yes"],
            "removing users needs a superadmin's token",
        ),
        (
            &sh,
            &["user", "update", "nosuch@example.com", "--disable"],
            "list users with 'wmill user list'",
        ),
        (
            &dave,
            &["user", "update", ADMIN_EMAIL, "--disable"],
            "changing users needs a superadmin's token",
        ),
        (
            &dave,
            &[
                "user",
                "set-password",
                ADMIN_EMAIL,
                "--password",
                "a-long-password",
            ],
            "setting another user's password needs a superadmin's token",
        ),
        (
            &sh,
            &["user", "rename", "dave@example.com", "admin"],
            "pick another username",
        ),
        (
            &sh,
            &["user", "rename", "nosuch@example.com", "x"],
            "list users with 'wmill user list'",
        ),
        (
            &sh,
            &["user", "change-email", "dave@example.com", ADMIN_EMAIL],
            "that email belongs to someone else",
        ),
        (
            &dave,
            &["user", "impersonate", ADMIN_EMAIL],
            "impersonating needs a superadmin's token",
        ),
        (
            &sh,
            &["user", "impersonate", "nosuch@example.com"],
            "list users with 'wmill user list'",
        ),
        (
            &dave,
            &["user", "list"],
            "listing instance users needs a superadmin's token",
        ),
        (
            &sh,
            &["workspace", "create", "other"],
            "that id is taken: pick another one",
        ),
        (
            &sh,
            &["workspace", "add-user", "dave@example.com"],
            "see the members with 'wmill workspace users'",
        ),
        (
            &sh,
            &["workspace", "remove-user", "nosuch", "--yes"],
            "see the members' usernames with 'wmill workspace users'",
        ),
        (
            &dave,
            &["workspace", "delete", "other", "--yes"],
            "deleting a workspace needs a superadmin's token",
        ),
        (
            &sh,
            &["workspace", "member", "role", "nosuch", "admin"],
            "list members with 'wmill workspace users'",
        ),
        (
            &dave,
            &["workspace", "archive"],
            "this needs an admin of the workspace",
        ),
        (
            &sh,
            &["workspace", "service-account", "create", "dave"],
            "that username is taken: pick another one",
        ),
        (
            &sh,
            &["workspace", "service-account", "remove", "nosuch"],
            "list them with 'wmill workspace service-account list'",
        ),
        (
            &sh,
            &["workspace", "service-account", "token", "nosuch"],
            "list them with 'wmill workspace service-account list'",
        ),
        (
            &sh,
            &["group", "create", "x", "--token", &scoped],
            "a token whose scopes cover it",
        ),
        (
            &dave,
            &["scim", "token", "list"],
            "managing SCIM tokens needs a superadmin's token",
        ),
        (
            &sh,
            &["scim", "token", "create", "--label", "okta"],
            "see the SCIM tokens with 'wmill scim token list'; one provider, one label",
        ),
        (
            &sh,
            &["scim", "token", "delete", "nosuch", "--yes"],
            "list the SCIM tokens with 'wmill scim token list'",
        ),
    ];
    for (who, args, hint) in cases {
        let run = who.wmill(args);
        assert!(
            run.code == 1
                && run
                    .stderr
                    .split_once("; hint: ")
                    .is_some_and(|(_, h)| h.contains(hint)),
            "`wmill {}` should fail with the hint {hint:?}, got {run:#?}",
            args.join(" ")
        );
    }

    // The last owner of a group cannot leave it without an owner.
    sh.wmill(&["group", "owner", "remove", "data-team", "admin"])
        .ok();
    sh.wmill(&["group", "owner", "add", "data-team", "dave"])
        .ok();
    dave.wmill(&["group", "owner", "remove", "data-team", "dave"])
        .fails(
            1,
            &["make someone else an owner first, or ask a workspace admin"],
        );

    // Too many failed logins: wait, do not retry at once.
    let login = |password: &str| {
        Shell::new().wmill(&[
            "user",
            "create-token",
            "--email",
            "dave@example.com",
            "--password",
            password,
            "--base-url",
            &server.url,
        ])
    };
    for _ in 0..10 {
        login("not-his-password").fails(1, &["check the email and password"]);
    }
    login("not-his-password").fails(
        1,
        &["too many attempts: wait a few minutes before trying again"],
    );

    // `workspace remove --revoke` of a profile whose token is dead already.
    let dead = sh
        .wmill(&["token", "create", "--label", "soon-gone"])
        .ok()
        .trim()
        .to_owned();
    let gone = Shell::new();
    gone.wmill(&[
        "workspace",
        "add",
        "p",
        "admins",
        &server.url,
        "--token",
        &dead,
    ])
    .ok();
    sh.wmill(&["token", "delete", &dead]).ok();
    gone.wmill(&["workspace", "remove", "p", "--revoke"]).fails(
        1,
        &["the token no longer works (expired or already revoked): remove the profile without --revoke"],
    );
}
