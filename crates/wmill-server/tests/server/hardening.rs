//! Who may do what, and the life of a credential, tried as an attacker or a careless admin
//! would: each test here failed on the server before it was hardened.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use serde_json::{Value, json};
use wmill_api::{AuditLog, Group, TruncatedToken, User};

use crate::common::*;

/// A request with headers and a client address of our choosing.
fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
    peer: &str,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut req = match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn entries(log: &[AuditLog], op: &str) -> Vec<AuditLog> {
    log.iter().filter(|e| e.operation == op).cloned().collect()
}

// ----- 1, 2: group ownership ends with the user or the membership -------------------------

db_test!(
    async fn a_reused_username_inherits_no_group(app) {
        let carol = app.member_token("admins", "carol@example.com", false).await;
        app.post("/api/w/admins/groups/create", &carol, json!({"name": "carolteam"})).await.assert_status(200);
        let g: Group = app.get("/api/w/admins/groups/get/carolteam", &app.admin).await.parse();
        assert_eq!(g.extra_perms.get("u/carol"), Some(&true));

        app.delete("/api/users/delete/carol@example.com", &app.admin).await.assert_status(200);
        let g: Group = app.get("/api/w/admins/groups/get/carolteam", &app.admin).await.parse();
        assert!(g.extra_perms.is_empty(), "{:?}", g.extra_perms);
        let ended = entries(&app.audit_all().await, "acls.remove");
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!((ended[0].workspace_id.as_str(), ended[0].resource.as_deref()), ("admins", Some("group_/carolteam")));
        assert_eq!(ended[0].parameters.as_ref().unwrap()["owner"], "u/carol");

        // Someone else gets the username `carol`, and nothing of carolteam.
        let other = app.member_token("admins", "carol@other.org", false).await;
        let me: User = app.get("/api/w/admins/users/get/carol", &app.admin).await.parse();
        assert_eq!(me.email, "carol@other.org");
        let before = app.fingerprint().await;
        app.post("/api/w/admins/groups/adduser/carolteam", &other, json!({"username": "carol"}))
            .await
            .assert_text(403, "Permission denied: carol is not an owner of group carolteam");
        app.delete("/api/w/admins/groups/delete/carolteam", &other).await.assert_status(403);
        app.post("/api/w/admins/groups/update/carolteam", &other, json!({"summary": "mine"})).await.assert_status(403);
        assert_eq!(app.fingerprint().await, before, "refusals change nothing");
    }
);

db_test!(
    async fn leaving_a_workspace_ends_its_group_ownerships(app) {
        app.create_workspace("ws").await;
        let dave = app.member_token("ws", "dave@example.com", false).await;
        app.post("/api/w/ws/groups/create", &dave, json!({"name": "daves"})).await.assert_status(200);
        app.delete("/api/w/ws/users/delete/dave", &app.admin).await.assert_status(200);
        let g: Group = app.get("/api/w/ws/groups/get/daves", &app.admin).await.parse();
        assert!(g.extra_perms.is_empty() && g.members.is_empty(), "{g:?}");
        let ended = entries(&app.audit_all().await, "acls.remove");
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].workspace_id, "ws");
        // Back in the workspace, dave is a member like any other.
        app.add_member("ws", "dave@example.com", false).await;
        app.post("/api/w/ws/groups/adduser/daves", &dave, json!({"username": "dave"})).await.assert_status(403);
    }
);

// ----- 3: a pinned token stays in its workspace ------------------------------------------

