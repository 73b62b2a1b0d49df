//! The instance as a whole: instance groups (and the roles and memberships they give),
//! users export and overwrite (with Windmill's argon2 hashes), group owners, workspace
//! settings and lifecycle, the archive `sync pull` reads, and the small routes.

use std::io::Read;

use serde_json::{Value, json};
use wmill_api::{
    ExportedInstanceGroup, ExportedUser, GlobalUserInfo, InstanceGroupWithWorkspaces,
    OverwriteReport, User, UserInfo, WorkspaceSettings,
};

use crate::common::*;

/// A PHC hash of `password` as Windmill makes them: argon2id v19 with the argon2 crate's
/// defaults (m=19456, t=2, p=1), or weaker costs.
fn windmill_hash(password: &str, m_cost: u32) -> String {
    use argon2::password_hash::PasswordHasher;
    let params = argon2::Params::new(m_cost, 2, 1, None).unwrap();
    let h: argon2::password_hash::phc::PasswordHash =
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_with_salt(password.as_bytes(), b"0123456789abcdef")
            .unwrap();
    h.to_string()
}

fn exported(app_users: &[ExportedUser], email: &str) -> ExportedUser {
    app_users
        .iter()
        .find(|u| u.email == email)
        .cloned()
        .unwrap_or_else(|| panic!("{email} in {app_users:?}"))
}

db_test!(
    async fn instance_groups_are_kept_by_superadmins_and_read_by_everyone(app) {
        let member = app.member_token("admins", "mem@example.com", false).await;
        app.post("/api/groups/create", &member, json!({"name": "eng"})).await.assert_status(401);
        app.post("/api/groups/create", &app.admin, json!({"name": "eng", "summary": "Engineers"}))
            .await
            .assert_text(200, "Created instance group eng");
        app.post("/api/groups/create", &app.admin, json!({"name": "eng"})).await.assert_status(409);
        app.post("/api/groups/create", &app.admin, json!({"name": "bad name"})).await.assert_status(400);
        app.post("/api/groups/adduser/eng", &app.admin, json!({"email": "mem@example.com"}))
            .await
            .assert_text(200, "Added mem@example.com to instance group eng");
        app.post("/api/groups/adduser/eng", &app.admin, json!({"email": "nobody@example.com"})).await.assert_status(404);
        app.post("/api/groups/adduser/nope", &app.admin, json!({"email": "mem@example.com"})).await.assert_status(404);
        let g: InstanceGroupWithWorkspaces = app.get("/api/groups/get/eng", &member).await.parse();
        assert_eq!((g.summary.as_deref(), g.emails.clone()), (Some("Engineers"), vec!["mem@example.com".to_string()]));
        let list: Vec<Value> = app.get("/api/groups/list", &member).await.parse();
        assert_eq!(list.len(), 1);
        // They show in the member's groups, as in Windmill.
        let who: UserInfo = app.get("/api/w/admins/users/whoami", &member).await.parse();
        assert!(who.groups.contains(&"eng".to_string()), "{:?}", who.groups);
        let names: Vec<String> = app.get("/api/w/admins/groups/listnames?only_member_of=true", &member).await.parse();
        assert!(names.contains(&"eng".to_string()) && names.contains(&"all".to_string()), "{names:?}");
        // The export and the audit.
        let export: Vec<ExportedInstanceGroup> = app.get("/api/groups/export", &app.admin).await.parse();
        assert_eq!(export[0].emails.as_deref(), Some(&["mem@example.com".to_string()][..]));
        app.get("/api/groups/export", &member).await.assert_status(401);
        let log = app.audit_all().await;
        assert!(log.iter().any(|e| e.operation == "instance_group.adduser" && e.workspace_id == "global"));
        app.post("/api/groups/removeuser/eng", &app.admin, json!({"email": "mem@example.com"})).await.assert_status(200);
        app.post("/api/groups/removeuser/eng", &app.admin, json!({"email": "mem@example.com"})).await.assert_status(404);
        app.delete("/api/groups/delete/eng", &app.admin).await.assert_status(200);
        app.get("/api/groups/get/eng", &app.admin).await.assert_status(404);
    }
);

