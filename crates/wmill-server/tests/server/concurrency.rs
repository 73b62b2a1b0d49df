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

db_test!(
    /// Writers at once, some of them refused half-way (on SQLite they share commits: a
    /// refused one must leave nothing and take no other down): every success has its one
    /// audit entry, every refusal none, and the audit chain stays whole.
    async fn concurrent_writes_refused_or_not_are_each_audited_alone(app) {
        for i in 0..20 {
            app.add_member("admins", &format!("m{i}@example.com"), false).await;
        }
        app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "team"})).await.assert_status(200);
        let before = app.fingerprint().await;
        let adds_before = count_ops(&app, "group.adduser").await;
        let app = Arc::new(app);
        let mut tasks = Vec::new();
        for i in 0..60usize {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let token = app.admin.clone();
                // A third add strangers (refused after the group was read and locked), a
                // third create groups, a third add members (succeed).
                let (path, body) = match i % 3 {
                    0 => ("/api/w/admins/groups/adduser/team".to_string(), json!({"username": format!("nobody{i}")})),
                    1 => ("/api/w/admins/groups/create".to_string(), json!({"name": format!("g{i}")})),
                    _ => ("/api/w/admins/groups/adduser/team".to_string(), json!({"username": format!("m{}", i % 20)})),
                };
                let r = app.call("POST", &path, Some(&token), Some(body)).await;
                (i, r.status.as_u16(), r.body)
            }));
        }
        let mut added = 0;
        for t in tasks {
            let (i, status, body) = t.await.unwrap();
            match i % 3 {
                0 => assert_eq!((status, body.contains("is not a member of workspace")), (404, true), "{i}: {body}"),
                1 => assert_eq!(status, 200, "{i}: {body}"),
                _ => {
                    assert_eq!(status, 200, "{i}: {body}");
                    if body.starts_with("Added ") {
                        added += 1;
                    }
                }
            }
        }
        // m(i % 20) for i ≡ 2 (mod 3) below 60: 20 distinct members, each added once.
        assert_eq!(added, 20);
        assert_eq!(count_ops(&app, "group.adduser").await - adds_before, 20);
        assert_eq!(count_ops(&app, "group.create").await, 21);
        let after = app.fingerprint().await;
        let delta = |t: &str| {
            let get = |v: &Vec<(String, i64)>| v.iter().find(|(n, _)| n == t).map_or(0, |(_, c)| *c);
            get(&after) - get(&before)
        };
        assert_eq!(delta("grp"), 20);
        // A new group's creator is its first member; then the 20 added.
        assert_eq!(delta("group_member"), 40);
        // One entry per success: 20 creations, 20 additions; none for the 20 refused.
        assert_eq!(delta("audit"), 40);
        let r = wmill_server::store::AuditChainStore::verify_audit_chain(&*app.store, None).await.unwrap();
        assert!(r.intact(), "{}", r.describe());
    }
);
