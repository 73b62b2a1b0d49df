//! Concurrent creations of the same thing: exactly one wins, the others get a clear
//! answer, and there is exactly one audit entry.

use std::sync::Arc;

use serde_json::json;

use crate::common::*;

async fn race(
    app: &Arc<TestApp>,
    method: &'static str,
    path: &str,
    body: serde_json::Value,
) -> Vec<(u16, String)> {
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        let path = path.to_string();
        let body = body.clone();
        let token = app.admin.clone();
        tasks.push(tokio::spawn(async move {
            let r = app.call(method, &path, Some(&token), Some(body)).await;
            (r.status.as_u16(), r.body)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn count_ops(app: &TestApp, op: &str) -> usize {
    app.audit_all()
        .await
        .iter()
        .filter(|a| a.operation == op)
        .count()
}

db_test!(
    async fn fifty_creations_of_one_user(app) {
        let app = Arc::new(app);
        let ops_before = count_ops(&app, "users.add_global").await;
        let results = race(&app, "POST", "/api/users/create", json!({"email": "same@example.com", "password": PASSWORD, "super_admin": false})).await;
        let wins = results.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(wins, 1, "{results:?}");
        assert!(results.iter().all(|(s, b)| *s == 201 || (*s == 409 && b.starts_with("Conflict: "))), "{results:?}");
        assert_eq!(count_ops(&app, "users.add_global").await - ops_before, 1);
    }
);

db_test!(
    async fn fifty_creations_of_one_group(app) {
        let app = Arc::new(app);
        let results = race(&app, "POST", "/api/w/admins/groups/create", json!({"name": "same"})).await;
        assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 1, "{results:?}");
        assert!(results.iter().all(|(s, _)| *s == 200 || *s == 409), "{results:?}");
        assert_eq!(count_ops(&app, "group.create").await, 1);
    }
);

db_test!(
    async fn fifty_adds_of_one_member(app) {
        app.member_token("admins", "alice@example.com", false).await;
        app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "team"})).await.assert_status(200);
        let app = Arc::new(app);
        let results = race(&app, "POST", "/api/w/admins/groups/adduser/team", json!({"username": "alice"})).await;
        let added = results.iter().filter(|(_, b)| b == "Added alice to group team").count();
        let already = results.iter().filter(|(_, b)| b == "alice is already a member of group team").count();
        assert_eq!((added, already), (1, 49), "{results:?}");
        assert_eq!(count_ops(&app, "group.adduser").await, 1);
    }
);

db_test!(
    async fn fifty_adds_of_one_workspace_member(app) {
        let app = Arc::new(app);
        let body = json!({"email": "new@example.com", "is_admin": false, "operator": false});
        let results = race(&app, "POST", "/api/w/admins/workspaces/add_user", body).await;
        assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 1, "{results:?}");
        assert!(results.iter().all(|(s, _)| *s == 201 || *s == 409), "{results:?}");
        assert_eq!(count_ops(&app, "users.add_to_workspace").await, 1);
    }
);
