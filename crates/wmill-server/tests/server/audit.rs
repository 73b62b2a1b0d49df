//! The audit log: filters, visibility, keyset pages, single entries.

use std::time::Duration;

use serde_json::json;
use wmill_api::AuditLog;

use crate::common::*;

/// A workspace with a known history: admin creates groups g1, g2; bob adds and removes.
async fn history(app: &TestApp) -> String {
    let bob = app.member_token("admins", "bob@example.com", false).await;
    app.post(
        "/api/w/admins/groups/create",
        &app.admin,
        json!({"name": "g1"}),
    )
    .await
    .assert_status(200);
    app.clock.advance(Duration::from_secs(3600));
    app.post("/api/w/admins/groups/create", &bob, json!({"name": "g2"}))
        .await
        .assert_status(200);
    app.post(
        "/api/w/admins/groups/update/g2",
        &bob,
        json!({"summary": "s"}),
    )
    .await
    .assert_status(200);
    app.post(
        "/api/w/admins/groups/adduser/g1",
        &app.admin,
        json!({"username": "bob"}),
    )
    .await
    .assert_status(200);
    bob
}

fn ops(list: &[AuditLog]) -> Vec<&str> {
    list.iter().map(|a| a.operation.as_str()).collect()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Vec<AuditLog> {
    let r = app
        .get(&format!("/api/w/admins/audit/list?{query}"), token)
        .await;
    r.assert_status(200);
    r.parse()
}

db_test!(
    async fn filters_narrow_the_list(app) {
        history(&app).await;
        let all = list(&app, &app.admin, "").await;
        assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert!(all.iter().all(|a| a.workspace_id == "admins"));
        assert_eq!(ops(&list(&app, &app.admin, "username=bob").await), ["group.edit", "group.create"]);
        assert_eq!(ops(&list(&app, &app.admin, "operation=group.create").await), ["group.create", "group.create"]);
        assert_eq!(ops(&list(&app, &app.admin, "operation=group").await).len(), 4, "dotted prefix");
        assert!(list(&app, &app.admin, "operation=gro").await.is_empty(), "only whole segments");
        assert_eq!(ops(&list(&app, &app.admin, "operations=group.edit,group.adduser").await), ["group.adduser", "group.edit"]);
        let without = list(&app, &app.admin, "exclude_operations=group.create,users.add_to_workspace,workspaces.create").await;
        assert_eq!(ops(&without), ["group.adduser", "group.edit"]);
        assert_eq!(list(&app, &app.admin, "resource=g2").await.len(), 2);
        assert_eq!(ops(&list(&app, &app.admin, "action_kind=update").await), ["group.adduser", "group.edit"]);
        assert_eq!(list(&app, &app.admin, "action_kind=UPDATE").await.len(), 2);
        let t0 = all.last().unwrap().timestamp;
        let after = list(&app, &app.admin, &format!("after={}", (t0 + chrono::Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true))).await;
        assert_eq!(after.len(), 3, "only what happened an hour later");
        let before = list(&app, &app.admin, &format!("before={}", (t0 + chrono::Duration::minutes(30)).format("%Y-%m-%dT%H:%M:%S"))).await;
        assert_eq!(before.len() + after.len(), all.len());
        assert_eq!(list(&app, &app.admin, "after=2000-01-01").await.len(), all.len(), "plain dates");
        assert!(list(&app, &app.admin, "before=2000-01-01").await.is_empty());
        let page = list(&app, &app.admin, &format!("before_id={}&per_page=2", all[1].id)).await;
        assert_eq!(page.iter().map(|a| a.id).collect::<Vec<_>>(), [all[2].id, all[3].id]);
        let paged = list(&app, &app.admin, "page=2&per_page=2").await;
        assert_eq!(paged[0].id, all[2].id);
        let combined = list(&app, &app.admin, "username=bob&action_kind=create&after=2000-01-01").await;
        assert_eq!(ops(&combined), ["group.create"]);
    }
);

db_test!(
    async fn bad_filters_are_refused(app) {
        for (q, msg) in [
            ("action_kind=created", "Bad request: action_kind must be one of Create, Update, Delete, Execute, not \"created\""),
            ("after=yesterday", "Bad request: after must be an RFC 3339 timestamp or a date like 2026-01-01, not \"yesterday\""),
            ("before=2026-13-01", "Bad request: before must be an RFC 3339 timestamp or a date like 2026-01-01, not \"2026-13-01\""),
            ("before_id=abc", "Bad request: before_id must be a whole number, not \"abc\""),
            ("per_page=ten", "Bad request: per_page must be a whole number, not \"ten\""),
            ("all_workspaces=maybe", "Bad request: all_workspaces must be true or false, not \"maybe\""),
        ] {
            app.get(&format!("/api/w/admins/audit/list?{q}"), &app.admin).await.assert_text(400, msg);
        }
        app.get("/api/w/admins/audit/get/abc", &app.admin).await.assert_text(400, "Bad request: audit id must be a whole number, not \"abc\"");
    }
);

db_test!(
    async fn members_see_their_own_rows_only(app) {
        let bob = history(&app).await;
        let mine = list(&app, &bob, "").await;
        assert_eq!(ops(&mine), ["group.edit", "group.create"]);
        assert!(list(&app, &bob, "username=admin").await.is_empty());
        let admins_row = list(&app, &app.admin, "username=admin").await[0].id;
        app.get(&format!("/api/w/admins/audit/get/{admins_row}"), &bob)
            .await
            .assert_text(404, &format!("Not found: audit log entry \"{admins_row}\" not found"));
        let own = app.get(&format!("/api/w/admins/audit/get/{}", mine[0].id), &bob).await.parse::<AuditLog>();
        assert_eq!(own, mine[0]);
        app.get("/api/w/admins/audit/list?all_workspaces=true", &bob)
            .await
            .assert_text(403, "Permission denied: all_workspaces requires a superadmin");
    }
);

db_test!(
    async fn instance_events_are_listed_across_workspaces(app) {
        history(&app).await;
        let everything = app.audit_all().await;
        assert!(everything.iter().any(|a| a.workspace_id == "global" && a.operation == "users.login"));
        assert!(everything.iter().any(|a| a.workspace_id == "admins"));
        let workspace_only = list(&app, &app.admin, "").await;
        assert!(workspace_only.iter().all(|a| a.workspace_id != "global"));
        let global_row = everything.iter().find(|a| a.workspace_id == "global").unwrap();
        let fetched: AuditLog = app.get(&format!("/api/w/admins/audit/get/{}", global_row.id), &app.admin).await.parse();
        assert_eq!(&fetched, global_row);
        app.get("/api/w/admins/audit/get/999999", &app.admin).await.assert_status(404);
    }
);

db_test!(
    async fn every_mutation_writes_one_entry(app) {
        let before = app.fingerprint().await;
        let audit_before = before.iter().find(|(t, _)| t == "audit").unwrap().1;
        history(&app).await;
        // create_user, add_member, login, group.create x2, group.edit, group.adduser
        let after = app.fingerprint().await;
        let audit_after = after.iter().find(|(t, _)| t == "audit").unwrap().1;
        assert_eq!(audit_after - audit_before, 7);
    }
);