db_test!(
    async fn a_pinned_superadmin_token_reads_only_its_workspace(app) {
        app.create_workspace("ws").await;
        app.create_workspace("other").await;
        app.post("/api/w/other/groups/create", &app.admin, json!({"name": "secret"})).await.assert_status(200);
        let pinned = app.mint(&app.admin, json!({"workspace_id": "ws"})).await;
        app.get("/api/w/ws/audit/list?all_workspaces=true", &pinned)
            .await
            .assert_text(403, "Permission denied: this token is limited to workspace ws: all_workspaces needs a token that is not");
        let all = app.audit_all().await;
        let global = all.iter().find(|e| e.workspace_id == "global").unwrap();
        let elsewhere = all.iter().find(|e| e.workspace_id == "other").unwrap();
        for id in [global.id, elsewhere.id] {
            app.get(&format!("/api/w/ws/audit/get/{id}"), &pinned).await.assert_status(404);
            // The same superadmin without the pin sees them.
            app.get(&format!("/api/w/ws/audit/get/{id}"), &app.admin).await.assert_status(200);
        }
        app.post("/api/w/ws/groups/create", &pinned, json!({"name": "mine"})).await.assert_status(200);
        let own = app.audit_all().await.into_iter().find(|e| e.workspace_id == "ws").unwrap();
        app.get(&format!("/api/w/ws/audit/get/{}", own.id), &pinned).await.assert_status(200);
        let listed: Vec<AuditLog> = app.get("/api/w/ws/audit/list", &pinned).await.parse();
        assert!(!listed.is_empty() && listed.iter().all(|e| e.workspace_id == "ws"));
    }
);

// ----- 4: workspaces keep an admin; usernames cannot be held for good ------------------------

db_test!(
    async fn a_workspace_keeps_an_enabled_admin(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        // Two admins (the creator and wsa): one may go.
        app.post("/api/w/ws/users/update/admin", &wsa, json!({"is_admin": false})).await.assert_status(200);
        let before = app.fingerprint().await;
        let last = "Conflict: wsa is the last admin of workspace ws; make another member admin first";
        app.post("/api/w/ws/users/update/wsa", &wsa, json!({"is_admin": false})).await.assert_text(409, last);
        app.post("/api/w/ws/users/update/wsa", &wsa, json!({"disabled": true})).await.assert_text(409, last);
        app.delete("/api/w/ws/users/delete/wsa", &app.admin).await.assert_text(409, last);
        assert_eq!(app.fingerprint().await, before, "refusals change nothing");
        // Other changes to the last admin are fine.
        app.post("/api/w/ws/users/update/wsa", &wsa, json!({"operator": false})).await.assert_status(200);
        let u: User = app.get("/api/w/ws/users/get/wsa", &app.admin).await.parse();
        assert!(u.is_admin && !u.disabled);
    }
);

db_test!(
    async fn two_demotions_at_once_leave_one_admin(app) {
        app.create_workspace("ws").await;
        app.add_member("ws", "a@example.com", true).await;
        app.post("/api/w/ws/users/update/admin", &app.admin, json!({"is_admin": false})).await.assert_status(200);
        for round in 0..8 {
            app.add_member("ws", &format!("b{round}@example.com"), true).await;
            let other = format!("/api/w/ws/users/update/b{round}");
            let (ra, rb) = tokio::join!(
                app.post("/api/w/ws/users/update/a", &app.admin, json!({"is_admin": false})),
                app.post(&other, &app.admin, json!({"is_admin": false})),
            );
            let statuses = [ra.status.as_u16(), rb.status.as_u16()];
            assert!(statuses.contains(&200) && statuses.contains(&409), "round {round}: {statuses:?}");
            let admins: Vec<User> = app.get("/api/w/ws/users/list", &app.admin).await.parse();
            assert_eq!(admins.iter().filter(|u| u.is_admin).count(), 1, "round {round}");
            app.post("/api/w/ws/users/update/a", &app.admin, json!({"is_admin": true})).await.assert_status(200);
            app.delete(&format!("/api/w/ws/users/delete/b{round}"), &app.admin).await.assert_status(200);
        }
    }
);

db_test!(
    async fn a_username_given_by_a_workspace_admin_is_released_with_the_member(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        // The admin of ws gives the name `ceo` to an address that has no account yet.
        app.post("/api/w/ws/workspaces/add_user", &wsa, json!({"email": "ghost@example.com", "is_admin": false, "operator": false, "username": "ceo"}))
            .await
            .assert_status(201);
        app.delete("/api/w/ws/users/delete/ceo", &wsa).await.assert_status(200);
        // The name is free again, for the real ceo.
        app.post("/api/w/admins/workspaces/add_user", &app.admin, json!({"email": "ceo@example.com", "is_admin": false, "operator": false, "username": "ceo"}))
            .await
            .assert_text(201, "user with email ceo@example.com added");
        // An account keeps its username when it leaves a workspace.
        app.create_user("kept@example.com", false).await;
        app.add_member("ws", "kept@example.com", false).await;
        app.delete("/api/w/ws/users/delete/kept", &wsa).await.assert_status(200);
        app.add_member("ws", "kept@example.com", false).await;
        let u: User = app.get("/api/w/ws/users/get/kept", &wsa).await.parse();
        assert_eq!(u.email, "kept@example.com");
    }
);

