//! Instance users: create, update, disable, delete, list, passwords, exists.

use serde_json::json;
use wmill_api::GlobalUserInfo;

use crate::common::*;

db_test!(
    async fn superadmins_create_users(app) {
        let r = app
            .post(
                "/api/users/create",
                &app.admin,
                json!({"email": " Example@Example.com", "password": "mypassword123", "super_admin": true,
                       "company": "Acme Inc.", "name": "John Doe"}),
            )
            .await;
        r.assert_text(201, "email example@example.com created");
        let t = app.login("example@example.com", "mypassword123").await;
        let me: GlobalUserInfo = app.get("/api/users/whoami", &t).await.parse();
        assert_eq!(me.name.as_deref(), Some("John Doe"));
        assert_eq!(me.company.as_deref(), Some("Acme Inc."));
        assert!(me.super_admin && me.verified && !me.disabled);
        assert_eq!(me.username, None, "a username comes with the first workspace");

        let dup = app
            .post("/api/users/create", &app.admin, json!({"email": "EXAMPLE@example.com", "password": "mypassword123", "super_admin": false}))
            .await;
        dup.assert_text(409, "Conflict: user with email example@example.com already exists");
        let entry = app.audit_all().await.into_iter().find(|a| a.operation == "users.add_global" && a.username == ADMIN_EMAIL).unwrap();
        assert_eq!(entry.resource.as_deref(), Some("example@example.com"));
        assert_eq!(entry.action_kind, wmill_api::ActionKind::Create);
        assert_eq!(entry.workspace_id, "global");
    }
);

db_test!(
    async fn initial_passwords_may_be_as_short_as_windmills_generated_ones(app) {
        // Windmill's client makes up a 5-character password for `wmill user add <email>`.
        app.post("/api/users/create", &app.admin, json!({"email": "five@example.com", "password": "a1b2c", "super_admin": false}))
            .await
            .assert_text(201, "email five@example.com created");
        let t = app.login("five@example.com", "a1b2c").await;
        // Passwords people choose, or a superadmin resets, get the full policy.
        app.post("/api/users/setpassword", &t, json!({"password": "1234567"}))
            .await
            .assert_text(400, "Bad request: password must be at least 8 characters long");
        app.post("/api/users/set_password_of/five@example.com", &app.admin, json!({"password": "1234567"}))
            .await
            .assert_text(400, "Bad request: password must be at least 8 characters long");
        app.post("/api/users/create", &app.admin, json!({"email": "four@example.com", "password": "a1b2", "super_admin": false}))
            .await
            .assert_text(400, "Bad request: password must be at least 5 characters long");
    }
);

db_test!(
    async fn only_superadmins_manage_users(app) {
        let bob = app.member_token("admins", "bob@example.com", true).await;
        let refused = "Not authorized: This endpoint requires the caller to be a super admin";
        app.post("/api/users/create", &bob, json!({"email": "c@x.io", "password": PASSWORD, "super_admin": false}))
            .await
            .assert_text(401, refused);
        app.delete("/api/users/delete/admin@windmill.dev", &bob).await.assert_text(401, refused);
        app.post("/api/users/update/bob@example.com", &bob, json!({"is_super_admin": true})).await.assert_text(401, refused);
        app.get("/api/users/list_as_super_admin", &bob).await.assert_text(401, refused);
        app.post("/api/users/set_password_of/admin@windmill.dev", &bob, json!({"password": "takeover123"}))
            .await
            .assert_text(401, refused);
    }
);

db_test!(
    async fn deleting_a_user_removes_everything_of_theirs(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let api = app.mint(&bob, json!({"label": "ci"})).await;
        app.post("/api/w/admins/groups/create", &bob, json!({"name": "team"})).await.assert_status(200);
        app.delete("/api/users/delete/bob@example.com", &app.admin).await.assert_text(200, "email bob@example.com deleted");
        app.get("/api/users/whoami", &bob).await.assert_status(401);
        app.get("/api/users/whoami", &api).await.assert_status(401);
        let group = app.get("/api/w/admins/groups/get/team", &app.admin).await.json();
        assert_eq!(group["members"], json!([]));
        let members = app.get("/api/w/admins/users/list_usernames", &app.admin).await.json();
        assert_eq!(members, json!(["admin"]));
        assert_eq!(app.get("/api/users/exists/bob@example.com", &app.admin).await.body, "false");
        app.delete("/api/users/delete/bob@example.com", &app.admin)
            .await
            .assert_text(404, "Not found: user with email bob@example.com not found");
    }
);

