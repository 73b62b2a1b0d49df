//! SCIM 2.0 provisioning: SCIM tokens and who may use them, Users and Groups through their
//! lifecycle (joiners, movers, leavers), the request sequences Entra ID and Okta send,
//! what a SCIM token must never be able to do, and bad input that changes nothing.
//! (Conformance with third-party testers is `.ci/scim/run`.)

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::common::*;

const U: &str = "/api/scim/v2/Users";
const G: &str = "/api/scim/v2/Groups";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A bad request: what it is, method, path, body, status, `scimType`.
type Case = (
    &'static str,
    &'static str,
    String,
    Option<Value>,
    u16,
    Option<&'static str>,
);

/// A SCIM request with `Content-Type: application/scim+json` and extra headers.
async fn scim_h(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "scim.example")
        .header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/scim+json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    app.send(req).await
}

async fn scim(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
    scim_h(app, method, path, token, body, &[]).await
}

/// The SCIM JSON of an answer with this status.
#[track_caller]
fn doc(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status.as_u16(), status, "{r:?}");
    assert_eq!(r.content_type, "application/scim+json", "{r:?}");
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// Asserts a SCIM error with this status and `scimType`.
#[track_caller]
fn error(r: &Resp, status: u16, scim_type: Option<&str>) -> String {
    let v = doc(r, status);
    assert_eq!(v["schemas"], json!([ERROR]), "{v}");
    assert_eq!(v["status"], json!(status.to_string()), "{v}");
    assert_eq!(v["scimType"].as_str(), scim_type, "{v}");
    v["detail"].as_str().unwrap().to_string()
}

