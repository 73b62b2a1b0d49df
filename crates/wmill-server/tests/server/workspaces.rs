//! Workspaces and members: create, list, exists, add, usernames, roles, removal.

use serde_json::json;
use wmill_api::{User, UserWorkspaceList, Workspace};

use crate::common::*;

db_test!(
    async fn superadmins_create_workspaces(app) {
        let r = app.post("/api/workspaces/create", &app.admin, json!({"id": "data-team", "name": "Data team"})).await;
        r.assert_text(200, "Created workspace data-team");
        app.post("/api/workspaces/create", &app.admin, json!({"id": "data-team", "name": "Again"}))
            .await
            .assert_text(409, "Conflict: workspace data-team already exists");
        app.post("/api/workspaces/create", &app.admin, json!({"id": "global", "name": "g"}))
            .await
            .assert_text(409, "Conflict: 'global' is reserved for instance-level audit entries and cannot be a workspace ID");
        app.post("/api/workspaces/create", &app.admin, json!({"id": "Bad_Id", "name": "b"}))
            .await
            .assert_text_starts(400, "Bad request: invalid workspace id \"Bad_Id\"");
        let members: Vec<User> = app.get("/api/w/data-team/users/list", &app.admin).await.parse();
        assert_eq!(members.len(), 1);
        assert!(members[0].is_admin && members[0].email == ADMIN_EMAIL);
        let all = app.get("/api/w/data-team/groups/get/all", &app.admin).await.json();
        assert_eq!(all["members"], json!(["admin"]));
        let entry = app.audit_all().await.into_iter().find(|a| a.operation == "workspaces.create" && a.username == ADMIN_EMAIL).unwrap();
        assert_eq!((entry.workspace_id.as_str(), entry.resource.as_deref()), ("global", Some("data-team")));
        let bob = app.member_token("admins", "bob@example.com", true).await;
        app.post("/api/workspaces/create", &bob, json!({"id": "mine", "name": "m"}))
            .await
            .assert_text(401, "Not authorized: This endpoint requires the caller to be a super admin");
    }
);

db_test!(
    async fn workspace_listings(app) {
        app.create_workspace("zeta").await;
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let mine: Vec<Workspace> = app.get("/api/workspaces/list", &bob).await.parse();
        assert_eq!(mine.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["admins"]);
        let every: Vec<Workspace> = app.get("/api/workspaces/list_as_superadmin", &app.admin).await.parse();
        assert_eq!(every.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["admins", "zeta"]);
        app.get("/api/workspaces/list_as_superadmin", &bob).await.assert_status(401);
        let yes = app.post("/api/workspaces/exists", &bob, json!({"id": "zeta"})).await;
        assert_eq!((yes.content_type.as_str(), yes.body.as_str()), ("application/json", "true"));
        assert_eq!(app.post("/api/workspaces/exists", &bob, json!({"id": "nope"})).await.body, "false");
        let users: UserWorkspaceList = app.get("/api/workspaces/users", &bob).await.parse();
        assert_eq!(users.email, "bob@example.com");
        assert_eq!(users.workspaces.len(), 1);
        assert_eq!((users.workspaces[0].id.as_str(), users.workspaces[0].username.as_str()), ("admins", "bob"));
        let paged: Vec<Workspace> = app.get("/api/workspaces/list?page=2&per_page=1", &app.admin).await.parse();
        assert_eq!(paged.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["zeta"]);
        let auto = app.get("/api/settings/global/automate_username_creation", &bob).await;
        assert_eq!((auto.content_type.as_str(), auto.body.as_str()), ("application/json", "true"));
    }
);

db_test!(
    async fn members_get_usernames_from_their_emails(app) {
        app.create_workspace("other").await;
        for (email, want) in [("john.doe@a.io", "johndoe"), ("john-doe@b.io", "johndoe2"), ("+-@c.io", "user")] {
            app.add_member("admins", email, false).await;
            let list: Vec<User> = app.get("/api/w/admins/users/list", &app.admin).await.parse();
            assert_eq!(list.iter().find(|u| u.email == email).unwrap().username, want);
        }
        // The same username in every workspace.
        app.add_member("other", "john-doe@b.io", false).await;
        let names = app.get("/api/w/other/users/list_usernames", &app.admin).await.json();
        assert_eq!(names, json!(["admin", "johndoe2"]));
        let r = app
            .post("/api/w/admins/workspaces/add_user", &app.admin, json!({"email": "x@y.io", "is_admin": false, "operator": false, "username": "johndoe"}))
            .await;
        r.assert_text(409, "Conflict: the username johndoe cannot be given to x@y.io; leave the username out to use the one the server assigns");
        let r = app
            .post("/api/w/admins/workspaces/add_user", &app.admin, json!({"email": "x@y.io", "is_admin": false, "operator": false, "username": "9lives"}))
            .await;
        r.assert_text_starts(400, "Bad request: invalid username \"9lives\"");
        app.post("/api/w/admins/workspaces/add_user", &app.admin, json!({"email": "x@y.io", "is_admin": false, "operator": true, "username": "xavier"}))
            .await
            .assert_text(201, "user with email x@y.io added");
        let x: User = app.get("/api/w/admins/users/get/xavier", &app.admin).await.parse();
        assert_eq!((x.operator, x.role.as_deref()), (true, Some("operator")));
    }
);

