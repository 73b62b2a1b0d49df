//! API tokens: minting, listing, expiry, pinning, deletion, impersonation, last use.

use std::time::Duration;

use serde_json::json;
use wmill_api::{GlobalUserInfo, TruncatedToken};
use wmill_server::store::{Mint, NewAudit, NewTokenRow, TokenKind, TokenStore};

use crate::common::*;

db_test!(
    async fn tokens_are_shown_once_and_listed_by_prefix(app) {
        let t = app.mint(&app.admin, json!({"label": "ci", "expiration": "2099-01-01"})).await;
        assert!(t.starts_with("wm_") && t.len() == 49);
        let me: GlobalUserInfo = app.get("/api/users/whoami", &t).await.parse();
        assert_eq!(me.email, ADMIN_EMAIL);
        let raw = app.get("/api/users/tokens/list", &app.admin).await;
        assert!(!raw.body.contains(&t), "the list never shows a token");
        let list: Vec<TruncatedToken> = raw.parse();
        assert_eq!(list[0].token_prefix, &t[..10], "newest first");
        assert_eq!(list[0].label.as_deref(), Some("ci"));
        assert_eq!(list[0].expiration.unwrap().to_rfc3339(), "2099-01-01T00:00:00+00:00");
        for field in ["created_at", "last_used_at", "scopes", "workspace_id", "expiration"] {
            assert!(raw.json()[0].get(field).is_some(), "{field} is always present");
        }
        let entry = app.audit_all().await.into_iter().find(|a| a.operation == "users.token.create").unwrap();
        assert_eq!(entry.resource, Some(format!("{}*****", &t[..10])));
    }
);

db_test!(
    async fn expirations_are_checked(app) {
        app.post("/api/users/tokens/create", &app.admin, json!({"expiration": "2001-01-01T00:00:00Z"}))
            .await
            .assert_text(400, "Bad request: expiration is in the past");
        app.post("/api/users/tokens/create", &app.admin, json!({"expiration": "next week"}))
            .await
            .assert_text_starts(400, "Bad request: expiration \"next week\" is not a timestamp");
        let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let t = app.mint(&app.admin, json!({"expiration": soon})).await;
        app.get("/api/users/whoami", &t).await.assert_status(200);
        app.clock.advance(Duration::from_secs(2 * 3600));
        app.get("/api/users/whoami", &t).await.assert_text(401, "Not authorized: Unauthorized");
    }
);

db_test!(
    async fn an_instance_cap_limits_token_lifetimes(app) {
        let mut s = wmill_server::config::Settings::for_tests();
        s.max_token_ttl = Some(Duration::from_secs(3600));
        let app = app.sibling(s).await;
        let far = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
        app.post("/api/users/tokens/create", &app.admin, json!({"expiration": far}))
            .await
            .assert_text(400, "Bad request: expiration is beyond the longest lifetime this token may have (3600 seconds)");
        let t = app.mint(&app.admin, json!({})).await;
        let list: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &t).await.parse();
        let mine = list.iter().find(|x| x.token_prefix == t[..10]).unwrap();
        assert!(mine.expiration.is_some(), "an absent expiration gets the cap");
    }
);

db_test!(
    async fn pinned_tokens_work_only_in_their_workspace(app) {
        app.create_workspace("other").await;
        let t = app.mint(&app.admin, json!({"workspace_id": "other"})).await;
        app.get("/api/w/other/groups/list", &t).await.assert_status(200);
        app.get("/api/w/admins/groups/list", &t).await.assert_text(401, "Not authorized: Unauthorized");
        app.get("/api/users/whoami", &t).await.assert_text(401, "Not authorized: Unauthorized");
        app.post("/api/users/tokens/create", &app.admin, json!({"workspace_id": "nowhere"}))
            .await
            .assert_text(404, "Not found: workspace nowhere not found");
        let bob = app.member_token("admins", "bob@example.com", false).await;
        app.post("/api/users/tokens/create", &bob, json!({"workspace_id": "other"}))
            .await
            .assert_text(403, "Permission denied: bob@example.com is not a member of workspace other");
    }
);