async fn scim_token(app: &TestApp, label: &str) -> String {
    let r = app
        .post(
            "/api/scim_tokens/create",
            &app.admin,
            json!({"label": label}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{r:?}");
    r.body
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

fn user_body(user_name: &str, email: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
    })
}

async fn create_user(app: &TestApp, t: &str, body: Value) -> Value {
    doc(&scim(app, "POST", U, t, Some(body)).await, 201)
}

/// Whether `email`'s account exists, and whether it is disabled.
async fn account(app: &TestApp, email: &str) -> Option<bool> {
    use wmill_server::store::AccountStore;
    app.store.account(email).await.unwrap().map(|a| a.disabled)
}

/// The emails of instance group `name`'s members.
async fn members_of(app: &TestApp, name: &str) -> Vec<String> {
    let g = app
        .get(&format!("/api/groups/get/{name}"), &app.admin)
        .await
        .json();
    let mut m: Vec<String> = g["emails"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    m.sort();
    m
}

db_test!(
    async fn scim_tokens_are_for_scim_only_and_only_superadmins_mint_them(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        app.post("/api/scim_tokens/create", &bob, json!({"label": "okta"}))
            .await
            .assert_text(401, "Not authorized: This endpoint requires the caller to be a super admin");
        let t = scim_token(&app, "okta").await;
        assert!(t.starts_with("wm_") && !t.contains(char::is_whitespace), "{t}");
        app.post("/api/scim_tokens/create", &app.admin, json!({"label": "okta"}))
            .await
            .assert_text_starts(409, "Conflict: a SCIM token labelled \"okta\" already exists");
        app.post("/api/scim_tokens/create", &app.admin, json!({"label": "bad/label"}))
            .await
            .assert_text_starts(400, "Bad request: invalid SCIM token label");

        // The SCIM token is good on /api/scim only; nothing else takes it.
        doc(&scim(&app, "GET", U, &t, None).await, 200);
        doc(&scim(&app, "GET", "/api/scim/Users", &t, None).await, 200);
        app.get("/api/users/whoami", &t).await.assert_status(401);
        app.get("/api/w/admins/groups/list", &t).await.assert_status(401);
        // And /api/scim takes nothing but a SCIM token in the Authorization header.
        for token in [app.admin.as_str(), bob.as_str(), "", "wm_nope"] {
            let r = scim(&app, "GET", U, token, None).await;
            error(&r, 401, None);
            assert!(r.headers.contains_key("www-authenticate"), "{r:?}");
        }
        let cookie = Request::builder()
            .uri(U)
            .header("cookie", format!("token={t}"))
            .body(Body::empty())
            .unwrap();
        error(&app.send(cookie).await, 401, None);
        error(&app.call("GET", &format!("{U}?token={t}"), None, None).await, 401, None);

        // Listed by label and prefix, never the token; deleted: refused at once.
        let list = app.get("/api/scim_tokens/list", &app.admin).await;
        let v = list.json();
        assert_eq!(v[0]["label"], "okta");
        assert_eq!(v[0]["token_prefix"], json!(&t[..10]));
        assert_eq!(v[0]["created_by"], ADMIN_EMAIL);
        assert!(!list.body.contains(&t[10..]));
        app.get("/api/scim_tokens/list", &bob).await.assert_status(401);
        app.delete("/api/scim_tokens/delete/okta", &bob).await.assert_status(401);
        app.delete("/api/scim_tokens/delete/okta", &app.admin).await.assert_text(200, "Deleted SCIM token okta");
        error(&scim(&app, "GET", U, &t, None).await, 401, None);
        app.delete("/api/scim_tokens/delete/okta", &app.admin).await.assert_status(404);

        // Audited, and the secret is in no entry.
        let audit = serde_json::to_string(&app.audit_all().await).unwrap();
        assert!(audit.contains("scim.token.create") && audit.contains("scim.token.delete"));
        assert!(!audit.contains(&t[10..]), "the token is in the audit log");
    }
);

db_test!(
    async fn a_user_joins_moves_and_leaves(app) {
        let t = scim_token(&app, "okta").await;
        let mut body = user_body("Ada@Example.com", "ada@example.com");
        body["password"] = json!("correct horse battery");
        body["externalId"] = json!("00u1");
        let r = scim(&app, "POST", U, &t, Some(body)).await;
        let u = doc(&r, 201);
        let id = u["id"].as_str().unwrap().to_string();
        assert_eq!(u["userName"], "Ada@Example.com");
        assert_eq!(u["emails"], json!([{"value": "ada@example.com", "type": "work"}]));
        assert_eq!(u["name"], json!({"givenName": "Ada", "familyName": "Lovelace"}));
        assert_eq!(u["active"], true);
        assert!(u.get("password").is_none(), "the password is never returned");
        let location = format!("http://scim.example/api/scim/v2/Users/{id}");
        assert_eq!(u["meta"]["location"], json!(location));
        assert_eq!(r.headers["location"], location.as_str());
        assert_eq!(r.headers["etag"], u["meta"]["version"].as_str().unwrap());

        // Found the ways providers look: userName (any case), externalId, emails.
        for filter in [
            "userName eq \"ada@example.COM\"",
            "externalId eq \"00u1\"",
            "emails[type eq \"work\" and value co \"@example\"]",
            "emails.value sw \"ada\"",
            "active eq true and not (userName eq \"admin@windmill.dev\")",
        ] {
            let url = format!("{U}?filter={}", urlencode(filter));
            let list = doc(&scim(&app, "GET", &url, &t, None).await, 200);
            assert_eq!(list["totalResults"], 1, "{filter}: {list}");
            assert_eq!(list["Resources"][0]["id"], json!(id), "{filter}");
        }
        // A value is a value, never SQL.
        let url = format!("{U}?filter={}", urlencode("userName eq \"x' OR 1=1 --\""));
        assert_eq!(doc(&scim(&app, "GET", &url, &t, None).await, 200)["totalResults"], 0);

        // The account signs in with the password the provider set.
        let session = app.login("ada@example.com", "correct horse battery").await;
        app.get("/api/users/whoami", &session).await.assert_status(200);

        // Mover: a new email and family name (Entra ID's paths).
        let moved = doc(
            &scim(&app, "PATCH", &format!("{U}/{id}"), &t, Some(patch(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada.king@example.com"},
                {"op": "Replace", "path": "name.familyName", "value": "King"},
            ])))).await,
            200,
        );
        assert_eq!(moved["id"], json!(id), "the id stays");
        assert_eq!(moved["emails"][0]["value"], "ada.king@example.com");
        assert_eq!(moved["name"]["familyName"], "King");
        assert_eq!(account(&app, "ada@example.com").await, None);
        assert_eq!(account(&app, "ada.king@example.com").await, Some(false));
        app.get("/api/users/whoami", &session).await.assert_status(200);

        // Leaver: Okta's deactivation; every token of the account ends with the answer.
        let left = doc(
            &scim(&app, "PATCH", &format!("{U}/{id}"), &t, Some(patch(json!([
                {"op": "replace", "value": {"active": false}},
            ])))).await,
            200,
        );
        assert_eq!(left["active"], false);
        app.get("/api/users/whoami", &session).await.assert_status(401);
        app.call("POST", "/api/auth/login", None, Some(json!({"email": "ada.king@example.com", "password": "correct horse battery"})))
            .await
            .assert_text(400, "Bad request: Invalid login");
        assert_eq!(account(&app, "ada.king@example.com").await, Some(true));

        // Back (Entra ID's string boolean), then deleted with everything it had.
        let back = doc(
            &scim(&app, "PATCH", &format!("{U}/{id}"), &t, Some(patch(json!([
                {"op": "Replace", "path": "active", "value": "True"},
            ])))).await,
            200,
        );
        assert_eq!(back["active"], true);
        app.add_member("admins", "ada.king@example.com", false).await;
        let r = scim(&app, "DELETE", &format!("{U}/{id}"), &t, None).await;
        assert_eq!(r.status.as_u16(), 204, "{r:?}");
        assert!(r.body.is_empty());
        error(&scim(&app, "GET", &format!("{U}/{id}"), &t, None).await, 404, None);
        assert_eq!(account(&app, "ada.king@example.com").await, None);
        let members = app.get("/api/w/admins/users/list", &app.admin).await.json();
        assert!(!members.to_string().contains("ada.king"), "{members}");

        // Every change is audited under the token's label, without the password.
        let audit = app.audit_all().await;
        let ops: Vec<&str> = audit
            .iter()
            .filter(|a| a.username == "okta")
            .map(|a| a.operation.as_str())
            .collect();
        for op in ["scim.user.create", "scim.user.update", "scim.user.deactivate", "scim.user.delete"] {
            assert!(ops.contains(&op), "{op} in {ops:?}");
        }
        let text = serde_json::to_string(&audit).unwrap();
        assert!(!text.contains("correct horse battery"));
    }
);