// ----- 5: conflicts reveal nothing of other workspaces ------------------------------------

db_test!(
    async fn conflicts_tell_nothing_about_other_workspaces(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        // bob is `bob` in admins; ws's admin knows nothing of it.
        app.add_member("admins", "bob@example.com", false).await;
        let has = app
            .post("/api/w/ws/workspaces/add_user", &wsa, json!({"email": "bob@example.com", "is_admin": false, "operator": false, "username": "robert"}))
            .await;
        let taken = app
            .post("/api/w/ws/workspaces/add_user", &wsa, json!({"email": "rob@example.com", "is_admin": false, "operator": false, "username": "bob"}))
            .await;
        has.assert_status(409);
        taken.assert_status(409);
        for r in [&has, &taken] {
            assert!(!r.body.contains("admins"), "{}", r.body);
        }
        assert!(!has.body.contains("username bob") && !has.body.contains(" bob;"), "{}", has.body);
        assert_eq!(
            has.body.replace("robert", "X").replace("bob@example.com", "E"),
            taken.body.replace("bob", "X").replace("rob@example.com", "E").replace("rob@eXample.com", "E"),
            "both refusals read the same"
        );
    }
);

// ----- 6: look-alike emails --------------------------------------------------------------

db_test!(
    async fn two_spellings_of_one_address_are_one_account(app) {
        app.create_user("jos\u{e9}@example.com", false).await;
        let r = app
            .post("/api/users/create", &app.admin, json!({"email": "JOSE\u{301}@Example.com", "password": PASSWORD, "super_admin": false}))
            .await;
        r.assert_text(409, "Conflict: user with email jos\u{e9}@example.com already exists");
        // Either spelling logs in to the one account.
        app.login("jose\u{301}@example.com", PASSWORD).await;
        for bad in ["a\u{200b}dmin@windmill.dev", "\u{430}dmin@windmill.dev", "admin@windmill\u{202e}.dev"] {
            app.post("/api/users/create", &app.admin, json!({"email": bad, "password": PASSWORD, "super_admin": false}))
                .await
                .assert_text_starts(400, "Bad request: invalid email");
        }
    }
);

// ----- 7: no token outlives its account --------------------------------------------------

db_test!(
    async fn tokens_minted_while_an_account_is_disabled_do_not_survive(app) {
        app.create_user("victim@example.com", false).await;
        for round in 0..6 {
            let session = app.login("victim@example.com", PASSWORD).await;
            // Logins and token creations race with the disable.
            let mut racers = Vec::new();
            for i in 0..8 {
                let app2 = app.app.clone();
                let session = session.clone();
                racers.push(tokio::spawn(async move {
                    let body = if i % 2 == 0 {
                        json!({"email": "victim@example.com", "password": PASSWORD})
                    } else {
                        json!({"label": "racer"})
                    };
                    let path = if i % 2 == 0 { "/api/auth/login" } else { "/api/users/tokens/create" };
                    let req = Request::builder()
                        .method("POST")
                        .uri(path)
                        .header("authorization", format!("Bearer {session}"))
                        .header("content-type", "application/json")
                        .body(Body::from(body.to_string()))
                        .unwrap();
                    use tower::ServiceExt;
                    let res = app2.oneshot(req).await.unwrap();
                    let ok = res.status().is_success();
                    let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
                    ok.then(|| String::from_utf8_lossy(&bytes).into_owned())
                }));
            }
            app.post("/api/users/update/victim@example.com", &app.admin, json!({"disabled": true})).await.assert_status(200);
            let mut minted = Vec::new();
            for r in racers {
                minted.extend(r.await.unwrap());
            }
            // Enabled again: nothing minted around the disable works.
            app.post("/api/users/update/victim@example.com", &app.admin, json!({"disabled": false})).await.assert_status(200);
            for t in minted.iter().chain([&session]) {
                app.get("/api/users/whoami", t).await.assert_status(401);
            }
            let _ = round;
        }
    }
);