db_test!(
    /// `instance_role` gives its members the role while they belong, and nothing after:
    /// impersonation tokens they minted do not come back with the role.
    async fn an_instance_role_lasts_as_long_as_the_membership(app) {
        app.create_user("ops@example.com", false).await;
        let ops = app.login("ops@example.com", PASSWORD).await;
        app.get("/api/users/list_as_super_admin", &ops).await.assert_status(401);
        app.post("/api/groups/create", &app.admin, json!({"name": "roots"})).await.assert_status(200);
        app.post("/api/groups/update/roots", &app.admin, json!({"new_summary": "s", "instance_role": "superadmin"})).await.assert_status(200);
        app.post("/api/groups/update/roots", &app.admin, json!({"new_summary": "s", "instance_role": "king"})).await.assert_status(400);
        app.post("/api/groups/adduser/roots", &app.admin, json!({"email": "ops@example.com"})).await.assert_status(200);
        let me: GlobalUserInfo = app.get("/api/users/whoami", &ops).await.parse();
        assert!(me.super_admin);
        app.get("/api/users/list_as_super_admin", &ops).await.assert_status(200);
        app.create_user("target@example.com", false).await;
        let imp = app.post("/api/users/tokens/impersonate", &ops, json!({"impersonate_email": "target@example.com"})).await;
        imp.assert_status(201);
        let imp = imp.body;
        app.get("/api/users/whoami", &imp).await.assert_status(200);
        // Out of the group: no longer a superadmin, and the impersonation is gone for good.
        app.post("/api/groups/removeuser/roots", &app.admin, json!({"email": "ops@example.com"})).await.assert_status(200);
        app.get("/api/users/list_as_super_admin", &ops).await.assert_status(401);
        app.get("/api/users/whoami", &imp).await.assert_status(401);
        app.post("/api/groups/adduser/roots", &app.admin, json!({"email": "ops@example.com"})).await.assert_status(200);
        app.get("/api/users/whoami", &imp).await.assert_status(401);
        // The role cleared: the same.
        app.post("/api/groups/update/roots", &app.admin, json!({"new_summary": "s", "instance_role": "devops"})).await.assert_status(200);
        let me: GlobalUserInfo = app.get("/api/users/whoami", &ops).await.parse();
        assert!(!me.super_admin && me.devops, "{me:?}");
        app.post("/api/users/create", &ops, json!({"email": "x@example.com", "password": PASSWORD, "super_admin": false})).await.assert_status(401);
        // The group-made superadmin does not count as the last one: the flag's holder stays.
        app.post("/api/groups/update/roots", &app.admin, json!({"new_summary": "s", "instance_role": "superadmin"})).await.assert_status(200);
        app.post("/api/users/update/admin@windmill.dev", &ops, json!({"is_super_admin": false})).await.assert_status(409);
    }
);

db_test!(
    /// A workspace fed by an instance group: its members join with the group's role, follow
    /// the group, and a member added directly is never touched.
    async fn instance_groups_feed_workspaces_while_members_belong(app) {
        app.create_workspace("ws").await;
        for e in ["a@example.com", "b@example.com", "direct@example.com"] {
            app.create_user(e, false).await;
        }
        app.add_member("ws", "direct@example.com", false).await;
        app.post("/api/groups/create", &app.admin, json!({"name": "eng"})).await.assert_status(200);
        for e in ["a@example.com", "direct@example.com"] {
            app.post("/api/groups/adduser/eng", &app.admin, json!({"email": e})).await.assert_status(200);
        }
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        let member = app.member_token("ws", "mem@example.com", false).await;
        app.post("/api/w/ws/workspaces/edit_instance_groups", &member, json!({"groups": ["eng"]})).await.assert_status(403);
        app.post("/api/w/ws/workspaces/edit_instance_groups", &wsa, json!({"groups": ["nope"]})).await.assert_status(404);
        app.post("/api/w/ws/workspaces/edit_instance_groups", &wsa, json!({"groups": ["eng"], "roles": {"eng": "king"}})).await.assert_status(400);
        let before = app.fingerprint().await;
        app.post("/api/w/ws/workspaces/edit_instance_groups", &wsa, json!({"groups": ["eng"], "roles": {"other": "admin"}})).await.assert_status(400);
        assert_eq!(app.fingerprint().await, before);
        app.post("/api/w/ws/workspaces/edit_instance_groups", &wsa, json!({"groups": ["eng"], "roles": {"eng": "operator"}}))
            .await
            .assert_status(200);
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        let a = users.iter().find(|u| u.email == "a@example.com").expect("a joined");
        assert!(a.operator && !a.is_admin);
        let direct = users.iter().find(|u| u.email == "direct@example.com").unwrap();
        assert!(!direct.operator, "a direct member keeps their role");
        // The settings say so.
        let s: WorkspaceSettings = app.get("/api/w/ws/workspaces/get_settings", &member).await.parse();
        let ai = s.auto_invite.unwrap();
        assert_eq!(ai.instance_groups, Some(vec!["eng".to_string()]));
        assert_eq!(ai.instance_groups_roles.unwrap()["eng"], "operator");
        // b joins the group: b joins the workspace; the role changes: so does b's.
        app.post("/api/groups/adduser/eng", &app.admin, json!({"email": "b@example.com"})).await.assert_status(200);
        app.post("/api/w/ws/workspaces/edit_instance_groups", &wsa, json!({"groups": ["eng"], "roles": {"eng": "developer"}})).await.assert_status(200);
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        let b = users.iter().find(|u| u.email == "b@example.com").expect("b joined");
        assert!(!b.operator && !b.is_admin);
        // a leaves the group: a leaves the workspace (with the tokens pinned there).
        let a_token = app.login("a@example.com", PASSWORD).await;
        let pinned = app.mint(&a_token, json!({"workspace_id": "ws"})).await;
        app.get("/api/w/ws/users/whoami", &pinned).await.assert_status(200);
        app.post("/api/groups/removeuser/eng", &app.admin, json!({"email": "a@example.com"})).await.assert_status(200);
        app.get("/api/w/ws/users/whoami", &pinned).await.assert_status(401);
        app.get("/api/w/ws/users/whoami", &a_token).await.assert_status(401);
        // The group leaves the workspace: b goes, the direct member stays.
        app.post("/api/w/ws/workspaces/edit_instance_groups", &wsa, json!({"groups": []})).await.assert_status(200);
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
        assert!(!emails.contains(&"b@example.com") && emails.contains(&"direct@example.com"), "{emails:?}");
        let log = app.audit_all().await;
        assert!(log.iter().any(|e| e.operation == "users.delete" && e.workspace_id == "ws"
            && e.parameters.as_ref().is_some_and(|p| p["email"] == "b@example.com")));
    }
);