db_test!(
    async fn lists_page_and_project(app) {
        let t = scim_token(&app, "idp").await;
        for i in 0..5 {
            create_user(&app, &t, user_body(&format!("u{i}@example.com"), &format!("u{i}@example.com"))).await;
        }
        // 6 accounts with the bootstrap admin; pages in creation order.
        let page = doc(&scim(&app, "GET", &format!("{U}?startIndex=2&count=2"), &t, None).await, 200);
        assert_eq!(page["totalResults"], 6);
        assert_eq!(page["startIndex"], 2);
        assert_eq!(page["itemsPerPage"], 2);
        assert_eq!(page["Resources"][0]["userName"], "u0@example.com");
        let none = doc(&scim(&app, "GET", &format!("{U}?count=0"), &t, None).await, 200);
        assert_eq!(none["Resources"], json!([]));
        assert_eq!(none["totalResults"], 6);
        let past = doc(&scim(&app, "GET", &format!("{U}?startIndex=100"), &t, None).await, 200);
        assert_eq!(past["Resources"], json!([]));
        // attributes: id, schemas and meta always; the rest only as asked.
        let p = doc(&scim(&app, "GET", &format!("{U}?attributes=userName,name.familyName&count=1&startIndex=2"), &t, None).await, 200);
        let r = &p["Resources"][0];
        assert_eq!(r["userName"], "u0@example.com");
        assert_eq!(r["name"], json!({"familyName": "Lovelace"}));
        assert!(r.get("emails").is_none() && r.get("id").is_some() && r.get("meta").is_some());
        let p = doc(&scim(&app, "GET", &format!("{U}?excludedAttributes=emails&count=1"), &t, None).await, 200);
        assert!(p["Resources"][0].get("emails").is_none());
        assert!(p["Resources"][0].get("userName").is_some());
        // .search says the same through a body.
        let s = doc(&scim(&app, "POST", &format!("{U}/.search"), &t, Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName sw \"u\"", "attributes": ["userName"], "count": 3,
        }))).await, 200);
        assert_eq!(s["totalResults"], 5);
        assert_eq!(s["Resources"].as_array().unwrap().len(), 3);
        // Discovery says what is supported, and sorting is not.
        let spc = doc(&scim(&app, "GET", "/api/scim/v2/ServiceProviderConfig", &t, None).await, 200);
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["sort"]["supported"], false);
        assert_eq!(spc["filter"]["maxResults"], 1000);
        error(&scim(&app, "GET", &format!("{U}?sortBy=userName"), &t, None).await, 400, Some("invalidValue"));
        let types = doc(&scim(&app, "GET", "/api/scim/v2/ResourceTypes", &t, None).await, 200);
        assert_eq!(types["totalResults"], 2);
        doc(&scim(&app, "GET", &format!("/api/scim/v2/Schemas/{USER}"), &t, None).await, 200);
        error(&scim(&app, "GET", "/api/scim/v2/Schemas/nope", &t, None).await, 404, None);
        error(&scim(&app, "GET", "/api/scim/v2/Nope", &t, None).await, 404, None);
    }
);

