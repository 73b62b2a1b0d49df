//! Snapshots of the help texts, so that a change to the interface shows in review.
//! `UPDATE_SNAPSHOTS=1 cargo test -p wmill-cli --test e2e help` rewrites them.

use crate::harness::{Shell, snapshot};

#[test]
fn help_texts() {
    let sh = Shell::new();
    let cases: &[(&str, &[&str])] = &[
        ("wmill.txt", &["--help"]),
        ("user.txt", &["user", "--help"]),
        ("group.txt", &["group", "--help"]),
        ("audit.txt", &["audit", "--help"]),
        ("audit-list.txt", &["audit", "list", "--help"]),
        ("token.txt", &["token", "--help"]),
        ("token-create.txt", &["token", "create", "--help"]),
        ("workspace.txt", &["workspace", "--help"]),
        ("workspace-add.txt", &["workspace", "add", "--help"]),
        ("scim-token.txt", &["scim", "token", "--help"]),
        (
            "scim-token-create.txt",
            &["scim", "token", "create", "--help"],
        ),
    ];
    for (file, args) in cases {
        let out = sh.wmill(args);
        snapshot(file, out.ok());
    }
}