db_test!(
    /// A group-made admin who is the workspace's last admin stays when the group leaves.
    async fn the_last_admin_is_kept_when_a_group_leaves(app) {
        app.create_user("boss@example.com", false).await;
        app.post("/api/groups/create", &app.admin, json!({"name": "bosses"})).await.assert_status(200);
        app.post("/api/groups/adduser/bosses", &app.admin, json!({"email": "boss@example.com"})).await.assert_status(200);
        // A workspace whose only other admin then leaves.
        app.post("/api/workspaces/create", &app.admin, json!({"id": "solo", "name": "Solo"})).await.assert_status(200);
        app.post("/api/w/solo/workspaces/edit_instance_groups", &app.admin, json!({"groups": ["bosses"], "roles": {"bosses": "admin"}}))
            .await
            .assert_status(200);
        app.post("/api/w/solo/workspaces/leave", &app.admin, json!({})).await.assert_status(200);
        app.post("/api/groups/removeuser/bosses", &app.admin, json!({"email": "boss@example.com"})).await.assert_status(200);
        let boss = app.login("boss@example.com", PASSWORD).await;
        let who: UserInfo = app.get("/api/w/solo/users/whoami", &boss).await.parse();
        assert!(who.is_admin, "kept as the last admin");
    }
);

db_test!(
    /// Users move from a Windmill instance with their passwords: Windmill's hashes import as
    /// they are, each user signs in with the original password, and a weaker hash is
    /// upgraded at that login.
    async fn an_export_from_windmill_imports_with_its_passwords(app) {
        // Costs between the two imported hashes: Windmill's (m=19456) is stronger, the old
        // one (m=4096) weaker.
        let mut settings = wmill_server::config::Settings::for_tests();
        settings.argon2 = wmill_server::password::Argon2Params { m_cost: 8192, t_cost: 2, p_cost: 1 };
        let app = app.sibling(settings).await;
        let strong = windmill_hash("alice-original-1", 19456);
        let weak = windmill_hash("bob-original-22", 4096);
        let mut users: Vec<ExportedUser> = app.get("/api/users/export", &app.admin).await.parse();
        assert_eq!(users.len(), 1);
        let admin_hash = users[0].password_hash.clone().expect("hashes exported");
        assert!(admin_hash.starts_with("$argon2id$"));
        users.push(ExportedUser {
            email: "alice@example.com".into(),
            password_hash: Some(strong.clone()),
            super_admin: false,
            verified: true,
            name: Some("Alice".into()),
            company: None,
            first_time_user: false,
            username: Some("alice".into()),
        });
        users.push(ExportedUser {
            email: "bob@example.com".into(),
            password_hash: Some(weak.clone()),
            super_admin: true,
            verified: true,
            name: None,
            company: Some("Co".into()),
            first_time_user: true,
            username: None,
        });
        // Windmill's own export carries login_type: accepted.
        let mut body = serde_json::to_value(&users).unwrap();
        body[1]["login_type"] = json!("password");
        let dry: OverwriteReport = app.post("/api/users/overwrite?dry_run=true", &app.admin, body.clone()).await.parse();
        assert_eq!((dry.created.clone(), dry.unchanged, dry.dry_run), (vec!["alice@example.com".to_string(), "bob@example.com".to_string()], 1, true));
        assert!(app.get("/api/users/exists/alice@example.com", &app.admin).await.body == "false", "a dry run changes nothing");
        let done: OverwriteReport = app.post("/api/users/overwrite", &app.admin, body).await.parse();
        assert_eq!(done.created.len(), 2);
        app.login("alice@example.com", "alice-original-1").await;
        app.login("bob@example.com", "bob-original-22").await;
        let after: Vec<ExportedUser> = app.get("/api/users/export", &app.admin).await.parse();
        assert_eq!(exported(&after, "alice@example.com").password_hash, Some(strong), "a hash as strong as ours stays");
        let upgraded = exported(&after, "bob@example.com").password_hash.unwrap();
        assert_ne!(upgraded, weak, "the weaker hash was upgraded at login");
        let alice = exported(&after, "alice@example.com");
        assert_eq!((alice.username.as_deref(), alice.name.as_deref()), (Some("alice"), Some("Alice")));
        // Exports are audited with who asked, and without hashes on request.
        let log = app.audit_all().await;
        let e = log.iter().find(|e| e.operation == "users.export").unwrap();
        assert_eq!(e.username, ADMIN_EMAIL);
        let bare: Vec<Value> = app.get("/api/users/export?include_password_hash=false", &app.admin).await.parse();
        assert!(bare.iter().all(|u| u.get("password_hash").is_none()), "{bare:?}");
        let text = serde_json::to_string(&log).unwrap();
        assert!(!text.contains("$argon2"), "no hash in the audit log");
    }
);

