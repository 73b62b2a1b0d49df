//! `wmill scim token`: a superadmin mints the token an identity provider provisions with,
//! the provider uses it on the SCIM endpoints (plain HTTP here, as a provider would), and
//! nowhere else; deleting it shuts the provider out at once.

use serde_json::Value;
use wmill_api::ScimToken;

use crate::harness::{ADMIN_EMAIL, Server, Shell};

/// `GET <server><path>` with `Authorization: Bearer <token>`: the status and the body.
fn get(server: &Server, path: &str, token: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut res = agent
        .get(format!("{}{path}", server.url))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .expect("the server answers");
    let status = res.status().as_u16();
    let body = res.body_mut().read_to_string().expect("a text body");
    (status, body)
}

#[test]
fn scim_tokens_as_documented() {
    let server = Server::start();
    let sh = Shell::new();
    sh.login_admin(&server);

    // stdout is the token alone, as `TOKEN=$(…)` wants it; the URL for the provider is on
    // stderr.
    let out = sh.wmill(&["scim", "token", "create", "--label", "okta"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let token = out.stdout.strip_suffix('\n').expect("one line").to_owned();
    assert!(
        token.starts_with("wm_") && !token.contains(char::is_whitespace),
        "{out:#?}"
    );
    let scim_base = format!("{}/api/scim/v2", server.url);
    assert_eq!(
        out.stderr.lines().next(),
        Some(format!("SCIM base URL for the identity provider: {scim_base}").as_str()),
        "{out:#?}"
    );
    assert!(!out.stderr.contains(&token), "{out:#?}");

    // The provider's view: the token works on SCIM, and on nothing else.
    let (status, body) = get(&server, "/api/scim/v2/Users", &token);
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).expect("a SCIM list");
    assert!(
        list["totalResults"].as_i64().is_some_and(|n| n >= 1),
        "{list}"
    );
    assert!(body.contains(ADMIN_EMAIL), "{body}");
    let (status, body) = get(&server, "/api/users/whoami", &token);
    assert_eq!(status, 401, "a SCIM token must not work on the API: {body}");

    // Listed by label and prefix, never whole.
    let table = sh.wmill(&["scim", "token", "list"]);
    let table = table.ok();
    assert!(table.starts_with("LABEL"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("okta "))
        .unwrap_or_else(|| panic!("no row for okta: {table}"));
    assert!(
        row.contains(&token[..10]) && row.contains(ADMIN_EMAIL),
        "{row}"
    );
    assert!(!table.contains(&token), "{table}");
    let listed = sh.wmill(&["scim", "token", "list", "--json"]);
    assert!(!listed.stdout.contains(&token), "{listed:#?}");
    let tokens: Vec<ScimToken> = listed.json();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].label, "okta");
    assert_eq!(tokens[0].token_prefix, token[..10]);
    assert_eq!(tokens[0].created_by, ADMIN_EMAIL);
    // `wmill scim token` alone lists them too.
    assert_eq!(sh.wmill(&["scim", "token"]).ok(), table);

    // One label, one provider: a second `okta` is refused with the server's sentence.
    let again = sh.wmill(&["scim", "token", "create", "--label", "okta"]);
    again.fails(
        1,
        &[
            "a SCIM token labelled \"okta\" already exists",
            "see the SCIM tokens with 'wmill scim token list'; one provider, one label",
        ],
    );
    assert_eq!(
        sh.wmill(&["scim", "token", "list", "--json"])
            .json::<Vec<ScimToken>>()
            .len(),
        1
    );

    // --json: the token, its label and the URL in one document, nothing on stderr.
    let entra: Value = sh
        .wmill(&["scim", "token", "create", "--label", "Entra ID", "--json"])
        .json();
    let entra_token = entra["token"].as_str().expect("token").to_owned();
    assert_eq!(entra["label"], "Entra ID");
    assert_eq!(entra["scim_url"], scim_base.as_str());
    assert_eq!(entra.as_object().map(|o| o.len()), Some(3), "{entra}");
    // --quiet: the token alone, nothing on stderr.
    let quiet = sh.wmill(&["scim", "token", "create", "--label", "quiet-one", "-q"]);
    assert!(quiet.ok().starts_with("wm_"), "{quiet:#?}");
    assert_eq!(quiet.stdout.lines().count(), 1);

    // Deleting asks first; without a terminal and without --yes nothing is done.
    sh.wmill(&["scim", "token", "delete", "okta"])
        .fails(2, &["not confirmed, nothing done", "add --yes"]);
    assert_eq!(get(&server, "/api/scim/v2/Users", &token).0, 200);
    assert_eq!(
        sh.wmill(&["scim", "token", "delete", "okta", "--yes"]).ok(),
        "Deleted SCIM token okta.\n"
    );
    // The provider's next request is refused.
    let (status, body) = get(&server, "/api/scim/v2/Users", &token);
    assert_eq!(status, 401, "{body}");
    // The others still work.
    assert_eq!(get(&server, "/api/scim/v2/Users", &entra_token).0, 200);
    let done: Value = sh
        .wmill(&["scim", "token", "delete", "Entra ID", "-y", "--json"])
        .json();
    assert_eq!(done["label"], "Entra ID");
    assert_eq!(done["message"], "Deleted SCIM token Entra ID");
    assert_eq!(get(&server, "/api/scim/v2/Users", &entra_token).0, 401);
    let left: Vec<ScimToken> = sh.wmill(&["scim", "token", "list", "--json"]).json();
    let labels: Vec<&str> = left.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["quiet-one"]);

    // Deleting one that is not there.
    sh.wmill(&["scim", "token", "delete", "okta", "--yes"])
        .fails(
            1,
            &[
                "no SCIM token labelled \"okta\"",
                "list the SCIM tokens with 'wmill scim token list'",
            ],
        );
}

#[test]
fn only_superadmins_manage_scim_tokens() {
    let server = Server::start();
    let (sh, dave) = Shell::admin_and_dave(&server);
    let hint = "managing SCIM tokens needs a superadmin's token";
    dave.wmill(&["scim", "token", "create", "--label", "mine"])
        .fails(1, &["super admin", hint]);
    dave.wmill(&["scim", "token", "list"])
        .fails(1, &["super admin", hint]);
    let made = sh.wmill(&["scim", "token", "create", "--label", "okta"]);
    assert_eq!(made.code, 0, "{made:#?}");
    dave.wmill(&["scim", "token", "delete", "okta", "--yes"])
        .fails(1, &["super admin", hint]);
    // Still there: dave changed nothing.
    let tokens: Vec<ScimToken> = sh.wmill(&["scim", "token", "list", "--json"]).json();
    assert_eq!(tokens.len(), 1);
    // A superadmin's token scoped to something else is refused too.
    let scoped = sh
        .wmill(&["token", "create", "--scope", "groups:read"])
        .ok()
        .trim()
        .to_owned();
    sh.wmill(&["scim", "token", "list", "--token", &scoped])
        .fails(1, &["a token whose scopes cover it"]);
}

#[test]
fn bad_labels_are_usage_errors() {
    let sh = Shell::new();
    // Checked before anything is sent: no server is needed to be told.
    for bad in ["okta/prod", "", &"x".repeat(65)] {
        sh.wmill(&[
            "scim",
            "token",
            "create",
            "--label",
            bad,
            "--base-url",
            "http://127.0.0.1:9",
            "--token",
            "wm_x",
        ])
        .fails(2, &["is not a SCIM token label", "1 to 64 letters"]);
    }
    sh.wmill(&["scim", "token", "create"])
        .fails(2, &["--label"]);
}