db_test!(
    async fn the_last_superadmin_stays(app) {
        let last = "Conflict: admin@windmill.dev is the last enabled superadmin; make another account superadmin first ('wmill user update <email> --superadmin')";
        app.delete("/api/users/delete/admin@windmill.dev", &app.admin).await.assert_text(409, last);
        app.post("/api/users/update/admin@windmill.dev", &app.admin, json!({"disabled": true})).await.assert_text(409, last);
        app.post("/api/users/update/admin@windmill.dev", &app.admin, json!({"is_super_admin": false})).await.assert_text(409, last);
        app.create_user("root@example.com", true).await;
        app.post("/api/users/update/admin@windmill.dev", &app.admin, json!({"is_super_admin": false}))
            .await
            .assert_text(200, "email admin@windmill.dev updated");
        // Demotion takes effect on the next request.
        app.get("/api/users/list_as_super_admin", &app.admin).await.assert_status(401);
    }
);

db_test!(
    async fn disabling_revokes_tokens_and_refuses_login(app) {
        let bob = app.member_token("admins", "bob@example.com", false).await;
        let api = app.mint(&bob, json!({})).await;
        app.post("/api/users/update/bob@example.com", &app.admin, json!({"disabled": true}))
            .await
            .assert_text(200, "email bob@example.com updated");
        app.get("/api/users/whoami", &bob).await.assert_status(401);
        app.get("/api/w/admins/users/whoami", &api).await.assert_status(401);
        let r = app.call("POST", "/api/auth/login", None, Some(json!({"email": "bob@example.com", "password": PASSWORD}))).await;
        r.assert_text(400, "Bad request: Invalid login");
        let listed: Vec<GlobalUserInfo> = app.get("/api/users/list_as_super_admin", &app.admin).await.parse();
        assert!(listed.iter().any(|u| u.email == "bob@example.com" && u.disabled));
        app.post("/api/users/update/bob@example.com", &app.admin, json!({"disabled": false, "name": "Bob"})).await.assert_status(200);
        let t = app.login("bob@example.com", PASSWORD).await;
        let me: GlobalUserInfo = app.get("/api/users/whoami", &t).await.parse();
        assert_eq!(me.name.as_deref(), Some("Bob"));
        app.post("/api/users/update/nobody@example.com", &app.admin, json!({"name": "x"}))
            .await
            .assert_text(404, "Not found: user with email nobody@example.com not found");
    }
);

db_test!(
    async fn list_puts_superadmins_first_and_pages(app) {
        for e in ["zed@example.com", "amy@example.com", "root@example.com"] {
            app.create_user(e, e.starts_with("root")).await;
        }
        let all: Vec<GlobalUserInfo> = app.get("/api/users/list_as_super_admin", &app.admin).await.parse();
        let emails: Vec<_> = all.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(emails, ["admin@windmill.dev", "root@example.com", "amy@example.com", "zed@example.com"]);
        let page: Vec<GlobalUserInfo> = app.get("/api/users/list_as_super_admin?page=2&per_page=3", &app.admin).await.parse();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].email, "zed@example.com");
        let zero: Vec<GlobalUserInfo> = app.get("/api/users/list_as_super_admin?page=0&per_page=2", &app.admin).await.parse();
        assert_eq!(zero[0].email, "admin@windmill.dev", "page 0 is page 1");
    }
);

db_test!(
    async fn superadmins_set_passwords_and_check_existence(app) {
        app.create_user("bob@example.com", false).await;
        app.post("/api/users/set_password_of/Bob@Example.com", &app.admin, json!({"password": "another password"}))
            .await
            .assert_text(200, "password of bob@example.com updated");
        app.login("bob@example.com", "another password").await;
        app.post("/api/users/set_password_of/nobody@example.com", &app.admin, json!({"password": "another password"}))
            .await
            .assert_text(404, "Not found: user with email nobody@example.com not found");
        let yes = app.get("/api/users/exists/bob@example.com", &app.admin).await;
        assert_eq!(yes.content_type, "application/json");
        assert_eq!(yes.body, "true");
        assert_eq!(app.get("/api/users/exists/nobody@example.com", &app.admin).await.body, "false");
        // What cannot be an email has no account.
        assert_eq!(app.get("/api/users/exists/not-an-email", &app.admin).await.body, "false");
    }
);