db_test!(
    /// One bad row refuses the whole overwrite, naming the row; nothing changes, the audit
    /// log included.
    async fn an_overwrite_with_one_bad_row_changes_nothing(app) {
        app.create_user("keep@example.com", false).await;
        let users: Vec<ExportedUser> = app.get("/api/users/export", &app.admin).await.parse();
        let before_export: Vec<ExportedUser> = users.clone();
        let before = app.fingerprint().await;
        let mut body = serde_json::to_value(&users).unwrap();
        let rows = body.as_array_mut().unwrap();
        rows.push(json!({"email": "new@example.com", "super_admin": false, "password_hash": "plaintext!"}));
        let r = app.post("/api/users/overwrite", &app.admin, body.clone()).await;
        r.assert_text_starts(400, "Bad request: user 3 (\"new@example.com\"): password_hash: it is not a PHC string");
        let cases = [
            json!({"email": "not an email", "super_admin": false}),
            json!({"email": "keep@example.com", "super_admin": false}),
            json!({"email": "x@example.com", "super_admin": false, "username": "no pe"}),
            json!({"email": "y@example.com", "super_admin": false, "password_hash": "$argon2id$v=19$m=9999999,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"}),
        ];
        for bad in cases {
            let mut b = body.clone();
            let rows = b.as_array_mut().unwrap();
            rows.pop();
            rows.push(bad.clone());
            let r = app.post("/api/users/overwrite", &app.admin, b).await;
            assert_eq!(r.status.as_u16(), 400, "{bad}: {r:?}");
        }
        // No superadmin left: a conflict. Not an array: 422.
        let r = app.post("/api/users/overwrite", &app.admin, json!([{"email": "keep@example.com", "super_admin": false}])).await;
        r.assert_status(409);
        app.post("/api/users/overwrite", &app.admin, json!([])).await.assert_status(409);
        app.post("/api/users/overwrite", &app.admin, json!({"email": "a@b.c"})).await.assert_status(422);
        assert_eq!(app.fingerprint().await, before);
        let after: Vec<ExportedUser> = app.get("/api/users/export", &app.admin).await.parse();
        assert_eq!(after, before_export);
        // A good overwrite deletes who is not listed, as delete would.
        let only_admin: Vec<ExportedUser> = before_export.iter().filter(|u| u.email == ADMIN_EMAIL).cloned().collect();
        let done: OverwriteReport = app.post("/api/users/overwrite", &app.admin, serde_json::to_value(&only_admin).unwrap()).await.parse();
        assert_eq!(done.deleted, vec!["keep@example.com".to_string()]);
        assert_eq!(app.get("/api/users/exists/keep@example.com", &app.admin).await.body, "false");
    }
);

db_test!(
    async fn instance_groups_overwrite_all_or_nothing(app) {
        app.create_user("a@example.com", false).await;
        let body = json!([
            {"name": "eng", "summary": "E", "emails": ["a@example.com"], "instance_role": null},
            {"name": "ops", "emails": [], "id": "ext-1", "external_id": "x"}
        ]);
        let r: OverwriteReport = app.post("/api/groups/overwrite", &app.admin, body.clone()).await.parse();
        assert_eq!(r.created, vec!["eng".to_string(), "ops".to_string()]);
        let again: OverwriteReport = app.post("/api/groups/overwrite", &app.admin, body).await.parse();
        assert_eq!((again.unchanged, again.updated.len()), (2, 0));
        let before = app.fingerprint().await;
        let export_before: Vec<ExportedInstanceGroup> = app.get("/api/groups/export", &app.admin).await.parse();
        for bad in [
            json!([{"name": "eng", "emails": ["nobody@example.com"]}]),
            json!([{"name": "eng"}, {"name": "eng"}]),
            json!([{"name": "e g"}]),
            json!([{"name": "eng", "instance_role": "root"}]),
        ] {
            let r = app.post("/api/groups/overwrite", &app.admin, bad.clone()).await;
            assert_eq!(r.status.as_u16(), 400, "{bad}: {r:?}");
        }
        assert_eq!(app.fingerprint().await, before);
        let export_after: Vec<ExportedInstanceGroup> = app.get("/api/groups/export", &app.admin).await.parse();
        assert_eq!(export_after, export_before);
        let ops = export_after.iter().find(|g| g.name == "ops").unwrap();
        assert_eq!((ops.id.as_deref(), ops.external_id.as_deref()), (Some("ext-1"), Some("x")));
    }
);

