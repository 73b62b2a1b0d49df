//! Bad input gets a clear 4xx and changes nothing: malformed JSON, missing and mistyped
//! fields, wrong content type, huge bodies, invalid emails, odd names.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::common::*;

/// Sends `req` and checks: the expected status, a text sentence that leaks nothing
/// internal, and a database exactly as before.
async fn refused(app: &TestApp, req: Request<Body>, status: u16, what: &str) {
    let before = app.fingerprint().await;
    let r = app.send(req).await;
    assert_eq!(r.status.as_u16(), status, "{what}: {r:?}");
    assert!(r.content_type.starts_with("text/plain"), "{what}: {r:?}");
    assert!(
        r.body.len() > 10 && r.body.len() < 600,
        "{what}: a short sentence, got {:?}",
        r.body
    );
    for leak in ["sqlx", "SQL", ".rs:", "panicked", "$argon2", "wm_"] {
        assert!(
            !r.body.contains(leak),
            "{what}: the error leaks {leak:?}: {}",
            r.body
        );
    }
    assert_eq!(app.fingerprint().await, before, "{what}: the data changed");
}

fn post_raw(app: &TestApp, path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {}", app.admin))
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

fn post(app: &TestApp, path: &str, body: Value) -> Request<Body> {
    post_raw(app, path, "application/json", body.to_string())
}

db_test!(
    async fn malformed_bodies(app) {
        let endpoints = [
            "/api/users/create",
            "/api/users/tokens/create",
            "/api/workspaces/create",
            "/api/w/admins/workspaces/add_user",
            "/api/w/admins/groups/create",
            "/api/w/admins/groups/adduser/all",
            "/api/users/setpassword",
        ];
        for path in endpoints {
            refused(&app, post_raw(&app, path, "application/json", "{\"email\": "), 400, &format!("truncated JSON to {path}")).await;
            refused(&app, post_raw(&app, path, "application/json", "not json"), 400, &format!("not JSON to {path}")).await;
            refused(&app, post_raw(&app, path, "text/plain", "{}"), 415, &format!("text/plain to {path}")).await;
            let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024));
            refused(&app, post_raw(&app, path, "application/json", huge), 413, &format!("1 MiB to {path}")).await;
        }
        let r = app.send(post_raw(&app, "/api/users/create", "text/plain", "{}")).await;
        r.assert_text("415".parse().unwrap(), "Unsupported media type: expected a request with `Content-Type: application/json`");
        let big = app.send(post_raw(&app, "/api/users/create", "application/json", "x".repeat(70_000))).await;
        big.assert_text(413, "Payload too large: the request body is larger than 64 KiB");
    }
);

db_test!(
    async fn missing_and_mistyped_fields(app) {
        for (path, body, what) in [
            ("/api/users/create", json!({"email": "a@b.co", "super_admin": false}), "missing password"),
            ("/api/users/create", json!({"password": PASSWORD, "super_admin": false}), "missing email"),
            ("/api/users/create", json!({"email": "a@b.co", "password": PASSWORD}), "missing super_admin"),
            ("/api/users/create", json!({"email": "a@b.co", "password": PASSWORD, "super_admin": "yes"}), "string for bool"),
            ("/api/users/create", json!({"email": 42, "password": PASSWORD, "super_admin": false}), "number for email"),
            ("/api/users/create", json!([1, 2]), "array for object"),
            ("/api/workspaces/create", json!({"id": "x"}), "missing name"),
            ("/api/w/admins/workspaces/add_user", json!({"email": "a@b.co"}), "missing is_admin"),
            ("/api/w/admins/groups/create", json!({"summary": "s"}), "missing name"),
            ("/api/w/admins/groups/adduser/all", json!({"user": "x"}), "missing username"),
            ("/api/users/tokens/create", json!({"label": 5}), "number for label"),
            ("/api/users/update/admin@windmill.dev", json!({"disabled": "no"}), "string for disabled"),
        ] {
            refused(&app, post(&app, path, body), 422, what).await;
        }
        let r = app.send(post(&app, "/api/users/create", json!({"email": "a@b.co", "super_admin": false}))).await;
        assert!(r.body.contains("missing field `password`"), "{}", r.body);
    }
);

