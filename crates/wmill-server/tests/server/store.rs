//! Storage-level rules, called directly and concurrently: run on both databases.

use std::sync::Arc;

use serde_json::json;
use wmill_server::store::{AccountChanges, AccountOutcome, AccountStore, NewAudit, Store};

fn audit(op: &'static str) -> NewAudit {
    NewAudit {
        workspace_id: "global".into(),
        timestamp: 1,
        username: "test".into(),
        email: None,
        operation: op,
        action_kind: wmill_api::ActionKind::Update,
        resource: None,
        parameters: None,
        impersonator: None,
    }
}

db_test!(
    async fn bootstrap_runs_once_per_database(app) {
        assert!(!app.svc.bootstrap("other@example.com", "another-password").await.unwrap());
        let listed = app.get("/api/users/list_as_super_admin", &app.admin).await.json();
        assert_eq!(listed.as_array().unwrap().len(), 1);
    }
);

db_test!(
    async fn two_demotions_at_once_leave_one_superadmin(app) {
        app.create_user("root@example.com", true).await;
        for round in 0..10 {
            let store = app.store.clone();
            let (a, b) = ("admin@windmill.dev", "root@example.com");
            let demote = |email: &'static str| {
                let store = store.clone();
                tokio::spawn(async move {
                    let c = AccountChanges { super_admin: Some(false), ..Default::default() };
                    store.update_account(email, c, audit("users.update")).await.unwrap()
                })
            };
            let (ra, rb) = (demote(a), demote(b));
            let outcomes = [ra.await.unwrap(), rb.await.unwrap()];
            let done = outcomes.iter().filter(|o| **o == AccountOutcome::Done).count();
            assert_eq!(done, 1, "round {round}: {outcomes:?}");
            assert!(outcomes.contains(&AccountOutcome::LastSuperadmin));
            // Promote both again for the next round.
            for e in [a, b] {
                let c = AccountChanges { super_admin: Some(true), ..Default::default() };
                assert_eq!(store.update_account(e, c, audit("users.update")).await.unwrap(), AccountOutcome::Done);
            }
        }
    }
);

db_test!(
    async fn last_use_only_moves_forward(app) {
        let t = app.mint(&app.admin, json!({"label": "t"})).await;
        let hash = wmill_server::token::digest(&t);
        let store: Arc<dyn Store> = app.store.clone();
        store.touch_tokens(vec![(hash.clone(), 4_000_000_000_000_000)]).await.unwrap();
        store.touch_tokens(vec![(hash.clone(), 1)]).await.unwrap();
        let list = store.list_tokens(ADMIN_EMAIL, 0, 100).await.unwrap();
        let row = list.iter().find(|r| r.label.as_deref() == Some("t")).unwrap();
        assert_eq!(row.last_used_at, 4_000_000_000_000_000);
        store.touch_tokens(vec![]).await.unwrap();
    }
);