db_test!(
    /// Group owners through Windmill's ACL routes: admins and owners change them; an owner
    /// cannot remove the last ownership, an admin can; removing nothing succeeds.
    async fn group_owners_are_managed_through_acls(app) {
        app.create_workspace("ws").await;
        let owner = app.member_token("ws", "own@example.com", false).await;
        let other = app.member_token("ws", "oth@example.com", false).await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        app.post("/api/w/ws/groups/create", &owner, json!({"name": "team"})).await.assert_status(200);
        let acl: Value = app.get("/api/w/ws/acls/get/group_/team", &other).await.parse();
        assert_eq!(acl, json!({"u/own": true}));
        app.get("/api/w/ws/acls/get/script/team", &other).await.assert_status(404);
        app.post("/api/w/ws/acls/add/group_/team", &other, json!({"owner": "u/oth", "write": true})).await.assert_status(403);
        app.post("/api/w/ws/acls/add/group_/team", &owner, json!({"owner": "u/nobody", "write": true})).await.assert_status(404);
        app.post("/api/w/ws/acls/add/group_/team", &owner, json!({"owner": "x/oth", "write": true})).await.assert_status(400);
        // The last owner cannot leave it ownerless; an admin can.
        let before = app.fingerprint().await;
        app.post("/api/w/ws/acls/remove/group_/team", &owner, json!({"owner": "u/own"})).await.assert_status(409);
        app.post("/api/w/ws/acls/add/group_/team", &owner, json!({"owner": "u/own", "write": false})).await.assert_status(409);
        assert_eq!(app.fingerprint().await, before);
        app.post("/api/w/ws/acls/add/group_/team", &owner, json!({"owner": "u/oth", "write": true})).await.assert_status(200);
        app.post("/api/w/ws/groups/update/team", &other, json!({"summary": "now mine too"})).await.assert_status(200);
        app.post("/api/w/ws/acls/remove/group_/team", &owner, json!({"owner": "u/own"})).await.assert_status(200);
        app.post("/api/w/ws/groups/update/team", &owner, json!({"summary": "no"})).await.assert_status(403);
        app.post("/api/w/ws/acls/remove/group_/team", &other, json!({"owner": "u/own"})).await.assert_status(200);
        app.post("/api/w/ws/acls/remove/group_/team", &wsa, json!({"owner": "u/oth"})).await.assert_status(200);
        let acl: Value = app.get("/api/w/ws/acls/get/group_/team", &other).await.parse();
        assert_eq!(acl, json!({}));
        let log = app.audit_all().await;
        assert!(log.iter().any(|e| e.operation == "acls.add" && e.resource.as_deref() == Some("group_/team")));
        let history: Vec<Value> = app.get("/api/w/ws/groups_history/get/team", &wsa).await.parse();
        assert!(history.iter().any(|h| h["change_type"] == "acls.remove" && h["member_affected"] == "u/oth"), "{history:?}");
        assert_eq!(history.first().unwrap()["changed_by"], "wsa");
    }
);

db_test!(
    /// What `sync pull` reads: a zip without directory entries, one file per member and
    /// group (not `all`), admins being owners who are members.
    async fn the_sync_archive_holds_users_groups_and_settings(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        let member = app.member_token("ws", "mem@example.com", false).await;
        app.post("/api/w/ws/groups/create", &wsa, json!({"name": "devs", "summary": "Developers"})).await.assert_status(200);
        app.post("/api/w/ws/groups/adduser/devs", &wsa, json!({"username": "mem"})).await.assert_status(200);
        app.post("/api/w/ws/workspaces/edit_auto_invite", &wsa, json!({"operator": true, "invite_all": true, "auto_add": true})).await.assert_status(200);
        app.get("/api/w/ws/workspaces/tarball?archive_type=zip&include_users=true", &member).await.assert_status(403);
        app.get("/api/w/ws/workspaces/tarball?archive_type=tar", &wsa).await.assert_text_starts(400, "Bad request: Invalid Archive Type");
        let r = app
            .call("GET", "/api/w/ws/workspaces/tarball?archive_type=zip&include_users=true&include_groups=true&include_settings=true&skip_secrets=true", Some(&wsa), None)
            .await;
        r.assert_status(200);
        assert_eq!(r.content_type, "application/zip");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.bytes.clone())).unwrap();
        let mut files = std::collections::BTreeMap::new();
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            assert!(!f.is_dir(), "no directory entries: {}", f.name());
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            files.insert(f.name().to_string(), serde_json::from_str::<Value>(&s).unwrap());
        }
        assert_eq!(files["users/mem@example.com.user.json"], json!({"disabled": false, "role": "developer", "username": "mem"}));
        assert_eq!(files["users/wsa@example.com.user.json"]["role"], "admin");
        assert_eq!(files["groups/devs.group.json"], json!({"summary": "Developers", "admins": ["u/wsa"], "members": ["u/mem"]}));
        assert!(!files.contains_key("groups/all.group.json"));
        assert_eq!(files["settings.json"]["auto_invite"], json!({"enabled": true, "operator": true, "mode": "add"}));
        assert_eq!(files["settings.json"]["name"], "ws");
        // Only what was asked for.
        let r = app.call("GET", "/api/w/ws/workspaces/tarball?archive_type=zip&include_groups=true", Some(&wsa), None).await;
        let zip = zip::ZipArchive::new(std::io::Cursor::new(r.bytes.clone())).unwrap();
        assert!(zip.file_names().all(|n| n.starts_with("groups/")), "{:?}", zip.file_names().collect::<Vec<_>>());
    }
);