db_test!(
    async fn etags_make_writes_conditional(app) {
        let t = scim_token(&app, "idp").await;
        let u = create_user(&app, &t, user_body("e@example.com", "e@example.com")).await;
        let id = u["id"].as_str().unwrap();
        let v1 = u["meta"]["version"].as_str().unwrap().to_string();
        let r = scim_h(&app, "GET", &format!("{U}/{id}"), &t, None, &[("if-none-match", &v1)]).await;
        assert_eq!(r.status.as_u16(), 304, "{r:?}");
        let changed = doc(&scim_h(&app, "PATCH", &format!("{U}/{id}"), &t,
            Some(patch(json!([{"op": "replace", "path": "displayName", "value": "E"}]))), &[("if-match", &v1)]).await, 200);
        let v2 = changed["meta"]["version"].as_str().unwrap().to_string();
        assert_ne!(v1, v2);
        // A write naming the old version is refused and changes nothing.
        let before = app.fingerprint().await;
        let stale = scim_h(&app, "PUT", &format!("{U}/{id}"), &t,
            Some(user_body("other@example.com", "e@example.com")), &[("if-match", &v1)]).await;
        error(&stale, 412, None);
        error(&scim_h(&app, "DELETE", &format!("{U}/{id}"), &t, None, &[("if-match", &v1)]).await, 412, None);
        assert_eq!(app.fingerprint().await, before);
        assert_eq!(doc(&scim(&app, "GET", &format!("{U}/{id}"), &t, None).await, 200)["userName"], "e@example.com");
        let r = scim_h(&app, "DELETE", &format!("{U}/{id}"), &t, None, &[("if-match", &v2)]).await;
        assert_eq!(r.status.as_u16(), 204);
    }
);

db_test!(
    async fn groups_are_instance_groups_and_feed_workspaces(app) {
        let t = scim_token(&app, "idp").await;
        let a = create_user(&app, &t, user_body("a@example.com", "a@example.com")).await;
        let b = create_user(&app, &t, user_body("b@example.com", "b@example.com")).await;
        let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
        let r = scim(&app, "POST", G, &t, Some(json!({
            "schemas": [GROUP], "displayName": "Data Team", "externalId": "g-1",
            "members": [{"value": a}],
        }))).await;
        let g = doc(&r, 201);
        let gid = g["id"].as_str().unwrap().to_string();
        assert_eq!(g["members"], json!([{"value": a, "type": "User",
            "$ref": format!("http://scim.example/api/scim/v2/Users/{a}")}]));
        // An instance group named after the displayName.
        assert_eq!(members_of(&app, "data_team").await, ["a@example.com"]);
        // Linked to a workspace: its members become members there.
        app.post("/api/w/admins/workspaces/edit_instance_groups", &app.admin,
            json!({"groups": ["data_team"], "roles": {"data_team": "developer"}})).await.assert_status(200);
        let has = |list: &Value, who: &str| list.to_string().contains(who);
        let ws = app.get("/api/w/admins/users/list", &app.admin).await.json();
        assert!(has(&ws, "a@example.com") && !has(&ws, "b@example.com"));
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(patch(json!([
            {"op": "add", "path": "members", "value": [{"value": b}]},
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
        ])))).await, 200);
        assert_eq!(members_of(&app, "data_team").await, ["b@example.com"]);
        let ws = app.get("/api/w/admins/users/list", &app.admin).await.json();
        assert!(has(&ws, "b@example.com") && !has(&ws, "a@example.com"), "{ws}");
        // Membership, as Entra ID checks it.
        let url = format!("{G}?filter={}&excludedAttributes=members",
            urlencode(&format!("id eq \"{gid}\" and members eq \"{b}\"")));
        let found = doc(&scim(&app, "GET", &url, &t, None).await, 200);
        assert_eq!(found["totalResults"], 1);
        assert!(found["Resources"][0].get("members").is_none());
        // Renamed: the instance group keeps its name, shows the new displayName.
        let renamed = doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(patch(json!([
            {"op": "replace", "path": "displayName", "value": "Data & AI"},
        ])))).await, 200);
        assert_eq!(renamed["displayName"], "Data & AI");
        assert_eq!(members_of(&app, "data_team").await, ["b@example.com"]);
        // Deleted: the group and the memberships it made end.
        assert_eq!(scim(&app, "DELETE", &format!("{G}/{gid}"), &t, None).await.status.as_u16(), 204);
        app.get("/api/groups/get/data_team", &app.admin).await.assert_status(404);
        let ws = app.get("/api/w/admins/users/list", &app.admin).await.json();
        assert!(!has(&ws, "b@example.com"), "{ws}");
        let ops: Vec<String> = app.audit_all().await.into_iter().filter(|a| a.username == "idp").map(|a| a.operation).collect();
        for op in ["scim.group.create", "scim.group.update", "scim.group.delete"] {
            assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
        }
    }
);