db_test!(
    async fn a_deleted_accounts_tokens_never_come_back(app) {
        app.create_user("gone@example.com", false).await;
        let session = app.login("gone@example.com", PASSWORD).await;
        let api = app.mint(&session, json!({"label": "kept?"})).await;
        app.delete("/api/users/delete/gone@example.com", &app.admin).await.assert_status(200);
        // Someone else gets the address: the old tokens are not theirs.
        app.create_user("gone@example.com", false).await;
        for t in [&session, &api] {
            app.get("/api/users/whoami", t).await.assert_status(401);
        }
    }
);

// ----- 8: impersonation -------------------------------------------------------------------

db_test!(
    async fn impersonation_tokens_expire_answer_to_their_minter_and_are_named(app) {
        app.create_user("root@example.com", true).await;
        let root = app.login("root@example.com", PASSWORD).await;
        app.create_workspace("ws").await;
        app.add_member("ws", "bob@example.com", false).await;
        app.create_user("bob@example.com", false).await;
        let imp = app.post("/api/users/tokens/impersonate", &root, json!({"impersonate_email": "bob@example.com"})).await;
        imp.assert_status(201);
        let imp = imp.body;
        // It expires within the hour by default, and cannot be asked for longer.
        let bobs: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &imp).await.parse();
        let mine = bobs.iter().find(|t| t.token_prefix == imp[..10]).unwrap();
        let left = mine.expiration.unwrap() - chrono::Utc::now();
        assert!(left <= chrono::Duration::minutes(61) && left > chrono::Duration::minutes(50), "{left}");
        let far = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
        app.post("/api/users/tokens/impersonate", &root, json!({"impersonate_email": "bob@example.com", "expiration": far}))
            .await
            .assert_text(400, "Bad request: expiration is beyond the longest lifetime this token may have (3600 seconds)");
        // What it does is audited as bob, naming root.
        app.post("/api/w/ws/groups/create", &imp, json!({"name": "bobs"})).await.assert_status(200);
        let e = app.audit_all().await.into_iter().find(|e| e.operation == "group.create").unwrap();
        assert_eq!((e.username.as_str(), e.impersonator.as_deref()), ("bob", Some("root@example.com")));
        // It cannot mint an impersonation, and what it mints answers to root too.
        app.post("/api/users/tokens/impersonate", &imp, json!({"impersonate_email": "bob@example.com"})).await.assert_status(401);
        let child = app.mint(&imp, json!({"label": "child"})).await;
        app.post("/api/users/tokens/create", &imp, json!({"expiration": far})).await.assert_status(400);
        // Root is demoted: every token minted through the impersonation dies at once.
        app.post("/api/users/update/root@example.com", &app.admin, json!({"is_super_admin": false})).await.assert_status(200);
        for t in [&imp, &child] {
            app.get("/api/users/whoami", t).await.assert_status(401);
        }
        // A disabled account cannot be impersonated.
        app.post("/api/users/update/bob@example.com", &app.admin, json!({"disabled": true})).await.assert_status(200);
        app.post("/api/users/tokens/impersonate", &app.admin, json!({"impersonate_email": "bob@example.com"}))
            .await
            .assert_text(409, "Conflict: bob@example.com is disabled: a disabled account cannot be impersonated");
    }
);

db_test!(
    async fn an_impersonation_dies_with_its_minter(app) {
        app.create_user("bob@example.com", false).await;
        for how in ["disable", "delete"] {
            let email = format!("root-{how}@example.com");
            app.create_user(&email, true).await;
            let root = app.login(&email, PASSWORD).await;
            let imp = app.post("/api/users/tokens/impersonate", &root, json!({"impersonate_email": "bob@example.com"})).await.body;
            app.get("/api/users/whoami", &imp).await.assert_status(200);
            if how == "disable" {
                app.post(&format!("/api/users/update/{email}"), &app.admin, json!({"disabled": true})).await.assert_status(200);
            } else {
                app.delete(&format!("/api/users/delete/{email}"), &app.admin).await.assert_status(200);
            }
            app.get("/api/users/whoami", &imp).await.assert_status(401);
        }
    }
);