db_test!(
    /// Auto-invite in `add` mode puts each new account in the workspace; operators lose what
    /// the operator settings take away.
    async fn auto_invite_and_operator_settings_apply(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        app.post("/api/w/ws/workspaces/edit_auto_invite", &wsa, json!({"operator": true, "invite_all": true, "auto_add": true})).await.assert_status(200);
        app.create_user("newbie@example.com", false).await;
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        let n = users.iter().find(|u| u.email == "newbie@example.com").expect("auto-added");
        assert!(n.operator);
        app.post("/api/w/ws/workspaces/edit_auto_invite", &wsa, json!({})).await.assert_status(200);
        app.create_user("later@example.com", false).await;
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        assert!(!users.iter().any(|u| u.email == "later@example.com"));
        let s: WorkspaceSettings = app.get("/api/w/ws/workspaces/get_settings", &wsa).await.parse();
        assert!(s.auto_invite.is_none() && s.operator_settings.is_none(), "{s:?}");
        // Operators.
        let newbie = app.login("newbie@example.com", PASSWORD).await;
        app.get("/api/w/ws/groups/list", &newbie).await.assert_status(200);
        app.post("/api/w/ws/workspaces/operator_settings", &newbie, json!({"groups": false})).await.assert_status(403);
        app.post("/api/w/ws/workspaces/operator_settings", &wsa, json!({"groups": false, "audit_logs": false, "runs": true})).await.assert_status(200);
        app.post("/api/w/ws/workspaces/operator_settings", &wsa, json!({"Bad Key": true})).await.assert_status(400);
        app.get("/api/w/ws/groups/list", &newbie).await.assert_status(403);
        app.get("/api/w/ws/audit/list", &newbie).await.assert_status(403);
        app.get("/api/w/ws/groups/list", &wsa).await.assert_status(200);
        let s: WorkspaceSettings = app.get("/api/w/ws/workspaces/get_settings", &wsa).await.parse();
        assert_eq!(s.operator_settings.unwrap().get("runs"), Some(&true));
    }
);

db_test!(
    /// Renames and email changes carry memberships, groups and ownerships along; the
    /// account's tokens keep working.
    async fn renames_and_email_changes_carry_everything(app) {
        app.create_workspace("ws").await;
        let carol = app.member_token("ws", "carol@example.com", false).await;
        app.post("/api/w/ws/groups/create", &carol, json!({"name": "cteam"})).await.assert_status(200);
        app.member_token("ws", "taken@example.com", false).await;
        app.post("/api/users/rename/carol@example.com", &app.admin, json!({"new_username": "taken"})).await.assert_status(409);
        app.post("/api/users/rename/carol@example.com", &app.admin, json!({"new_username": "9x"})).await.assert_status(400);
        app.post("/api/users/rename/carol@example.com", &carol, json!({"new_username": "caro"})).await.assert_status(401);
        app.post("/api/users/rename/carol@example.com", &app.admin, json!({"new_username": "caro"})).await.assert_status(200);
        let g: wmill_api::Group = app.get("/api/w/ws/groups/get/cteam", &carol).await.parse();
        assert!(g.members.contains(&"caro".to_string()) && g.extra_perms.get("u/caro") == Some(&true), "{g:?}");
        let who: UserInfo = app.get("/api/w/ws/users/whoami", &carol).await.parse();
        assert_eq!(who.username, "caro");
        let info: Value = app.get("/api/users/username_info/carol@example.com", &app.admin).await.parse();
        assert_eq!(info, json!({"username": "caro", "workspace_usernames": [{"workspace_id": "ws", "username": "caro"}]}));
        app.post("/api/users/change_email/carol@example.com", &app.admin, json!({"new_email": "taken@example.com"})).await.assert_status(409);
        app.post("/api/users/change_email/carol@example.com", &app.admin, json!({"new_email": "carol@new.example"})).await.assert_status(200);
        let who: UserInfo = app.get("/api/w/ws/users/whoami", &carol).await.parse();
        assert_eq!((who.email.as_str(), who.username.as_str()), ("carol@new.example", "caro"));
        app.login("carol@new.example", PASSWORD).await;
        assert_eq!(app.get("/api/w/ws/users/username_to_email/caro", &carol).await.body, "carol@new.example");
        let whois: User = app.get("/api/w/ws/users/whois/caro", &carol).await.parse();
        assert_eq!(whois.email, "carol@new.example");
        assert_eq!(app.post("/api/workspaces/exists_username", &carol, json!({"id": "ws", "username": "caro"})).await.body, "true");
        assert_eq!(app.post("/api/workspaces/exists_username", &carol, json!({"id": "ws", "username": "carol"})).await.body, "false");
    }
);

