//! Login, logout, token transport, whoami, own password, throttling, re-hashing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use wmill_api::{GlobalUserInfo, UserInfo};

use crate::common::*;

async fn first_time_user(app: &TestApp, email: &str) -> serde_json::Value {
    let users = app
        .get("/api/users/list_as_super_admin", &app.admin)
        .await
        .json();
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap()["first_time_user"]
        .clone()
}

db_test!(
    async fn the_first_login_clears_first_time_user_and_later_ones_keep_it_clear(app) {
        let carol = "carol@example.com";
        app.create_user(carol, false).await;
        assert_eq!(first_time_user(&app, carol).await, true);
        let first = app.login(carol, PASSWORD).await;
        assert_eq!(first_time_user(&app, carol).await, false);
        let me: GlobalUserInfo = app.get("/api/users/whoami", &first).await.parse();
        assert!(!me.first_time_user);
        // A later login (no UPDATE of the flag) still gives a working session, audited.
        let second = app.login(carol, PASSWORD).await;
        app.get("/api/users/whoami", &second).await.assert_status(200);
        assert_eq!(first_time_user(&app, carol).await, false);
        let logins = app.audit_all().await.into_iter().filter(|a| a.operation == "users.login" && a.username == carol).count();
        assert_eq!(logins, 2);
    }
);

db_test!(
    async fn login_returns_a_session_token_and_cookie(app) {
        let r = app
            .call("POST", "/api/auth/login", None, Some(json!({"email": " Admin@Windmill.dev ", "password": ADMIN_PASSWORD})))
            .await;
        r.assert_status(200);
        assert!(r.content_type.starts_with("text/plain"));
        assert!(r.body.starts_with("wm_") && r.body.len() == 49, "token: {}", r.body);
        let cookie = r.set_cookie.expect("cookie");
        assert!(cookie.starts_with(&format!("token={}; ", r.body)));
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Expires="] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!cookie.contains("Secure"));
        let me: GlobalUserInfo = app.get("/api/users/whoami", &r.body).await.parse();
        assert_eq!(me.email, ADMIN_EMAIL);
        let tokens = app.get("/api/users/tokens/list", &r.body).await.json();
        assert!(tokens.as_array().unwrap().iter().any(|t| t["label"] == "session"));
        let audit = app.audit_all().await;
        assert!(audit.iter().any(|a| a.operation == "users.login" && a.resource.as_deref() == Some(&format!("{}*****", &r.body[..10]))));
    }
);