// ----- 9: no hidden tokens ----------------------------------------------------------------

db_test!(
    async fn a_label_never_hides_a_token(app) {
        let t = app.mint(&app.admin, json!({"label": "ephemeral-script"})).await;
        for q in ["", "?exclude_ephemeral=true"] {
            let list: Vec<TruncatedToken> = app.get(&format!("/api/users/tokens/list{q}"), &app.admin).await.parse();
            assert!(list.iter().any(|x| x.token_prefix == t[..10]), "listed with {q:?}");
        }
    }
);

// ----- 10: a password change ends the other sessions -------------------------------------

db_test!(
    async fn a_password_change_ends_the_other_sessions(app) {
        app.create_user("bob@example.com", false).await;
        let s1 = app.login("bob@example.com", PASSWORD).await;
        let s2 = app.login("bob@example.com", PASSWORD).await;
        let api = app.mint(&s1, json!({"label": "ci"})).await;
        app.post("/api/users/setpassword", &s1, json!({"password": "a second password"})).await.assert_status(200);
        app.get("/api/users/whoami", &s1).await.assert_status(200);
        app.get("/api/users/whoami", &s2).await.assert_status(401);
        app.get("/api/users/whoami", &api).await.assert_status(200);
        // Asked to, API tokens go too (but not the token making the change).
        app.post("/api/users/setpassword", &s1, json!({"password": "a third password", "revoke_tokens": true})).await.assert_status(200);
        app.get("/api/users/whoami", &api).await.assert_status(401);
        app.get("/api/users/whoami", &s1).await.assert_status(200);
        // A reset by a superadmin ends every session; API tokens when asked.
        let api2 = app.mint(&s1, json!({"label": "ci2"})).await;
        app.post("/api/users/set_password_of/bob@example.com", &app.admin, json!({"password": "reset by admin"})).await.assert_status(200);
        app.get("/api/users/whoami", &s1).await.assert_status(401);
        app.get("/api/users/whoami", &api2).await.assert_status(200);
        app.post("/api/users/set_password_of/bob@example.com", &app.admin, json!({"password": "reset again!", "revoke_tokens": true})).await.assert_status(200);
        app.get("/api/users/whoami", &api2).await.assert_status(401);
        // The superadmin's own token survives resetting their own password.
        app.post(&format!("/api/users/set_password_of/{ADMIN_EMAIL}"), &app.admin, json!({"password": ADMIN_PASSWORD, "revoke_tokens": true})).await.assert_status(200);
        app.get("/api/users/whoami", &app.admin).await.assert_status(200);
    }
);

// ----- 11: lockout in the database, counted before verification --------------------------