db_test!(
    /// Archiving hides a workspace from its members' lists; deleting it takes its members,
    /// groups and pinned tokens, and keeps its audit entries; `admins` cannot be deleted.
    async fn workspaces_are_archived_renamed_and_deleted(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        let pinned = app.mint(&wsa, json!({"workspace_id": "ws"})).await;
        app.post("/api/w/ws/workspaces/change_workspace_name", &wsa, json!({"new_name": "Renamed"})).await.assert_status(200);
        assert_eq!(app.get("/api/w/ws/workspaces/get_workspace_name", &wsa).await.body, "Renamed");
        app.post("/api/w/ws/workspaces/change_workspace_name", &wsa, json!({"new_name": ""})).await.assert_status(400);
        app.post("/api/w/ws/workspaces/archive", &wsa, json!({})).await.assert_status(200);
        let mine: Value = app.get("/api/workspaces/list", &wsa).await.parse();
        assert!(mine.as_array().unwrap().iter().all(|w| w["id"] != "ws"), "{mine}");
        // A superadmin still lists it, marked as Windmill marks an archived workspace.
        let deleted = |all: Value| all.as_array().unwrap().iter().find(|w| w["id"] == "ws").unwrap()["deleted"].clone();
        assert_eq!(deleted(app.get("/api/workspaces/list_as_superadmin", &app.admin).await.parse()), true);
        app.post("/api/w/ws/workspaces/unarchive", &wsa, json!({})).await.assert_status(200);
        assert_eq!(deleted(app.get("/api/workspaces/list_as_superadmin", &app.admin).await.parse()), false);
        let mine: Value = app.get("/api/workspaces/list", &wsa).await.parse();
        assert!(mine.as_array().unwrap().iter().any(|w| w["id"] == "ws"));
        app.delete("/api/workspaces/delete/ws", &wsa).await.assert_status(401);
        app.delete("/api/workspaces/delete/admins", &app.admin).await.assert_status(409);
        let entries_before = app.audit_all().await.iter().filter(|e| e.workspace_id == "ws").count();
        app.delete("/api/workspaces/delete/ws", &app.admin).await.assert_status(200);
        app.delete("/api/workspaces/delete/ws", &app.admin).await.assert_status(404);
        app.get("/api/w/ws/users/whoami", &pinned).await.assert_status(401);
        assert_eq!(app.post("/api/workspaces/exists", &app.admin, json!({"id": "ws"})).await.body, "false");
        let entries_after = app.audit_all().await.iter().filter(|e| e.workspace_id == "ws").count();
        assert_eq!(entries_after, entries_before, "the audit log keeps them");
        // The id is never given again: a new workspace must not show the old one's entries.
        app.post("/api/workspaces/create", &app.admin, json!({"id": "ws", "name": "Again"}))
            .await
            .assert_text_starts(409, "Conflict: the id ws belonged to a deleted workspace");
    }
);

db_test!(
    async fn the_small_routes_answer(app) {
        assert_eq!(app.call("GET", "/api/auth/is_password_login_disabled", None, None).await.body, "false");
        assert_eq!(app.call("GET", "/api/auth/is_smtp_configured", None, None).await.body, "false");
        assert_eq!(app.get("/api/users/usage", &app.admin).await.body, "0");
        assert_eq!(app.get("/api/w/admins/workspaces/list_ws_specific", &app.admin).await.body, "[]");
        app.get("/api/w/admins/users/whois/nobody", &app.admin).await.assert_status(404);
        let member = app.member_token("admins", "mem@example.com", false).await;
        app.post("/api/w/admins/workspaces/leave", &member, json!({})).await.assert_status(200);
        app.get("/api/w/admins/users/whoami", &member).await.assert_status(401);
    }
);

db_test!(
    /// A token whose scopes are groups only cannot make a superadmin through an instance
    /// group, nor link groups to a workspace (which adds members) without the users scope.
    async fn instance_roles_need_more_than_the_groups_scope(app) {
        app.create_user("friend@example.com", false).await;
        let groups_only = app.mint(&app.admin, json!({"scopes": ["groups:write", "groups:read"]})).await;
        app.post("/api/groups/create", &groups_only, json!({"name": "plain"})).await.assert_status(200);
        app.post("/api/groups/adduser/plain", &groups_only, json!({"email": "friend@example.com"})).await.assert_status(200);
        let before = app.fingerprint().await;
        app.post("/api/groups/update/plain", &groups_only, json!({"new_summary": "s", "instance_role": "superadmin"}))
            .await
            .assert_text(403, "Not authorized: this token lacks the scope users:admin");
        app.post("/api/groups/overwrite", &groups_only, json!([{"name": "plain", "emails": ["friend@example.com"], "instance_role": "superadmin"}]))
            .await
            .assert_status(403);
        assert_eq!(app.fingerprint().await, before);
        // A group that has a role already: joining it needs users:admin too.
        app.post("/api/groups/create", &app.admin, json!({"name": "roots"})).await.assert_status(200);
        app.post("/api/groups/update/roots", &app.admin, json!({"new_summary": "s", "instance_role": "superadmin"})).await.assert_status(200);
        app.post("/api/groups/adduser/roots", &groups_only, json!({"email": "friend@example.com"})).await.assert_status(403);
        let friend = app.login("friend@example.com", PASSWORD).await;
        app.get("/api/users/list_as_super_admin", &friend).await.assert_status(401);
        // workspaces:write alone does not link groups (members come with them).
        let ws_only = app.mint(&app.admin, json!({"scopes": ["workspaces:write"]})).await;
        app.post("/api/w/admins/workspaces/edit_instance_groups", &ws_only, json!({"groups": ["plain"]}))
            .await
            .assert_text(403, "Not authorized: this token lacks the scope users:write");
        // null clears a role (a revocation sent that way is one).
        app.post("/api/groups/adduser/roots", &app.admin, json!({"email": "friend@example.com"})).await.assert_status(200);
        app.get("/api/users/list_as_super_admin", &friend).await.assert_status(200);
        app.post("/api/groups/update/roots", &app.admin, json!({"new_summary": "s", "instance_role": null})).await.assert_status(200);
        app.get("/api/users/list_as_super_admin", &friend).await.assert_status(401);
        // A big body from someone who may not overwrite is refused before it is read.
        let member = app.member_token("admins", "mem@example.com", false).await;
        let big = Value::Array(vec![json!(0); 2_000_000]);
        app.post("/api/users/overwrite", &member, big).await.assert_status(401);
    }
);