db_test!(
    async fn invalid_emails_and_passwords(app) {
        for email in ["", "plain", "@x.io", "a@", "a b@c.io", "a@b@c.io", "a;b@c.io", "a@b/c.io", "a@b%c.io", "\"q\"@c.io", "a\u{0}@c.io", &format!("{}@x.io", "a".repeat(300))] {
            let body = json!({"email": email, "password": PASSWORD, "super_admin": false});
            refused(&app, post(&app, "/api/users/create", body), 400, &format!("email {email:?}")).await;
            let body = json!({"email": email, "is_admin": false, "operator": false});
            refused(&app, post(&app, "/api/w/admins/workspaces/add_user", body), 400, &format!("member email {email:?}")).await;
        }
        for pw in ["", "tiny", &"p".repeat(1025)] {
            let body = json!({"email": "ok@example.com", "password": pw, "super_admin": false});
            refused(&app, post(&app, "/api/users/create", body), 400, "bad password").await;
        }
        let r = app.send(post(&app, "/api/users/create", json!({"email": "ok@example.com", "password": "abc4", "super_admin": false}))).await;
        r.assert_text(400, "Bad request: password must be at least 5 characters long");
        let r = app.send(post(&app, "/api/users/setpassword", json!({"password": "seven77"}))).await;
        r.assert_text(400, "Bad request: password must be at least 8 characters long");
    }
);

db_test!(
    async fn odd_names_are_refused_cleanly(app) {
        let long = "n".repeat(10_000);
        let names = ["bob\"e\"i'o;aü", "x'; DROP TABLE grp; --", "a;b", "100%", "a/b", "🚀", "a b", "", long.as_str(), "../etc"];
        for name in names {
            refused(&app, post(&app, "/api/w/admins/groups/create", json!({"name": name})), 400, &format!("group {name:.40}")).await;
            refused(&app, post(&app, "/api/workspaces/create", json!({"id": name, "name": "n"})), 400, &format!("workspace {name:.40}")).await;
            if name.is_empty() {
                continue; // an empty username means "derive it from the email"
            }
            let body = json!({"email": "ok@example.com", "is_admin": false, "operator": false, "username": name});
            refused(&app, post(&app, "/api/w/admins/workspaces/add_user", body), 400, &format!("username {name:.40}")).await;
        }
        // Odd names in paths are simply not found.
        for path in [
            "/api/w/admins/groups/get/x'%20OR%20'1'='1",
            "/api/w/admins/groups/get/%F0%9F%9A%80",
            "/api/w/admins/groups/get/a%2Fb",
            "/api/w/admins/users/get/bob%22e%22i'o;a%C3%BC",
        ] {
            let r = app.get(path, &app.admin).await;
            r.assert_text_starts(404, "Not found: ");
        }
        let r = app.get(&format!("/api/w/admins/groups/get/{long}"), &app.admin).await;
        r.assert_status(404);
        assert!(r.body.len() < 200, "long input is shortened in errors");
        for text in [long.clone() + &long, "a\u{7}b".into()] {
            let body = json!({"name": "ok", "summary": text});
            refused(&app, post(&app, "/api/w/admins/groups/create", body), 400, "bad summary").await;
        }
        // A valid but odd summary is stored as given.
        let summary = "Ünïcödé 🚀 'quotes' \"double\"; DROP TABLE x; -- 100%";
        app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "odd", "summary": summary})).await.assert_status(200);
        let g = app.get("/api/w/admins/groups/get/odd", &app.admin).await.json();
        assert_eq!(g["summary"], summary);
    }
);

db_test!(
    async fn unknown_routes_and_queries(app) {
        app.get("/api/nothing/here", &app.admin).await.assert_text(404, "Not found: no route for GET /api/nothing/here");
        let before = app.fingerprint().await;
        let r = app.get("/api/users/list_as_super_admin?page=abc", &app.admin).await;
        r.assert_text_starts(400, "Bad request: ");
        assert!(r.body.contains("page"), "{}", r.body);
        assert_eq!(app.fingerprint().await, before);
    }
);