db_test!(
    async fn a_scim_token_cannot_reach_superadmin_power(app) {
        let t = scim_token(&app, "idp").await;
        // The bootstrap admin is a superadmin: SCIM sees it, but cannot take it over.
        let url = format!("{U}?filter={}", urlencode(&format!("userName eq \"{ADMIN_EMAIL}\"")));
        let admin = doc(&scim(&app, "GET", &url, &t, None).await, 200)["Resources"][0].clone();
        let id = admin["id"].as_str().unwrap().to_string();
        let before = app.fingerprint().await;
        for (what, ops) in [
            ("password", json!([{"op": "replace", "path": "password", "value": "attacker-password-1"}])),
            ("password removal", json!([{"op": "remove", "path": "password"}])),
            ("email", json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "attacker@evil.example"}])),
            ("last superadmin", json!([{"op": "replace", "path": "active", "value": false}])),
        ] {
            let r = scim(&app, "PATCH", &format!("{U}/{id}"), &t, Some(patch(ops))).await;
            let detail = error(&r, 400, Some("mutability"));
            assert!(detail.contains(ADMIN_EMAIL), "{what}: {detail}");
        }
        error(&scim(&app, "DELETE", &format!("{U}/{id}"), &t, None).await, 400, Some("mutability"));
        assert_eq!(app.fingerprint().await, before);
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

        // A group that gives the superadmin role is not SCIM's to change.
        app.post("/api/groups/create", &app.admin, json!({"name": "root"})).await.assert_status(200);
        app.post("/api/groups/update/root", &app.admin, json!({"new_summary": "", "instance_role": "superadmin"}))
            .await
            .assert_status(200);
        let mallory = create_user(&app, &t, user_body("mallory@example.com", "mallory@example.com")).await;
        let groups = doc(&scim(&app, "GET", &format!("{G}?filter={}", urlencode("displayName eq \"root\"")), &t, None).await, 200);
        let gid = groups["Resources"][0]["id"].as_str().unwrap().to_string();
        let before = app.fingerprint().await;
        let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": mallory["id"]}]}]));
        error(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(add)).await, 400, Some("mutability"));
        let put = json!({"schemas": [GROUP], "displayName": "root", "members": [{"value": mallory["id"]}]});
        error(&scim(&app, "PUT", &format!("{G}/{gid}"), &t, Some(put)).await, 400, Some("mutability"));
        error(&scim(&app, "DELETE", &format!("{G}/{gid}"), &t, None).await, 400, Some("mutability"));
        assert_eq!(app.fingerprint().await, before);
        assert!(members_of(&app, "root").await.is_empty());

        // A second superadmin may be deactivated by the provider (a leaver is a leaver).
        app.create_user("second@example.com", true).await;
        let url = format!("{U}?filter={}", urlencode("userName eq \"second@example.com\""));
        let second = doc(&scim(&app, "GET", &url, &t, None).await, 200)["Resources"][0]["id"].clone();
        let off = patch(json!([{"op": "replace", "path": "active", "value": false}]));
        doc(&scim(&app, "PATCH", &format!("{U}/{}", second.as_str().unwrap()), &t, Some(off)).await, 200);
        assert_eq!(account(&app, "second@example.com").await, Some(true));
    }
);

