//! The permission matrix: every endpoint × every kind of caller → the expected status.
//! The list of endpoints is checked against the generated OpenAPI document, so a new
//! endpoint without a row here fails the test.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// The callers, in the order of the expectation arrays.
const CALLERS: [&str; 11] = [
    "no token",
    "malformed token",
    "bad checksum",
    "expired",
    "revoked",
    "deleted user",
    "disabled user",
    "pinned to another workspace",
    "member",
    "workspace admin",
    "superadmin",
];

/// One request of a cell: method, path, JSON body.
pub(crate) type Req = (&'static str, String, Option<Value>);

/// What one cell sends: requests the superadmin makes first, then the request under test.
pub(crate) struct Cell {
    pub(crate) prep: Vec<Req>,
    pub(crate) req: Req,
}

/// How a row answers the invalid callers.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Every invalid caller gets 401.
    Authed,
    /// No authentication: every caller gets the same answer.
    Public,
    /// Logout: no token is 401, any token (valid or not) is logged out.
    Logout,
}

pub(crate) struct Row {
    pub(crate) method: &'static str,
    pub(crate) template: &'static str,
    pub(crate) kind: Kind,
    /// Member, workspace admin, superadmin.
    pub(crate) valid: [u16; 3],
    /// Builds the cell for caller index `n` whose token is the second argument.
    pub(crate) make: fn(usize, &str) -> Cell,
}

fn simple(method: &'static str, path: &str, body: Option<Value>) -> Cell {
    Cell {
        prep: vec![],
        req: (method, path.to_string(), body),
    }
}

fn create_user(email: &str) -> Req {
    (
        "POST",
        "/api/users/create".into(),
        Some(json!({"email": email, "password": PASSWORD, "super_admin": false})),
    )
}

fn add_member(email: &str) -> Req {
    (
        "POST",
        "/api/w/ws/workspaces/add_user".into(),
        Some(json!({"email": email, "is_admin": false, "operator": false})),
    )
}

fn create_group(name: &str) -> Req {
    (
        "POST",
        "/api/w/ws/groups/create".into(),
        Some(json!({"name": name})),
    )
}

