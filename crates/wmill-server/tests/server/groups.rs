//! Groups: create, list, get, edit, delete, members, owners, the `all` group.

use serde_json::json;
use wmill_api::Group;

db_test!(
    async fn members_create_groups_they_own(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        app.post("/api/w/admins/groups/create", &bob, json!({"name": "data-team", "summary": "Data engineering"}))
            .await
            .assert_text(200, "Created group data-team");
        let g: Group = app.get("/api/w/admins/groups/get/data-team", &bob).await.parse();
        assert_eq!(g.summary.as_deref(), Some("Data engineering"));
        assert_eq!(g.members, vec!["bob"]);
        assert_eq!(g.extra_perms.get("u/bob"), Some(&true));
        app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "data-team"}))
            .await
            .assert_text(409, "Conflict: group data-team already exists");
        app.post("/api/w/admins/groups/create", &bob, json!({"name": "bad name"}))
            .await
            .assert_text_starts(400, "Bad request: invalid group name \"bad name\"");
        app.get("/api/w/admins/groups/get/nope", &bob).await.assert_text(404, "Not found: group \"nope\" not found");
        let list: Vec<Group> = app.get("/api/w/admins/groups/list", &bob).await.parse();
        assert_eq!(list.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["all", "data-team"]);
        assert_eq!(list[0].members, vec!["admin", "bob"]);
        let names = app.get("/api/w/admins/groups/listnames", &bob).await.json();
        assert_eq!(names, json!(["all", "data-team"]));
        let names = app.get("/api/w/admins/groups/listnames?page=2&per_page=1", &bob).await.json();
        assert_eq!(names, json!(["data-team"]));
        let page: Vec<Group> = app.get("/api/w/admins/groups/list?page=2&per_page=1", &bob).await.parse();
        assert_eq!(page[0].name, "data-team");
        assert_eq!(page[0].members, vec!["bob"]);
    }
);

db_test!(
    async fn owners_and_admins_manage_groups(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let eve = app.member_token("admins", "eve@example.com", false).await;
        app.post("/api/w/admins/groups/create", &bob, json!({"name": "g"})).await.assert_status(200);
        let denied = "Permission denied: eve is not an owner of group g";
        app.post("/api/w/admins/groups/update/g", &eve, json!({"summary": "x"})).await.assert_text(403, denied);
        app.post("/api/w/admins/groups/adduser/g", &eve, json!({"username": "eve"})).await.assert_text(403, denied);
        app.post("/api/w/admins/groups/removeuser/g", &eve, json!({"username": "bob"})).await.assert_text(403, denied);
        app.delete("/api/w/admins/groups/delete/g", &eve).await.assert_text(403, denied);
        app.post("/api/w/admins/groups/update/g", &bob, json!({"summary": "by owner"})).await.assert_text(200, "Edited group g");
        app.post("/api/w/admins/groups/update/g", &app.admin, json!({"summary": "by admin"})).await.assert_text(200, "Edited group g");
        let g: Group = app.get("/api/w/admins/groups/get/g", &eve).await.parse();
        assert_eq!(g.summary.as_deref(), Some("by admin"));
        app.post("/api/w/admins/groups/update/nope", &app.admin, json!({})).await.assert_status(404);
        app.delete("/api/w/admins/groups/delete/g", &bob).await.assert_text(200, "delete group at name g");
        app.get("/api/w/admins/groups/get/g", &bob).await.assert_status(404);
        app.delete("/api/w/admins/groups/delete/g", &bob).await.assert_status(404);
        let ops: Vec<String> = app.audit_all().await.into_iter().map(|a| a.operation).collect();
        for op in ["group.create", "group.edit", "group.delete"] {
            assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
        }
    }
);

db_test!(
    async fn group_membership(app) {
        app.member_token("admins", "alice@example.com", false).await;
        app.create_user("stranger@example.com", false).await;
        app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "data-team"})).await.assert_status(200);
        app.post("/api/w/admins/groups/adduser/data-team", &app.admin, json!({"username": "alice"}))
            .await
            .assert_text(200, "Added alice to group data-team");
        let before = app.fingerprint().await;
        app.post("/api/w/admins/groups/adduser/data-team", &app.admin, json!({"username": "alice"}))
            .await
            .assert_text(200, "alice is already a member of group data-team");
        assert_eq!(app.fingerprint().await, before, "nothing changes, nothing is audited");
        app.post("/api/w/admins/groups/adduser/data-team", &app.admin, json!({"username": "stranger"}))
            .await
            .assert_text(404, "Not found: user \"stranger\" is not a member of workspace admins");
        // A group that does not exist is named as such, whoever is or is not in it.
        let before = app.fingerprint().await;
        for (op, who) in [("adduser", "alice"), ("adduser", "stranger"), ("removeuser", "alice"), ("removeuser", "nobody")] {
            app.post(&format!("/api/w/admins/groups/{op}/nope"), &app.admin, json!({"username": who}))
                .await
                .assert_text(404, "Not found: group \"nope\" not found");
        }
        assert_eq!(app.fingerprint().await, before, "nothing changes, nothing is audited");
        app.post("/api/w/admins/groups/removeuser/data-team", &app.admin, json!({"username": "alice"}))
            .await
            .assert_text(200, "Removed alice from group data-team");
        app.post("/api/w/admins/groups/removeuser/data-team", &app.admin, json!({"username": "alice"}))
            .await
            .assert_text(404, "Not found: user \"alice\" is not a member of group data-team");
        let e = app.audit_all().await.into_iter().find(|a| a.operation == "group.adduser").unwrap();
        assert_eq!(e.parameters, Some(json!({"user": "alice"})));
        assert_eq!(e.resource.as_deref(), Some("data-team"));
        assert_eq!(e.action_kind, wmill_api::ActionKind::Update);
    }
);

db_test!(
    async fn the_all_group_is_managed_by_membership(app) {
        app.member_token("admins", "alice@example.com", false).await;
        app.delete("/api/w/admins/groups/delete/all", &app.admin)
            .await
            .assert_text(409, "Conflict: The group 'all' is a special group that contains all users and cannot be deleted");
        app.post("/api/w/admins/groups/removeuser/all", &app.admin, json!({"username": "alice"}))
            .await
            .assert_text_starts(409, "Conflict: Cannot delete users from all");
        app.post("/api/w/admins/groups/adduser/all", &app.admin, json!({"username": "alice"}))
            .await
            .assert_text_starts(409, "Conflict: every member is in group all");
    }
);