db_test!(
    async fn tokens_are_deleted_by_prefix_or_in_full(app) {
        let a = app.mint(&app.admin, json!({"label": "a"})).await;
        let b = app.mint(&app.admin, json!({"label": "b"})).await;
        let r = app.delete(&format!("/api/users/tokens/delete/{}", &a[..10]), &app.admin).await;
        r.assert_text(200, &format!("deleted 1 tokens [\"{}*****\"] with prefix {}", &a[..10], &a[..10]));
        app.get("/api/users/whoami", &a).await.assert_status(401);
        app.delete(&format!("/api/users/tokens/delete/{b}"), &app.admin).await.assert_status(200);
        app.get("/api/users/whoami", &b).await.assert_status(401);
        app.delete(&format!("/api/users/tokens/delete/{}", &a[..10]), &app.admin)
            .await
            .assert_text(404, &format!("Not found: you have no token with prefix {}", &a[..10]));
        app.delete("/api/users/tokens/delete/abc", &app.admin).await.assert_text_starts(404, "Not found: you have no token \"abc\"");
        let entry = app.audit_all().await.into_iter().find(|e| e.operation == "users.token.delete").unwrap();
        assert_eq!(entry.action_kind, wmill_api::ActionKind::Delete);
        // Someone else's token cannot be deleted.
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let c = app.mint(&app.admin, json!({})).await;
        app.delete(&format!("/api/users/tokens/delete/{c}"), &bob).await.assert_status(404);
        app.get("/api/users/whoami", &c).await.assert_status(200);
    }
);

db_test!(
    async fn an_ambiguous_prefix_deletes_nothing(app) {
        let now = app.clock_now();
        for hash in ["h1", "h2"] {
            let row = NewTokenRow {
                hash: hash.into(),
                prefix: "wm_SAMEPRE".into(),
                email: ADMIN_EMAIL.into(),
                label: None,
                expiration: None,
                workspace_id: None,
                created_at: now,
                kind: TokenKind::Api,
                impersonator: None,
                scopes: None,
                read_only: false,
                minted_by: None,
            };
            let audit = NewAudit {
                workspace_id: "global".into(),
                timestamp: now,
                username: "test".into(),
                email: None,
                operation: "users.token.create",
                action_kind: wmill_api::ActionKind::Create,
                resource: None,
                parameters: None,
                impersonator: None,
            };
            assert_eq!(app.store.create_token(row, audit).await.unwrap(), Mint::Minted);
        }
        let before = app.fingerprint().await;
        app.delete("/api/users/tokens/delete/wm_SAMEPRE", &app.admin).await.assert_text(
            409,
            "Conflict: prefix wm_SAMEPRE matches 2 of your tokens (wm_SAMEPRE*****, wm_SAMEPRE*****); nothing was deleted: pass the whole token",
        );
        assert_eq!(app.fingerprint().await, before);
    }
);

db_test!(
    async fn superadmins_impersonate(app) {
        app.create_user("bob@example.com", false).await;
        let r = app.post("/api/users/tokens/impersonate", &app.admin, json!({"impersonate_email": "bob@example.com", "label": "support"})).await;
        r.assert_status(201);
        assert!(r.content_type.starts_with("text/plain"));
        let me: GlobalUserInfo = app.get("/api/users/whoami", &r.body).await.parse();
        assert_eq!(me.email, "bob@example.com");
        let entry = app.audit_all().await.into_iter().find(|a| a.operation == "users.impersonate").unwrap();
        assert_eq!(entry.parameters, Some(json!({"impersonated": "bob@example.com"})));
        assert_eq!(entry.username, ADMIN_EMAIL);
        app.post("/api/users/tokens/impersonate", &app.admin, json!({"impersonate_email": "nobody@example.com"}))
            .await
            .assert_text(404, "Not found: user with email nobody@example.com not found");
        app.post("/api/users/tokens/impersonate", &r.body, json!({"impersonate_email": ADMIN_EMAIL}))
            .await
            .assert_text(401, "Not authorized: This endpoint requires the caller to be a super admin");
    }
);

db_test!(
    async fn last_use_is_recorded_in_batches(app) {
        let t = app.mint(&app.admin, json!({"label": "used"})).await;
        let created: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &app.admin).await.parse();
        let first = created.iter().find(|x| x.label.as_deref() == Some("used")).unwrap().last_used_at;
        let before = app.fingerprint().await;
        app.clock.advance(Duration::from_secs(10));
        app.get("/api/users/whoami", &t).await.assert_status(200);
        assert_eq!(app.fingerprint().await, before, "authenticating writes nothing");
        app.svc.flush_last_used().await.unwrap();
        let after: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &app.admin).await.parse();
        let used = after.iter().find(|x| x.label.as_deref() == Some("used")).unwrap().last_used_at;
        assert!(used > first, "{used} should be after {first}");
    }
);

impl TestApp {
    fn clock_now(&self) -> i64 {
        use wmill_server::clock::Clock;
        self.clock.now()
    }
}