pub(crate) fn rows() -> Vec<Row> {
    use Kind::*;
    let r = |method, template, kind, valid, make| Row {
        method,
        template,
        kind,
        valid,
        make,
    };
    vec![
        r("POST", "/api/auth/login", Public, [200; 3], |_, _| {
            simple(
                "POST",
                "/api/auth/login",
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            )
        }),
        r("POST", "/api/auth/logout", Logout, [200; 3], |_, _| {
            simple("POST", "/api/auth/logout", None)
        }),
        r("GET", "/api/auth/logout", Logout, [200; 3], |_, _| {
            simple("GET", "/api/auth/logout", None)
        }),
        r("GET", "/api/users/whoami", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/whoami", None)
        }),
        r(
            "GET",
            "/api/w/{workspace}/users/whoami",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/whoami", None),
        ),
        r("GET", "/api/users/email", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/email", None)
        }),
        r(
            "POST",
            "/api/users/setpassword",
            Authed,
            [200; 3],
            |_, _| {
                simple(
                    "POST",
                    "/api/users/setpassword",
                    Some(json!({"password": PASSWORD})),
                )
            },
        ),
        r(
            "POST",
            "/api/users/create",
            Authed,
            [401, 401, 201],
            |n, _| Cell {
                prep: vec![],
                req: create_user(&format!("new{n}@example.com")),
            },
        ),
        r(
            "DELETE",
            "/api/users/delete/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "DELETE",
                    format!("/api/users/delete/victim{n}@example.com"),
                    None,
                ),
            },
        ),
        r(
            "POST",
            "/api/users/update/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/users/update/victim{n}@example.com"),
                    Some(json!({"name": "V"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/users/list_as_super_admin",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/users/list_as_super_admin", None),
        ),
        r(
            "POST",
            "/api/users/set_password_of/{email}",
            Authed,
            [401, 401, 200],
            |n, _| Cell {
                prep: vec![create_user(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/users/set_password_of/victim{n}@example.com"),
                    Some(json!({"password": "another one"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/users/exists/{email}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/users/exists/mem@example.com", None),
        ),
        r(
            "POST",
            "/api/users/tokens/create",
            Authed,
            [201; 3],
            |_, _| simple("POST", "/api/users/tokens/create", Some(json!({}))),
        ),
        r("GET", "/api/users/tokens/list", Authed, [200; 3], |_, _| {
            simple("GET", "/api/users/tokens/list", None)
        }),
        r(
            "DELETE",
            "/api/users/tokens/delete/{prefix_or_token}",
            Authed,
            [200; 3],
            |_, token| simple("DELETE", &format!("/api/users/tokens/delete/{token}"), None),
        ),
        r(
            "POST",
            "/api/users/tokens/impersonate",
            Authed,
            [401, 401, 201],
            |_, _| {
                simple(
                    "POST",
                    "/api/users/tokens/impersonate",
                    Some(json!({"impersonate_email": "mem@example.com"})),
                )
            },
        ),
        r(
            "POST",
            "/api/workspaces/create",
            Authed,
            [401, 401, 200],
            |n, _| {
                simple(
                    "POST",
                    "/api/workspaces/create",
                    Some(json!({"id": format!("new{n}"), "name": "N"})),
                )
            },
        ),
        r("GET", "/api/workspaces/list", Authed, [200; 3], |_, _| {
            simple("GET", "/api/workspaces/list", None)
        }),
        r(
            "GET",
            "/api/workspaces/list_as_superadmin",
            Authed,
            [401, 401, 200],
            |_, _| simple("GET", "/api/workspaces/list_as_superadmin", None),
        ),
        r(
            "POST",
            "/api/workspaces/exists",
            Authed,
            [200; 3],
            |_, _| simple("POST", "/api/workspaces/exists", Some(json!({"id": "ws"}))),
        ),
        r("GET", "/api/workspaces/users", Authed, [200; 3], |_, _| {
            simple("GET", "/api/workspaces/users", None)
        }),
        r(
            "GET",
            "/api/settings/global/automate_username_creation",
            Authed,
            [200; 3],
            |_, _| {
                simple(
                    "GET",
                    "/api/settings/global/automate_username_creation",
                    None,
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/add_user",
            Authed,
            [403, 201, 201],
            |n, _| Cell {
                prep: vec![],
                req: add_member(&format!("new{n}@example.com")),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/list",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/list", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/list_usernames",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/users/list_usernames", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/users/get/{username}",
            Authed,
            [403, 200, 200],
            |_, _| simple("GET", "/api/w/ws/users/get/mem", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/users/update/{username}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![add_member(&format!("victim{n}@example.com"))],
                req: (
                    "POST",
                    format!("/api/w/ws/users/update/victim{n}"),
                    Some(json!({"operator": true})),
                ),
            },
        ),
        r(
            "DELETE",
            "/api/w/{workspace}/users/delete/{username}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![add_member(&format!("victim{n}@example.com"))],
                req: ("DELETE", format!("/api/w/ws/users/delete/victim{n}"), None),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups/list",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/groups/list", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups/listnames",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/groups/listnames", None),
        ),
        r(
            "GET",
            "/api/w/{workspace}/groups/get/{name}",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/groups/get/all", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/create",
            Authed,
            [200; 3],
            |n, _| Cell {
                prep: vec![],
                req: create_group(&format!("g{n}")),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/update/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/groups/update/g{n}"),
                    Some(json!({"summary": "s"})),
                ),
            },
        ),
        r(
            "DELETE",
            "/api/w/{workspace}/groups/delete/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: ("DELETE", format!("/api/w/ws/groups/delete/g{n}"), None),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/adduser/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/groups/adduser/g{n}"),
                    Some(json!({"username": "mem"})),
                ),
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/groups/removeuser/{name}",
            Authed,
            [403, 200, 200],
            |n, _| Cell {
                prep: vec![create_group(&format!("g{n}"))],
                req: (
                    "POST",
                    format!("/api/w/ws/groups/removeuser/g{n}"),
                    Some(json!({"username": "admin"})),
                ),
            },
        ),
        r(
            "GET",
            "/api/w/{workspace}/audit/list",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/w/ws/audit/list", None),
        ),
        // Entry 1 is the bootstrap's, by `system`: outside a plain member's view.
        r(
            "GET",
            "/api/w/{workspace}/audit/get/{id}",
            Authed,
            [404, 404, 200],
            |_, _| simple("GET", "/api/w/ws/audit/get/1", None),
        ),
        r(
            "POST",
            "/api/users/tokens/update_label/{token_prefix}",
            Authed,
            [200; 3],
            |_, token| {
                let prefix: String = token.chars().take(10).collect();
                simple(
                    "POST",
                    &format!("/api/users/tokens/update_label/{prefix}"),
                    Some(json!({"label": "renamed"})),
                )
            },
        ),
        r(
            "POST",
            "/api/users/tokens/update_scopes/{token_prefix}",
            Authed,
            [200; 3],
            |_, token| {
                let prefix: String = token.chars().take(10).collect();
                simple(
                    "POST",
                    &format!("/api/users/tokens/update_scopes/{prefix}"),
                    Some(json!({"scopes": ["groups:read"]})),
                )
            },
        ),
        r(
            "GET",
            "/api/tokens/list/scopes",
            Authed,
            [200; 3],
            |_, _| simple("GET", "/api/tokens/list/scopes", None),
        ),
        r(
            "POST",
            "/api/w/{workspace}/workspaces/create_service_account",
            Authed,
            [403, 201, 201],
            |n, _| {
                simple(
                    "POST",
                    "/api/w/ws/workspaces/create_service_account",
                    Some(json!({"username": format!("bot{n}")})),
                )
            },
        ),
        r(
            "POST",
            "/api/w/{workspace}/users/impersonate_service_account",
            Authed,
            [403, 201, 201],
            |n, _| Cell {
                prep: vec![(
                    "POST",
                    "/api/w/ws/workspaces/create_service_account".into(),
                    Some(json!({"username": format!("bot{n}")})),
                )],
                req: (
                    "POST",
                    "/api/w/ws/users/impersonate_service_account".into(),
                    Some(json!({"username": format!("bot{n}")})),
                ),
            },
        ),
        r("GET", "/api/version", Public, [200; 3], |_, _| {
            simple("GET", "/api/version", None)
        }),
        r("GET", "/api/health/status", Public, [200; 3], |_, _| {
            simple("GET", "/api/health/status", None)
        }),
        r("GET", "/api/openapi.json", Public, [200; 3], |_, _| {
            simple("GET", "/api/openapi.json", None)
        }),
    ]
}

/// A fresh token for each caller kind, on an app with workspaces `ws` and `other`.
pub(crate) async fn callers(app: &TestApp) -> Vec<Option<String>> {
    app.create_workspace("ws").await;
    app.create_workspace("other").await;
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    let expired = app.mint(&app.admin, json!({"expiration": soon})).await;
    let revoked = app.mint(&app.admin, json!({})).await;
    app.delete(&format!("/api/users/tokens/delete/{revoked}"), &app.admin)
        .await
        .assert_status(200);
    app.create_user("gone@example.com", true).await;
    let deleted = app.login("gone@example.com", PASSWORD).await;
    app.delete("/api/users/delete/gone@example.com", &app.admin)
        .await
        .assert_status(200);
    app.create_user("off@example.com", true).await;
    let disabled = app.login("off@example.com", PASSWORD).await;
    app.post(
        "/api/users/update/off@example.com",
        &app.admin,
        json!({"disabled": true}),
    )
    .await
    .assert_status(200);
    let pinned = app.mint(&app.admin, json!({"workspace_id": "other"})).await;
    let member = app.member_token("ws", "mem@example.com", false).await;
    let admin = app.member_token("ws", "wsa@example.com", true).await;
    let mut bad_checksum = app.mint(&app.admin, json!({})).await.into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    app.clock.advance(Duration::from_secs(3600));
    vec![
        None,
        Some("not-a-token".into()),
        Some(String::from_utf8(bad_checksum).unwrap()),
        Some(expired),
        Some(revoked),
        Some(deleted),
        Some(disabled),
        Some(pinned),
        Some(member),
        Some(admin),
        Some(app.admin.clone()),
    ]
}

fn expected(row: &Row) -> [u16; 11] {
    let mut e = [401u16; 11];
    match row.kind {
        Kind::Authed => {}
        Kind::Public => e = [row.valid[0]; 11],
        Kind::Logout => e[1..].fill(200),
    }
    e[8..].copy_from_slice(&row.valid);
    e
}

db_test!(
    async fn every_endpoint_for_every_caller(app) {
        let mut failures = Vec::new();
        for (i, row) in rows().iter().enumerate() {
            // A fresh app per row, so that one row's cells cannot disturb another's.
            let _ = i;
            let app = app.sibling(wmill_server::config::Settings::for_tests()).await;
            let tokens = callers(&app).await;
            let want = expected(row);
            for (n, token) in tokens.iter().enumerate() {
                let cell = (row.make)(n, token.as_deref().unwrap_or("absent"));
                for (m, p, b) in cell.prep {
                    let r = app.call(m, &p, Some(&app.admin), b).await;
                    assert!(r.status.is_success(), "prep {m} {p} for {}: {r:?}", row.template);
                }
                let (m, p, b) = cell.req;
                let before = app.fingerprint().await;
                let r = app.call(m, &p, token.as_deref(), b).await;
                if r.status.as_u16() != want[n] {
                    failures.push(format!("{m} {p} as {}: want {}, got {} {:?}", CALLERS[n], want[n], r.status.as_u16(), r.body));
                }
                // A refusal changes nothing, not even the audit log.
                if !r.status.is_success() && app.fingerprint().await != before {
                    failures.push(format!("{m} {p} as {}: refused with {} but the data changed", CALLERS[n], r.status.as_u16()));
                }
            }
        }
        assert!(failures.is_empty(), "{} cells differ:\n{}", failures.len(), failures.join("\n"));
    }
);

#[test]
fn the_matrix_covers_every_documented_endpoint() {
    let doc = wmill_server::http::openapi_doc(&wmill_server::config::Settings::for_tests());
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let covered: BTreeSet<String> = rows()
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    let extra: Vec<_> = covered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the permission matrix: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "rows for endpoints that do not exist: {extra:?}"
    );
    assert!(documented.len() >= 40, "{documented:?}");
}