db_test!(
    async fn fifty_parallel_guesses_lock_at_ten_and_the_lock_holds_on_another_instance(app) {
        app.create_user("bob@example.com", false).await;
        let mut guesses = Vec::new();
        for i in 0..50 {
            let app2 = app.app.clone();
            guesses.push(tokio::spawn(async move {
                let body = json!({"email": "bob@example.com", "password": format!("guess {i}")});
                let req = Request::builder()
                    .method("POST")
                    .uri("/api/auth/login")
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                use tower::ServiceExt;
                app2.oneshot(req).await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for g in guesses {
            statuses.push(g.await.unwrap());
        }
        assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 10, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 40, "{statuses:?}");
        // The right password now gets 429 too, here and on another instance (after a restart
        // on SQLite).
        let r = app.call("POST", "/api/auth/login", None, Some(json!({"email": "bob@example.com", "password": PASSWORD}))).await;
        r.assert_text(429, "Too many requests: too many login attempts; wait a few minutes and try again");
        let (_store, other) = app.instance(wmill_server::config::Settings::for_tests()).await;
        let localhost = "127.0.0.1".parse().unwrap();
        let refused = other.login("bob@example.com", PASSWORD.into(), localhost).await;
        assert!(matches!(refused, Err(wmill_server::error::Error::TooManyRequests(_))), "{:?}", refused.err());
        // After the lock, one success resets the count.
        app.clock.advance(Duration::from_secs(16 * 60));
        other.login("bob@example.com", PASSWORD.into(), localhost).await.expect("unlocked");
        for _ in 0..9 {
            assert!(other.login("bob@example.com", "wrong!!!!".into(), localhost).await.is_err());
        }
        other.login("bob@example.com", PASSWORD.into(), localhost).await.expect("nine failures do not lock");
    }
);

db_test!(
    /// Successes delete the account's count while other attempts add to it: every attempt
    /// still gets an answer (on PostgreSQL a count once read back after a concurrent delete
    /// answered 500).
    async fn parallel_right_and_wrong_passwords_all_get_an_answer(app) {
        app.create_user("bob@example.com", false).await;
        let mut tries = Vec::new();
        for i in 0..48 {
            let app2 = app.app.clone();
            tries.push(tokio::spawn(async move {
                let password = if i % 6 == 0 { format!("guess {i}") } else { PASSWORD.to_string() };
                let body = json!({"email": "bob@example.com", "password": password});
                let req = Request::builder()
                    .method("POST")
                    .uri("/api/auth/login")
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                use tower::ServiceExt;
                app2.oneshot(req).await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tries {
            statuses.push(t.await.unwrap());
        }
        assert!(statuses.iter().all(|s| [200, 400, 429].contains(s)), "{statuses:?}");
        assert!(statuses.contains(&200), "{statuses:?}");
        // Counted before verification: more than the threshold at once may see 429s, never
        // more 400s than wrong passwords.
        assert!(statuses.iter().filter(|s| **s == 400).count() <= 8, "{statuses:?}");
    }
);

db_test!(
    async fn old_throttling_state_is_forgotten(app) {
        let localhost = "127.0.0.1".parse().unwrap();
        for i in 0..5 {
            let _ = app.svc.login(&format!("spray{i}@example.com"), "x".into(), localhost).await;
        }
        let rows = |f: Vec<(String, i64)>| f.into_iter().find(|(t, _)| t == "login_throttle").unwrap().1;
        assert_eq!(rows(app.fingerprint().await), 5);
        assert_eq!(app.svc.sweep_login_throttle().await.unwrap(), 0, "recent attempts are kept");
        app.clock.advance(Duration::from_secs(16 * 60));
        assert_eq!(app.svc.sweep_login_throttle().await.unwrap(), 5);
        assert_eq!(rows(app.fingerprint().await), 0);
    }
);

// ----- 12: client addresses through trusted proxies only ----------------------------------

db_test!(
    async fn the_per_address_limit_sees_through_trusted_proxies_only(app) {
        let mut s = wmill_server::config::Settings::for_tests();
        s.login_per_ip_per_minute = 3;
        s.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let app = app.sibling(s).await;
        let login = |xff: &str, peer: &str| {
            request("POST", "/api/auth/login", &[("x-forwarded-for", xff)], Some(json!({"email": "x@example.com", "password": "wrong password"})), peer)
        };
        // Behind the trusted proxy, each client has a budget of its own.
        for _ in 0..3 {
            app.send(login("1.1.1.1", "10.0.0.1:5000")).await.assert_status(400);
        }
        app.send(login("1.1.1.1", "10.0.0.1:5000")).await.assert_status(429);
        app.send(login("2.2.2.2", "10.0.0.1:5000")).await.assert_status(400);
        // An untrusted peer's header is ignored: a client cannot pick a fresh address.
        for _ in 0..3 {
            app.send(login("3.3.3.3", "9.9.9.9:5000")).await.assert_status(400);
        }
        app.send(login("4.4.4.4", "9.9.9.9:5000")).await.assert_status(429);
        let failures = entries(&app.audit_all().await, "users.login_failure");
        let ips: std::collections::BTreeSet<String> =
            failures.iter().map(|e| e.parameters.as_ref().unwrap()["ip"].as_str().unwrap().to_string()).collect();
        assert_eq!(ips.into_iter().collect::<Vec<_>>(), ["1.1.1.1", "2.2.2.2", "9.9.9.9"]);
    }
);

// ----- 13: cookies need the server's own origin to change anything ------------------------

db_test!(
    async fn cookie_authenticated_changes_need_the_servers_origin(app) {
        let cookie = format!("token={}", app.admin);
        let create = |name: &str, headers: &[(&str, &str)]| {
            request("POST", "/api/w/admins/groups/create", headers, Some(json!({"name": name})), "1.2.3.4:1000")
        };
        let before = app.fingerprint().await;
        for headers in [
            vec![("cookie", cookie.as_str()), ("host", "127.0.0.1:8000")],
            vec![("cookie", cookie.as_str()), ("host", "127.0.0.1:8000"), ("origin", "http://evil.example")],
            vec![("cookie", cookie.as_str()), ("host", "127.0.0.1:8000"), ("origin", "null")],
            vec![("cookie", cookie.as_str()), ("host", "127.0.0.1:8000"), ("referer", "http://evil.example/page")],
        ] {
            app.send(create("csrf", &headers)).await.assert_text_starts(403, "Permission denied: a request authenticated by a cookie must come from this server's own pages");
        }
        // Logging out through a cookie from another site changes nothing either.
        app.send(request("POST", "/api/auth/logout", &[("cookie", &cookie), ("origin", "http://evil.example")], None, "1.2.3.4:1"))
            .await
            .assert_status(403);
        assert_eq!(app.fingerprint().await, before);
        app.get("/api/users/whoami", &app.admin).await.assert_status(200);
        // The server's own origin, a read, or a token in a header: all fine.
        app.send(create("samesite", &[("cookie", &cookie), ("host", "127.0.0.1:8000"), ("origin", "http://127.0.0.1:8000")])).await.assert_status(200);
        app.send(request("GET", "/api/users/whoami", &[("cookie", &cookie)], None, "1.2.3.4:1")).await.assert_status(200);
        let bearer = format!("Bearer {}", app.admin);
        app.send(create("header", &[("authorization", &bearer), ("origin", "http://evil.example")])).await.assert_status(200);
    }
);

db_test!(
    async fn session_cookies_are_secure_behind_an_https_proxy(app) {
        let mut s = wmill_server::config::Settings::for_tests();
        s.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let app = app.sibling(s).await;
        let login = |peer: &str| {
            request("POST", "/api/auth/login", &[("x-forwarded-proto", "https")], Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})), peer)
        };
        let trusted = app.send(login("10.0.0.1:1")).await;
        assert!(trusted.set_cookie.unwrap().contains("; Secure"));
        let untrusted = app.send(login("9.9.9.9:1")).await;
        assert!(!untrusted.set_cookie.unwrap().contains("Secure"));
    }
);

// ----- 14: refusals are audited; updates say what changed ---------------------------------

db_test!(
    async fn refused_logins_are_audited_within_a_budget(app) {
        let mut s = wmill_server::config::Settings::for_tests();
        // One attempt is the sibling's own admin login.
        s.login_per_ip_per_minute = 6;
        let app = app.sibling(s).await;
        for _ in 0..5 {
            app.call("POST", "/api/auth/login", None, Some(json!({"email": "a@example.com", "password": "nope nope"}))).await.assert_status(400);
        }
        app.call("POST", "/api/auth/login", None, Some(json!({"email": "a@example.com", "password": "nope nope"}))).await.assert_status(429);
        let malformed = app.send(request("POST", "/api/auth/login", &[("content-type", "application/json")], None, "5.5.5.5:1")).await;
        assert!(malformed.status.is_client_error());
        let not_json = app.send(request("POST", "/api/auth/login", &[], Some(json!("just a string")), "5.5.5.5:1")).await;
        not_json.assert_status(422);
        let failures = entries(&app.audit_all().await, "users.login_failure");
        let reasons: Vec<&str> = failures.iter().map(|e| e.parameters.as_ref().unwrap()["reason"].as_str().unwrap()).collect();
        assert_eq!(
            reasons,
            ["malformed request", "malformed request", "too many attempts from this address", "unknown account", "unknown account", "unknown account", "unknown account", "unknown account"]
        );
        // A flood from one address: 20 entries a minute, the last one saying so.
        let mut s = wmill_server::config::Settings::for_tests();
        s.lockout_threshold = 1000;
        let flood = app.sibling(s).await;
        for _ in 0..30 {
            flood.call("POST", "/api/auth/login", None, Some(json!({"email": "b@example.com", "password": "nope nope"}))).await.assert_status(400);
        }
        let failures = entries(&flood.audit_all().await, "users.login_failure");
        assert_eq!(failures.len(), 20);
        assert!(failures[0].parameters.as_ref().unwrap()["note"].as_str().unwrap().contains("not audited"));
    }
);

db_test!(
    async fn updates_say_what_changed(app) {
        app.create_user("bob@example.com", false).await;
        app.add_member("admins", "bob@example.com", false).await;
        app.post("/api/users/update/bob@example.com", &app.admin, json!({"name": "Bob", "disabled": false})).await.assert_status(200);
        app.post("/api/w/admins/users/update/bob", &app.admin, json!({"operator": true})).await.assert_status(200);
        let log = app.audit_all().await;
        let updates = entries(&log, "users.update");
        assert_eq!(updates[0].parameters, Some(json!({"operator": true})));
        assert_eq!(updates[1].parameters, Some(json!({"name": "Bob", "disabled": false})));
    }
);

// ----- the SQLite read time limit -----------------------------------------------------------

#[tokio::test]
async fn a_runaway_sqlite_read_is_cancelled_at_its_time_limit() {
    use sqlx::Connection;
    use wmill_server::store::sql::DbOptions;
    use wmill_server::store::{AuditFilter, AuditStore, SqlStore, StoreError};
    let dir = tempfile::tempdir().unwrap();
    let open = |ms: u64| DbOptions {
        url: "sqlite:wmill.db".into(),
        max_connections: 2,
        statement_timeout: Duration::from_millis(ms),
        acquire_timeout: Duration::from_secs(5),
    };
    let store = SqlStore::connect(&open(10_000), dir.path()).await.unwrap();
    // 300 000 entries, written behind the store's back, and a filter no index serves: the
    // read scans them all.
    let mut raw = sqlx::SqliteConnection::connect(&format!(
        "sqlite:{}",
        dir.path().join("wmill.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000) \
         INSERT INTO audit (workspace_id, timestamp, username, operation, action_kind, resource) \
         SELECT 'ws' || (x % 50), x, 'u' || (x % 97), 'op.' || (x % 13), 'Create', 'r' || x FROM n",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    drop(raw);
    let scan = AuditFilter {
        resource: Some("nowhere".into()),
        limit: 10,
        ..Default::default()
    };
    assert!(
        store.list_audit(scan.clone()).await.unwrap().is_empty(),
        "with time enough, the scan completes"
    );
    store.close().await;
    drop(store);
    let hasty = SqlStore::connect(&open(2), dir.path()).await.unwrap();
    let started = std::time::Instant::now();
    let cut = hasty.list_audit(scan).await;
    assert!(matches!(cut, Err(StoreError::Timeout(_))), "{cut:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The connection is fine afterwards.
    let quick = AuditFilter {
        workspace_id: Some("ws1".into()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(hasty.list_audit(quick).await.unwrap().len(), 1);
}

// ----- Hardening II: a login flood is refused, not queued without end ------------------------

db_test!(
    async fn a_login_flood_is_refused_with_retry_after(app) {
        let mut s = wmill_server::config::Settings::for_tests();
        s.hash_concurrency = 1;
        s.hash_queue = 2;
        s.argon2 = wmill_server::password::Argon2Params { m_cost: 4096, t_cost: 3, p_cost: 1 };
        s.lockout_threshold = 1000;
        let app = app.sibling(s).await;
        let mut logins = Vec::new();
        for _ in 0..24 {
            let app2 = app.app.clone();
            logins.push(tokio::spawn(async move {
                let body = json!({"email": ADMIN_EMAIL, "password": "not the password"});
                let req = Request::builder()
                    .method("POST")
                    .uri("/api/auth/login")
                    .header("content-type", "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                use tower::ServiceExt;
                let res = app2.oneshot(req).await.unwrap();
                (res.status().as_u16(), res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
            }));
        }
        let mut busy = 0;
        for l in logins {
            match l.await.unwrap() {
                (400, _) => {}
                (503, Some(r)) if r == "1" => busy += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(busy > 0, "some logins are refused while the queue is full");
        assert_eq!(app.svc.hashes_pending(), 0, "every place is given back");
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    }
);