db_test!(
    async fn bad_requests_are_refused_and_change_nothing(app) {
        let t = scim_token(&app, "idp").await;
        let u = create_user(&app, &t, user_body("x@example.com", "x@example.com")).await;
        let id = u["id"].as_str().unwrap().to_string();
        create_user(&app, &t, user_body("y@example.com", "y@example.com")).await;
        let g = doc(&scim(&app, "POST", G, &t, Some(json!({"schemas": [GROUP], "displayName": "G"}))).await, 201);
        let gid = g["id"].as_str().unwrap().to_string();
        let before = app.fingerprint().await;
        let user_path = format!("{U}/{id}");
        let group_path = format!("{G}/{gid}");
        let cases: Vec<Case> = vec![
            ("bad filter", "GET", format!("{U}?filter={}", urlencode("userName eq")), None, 400, Some("invalidFilter")),
            ("unknown attribute", "GET", format!("{U}?filter={}", urlencode("title eq \"x\"")), None, 400, Some("invalidFilter")),
            ("bad startIndex", "GET", format!("{U}?startIndex=x"), None, 400, Some("invalidValue")),
            ("no schemas", "POST", U.into(), Some(json!({"userName": "z@example.com"})), 400, Some("invalidSyntax")),
            ("no userName", "POST", U.into(), Some(json!({"schemas": [USER]})), 400, Some("invalidValue")),
            ("no email", "POST", U.into(), Some(json!({"schemas": [USER], "userName": "zed"})), 400, Some("invalidValue")),
            ("bad email", "POST", U.into(), Some(json!({"schemas": [USER], "userName": "z", "emails": [{"value": "not-an-email"}]})), 400, Some("invalidValue")),
            ("taken userName", "POST", U.into(), Some(user_body("X@example.com", "z@example.com")), 409, Some("uniqueness")),
            ("taken email", "POST", U.into(), Some(user_body("z", "y@example.com")), 409, Some("uniqueness")),
            ("short password", "POST", U.into(), Some(json!({"schemas": [USER], "userName": "z@example.com", "emails": [{"value": "z@example.com"}], "password": "x"})), 400, Some("invalidValue")),
            ("control characters", "POST", U.into(), Some(json!({"schemas": [USER], "userName": "z\u{7}@example.com", "emails": [{"value": "z@example.com"}]})), 400, Some("invalidValue")),
            ("not JSON", "POST", U.into(), None, 400, Some("invalidSyntax")),
            ("unknown path", "PATCH", user_path.clone(), Some(patch(json!([{"op": "replace", "path": "nope", "value": 1}]))), 400, Some("invalidPath")),
            ("second op fails", "PATCH", user_path.clone(), Some(patch(json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "replace", "path": "active", "value": "maybe"},
            ]))), 400, Some("invalidValue")),
            ("read-only id", "PATCH", user_path.clone(), Some(patch(json!([{"op": "replace", "path": "id", "value": "x"}]))), 400, Some("mutability")),
            ("move to a taken email", "PATCH", user_path.clone(), Some(patch(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "y@example.com"}]))), 409, Some("uniqueness")),
            ("no operations", "PATCH", user_path.clone(), Some(json!({"schemas": [PATCH], "Operations": []})), 400, Some("invalidSyntax")),
            ("remove without path", "PATCH", user_path.clone(), Some(patch(json!([{"op": "remove"}]))), 400, Some("noTarget")),
            ("unknown member", "PATCH", group_path.clone(), Some(patch(json!([{"op": "add", "path": "members", "value": [{"value": "fake-member-id"}]}]))), 400, Some("invalidValue")),
            ("taken displayName", "POST", G.into(), Some(json!({"schemas": [GROUP], "displayName": "g"})), 409, Some("uniqueness")),
            ("no such user", "PUT", format!("{U}/nope"), Some(user_body("q@example.com", "q@example.com")), 404, None),
            ("no such group", "DELETE", format!("{G}/nope"), None, 404, None),
        ];
        for (what, method, path, body, status, scim_type) in cases {
            let r = if what == "not JSON" {
                let req = Request::builder().method("POST").uri(U)
                    .header("authorization", format!("Bearer {t}"))
                    .header("content-type", "application/scim+json")
                    .body(Body::from("{not json")).unwrap();
                app.send(req).await
            } else {
                scim(&app, method, &path, &t, body).await
            };
            assert_eq!(r.status.as_u16(), status, "{what}: {r:?}");
            let detail = error(&r, status, scim_type);
            assert!(detail.len() > 10, "{what}: a sentence, not {detail:?}");
            assert_eq!(app.fingerprint().await, before, "{what} changed something");
        }
        let still = doc(&scim(&app, "GET", &user_path, &t, None).await, 200);
        assert!(still.get("displayName").is_none(), "the failed PATCH left nothing: {still}");
        // A body of another media type is refused, with a SCIM error.
        let req = Request::builder().method("POST").uri(U)
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", "text/plain")
            .body(Body::from(user_body("w@example.com", "w@example.com").to_string())).unwrap();
        error(&app.send(req).await, 415, None);
    }
);