db_test!(
    /// Auto-invite never blocks an account: an email that is a member already is left as it
    /// is; an import may create an account for an email that has a username already, and
    /// keeps derived usernames such as `07`.
    async fn accounts_are_created_whatever_waits_for_them(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        app.post("/api/w/ws/workspaces/add_user", &wsa, json!({"email": "early@example.com", "is_admin": false, "operator": false}))
            .await
            .assert_status(201);
        app.post("/api/w/ws/workspaces/edit_auto_invite", &wsa, json!({"operator": true, "invite_all": true, "auto_add": true})).await.assert_status(200);
        app.create_user("early@example.com", false).await;
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        let early = users.iter().find(|u| u.email == "early@example.com").unwrap();
        assert!(!early.operator, "the membership made before stays as it was");
        // An import for an email with a username and no account, and a derived username.
        app.post("/api/w/ws/workspaces/add_user", &wsa, json!({"email": "later@example.com", "is_admin": false, "operator": false}))
            .await
            .assert_status(201);
        app.post("/api/w/ws/workspaces/add_user", &wsa, json!({"email": "07@example.com", "is_admin": false, "operator": false}))
            .await
            .assert_status(201);
        app.create_user("07@example.com", false).await;
        let mut users: Vec<ExportedUser> = app.get("/api/users/export", &app.admin).await.parse();
        assert!(users.iter().any(|u| u.username.as_deref() == Some("07")));
        users.push(ExportedUser {
            email: "later@example.com".into(),
            password_hash: None,
            super_admin: false,
            verified: true,
            name: None,
            company: None,
            first_time_user: true,
            username: Some("later".into()),
        });
        let r: OverwriteReport = app.post("/api/users/overwrite", &app.admin, serde_json::to_value(&users).unwrap()).await.parse();
        assert_eq!(r.created, vec!["later@example.com".to_string()]);
        // Superadmins who cannot sign in do not count: the overwrite would lock everyone out.
        let locked: Vec<ExportedUser> = users
            .iter()
            .map(|u| ExportedUser { password_hash: None, super_admin: u.email == "later@example.com", ..u.clone() })
            .collect();
        app.post("/api/users/overwrite", &app.admin, serde_json::to_value(&locked).unwrap())
            .await
            .assert_text_starts(409, "Conflict: the overwrite would leave the instance without an enabled superadmin who has a password");
    }
);

db_test!(
    /// A group leaving its role behind never demotes the workspace's last admin; a group's
    /// history is for admins and owners; `all` has no owners to change; whether a username
    /// is taken is told only to members.
    async fn smaller_rules_hold(app) {
        app.create_user("boss@example.com", false).await;
        app.post("/api/groups/create", &app.admin, json!({"name": "bosses"})).await.assert_status(200);
        app.post("/api/groups/adduser/bosses", &app.admin, json!({"email": "boss@example.com"})).await.assert_status(200);
        app.post("/api/workspaces/create", &app.admin, json!({"id": "solo", "name": "Solo"})).await.assert_status(200);
        app.post("/api/w/solo/workspaces/edit_instance_groups", &app.admin, json!({"groups": ["bosses"], "roles": {"bosses": "admin"}}))
            .await
            .assert_status(200);
        app.post("/api/w/solo/workspaces/leave", &app.admin, json!({})).await.assert_status(200);
        app.post("/api/w/solo/workspaces/edit_instance_groups", &app.admin, json!({"groups": ["bosses"], "roles": {"bosses": "operator"}}))
            .await
            .assert_status(200);
        let boss = app.login("boss@example.com", PASSWORD).await;
        let who: UserInfo = app.get("/api/w/solo/users/whoami", &boss).await.parse();
        assert!(who.is_admin, "the last admin stays admin");
        // History.
        app.create_workspace("ws").await;
        let owner = app.member_token("ws", "own@example.com", false).await;
        let other = app.member_token("ws", "oth@example.com", false).await;
        app.post("/api/w/ws/groups/create", &owner, json!({"name": "team"})).await.assert_status(200);
        app.get("/api/w/ws/groups_history/get/team", &owner).await.assert_status(200);
        app.get("/api/w/ws/groups_history/get/team", &other).await.assert_status(403);
        app.post("/api/w/ws/acls/add/group_/all", &app.admin, json!({"owner": "u/oth", "write": true})).await.assert_status(409);
        // exists_username.
        assert_eq!(app.post("/api/workspaces/exists_username", &boss, json!({"id": "ws", "username": "own"})).await.body, "false");
        assert_eq!(app.post("/api/workspaces/exists_username", &other, json!({"id": "ws", "username": "own"})).await.body, "true");
    }
);
