//! Profiles are Windmill's files: ours read theirs, and theirs can read ours.

use std::collections::BTreeSet;

use wmill_api::{Group, UserInfo};

use crate::harness::{Server, Shell};

#[test]
fn a_profile_written_by_windmills_client_is_used() {
    let server = Server::start();
    let admin = Shell::new();
    admin.login_admin(&server);
    let token = admin
        .wmill(&["token", "create", "--label", "windmill"])
        .ok()
        .trim()
        .to_owned();

    // Exactly what `wmill workspace add prof1 admins <url>/ --token …` of windmill-cli writes.
    let sh = Shell::new();
    let dir = sh.config().join("windmill");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("remotes.ndjson"),
        format!(
            r#"{{"name":"prof1","remote":"{}/","workspaceId":"admins","token":"{token}"}}"#,
            server.url
        ) + "\n",
    )
    .unwrap();
    std::fs::write(dir.join("activeWorkspace"), "prof1").unwrap();

    let groups: Vec<Group> = sh.wmill(&["group", "list", "--json"]).json();
    assert!(groups.iter().any(|g| g.name == "all"));
    let me: UserInfo = sh.wmill(&["workspace", "whoami", "--json"]).json();
    assert_eq!(me.workspace_id, "admins");
    let list = sh.wmill(&["workspace", "list"]);
    let row = list.ok().lines().nth(1).expect("a row").to_owned();
    assert!(
        row.starts_with("*") && row.contains("prof1") && row.contains("admins"),
        "{row}"
    );
}

#[test]
fn the_profile_we_write_has_exactly_windmills_fields() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    // A second profile, given without the trailing slash, with a token.
    let token = sh.wmill(&["token", "create"]).ok().trim().to_owned();
    sh.wmill(&[
        "workspace",
        "add",
        "second",
        "admins",
        &server.url,
        "--token",
        &token,
    ])
    .ok();

    let dir = sh.config().join("windmill");
    let text = std::fs::read_to_string(dir.join("remotes.ndjson")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in &lines {
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let keys: BTreeSet<&str> = keys.into_iter().collect();
        assert_eq!(
            keys,
            BTreeSet::from(["name", "remote", "workspaceId", "token"]),
            "{line}"
        );
        assert!(line.starts_with(r#"{"name":"#), "{line}");
        assert_eq!(obj["remote"], format!("{}/", server.url));
        assert!(obj.values().all(|v| v.is_string()));
    }
    assert!(
        lines[1].ends_with(&format!(r#""token":"{token}"}}"#)),
        "{}",
        lines[1]
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("activeWorkspace")).unwrap(),
        "second"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["remotes.ndjson", "activeWorkspace"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }

    // switch and remove keep the same format.
    assert!(
        sh.wmill(&["workspace", "switch", "local"])
            .ok()
            .starts_with("Switched to profile local")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("activeWorkspace")).unwrap(),
        "local"
    );
    sh.wmill(&["workspace", "remove", "second"]).ok();
    let text = std::fs::read_to_string(dir.join("remotes.ndjson")).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with(r#"{"name":"local","remote":"#), "{text}");
}

#[test]
fn flags_beat_environment_beat_profile() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    sh.wmill(&["workspace", "create", "other"]).ok();

    // The environment overrides the profile's workspace; a flag overrides the environment.
    let env = [("WM_WORKSPACE", "other")];
    let me: UserInfo = sh
        .wmill_env(&["workspace", "whoami", "--json"], &env)
        .json();
    assert_eq!(me.workspace_id, "other");
    let me: UserInfo = sh
        .wmill_env(
            &["workspace", "whoami", "--json", "--workspace", "admins"],
            &env,
        )
        .json();
    assert_eq!(me.workspace_id, "admins");
    // A bad token in the environment beats the profile's good one.
    sh.wmill_env(&["group", "list"], &[("WM_TOKEN", "wm_bad")])
        .fails(1, &["Not authorized"]);

    // Environment only, no profile at all.
    let token = sh.wmill(&["token", "create"]).ok().trim().to_owned();
    let bare = Shell::new();
    let env = [
        ("BASE_URL", server.url.as_str()),
        ("WM_TOKEN", token.as_str()),
        ("WM_WORKSPACE", "admins"),
    ];
    let groups: Vec<Group> = bare.wmill_env(&["group", "list", "--json"], &env).json();
    assert_eq!(groups[0].name, "all");
}