db_test!(
    async fn failed_logins_all_answer_the_same(app) {
        app.create_user("bob@example.com", false).await;
        app.post("/api/users/update/bob@example.com", &app.admin, json!({"disabled": true})).await.assert_status(200);
        for (email, pw) in [
            ("admin@windmill.dev", "wrong-password"),
            ("nobody@example.com", PASSWORD),
            ("bob@example.com", PASSWORD),
            ("not an email", PASSWORD),
        ] {
            let r = app.call("POST", "/api/auth/login", None, Some(json!({"email": email, "password": pw}))).await;
            r.assert_text(400, "Bad request: Invalid login");
            assert!(r.set_cookie.is_none());
        }
        let failures: Vec<_> =
            app.audit_all().await.into_iter().filter(|a| a.operation == "users.login_failure").collect();
        // Newest first: each refusal with its reason; what was typed as an email that is not
        // one is never stored (people type passwords there).
        let got: Vec<(&str, &str)> = failures
            .iter()
            .map(|a| (a.username.as_str(), a.parameters.as_ref().unwrap()["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("unknown", "malformed email"),
                ("bob@example.com", "account disabled"),
                ("nobody@example.com", "unknown account"),
                ("admin@windmill.dev", "wrong password"),
            ]
        );
        assert!(failures.iter().all(|a| a.workspace_id == "global" && a.resource.is_none()));
        assert!(failures.iter().all(|a| a.parameters.as_ref().unwrap()["ip"] == "127.0.0.1"));
        assert!(!failures.iter().any(|a| format!("{a:?}").contains("not an email")));
    }
);

db_test!(
    async fn logout_revokes_the_token_and_clears_the_cookie(app) {
        let t = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let r = app.call("POST", "/api/auth/logout", Some(&t), None).await;
        r.assert_text(200, "logged out successfully");
        assert!(r.set_cookie.unwrap().contains("Max-Age=0"));
        app.get("/api/users/whoami", &t).await.assert_text(401, "Not authorized: Unauthorized");
        let t2 = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app.call("GET", "/api/auth/logout", Some(&t2), None).await.assert_text(200, "logged out successfully");
        app.get("/api/users/whoami", &t2).await.assert_status(401);
        app.call("POST", "/api/auth/logout", None, None).await.assert_text(401, "Unauthorized");
        let logouts = app.audit_all().await.into_iter().filter(|a| a.operation == "users.logout").count();
        assert_eq!(logouts, 2);
        // An unknown token is already logged out.
        app.call("POST", "/api/auth/logout", Some(&t), None).await.assert_text(200, "logged out successfully");
    }
);

db_test!(
    async fn the_token_is_read_from_header_then_cookie_then_query(app) {
        let via_cookie = Request::get("/api/users/email").header("cookie", format!("a=b; token={}", app.admin)).body(Body::empty()).unwrap();
        app.send(via_cookie).await.assert_text(200, ADMIN_EMAIL);
        app.call("GET", &format!("/api/users/email?token={}", app.admin), None, None).await.assert_text(200, ADMIN_EMAIL);
        // The header wins over a bad cookie.
        let both = Request::get("/api/users/email")
            .header("authorization", format!("Bearer {}", app.admin))
            .header("cookie", "token=wm_bad")
            .body(Body::empty())
            .unwrap();
        app.send(both).await.assert_text(200, ADMIN_EMAIL);
        app.call("GET", "/api/users/email", None, None).await.assert_text(401, "Unauthorized");
    }
);

db_test!(
    async fn whoami_in_a_workspace(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let me: UserInfo = app.get("/api/w/admins/users/whoami", &bob).await.parse();
        assert_eq!((me.username.as_str(), me.is_admin, me.is_super_admin), ("bob", false, false));
        assert_eq!(me.groups, vec!["all"]);
        assert_eq!(me.role.as_deref(), Some("developer"));

        app.create_workspace("other").await;
        let synthetic: UserInfo = app.get("/api/w/other/users/whoami", &app.admin).await.parse();
        assert_eq!(synthetic.username, "admin", "the creator is a member");
        let admin2_email = "root@example.com";
        app.create_user(admin2_email, true).await;
        let root = app.login(admin2_email, PASSWORD).await;
        let s: UserInfo = app.get("/api/w/other/users/whoami", &root).await.parse();
        assert_eq!((s.username.as_str(), s.is_admin, s.role.as_deref()), (admin2_email, true, Some("superadmin")));
        assert!(s.groups.is_empty());

        app.get("/api/w/other/users/whoami", &bob).await.assert_text(401, "Not authorized: Unauthorized");
        app.get("/api/w/nowhere/users/whoami", &bob).await.assert_status(401);
        app.get("/api/w/nowhere/users/whoami", &app.admin).await.assert_text(404, "Not found: workspace nowhere not found");
    }
);

db_test!(
    async fn users_change_their_own_password(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        app.post("/api/users/setpassword", &bob, json!({"password": "short"})).await.assert_text(400, "Bad request: password must be at least 8 characters long");
        app.post("/api/users/setpassword", &bob, json!({"password": "a new password"})).await.assert_text(200, "password of bob@example.com updated");
        let r = app.call("POST", "/api/auth/login", None, Some(json!({"email": "bob@example.com", "password": PASSWORD}))).await;
        r.assert_text(400, "Bad request: Invalid login");
        app.login("bob@example.com", "a new password").await;
        let e = app.audit_all().await.into_iter().find(|a| a.operation == "users.setpassword").unwrap();
        assert_eq!(e.resource.as_deref(), Some("bob@example.com"));
        assert_eq!(e.parameters, Some(json!({"revoke_tokens": false})));
    }
);

db_test!(
    async fn an_account_locks_after_ten_failures(app) {
        let bad = json!({"email": ADMIN_EMAIL, "password": "wrong-password"});
        for _ in 0..10 {
            app.call("POST", "/api/auth/login", None, Some(bad.clone())).await.assert_status(400);
        }
        let good = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        let locked = app.call("POST", "/api/auth/login", None, Some(good.clone())).await;
        locked.assert_text_starts(429, "Too many requests: ");
        // The same answer for an account that does not exist and is locked too.
        let ghost = json!({"email": "ghost@example.com", "password": "x"});
        for _ in 0..10 {
            app.call("POST", "/api/auth/login", None, Some(ghost.clone())).await;
        }
        let r = app.call("POST", "/api/auth/login", None, Some(ghost)).await;
        assert_eq!(r.body, locked.body);
        app.clock.advance(std::time::Duration::from_secs(15 * 60 + 1));
        app.call("POST", "/api/auth/login", None, Some(good)).await.assert_status(200);
    }
);

db_test!(
    async fn an_ip_gets_sixty_attempts_a_minute(app) {
        let mut s = wmill_server::config::Settings::for_tests();
        s.login_per_ip_per_minute = 60;
        let app = app.sibling(s).await;
        let good = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
        // The harness logged in once already.
        for _ in 0..59 {
            app.call("POST", "/api/auth/login", None, Some(good.clone())).await.assert_status(200);
        }
        app.call("POST", "/api/auth/login", None, Some(good.clone())).await.assert_text_starts(429, "Too many requests: ");
        app.clock.advance(std::time::Duration::from_secs(61));
        app.call("POST", "/api/auth/login", None, Some(good)).await.assert_status(200);
    }
);

db_test!(
    async fn a_weak_hash_is_upgraded_on_login(app) {
        app.create_user("bob@example.com", false).await;
        let before = app.store_account_hash("bob@example.com").await;
        assert!(before.contains("m=64,t=1,p=1"), "{before}");
        let mut stronger = wmill_server::config::Settings::for_tests();
        stronger.argon2 = wmill_server::password::Argon2Params { m_cost: 256, t_cost: 2, p_cost: 1 };
        let svc = wmill_server::service::Service::new(app.store.clone(), Arc::new(app.clock.clone()), stronger);
        let localhost = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        svc.login("bob@example.com", PASSWORD.into(), localhost).await.expect("login");
        let after = app.store_account_hash("bob@example.com").await;
        assert!(after.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{after}");
        // The new hash still verifies, under either configuration.
        app.login("bob@example.com", PASSWORD).await;
    }
);

impl TestApp {
    async fn store_account_hash(&self, email: &str) -> String {
        use wmill_server::store::AccountStore;
        self.store
            .account(email)
            .await
            .unwrap()
            .unwrap()
            .password_hash
    }
}

/// Signs `email` in as the single sign-on provider `provider` would (the store's step, after
/// the provider's answer was verified): its session token.
async fn sso_sign_in(app: &TestApp, email: &str, provider: &str) -> String {
    use wmill_server::clock::Clock;
    use wmill_server::store::{NewAudit, NewTokenRow, SsoLogin, SsoOutcome, SsoStore, TokenKind};
    let now = app.clock.now();
    let minted = wmill_server::token::mint();
    let outcome = app
        .store
        .sso_login(SsoLogin {
            email: email.into(),
            name: None,
            provider: provider.into(),
            create: true,
            groups: None,
            token: NewTokenRow {
                hash: minted.hash,
                prefix: minted.prefix,
                email: email.into(),
                label: Some("session".into()),
                expiration: Some(now + 3_600_000_000),
                workspace_id: None,
                created_at: now,
                kind: TokenKind::Session,
                impersonator: None,
                scopes: None,
                read_only: false,
                minted_by: None,
            },
            audit: NewAudit {
                workspace_id: wmill_api::GLOBAL_WORKSPACE.into(),
                timestamp: now,
                username: email.into(),
                email: Some(email.into()),
                operation: "users.login",
                action_kind: wmill_api::ActionKind::Create,
                resource: None,
                parameters: Some(json!({ "provider": provider })),
                impersonator: None,
            },
        })
        .await
        .expect("sso_login");
    assert!(matches!(outcome, SsoOutcome::Done { .. }), "{outcome:?}");
    minted.raw
}

db_test!(
    async fn whoami_reports_how_the_account_signs_in(app) {
        // A password account.
        let me: GlobalUserInfo = app.get("/api/users/whoami", &app.admin).await.parse();
        assert_eq!(me.login_type, "password");
        // An account made by a single sign-on: the provider's name, as in the users' list.
        let sso = sso_sign_in(&app, "dana@example.com", "okta").await;
        let me: GlobalUserInfo = app.get("/api/users/whoami", &sso).await.parse();
        assert_eq!((me.email.as_str(), me.login_type.as_str()), ("dana@example.com", "okta"));
        let listed = app.get("/api/users/list_as_super_admin", &app.admin).await.json();
        let dana = listed.as_array().unwrap().iter().find(|u| u["email"] == "dana@example.com").unwrap().clone();
        assert_eq!(dana["login_type"], "okta");
        // A password account that signs in with a provider: from then on, that provider, on
        // every token of it (its older password session included).
        app.create_user("erin@example.com", false).await;
        let password_session = app.login("erin@example.com", PASSWORD).await;
        let me: GlobalUserInfo = app.get("/api/users/whoami", &password_session).await.parse();
        assert_eq!(me.login_type, "password");
        let sso = sso_sign_in(&app, "erin@example.com", "keycloak").await;
        for t in [&sso, &password_session] {
            let me: GlobalUserInfo = app.get("/api/users/whoami", t).await.parse();
            assert_eq!((me.email.as_str(), me.login_type.as_str()), ("erin@example.com", "keycloak"));
        }
    }
);