// Entra ID's provisioning requests, in the order it sends them for a joiner, a group
// push, a mover, membership checks and a leaver, as its SCIM documentation shows them
// ("Develop a sample SCIM endpoint", request/response examples).
db_test!(
    async fn replayed_entra_id_provisioning(app) {
        let t = scim_token(&app, "entra").await;
        let q = |f: &str| format!("{U}?filter={}", urlencode(f));
        // Joiner: look up by userName, then create.
        let found = doc(&scim(&app, "GET", &q("userName eq \"Test_User_ab6490ee@contoso.com\""), &t, None).await, 200);
        assert_eq!(found["totalResults"], 0);
        let created = doc(&scim(&app, "POST", U, &t, Some(json!({
            "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@contoso.com",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
        }))).await, 201);
        let uid = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["displayName"], "givenName familyName");
        assert_eq!(account(&app, "test_user_fd0ea19b@contoso.com").await, Some(false));
        let found = doc(&scim(&app, "GET", &q("userName eq \"Test_User_ab6490ee@contoso.com\""), &t, None).await, 200);
        assert_eq!(found["Resources"][0]["id"], json!(uid));
        // Mover: email and family name, in one PATCH.
        doc(&scim(&app, "PATCH", &format!("{U}/{uid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@contoso.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            ],
        }))).await, 200);
        assert_eq!(account(&app, "updatedemail@contoso.com").await, Some(false));
        // Group push: create, add the member, check membership, rename.
        let g = doc(&scim(&app, "POST", G, &t, Some(json!({
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "id": "c4d0a0d6-e1a4-4d7b-b8f1-000000000000",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
            "schemas": [GROUP],
        }))).await, 201);
        let gid = g["id"].as_str().unwrap().to_string();
        assert_ne!(gid, "c4d0a0d6-e1a4-4d7b-b8f1-000000000000", "the server gives ids");
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"name": "addMember", "op": "Add", "path": "members", "value": [{"$ref": null, "value": uid}]}],
        }))).await, 200);
        assert_eq!(members_of(&app, "displayname").await, ["updatedemail@contoso.com"]);
        let check = format!("{G}?excludedAttributes=members&filter={}",
            urlencode(&format!("id eq \"{gid}\" and members eq \"{uid}\"")));
        assert_eq!(doc(&scim(&app, "GET", &check, &t, None).await, 200)["totalResults"], 1);
        let by_name = format!("{G}?excludedAttributes=members&filter={}", urlencode("displayName eq \"displayName\""));
        assert_eq!(doc(&scim(&app, "GET", &by_name, &t, None).await, 200)["totalResults"], 1);
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}],
        }))).await, 200);
        // Member removed by a value list.
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"name": "removeMember", "op": "Remove", "path": "members", "value": [{"$ref": null, "value": uid}]}],
        }))).await, 200);
        assert!(members_of(&app, "displayname").await.is_empty());
        assert_eq!(doc(&scim(&app, "GET", &check, &t, None).await, 200)["totalResults"], 0);
        // Leaver: disabled (as a string boolean, with the "feature flag" Entra ID shape).
        doc(&scim(&app, "PATCH", &format!("{U}/{uid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        }))).await, 200);
        assert_eq!(account(&app, "updatedemail@contoso.com").await, Some(true));
        // Then deleted, user and group.
        assert_eq!(scim(&app, "DELETE", &format!("{U}/{uid}"), &t, None).await.status.as_u16(), 204);
        assert_eq!(scim(&app, "DELETE", &format!("{G}/{gid}"), &t, None).await.status.as_u16(), 204);
        assert_eq!(account(&app, "updatedemail@contoso.com").await, None);
        error(&scim(&app, "GET", &format!("{G}/{gid}"), &t, None).await, 404, None);
    }
);

// Okta's provisioning requests for create, profile update (PUT), deactivate, reactivate,
// group push and delete, as its SCIM 2.0 reference shows them.
db_test!(
    async fn replayed_okta_provisioning(app) {
        let t = scim_token(&app, "okta").await;
        let lookup = format!("{U}?filter={}&startIndex=1&count=100", urlencode("userName eq \"john.doe@example.com\""));
        assert_eq!(doc(&scim(&app, "GET", &lookup, &t, None).await, 200)["totalResults"], 0);
        let created = doc(&scim(&app, "POST", U, &t, Some(json!({
            "schemas": [USER],
            "userName": "john.doe@example.com",
            "name": {"givenName": "John", "familyName": "Doe"},
            "emails": [{"primary": true, "value": "john.doe@example.com", "type": "work"}],
            "displayName": "John Doe",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq-okta-sync",
            "active": true,
        }))).await, 201);
        let uid = created["id"].as_str().unwrap().to_string();
        let session = app.login("john.doe@example.com", "1mz050nq-okta-sync").await;
        doc(&scim(&app, "GET", &format!("{U}/{uid}"), &t, None).await, 200);
        // Profile update: the whole user, PUT.
        let put = doc(&scim(&app, "PUT", &format!("{U}/{uid}"), &t, Some(json!({
            "schemas": [USER],
            "id": uid,
            "userName": "john.doe@example.com",
            "name": {"givenName": "Johnny", "familyName": "Doe"},
            "emails": [{"primary": true, "value": "john.doe@example.com", "type": "work"}],
            "displayName": "Johnny Doe",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "active": true,
            "meta": {"resourceType": "User"},
        }))).await, 200);
        assert_eq!(put["name"]["givenName"], "Johnny");
        app.get("/api/users/whoami", &session).await.assert_status(200);
        // Deactivate, then reactivate: the path-less shape.
        for (active, whoami) in [(false, 401), (true, 401)] {
            let r = doc(&scim(&app, "PATCH", &format!("{U}/{uid}"), &t, Some(json!({
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "value": {"active": active}}],
            }))).await, 200);
            assert_eq!(r["active"], active);
            // The deactivation ended the session for good; reactivation does not revive it.
            app.get("/api/users/whoami", &session).await.assert_status(whoami);
        }
        app.login("john.doe@example.com", "1mz050nq-okta-sync").await;
        // Group push: create, add members, rename (with its own id in the value), remove.
        let g = doc(&scim(&app, "POST", G, &t, Some(json!({
            "schemas": [GROUP], "displayName": "Test SCIMv2", "members": [],
        }))).await, 201);
        let gid = g["id"].as_str().unwrap().to_string();
        let by_name = format!("{G}?filter={}&startIndex=1&count=100", urlencode("displayName eq \"Test SCIMv2\""));
        assert_eq!(doc(&scim(&app, "GET", &by_name, &t, None).await, 200)["totalResults"], 1);
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid, "display": "john.doe@example.com"}]}],
        }))).await, 200);
        assert_eq!(members_of(&app, "test_scimv2").await, ["john.doe@example.com"]);
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}],
        }))).await, 200);
        doc(&scim(&app, "PATCH", &format!("{G}/{gid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}],
        }))).await, 200);
        assert!(members_of(&app, "test_scimv2").await.is_empty());
        let g = doc(&scim(&app, "GET", &format!("{G}/{gid}"), &t, None).await, 200);
        assert_eq!(g["displayName"], "Test SCIMv2 renamed");
        assert_eq!(g["members"], json!([]));
        assert_eq!(scim(&app, "DELETE", &format!("{G}/{gid}"), &t, None).await.status.as_u16(), 204);
        // Okta deprovisions by deactivation; the account stays, disabled.
        doc(&scim(&app, "PATCH", &format!("{U}/{uid}"), &t, Some(json!({
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "value": {"active": false}}],
        }))).await, 200);
        assert_eq!(account(&app, "john.doe@example.com").await, Some(true));
    }
);

db_test!(
    async fn concurrent_patches_of_one_group_lose_no_member(app) {
        let t = scim_token(&app, "idp").await;
        let mut ids = Vec::new();
        for i in 0..16 {
            let u = create_user(&app, &t, user_body(&format!("m{i}@example.com"), &format!("m{i}@example.com"))).await;
            ids.push(u["id"].as_str().unwrap().to_string());
        }
        let g = doc(&scim(&app, "POST", G, &t, Some(json!({"schemas": [GROUP], "displayName": "Busy"}))).await, 201);
        let path = format!("{G}/{}", g["id"].as_str().unwrap());
        // 16 providers' requests at once, each adding one member: none may be lost (a PATCH
        // applies to the group as it is when it writes, never to what it read before).
        let answers = futures_util::future::join_all(ids.iter().map(|id| {
            let body = patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]));
            let (app, t, path) = (&app, &t, &path);
            async move { scim(app, "PATCH", path, t, Some(body)).await }
        }))
        .await;
        for r in &answers {
            assert_eq!(r.status.as_u16(), 200, "{r:?}");
        }
        let members = members_of(&app, "busy").await;
        assert_eq!(members.len(), 16, "{members:?}");
    }
);