db_test!(
    async fn adding_members(app) {
        app.add_member("admins", "later@example.com", false).await;
        app.post("/api/w/admins/workspaces/add_user", &app.admin, json!({"email": "LATER@example.com", "is_admin": true, "operator": false}))
            .await
            .assert_text(409, "Conflict: user with email later@example.com already exists in workspace admins");
        // The account comes after the membership, and then works.
        app.create_user("later@example.com", false).await;
        let t = app.login("later@example.com", PASSWORD).await;
        let groups = app.get("/api/w/admins/groups/listnames?only_member_of=true", &t).await.json();
        assert_eq!(groups, json!(["all"]));
        app.post("/api/w/admins/workspaces/add_user", &t, json!({"email": "z@example.com", "is_admin": false, "operator": false}))
            .await
            .assert_text(403, "Require Admin privileges for later");
        let e = app.audit_all().await.into_iter().find(|a| a.operation == "users.add_to_workspace").unwrap();
        assert_eq!((e.workspace_id.as_str(), e.resource.as_deref(), e.username.as_str()), ("admins", Some("later@example.com"), "admin"));
    }
);

db_test!(
    async fn admins_manage_members(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let list: Vec<User> = app.get("/api/w/admins/users/list", &bob).await.parse();
        assert_eq!(list.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["admin", "bob"]);
        let second: Vec<User> = app.get("/api/w/admins/users/list?page=2&per_page=1", &bob).await.parse();
        assert_eq!(second.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["bob"]);
        let names = app.get("/api/w/admins/users/list_usernames?per_page=1", &bob).await.json();
        assert_eq!(names, serde_json::json!(["admin"]));
        app.get("/api/w/admins/users/get/admin", &bob).await.assert_text(403, "Require Admin privileges for bob");
        app.get("/api/w/admins/users/get/nobody", &app.admin).await.assert_text(404, "Not found: user \"nobody\" not found in workspace admins");
        app.post("/api/w/admins/users/update/bob", &app.admin, json!({"is_admin": true}))
            .await
            .assert_text(200, "user bob@example.com updated");
        let b: User = app.get("/api/w/admins/users/get/bob", &bob).await.parse();
        assert!(b.is_admin);
        app.post("/api/w/admins/users/update/bob", &app.admin, json!({"disabled": true})).await.assert_status(200);
        app.get("/api/w/admins/users/whoami", &bob).await.assert_text(401, "Not authorized: Unauthorized");
        app.get("/api/users/whoami", &bob).await.assert_status(200);
        app.post("/api/w/admins/users/update/ghost", &app.admin, json!({"disabled": true})).await.assert_status(404);
    }
);

db_test!(
    async fn removing_a_member_removes_groups_and_pinned_tokens(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let pinned = app.mint(&bob, json!({"workspace_id": "admins"})).await;
        let free = app.mint(&bob, json!({})).await;
        app.post("/api/w/admins/groups/create", &bob, json!({"name": "team"})).await.assert_status(200);
        app.delete("/api/w/admins/users/delete/bob", &app.admin).await.assert_text(200, "username bob deleted");
        app.get("/api/w/admins/groups/list", &pinned).await.assert_status(401);
        app.get("/api/users/whoami", &free).await.assert_status(200);
        let team = app.get("/api/w/admins/groups/get/team", &app.admin).await.json();
        assert_eq!(team["members"], json!([]));
        app.delete("/api/w/admins/users/delete/bob", &app.admin).await.assert_status(404);
        let e = app.audit_all().await.into_iter().find(|a| a.operation == "users.delete").unwrap();
        assert_eq!((e.workspace_id.as_str(), e.resource.as_deref()), ("admins", Some("bob")));
    }
);
