//! The pages' sign-in, sign-out, command-line login and self-service, as a browser sends
//! them: cookie, Origin, CSRF field. Refusals change nothing.

use axum::body::Body;
use axum::http::{Method, Request};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Resp, TestApp};

/// The sign-in page's double-submit value and cookie.
async fn login_form(t: &TestApp) -> (String, String) {
    let page = t
        .send(
            Request::builder()
                .uri("/user/login")
                .header("host", "localhost")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    page.assert_status(200);
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("login_csrf="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a login_csrf cookie");
    let at = page
        .body
        .find("name=\"csrf\" value=\"")
        .expect("csrf field");
    let rest = &page.body[at + 19..];
    let field = rest[..rest.find('"').unwrap()].to_string();
    (cookie, field)
}

async fn sign_in(
    t: &TestApp,
    email: &str,
    password: &str,
    origin: &str,
    csrf: Option<(&str, &str)>,
) -> Resp {
    let (cookie, field) = login_form(t).await;
    let (cookie, field) = csrf.map_or((cookie.clone(), field.clone()), |(c, f)| {
        (c.to_string(), f.to_string())
    });
    let body = format!(
        "email={}&password={}&csrf={field}&next=%2Fuser%2Ftokens",
        crate::common::urlencode(email),
        crate::common::urlencode(password)
    );
    t.send(
        Request::builder()
            .method(Method::POST)
            .uri("/user/login")
            .header("host", "localhost")
            .header("origin", origin)
            .header("cookie", format!("login_csrf={cookie}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

fn session_of(r: &Resp) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("token="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("no session cookie: {r:?}"))
}

db_test!(async fn signing_in_sets_a_session_cookie_and_goes_on(t) {
    let r = sign_in(&t, ADMIN_EMAIL, ADMIN_PASSWORD, "http://localhost", None).await;
    r.assert_status(303);
    assert_eq!(r.headers["location"], "/user/tokens");
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("token="))
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = session_of(&r);
    let profile = t.page("/user/profile", &session).await;
    profile.assert_status(200);
    assert!(profile.body.contains(ADMIN_EMAIL), "{}", profile.body);
    // The API takes the same session.
    t.get("/api/users/whoami", &session)
        .await
        .assert_status(200);
});

db_test!(async fn a_refused_sign_in_says_one_sentence_and_keeps_the_email(t) {
        t.create_user("bob@example.com", false).await;
        let wrong = sign_in(&t, "bob@example.com", "not-his", "http://localhost", None).await;
        wrong.assert_status(400);
        assert!(wrong.body.contains("Wrong email or password."));
        assert!(wrong.body.contains("value=\"bob@example.com\""));
        let unknown = sign_in(
            &t,
            "nobody@example.com",
            "whatever1",
            "http://localhost",
            None,
        )
        .await;
        assert!(unknown.body.contains("Wrong email or password."));
        assert!(
            wrong
                .set_cookie
                .as_deref()
                .is_none_or(|c| !c.starts_with("token="))
        );
        // Refused attempts are audited like the API's.
        let failures = t
            .audit_all()
            .await
            .into_iter()
            .filter(|e| e.operation == "users.login_failure")
            .count();
        assert!(failures >= 2, "{failures}");
    }
);

db_test!(async fn sign_in_from_another_site_or_without_the_form_value_is_refused(t) {
        let foreign = sign_in(&t, ADMIN_EMAIL, ADMIN_PASSWORD, "http://evil.example", None).await;
        foreign.assert_status(403);
        let forged = sign_in(
            &t,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            "http://localhost",
            Some(("aaaa", "bbbb")),
        )
        .await;
        forged.assert_status(403);
        for r in [foreign, forged] {
            assert!(
                r.headers
                    .get_all("set-cookie")
                    .iter()
                    .all(|c| !c.to_str().unwrap().starts_with("token=wm_")),
                "{r:?}"
            );
        }
    }
);

db_test!(async fn a_first_sign_in_asks_for_a_new_password(t) {
    t.create_user("new@example.com", false).await;
    let r = sign_in(&t, "new@example.com", PASSWORD, "http://localhost", None).await;
    r.assert_status(303);
    let to = r.headers["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/user/profile?first=1"), "{to}");
    let session = session_of(&r);
    let page = t.page(&to, &session).await;
    assert!(
        page.body.contains("This is your first sign-in"),
        "{}",
        page.body
    );
    // The change needs the current password, and the two new ones alike.
    let wrong = t
        .submit(
            "/user/password",
            &session,
            &[
                ("current", "nope"),
                ("password", "my-own-password"),
                ("confirm", "my-own-password"),
            ],
        )
        .await;
    wrong.assert_status(400);
    assert!(
        wrong.body.contains("the current password is not right"),
        "{}",
        wrong.body
    );
    let mismatch = t
        .submit(
            "/user/password",
            &session,
            &[
                ("current", PASSWORD),
                ("password", "my-own-password"),
                ("confirm", "other"),
            ],
        )
        .await;
    assert!(mismatch.body.contains("not the same"));
    t.submit(
        "/user/password",
        &session,
        &[
            ("current", PASSWORD),
            ("password", "my-own-password"),
            ("confirm", "my-own-password"),
        ],
    )
    .await
    .assert_status(303);
    t.login("new@example.com", "my-own-password").await;
    // A second sign-in is not a first one.
    let again = sign_in(
        &t,
        "new@example.com",
        "my-own-password",
        "http://localhost",
        None,
    )
    .await;
    assert_eq!(again.headers["location"], "/user/tokens");
});

db_test!(async fn pages_need_a_session_and_carry_the_security_headers(t) {
    let anonymous = t
        .send(
            Request::builder()
                .uri("/user/tokens")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    anonymous.assert_status(303);
    assert_eq!(
        anonymous.headers["location"],
        "/user/login?next=/user/tokens"
    );
    let page = t.page("/user/profile", &t.admin).await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(page.headers.contains_key("referrer-policy"));
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    // A scoped or read-only token is not a session, even in a cookie.
    let scoped = t
        .mint(&t.admin, serde_json::json!({"scopes": ["groups:read"]}))
        .await;
    t.page("/user/profile", &scoped).await.assert_status(303);
});

db_test!(async fn sign_out_ends_the_session(t) {
    let session = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Without the form's value: refused, still signed in.
    t.submit_raw(
        "/user/logout",
        Some(&session),
        Some("http://localhost"),
        &[],
    )
    .await
    .assert_status(403);
    t.page("/user/profile", &session).await.assert_status(200);
    let out = t.submit("/user/logout", &session, &[]).await;
    out.assert_status(303);
    assert!(
        out.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("token=;"))
    );
    t.page("/user/profile", &session).await.assert_status(303);
    t.get("/api/users/whoami", &session)
        .await
        .assert_status(401);
});

db_test!(async fn the_cli_login_redirects_to_loopback_with_a_working_token(t) {
        let page = t.page("/user/cli?port=8123", &t.admin).await;
        page.assert_status(200);
        assert!(
            page.body.contains("port <strong>8123</strong>"),
            "{}",
            page.body
        );
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' http://localhost:8123"),
            "{csp}"
        );
        let allow = t
            .submit(
                "/user/cli",
                &t.admin,
                &[("port", "8123"), ("decision", "allow")],
            )
            .await;
        allow.assert_status(303);
        let to = allow.headers["location"].to_str().unwrap().to_string();
        let token = to
            .strip_prefix("http://localhost:8123/?token=")
            .unwrap_or_else(|| panic!("{to}"));
        t.get("/api/users/whoami", token).await.assert_status(200);
        let tokens = t.get("/api/users/tokens/list", &t.admin).await.json();
        assert!(tokens.to_string().contains("wmill CLI (browser login)"));
        // Deny creates nothing.
        let before = tokens.as_array().unwrap().len();
        let deny = t
            .submit(
                "/user/cli",
                &t.admin,
                &[("port", "8123"), ("decision", "deny")],
            )
            .await;
        deny.assert_status(200);
        let after = t.get("/api/users/tokens/list", &t.admin).await.json();
        assert_eq!(after.as_array().unwrap().len(), before);
        // Only a port: a number from 1 to 65535, and only loopback.
        for bad in ["abc", "0", "70000", "65536", "80@evil.example", "", "-1"] {
            let page = t.page(&format!("/user/cli?port={bad}"), &t.admin).await;
            page.assert_status(400);
            let post = t
                .submit(
                    "/user/cli",
                    &t.admin,
                    &[("port", bad), ("decision", "allow")],
                )
                .await;
            post.assert_status(400);
            assert!(!post.headers.contains_key("location"), "{post:?}");
        }
        let after_bad = t.get("/api/users/tokens/list", &t.admin).await.json();
        assert_eq!(after_bad.as_array().unwrap().len(), before);
        // Not signed in: to the sign-in page, and back here after.
        let anonymous = t
            .send(
                Request::builder()
                    .uri("/user/cli?port=8123")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(
            anonymous.headers["location"],
            "/user/login?next=/user/cli%3Fport%3D8123"
        );
    }
);

db_test!(async fn tokens_are_shown_once_and_revoked_from_the_page(t) {
    let session = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let created = t
        .submit(
            "/user/tokens",
            &session,
            &[
                ("label", "from the page <b>"),
                ("expires_in_days", "7"),
                ("scope", "groups:read"),
                ("scope", "audit:read"),
                ("read_only", "true"),
            ],
        )
        .await;
    created.assert_status(200);
    let at = created
        .body
        .find("id=\"new-token-value\">")
        .expect("the token, once");
    let token = &created.body[at + 21..at + 21 + 49];
    assert!(token.starts_with("wm_"), "{token}");
    assert!(created.body.contains("from the page &lt;b&gt;"));
    let me = t.get("/api/users/tokens/list", token).await.json();
    let row = me
        .as_array()
        .unwrap()
        .iter()
        .find(|r| token.starts_with(r["token_prefix"].as_str().unwrap()))
        .unwrap()
        .clone();
    assert_eq!(row["read_only"], true);
    let mut scopes: Vec<&str> = row["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    scopes.sort();
    assert_eq!(scopes, ["audit:read", "groups:read"]);
    assert!(row["expiration"].is_string());
    // Listed later: never the whole token again.
    let listed = t.page("/user/tokens", &session).await;
    assert!(!listed.body.contains(token));
    assert!(listed.body.contains(&token[..10]));
    // A bad expiry: the sentence, nothing minted.
    let count = me.as_array().unwrap().len();
    let bad = t
        .submit("/user/tokens", &session, &[("expires_in_days", "0")])
        .await;
    bad.assert_status(400);
    assert!(bad.body.contains("whole number of days"));
    assert_eq!(
        t.get("/api/users/tokens/list", &session)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        count
    );
    // Revoke.
    t.submit("/user/tokens/revoke", &session, &[("prefix", &token[..10])])
        .await
        .assert_status(303);
    t.get("/api/users/whoami", token).await.assert_status(401);
    // From another site: refused, nothing revoked.
    let other = t.mint(&session, serde_json::json!({"label": "keep"})).await;
    let csrf = t.csrf(&session).await;
    t.submit_raw(
        "/user/tokens/revoke",
        Some(&session),
        Some("http://evil.example"),
        &[
            ("prefix".into(), other[..10].to_string()),
            ("csrf".into(), csrf),
        ],
    )
    .await
    .assert_status(403);
    t.get("/api/users/whoami", &other).await.assert_status(200);
});

db_test!(async fn what_people_type_is_shown_as_text(t) {
    t.post(
        "/api/users/update/admin@windmill.dev",
        &t.admin,
        serde_json::json!({"name": "<script>alert(1)</script>"}),
    )
    .await
    .assert_status(200);
    let session = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = t.page("/user/profile", &session).await;
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"));
});

db_test!(
    async fn after_a_password_change_next_stays_on_this_server(t) {
        t.create_user("hop@example.com", false).await;
        let session = t.login("hop@example.com", PASSWORD).await;
        let mut password = String::from("first-new-password");
        for (next, expected) in [
            ("/\\evil.example/x", "/user/profile"),
            ("//evil.example/x", "/user/profile"),
            ("https://evil.example/", "/user/profile"),
            ("/w/admins/groups", "/w/admins/groups"),
        ] {
            let current = if password == "first-new-password" {
                PASSWORD.to_string()
            } else {
                password.clone()
            };
            password = format!("{password}-again");
            let r = t
                .submit(
                    "/user/password",
                    &session,
                    &[
                        ("current", &current),
                        ("password", &password),
                        ("confirm", &password),
                        ("next", next),
                    ],
                )
                .await;
            r.assert_status(303);
            assert_eq!(r.headers["location"], expected, "next {next:?}");
        }
    }
);
