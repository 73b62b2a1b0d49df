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
