//! Behaviour that depends on a terminal: password prompts without echo, colours.

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, Server, Shell};

#[test]
fn a_missing_password_is_asked_for_without_echo() {
    let server = Server::start();
    let sh = Shell::new();
    let line = format!(
        "wmill user create-token --email {ADMIN_EMAIL} --base-url {}",
        server.url
    );
    let out = sh.tty(&line, &[], "Password:", Some(ADMIN_PASSWORD));
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        !out.stdout.contains(ADMIN_PASSWORD),
        "password echoed: {out:?}"
    );
    let token = out
        .stdout
        .rsplit("Password:")
        .next()
        .unwrap_or_default()
        .trim();
    assert!(token.starts_with("wm_") && token.len() == 49, "{out:?}");
}

#[test]
fn colours_only_on_a_terminal_without_no_color() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);
    let coloured = sh.tty("wmill group list", &[], "", None);
    assert_eq!(coloured.code, 0, "{coloured:?}");
    assert!(coloured.stdout.contains("\x1b[1mNAME"), "{coloured:?}");
    let plain = sh.tty("wmill group list", &[("NO_COLOR", "1")], "", None);
    assert!(plain.stdout.starts_with("NAME"), "{plain:?}");
    assert!(!plain.stdout.contains('\x1b'), "{plain:?}");
    // Piped (not a terminal): never.
    assert!(!sh.wmill(&["group", "list"]).ok().contains('\x1b'));
}

/// The browser's part of a browser login, played by curl through the real pages: sign in,
/// allow, follow the redirect to the client's loopback port.
const CURL_BROWSER: &str = r#"#!/bin/sh
url="$1"
base="${url%%/user/cli*}"
port="${url##*port=}"
jar=$(mktemp)
csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1; }
(
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/user/login" | csrf_of)
  curl -s -o /dev/null -c "$jar" -b "$jar" -H "Origin: $base" \
    --data-urlencode "email=admin@windmill.dev" --data-urlencode "password=$WMILL_TEST_PASSWORD" \
    --data-urlencode "csrf=$csrf" "$base/user/login"
  csrf=$(curl -s -b "$jar" "$url" | csrf_of)
  to=$(curl -s -o /dev/null -w '%{redirect_url}' -b "$jar" -H "Origin: $base" \
    --data "csrf=$csrf&port=$port&decision=allow" "$base/user/cli")
  curl -s -o /dev/null "$to"
) >/dev/null 2>&1 &
"#;

#[test]
fn workspace_add_on_a_terminal_signs_in_through_the_browser() {
    let server = Server::start();
    let sh = Shell::new();
    let browser = sh.config().join("browser.sh");
    std::fs::write(&browser, CURL_BROWSER).unwrap();
    let mut perms = std::fs::metadata(&browser).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&browser, perms).unwrap();
    let line = format!("wmill workspace add web admins {}", server.url);
    let out = sh.tty(
        &line,
        &[
            ("BROWSER", browser.to_str().unwrap()),
            ("WMILL_TEST_PASSWORD", ADMIN_PASSWORD),
        ],
        "",
        None,
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("/user/cli?port="), "{out:?}");
    assert!(
        out.stdout.contains("Added profile web: workspace admins"),
        "{out:?}"
    );
    // The saved token works, and is labelled as the browser login's.
    let tokens = sh.wmill(&["token", "list", "--json"]).ok().to_owned();
    assert!(tokens.contains("wmill CLI (browser login)"), "{tokens}");
    // Without a terminal there is no browser to ask: a usage error, as before.
    Shell::new()
        .wmill(&["workspace", "add", "x", "admins", &server.url])
        .fails(2, &["workspace add needs credentials"]);
}
