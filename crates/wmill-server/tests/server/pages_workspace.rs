//! The workspace admin's pages (members and groups), as a browser sends them: every change
//! goes through the service (same permissions and audit entries as the API); refusals
//! re-render the form with the server's sentence and what was typed; a post without its
//! CSRF value or from another site changes nothing; what people typed is escaped.

use wmill_api::{Group, User};

use crate::common::{PASSWORD, Resp, TestApp};

/// A form's fields.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// The `Location` of a 303.
#[track_caller]
fn see_other(r: &Resp) -> String {
    assert_eq!(r.status.as_u16(), 303, "a 303: {r:?}");
    r.headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_string()
}

/// Asserts a page with this status saying `sentence` in an alert.
#[track_caller]
fn assert_refused(r: &Resp, status: u16, sentence: &str) {
    assert_eq!(r.status.as_u16(), status, "status of {r:?}");
    assert!(r.content_type.starts_with("text/html"), "a page: {r:?}");
    assert!(r.body.contains("role=\"alert\""), "an alert: {}", r.body);
    assert!(r.body.contains(sentence), "{sentence:?} in {}", r.body);
}

async fn member(t: &TestApp, ws: &str, username: &str) -> Option<User> {
    let r = t.get(&format!("/api/w/{ws}/users/list"), &t.admin).await;
    let list: Vec<User> = r.parse();
    list.into_iter().find(|u| u.username == username)
}

async fn group(t: &TestApp, ws: &str, name: &str) -> Option<Group> {
    let r = t
        .get(&format!("/api/w/{ws}/groups/get/{name}"), &t.admin)
        .await;
    (r.status.as_u16() == 200).then(|| r.parse())
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

db_test!(
    async fn an_admin_adds_changes_disables_and_removes_a_member(t) {
        t.create_user("alice@example.com", false).await;
        let page = t.page("/w/admins/members", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<tr data-username=\"admin\""), "{}", page.body);
        assert!(page.body.contains("<form id=\"add-member\" method=\"post\" action=\"/w/admins/members\""));
        assert!(page.body.contains("<div class=\"table-wrap\">"));
        for role in ["developer", "admin", "operator"] {
            assert!(page.body.contains(&format!("<option value=\"{role}\"")), "{role}");
        }

        let r = t
            .submit("/w/admins/members", &t.admin, &[("email", "alice@example.com"), ("username", ""), ("role", "developer")])
            .await;
        let to = see_other(&r);
        assert_eq!(to, "/w/admins/members?done=added&who=alice%40example.com");
        let page = t.page(&to, &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("alice@example.com was added to the workspace."), "{}", page.body);
        assert!(page.body.contains("<tr data-username=\"alice\""));
        assert!(page.body.contains("aria-label=\"Remove alice\""));
        assert!(page.body.contains("data-confirm=\"Remove alice from workspace Admins?"), "{}", page.body);
        let alice = member(&t, "admins", "alice").await.expect("alice is a member");
        assert_eq!(alice.role.as_deref(), Some("developer"));

        let r = t
            .submit("/w/admins/members/role", &t.admin, &[("username", "alice"), ("role", "operator")])
            .await;
        assert_eq!(see_other(&r), "/w/admins/members?done=role&who=alice");
        assert_eq!(member(&t, "admins", "alice").await.unwrap().role.as_deref(), Some("operator"));
        t.submit("/w/admins/members/role", &t.admin, &[("username", "alice"), ("role", "admin")]).await;
        let alice = member(&t, "admins", "alice").await.unwrap();
        assert!(alice.is_admin && !alice.operator, "{alice:?}");

        let r = t.submit("/w/admins/members/disable", &t.admin, &[("username", "alice")]).await;
        assert_eq!(see_other(&r), "/w/admins/members?done=disabled&who=alice");
        assert!(member(&t, "admins", "alice").await.unwrap().disabled);
        let page = t.page("/w/admins/members", &t.admin).await;
        assert!(page.body.contains("aria-label=\"Enable alice\""), "{}", page.body);
        let r = t.submit("/w/admins/members/enable", &t.admin, &[("username", "alice")]).await;
        assert_eq!(see_other(&r), "/w/admins/members?done=enabled&who=alice");
        assert!(!member(&t, "admins", "alice").await.unwrap().disabled);

        let r = t.submit("/w/admins/members/remove", &t.admin, &[("username", "alice")]).await;
        assert_eq!(see_other(&r), "/w/admins/members?done=removed&who=alice");
        assert!(member(&t, "admins", "alice").await.is_none());
        let page = t.page("/w/admins/members", &t.admin).await;
        assert!(!page.body.contains("data-username=\"alice\""));

        let audit = t.audit_all().await;
        let count = |op: &str| {
            audit
                .iter()
                .filter(|a| a.operation == op && a.username == "admin")
                .count()
        };
        assert_eq!(count("users.add_to_workspace"), 1, "{audit:?}");
        assert_eq!(count("users.update"), 4, "{audit:?}");
        assert_eq!(count("users.delete"), 1, "{audit:?}");
    }
);

db_test!(
    async fn an_admin_runs_a_group_from_its_pages(t) {
        t.member_token("admins", "bob@example.com", false).await;
        let page = t.page("/w/admins/groups", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<form id=\"new-group\" method=\"post\" action=\"/w/admins/groups\""));
        assert!(page.body.contains("href=\"/w/admins/groups/all\""));

        let r = t
            .submit("/w/admins/groups", &t.admin, &[("name", "data-team"), ("summary", "Data engineering")])
            .await;
        let to = see_other(&r);
        assert_eq!(to, "/w/admins/groups?done=created&who=data-team");
        let list = t.page(&to, &t.admin).await;
        assert!(list.body.contains("Group data-team was created."));
        assert!(list.body.contains("<a href=\"/w/admins/groups/data-team\">data-team</a>"), "{}", list.body);
        assert!(list.body.contains("Data engineering"));

        let page = t.page("/w/admins/groups/data-team", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<li data-member=\"admin\""), "{}", page.body);
        assert!(page.body.contains("<form id=\"add-group-member\""));
        assert!(page.body.contains("<datalist id=\"workspace-usernames\""));
        assert!(page.body.contains("<option value=\"bob\""));
        assert!(page.body.contains("<li data-owner=\"admin\""));
        assert!(page.body.contains("data-confirm=\"Delete group data-team?\""));

        let base = "/w/admins/groups/data-team";
        let r = t.submit(&format!("{base}/members/add"), &t.admin, &[("username", "bob")]).await;
        assert_eq!(see_other(&r), format!("{base}?done=added&who=bob"));
        assert_eq!(group(&t, "admins", "data-team").await.unwrap().members, ["admin", "bob"]);
        let page = t.page(&format!("{base}?done=added&who=bob"), &t.admin).await;
        assert!(page.body.contains("bob was added to the group."));
        assert!(page.body.contains("<li data-member=\"bob\""));
        assert!(page.body.contains("aria-label=\"Remove bob from group data-team\""));

        let r = t.submit(&format!("{base}/summary"), &t.admin, &[("summary", "The data people")]).await;
        assert_eq!(see_other(&r), format!("{base}?done=summary&who="));
        assert_eq!(group(&t, "admins", "data-team").await.unwrap().summary.as_deref(), Some("The data people"));

        let r = t.submit(&format!("{base}/owners/add"), &t.admin, &[("username", "bob")]).await;
        assert_eq!(see_other(&r), format!("{base}?done=owner&who=bob"));
        let g = group(&t, "admins", "data-team").await.unwrap();
        assert_eq!(g.extra_perms.get("u/bob"), Some(&true));
        let page = t.page(base, &t.admin).await;
        assert!(page.body.contains("<li data-owner=\"bob\""), "{}", page.body);
        assert!(page.body.contains("aria-label=\"Remove owner bob\""));
        let r = t.submit(&format!("{base}/owners/remove"), &t.admin, &[("owner", "u/bob")]).await;
        assert_eq!(see_other(&r), format!("{base}?done=unowned&who=bob"));
        let g = group(&t, "admins", "data-team").await.unwrap();
        assert_eq!(g.extra_perms.get("u/bob"), None);

        let r = t.submit(&format!("{base}/members/remove"), &t.admin, &[("username", "bob")]).await;
        assert_eq!(see_other(&r), format!("{base}?done=removed&who=bob"));
        assert_eq!(group(&t, "admins", "data-team").await.unwrap().members, ["admin"]);

        let r = t.submit(&format!("{base}/delete"), &t.admin, &[]).await;
        assert_eq!(see_other(&r), "/w/admins/groups?done=deleted&who=data-team");
        assert!(group(&t, "admins", "data-team").await.is_none());
        let page = t.page(base, &t.admin).await;
        page.assert_status(404);

        let ops: Vec<String> = t
            .audit_all()
            .await
            .into_iter()
            .filter(|a| a.username == "admin")
            .map(|a| a.operation)
            .collect();
        for op in [
            "group.create",
            "group.adduser",
            "group.edit",
            "acls.add",
            "acls.remove",
            "group.removeuser",
            "group.delete",
        ] {
            assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
        }
    }
);

db_test!(
    async fn the_group_all_follows_the_membership(t) {
        let page = t.page("/w/admins/groups/all", &t.admin).await;
        page.assert_status(200);
        assert!(!page.body.contains("id=\"delete-group\""));
        assert!(!page.body.contains("id=\"add-group-member\""));
        let before = t.fingerprint().await;
        let r = t.submit("/w/admins/groups/all/delete", &t.admin, &[]).await;
        assert_refused(&r, 409, "cannot be deleted");
        let r = t.submit("/w/admins/groups/all/members/remove", &t.admin, &[("username", "admin")]).await;
        assert_refused(&r, 409, "remove them from the workspace instead");
        assert_eq!(t.fingerprint().await, before);
    }
);

db_test!(
    async fn a_plain_member_is_refused_and_nothing_changes(t) {
        let bob = t.member_token("admins", "bob@example.com", false).await;
        t.member_token("admins", "carol@example.com", false).await;
        t.create_user("dave@example.com", false).await;
        t.post("/api/w/admins/groups/create", &t.admin, serde_json::json!({"name": "ops", "summary": "Ops"}))
            .await
            .assert_status(200);
        t.post("/api/w/admins/groups/adduser/ops", &t.admin, serde_json::json!({"username": "carol"}))
            .await
            .assert_status(200);

        // What bob sees: the lists, without the forms he may not use.
        let page = t.page("/w/admins/members", &bob).await;
        page.assert_status(200);
        assert!(page.body.contains("data-username=\"carol\""));
        assert!(!page.body.contains("id=\"add-member\""));
        assert!(!page.body.contains("/members/remove"));
        let page = t.page("/w/admins/groups/ops", &bob).await;
        page.assert_status(200);
        assert!(page.body.contains("data-member=\"carol\""));
        assert!(!page.body.contains("id=\"delete-group\""));
        assert!(!page.body.contains("id=\"summary\""));

        let csrf = t.csrf(&bob).await;
        let before = t.fingerprint().await;
        let not_admin = "Require Admin privileges for bob";
        let not_owner = "bob is not an owner of group ops";
        let cases: &[(&str, Fields, &str)] = &[
            ("/w/admins/members", &[("email", "dave@example.com"), ("role", "admin")], not_admin),
            ("/w/admins/members/role", &[("username", "bob"), ("role", "admin")], not_admin),
            ("/w/admins/members/role", &[("username", "carol"), ("role", "nonsense")], not_admin),
            ("/w/admins/members/disable", &[("username", "carol")], not_admin),
            ("/w/admins/members/enable", &[("username", "carol")], not_admin),
            ("/w/admins/members/remove", &[("username", "carol")], not_admin),
            ("/w/admins/groups/ops/summary", &[("summary", "mine now")], not_owner),
            ("/w/admins/groups/ops/members/add", &[("username", "bob")], not_owner),
            ("/w/admins/groups/ops/members/remove", &[("username", "carol")], not_owner),
            ("/w/admins/groups/ops/owners/add", &[("username", "bob")], not_owner),
            ("/w/admins/groups/ops/owners/remove", &[("owner", "u/admin")], not_owner),
            ("/w/admins/groups/ops/delete", &[], not_owner),
        ];
        for (path, fields, sentence) in cases {
            let mut fields = fields.to_vec();
            fields.push(("csrf", &csrf));
            let r = t.submit(path, &bob, &fields).await;
            assert_refused(&r, 403, sentence);
        }
        assert_eq!(t.fingerprint().await, before, "nothing changed");
        assert!(!member(&t, "admins", "bob").await.unwrap().is_admin);
        assert!(!member(&t, "admins", "carol").await.unwrap().disabled);
        let g = group(&t, "admins", "ops").await.unwrap();
        assert_eq!(g.summary.as_deref(), Some("Ops"));
        assert_eq!(g.members, ["admin", "carol"]);

        // Not a member of the workspace at all: the page is refused too.
        let dave = t.login("dave@example.com", PASSWORD).await;
        let page = t.page("/w/admins/members", &dave).await;
        assert!(page.status.is_client_error(), "{page:?}");
        assert!(!page.body.contains("data-username"));
        let r = t.submit("/w/admins/groups/ops/delete", &dave, &[]).await;
        assert!(r.status.is_client_error(), "{r:?}");
        assert!(group(&t, "admins", "ops").await.is_some());
    }
);

db_test!(
    async fn forms_without_their_csrf_value_or_from_another_site_change_nothing(t) {
        t.create_user("alice@example.com", false).await;
        t.member_token("admins", "bob@example.com", false).await;
        t.post("/api/w/admins/groups/create", &t.admin, serde_json::json!({"name": "ops"}))
            .await
            .assert_status(200);
        let csrf = t.csrf(&t.admin).await;
        let before = t.fingerprint().await;
        let forms: &[(&str, Fields)] = &[
            ("/w/admins/members", &[("email", "alice@example.com"), ("role", "developer")]),
            ("/w/admins/members/role", &[("username", "bob"), ("role", "admin")]),
            ("/w/admins/members/disable", &[("username", "bob")]),
            ("/w/admins/members/remove", &[("username", "bob")]),
            ("/w/admins/groups", &[("name", "new-group")]),
            ("/w/admins/groups/ops/summary", &[("summary", "changed")]),
            ("/w/admins/groups/ops/members/add", &[("username", "bob")]),
            ("/w/admins/groups/ops/owners/add", &[("username", "bob")]),
            ("/w/admins/groups/ops/delete", &[]),
        ];
        for (path, fields) in forms {
            let plain = pairs(fields);
            let mut with_csrf = plain.clone();
            with_csrf.push(("csrf".into(), csrf.clone()));
            let mut wrong = plain.clone();
            wrong.push(("csrf".into(), "0".repeat(32)));
            // No CSRF value; a wrong one; the right one from another site; no Origin at all.
            for (fields, origin) in [
                (&plain, Some("http://localhost")),
                (&wrong, Some("http://localhost")),
                (&with_csrf, Some("https://evil.example")),
                (&with_csrf, None),
            ] {
                let r = t.submit_raw(path, Some(&t.admin), origin, fields).await;
                assert_eq!(r.status.as_u16(), 403, "{path} {origin:?}: {r:?}");
                assert!(r.body.contains("nothing was changed"), "{}", r.body);
            }
            // Without the session cookie: to the sign-in page.
            let r = t.submit_raw(path, None, Some("http://localhost"), &with_csrf).await;
            assert!(see_other(&r).starts_with("/user/login"), "{r:?}");
        }
        assert_eq!(t.fingerprint().await, before, "nothing changed");
        let g = group(&t, "admins", "ops").await.unwrap();
        assert_eq!(g.summary, None);
        assert!(member(&t, "admins", "alice").await.is_none());

        // A signed-out browser asking for a page is sent to sign in, then back.
        let r = t
            .send(
                axum::http::Request::builder()
                    .uri("/w/admins/members")
                    .header("host", "localhost")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(see_other(&r), "/user/login?next=/w/admins/members");
    }
);

db_test!(
    async fn what_people_typed_is_shown_as_text(t) {
        let script = "<script>alert(1)</script>";
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        let r = t.submit("/w/admins/groups", &t.admin, &[("name", "xss"), ("summary", script)]).await;
        see_other(&r);
        for path in ["/w/admins/groups", "/w/admins/groups/xss"] {
            let page = t.page(path, &t.admin).await;
            page.assert_status(200);
            assert!(!page.body.contains("<script>alert"), "{path}: {}", page.body);
            assert!(page.body.contains(escaped), "{path}: {}", page.body);
        }

        // Refused, and shown again as typed: as text.
        let r = t
            .submit("/w/admins/members", &t.admin, &[("email", "eve@example.com"), ("username", script)])
            .await;
        assert_refused(&r, 400, "invalid username");
        assert!(!r.body.contains("<script>alert"), "{}", r.body);
        assert!(r.body.contains(&format!("value=\"{escaped}\"")), "{}", r.body);
        let r = t.submit("/w/admins/groups", &t.admin, &[("name", script)]).await;
        assert_refused(&r, 400, "invalid group name");
        assert!(!r.body.contains("<script>alert"), "{}", r.body);
        let r = t
            .submit("/w/admins/groups/xss/members/add", &t.admin, &[("username", script)])
            .await;
        assert_refused(&r, 404, "is not a member of workspace admins");
        assert!(!r.body.contains("<script>alert"), "{}", r.body);
        assert!(r.body.contains(&format!("value=\"{escaped}\"")), "{}", r.body);
        // A link cannot put its own words on the page.
        let page = t
            .page("/w/admins/members?done=added&who=%3Cscript%3Ealert(1)%3C%2Fscript%3E", &t.admin)
            .await;
        assert!(!page.body.contains("<script>alert"));
        assert!(!page.body.contains(escaped));
        assert!(page.body.contains("The member was added to the workspace."));
    }
);

db_test!(
    async fn a_refusal_shows_the_form_again_as_it_was_typed(t) {
        t.member_token("admins", "alice@example.com", false).await;
        let r = t
            .submit("/w/admins/members", &t.admin, &[("email", "alice@example.com"), ("username", "ally"), ("role", "operator")])
            .await;
        assert_refused(&r, 409, "user with email alice@example.com already exists in workspace admins");
        assert!(r.body.contains("value=\"alice@example.com\""), "{}", r.body);
        assert!(r.body.contains("value=\"ally\""));
        assert!(r.body.contains("<option value=\"operator\" selected>"), "{}", r.body);
        // The sentence is next to the add-member form, not above the table.
        let alert = r.body.find("role=\"alert\"").unwrap();
        assert!(alert > r.body.find("id=\"add-member-title\"").unwrap());
        assert!(alert < r.body.find("<form id=\"add-member\"").unwrap());

        let r = t.submit("/w/admins/members", &t.admin, &[("email", "not an address"), ("role", "developer")]).await;
        assert_eq!(r.status.as_u16(), 400, "{r:?}");
        assert!(r.body.contains("value=\"not an address\""), "{}", r.body);
        let r = t.submit("/w/admins/members", &t.admin, &[("email", "new@example.com"), ("role", "root")]).await;
        assert_refused(&r, 400, "Choose a role: developer, admin or operator.");
        assert!(member(&t, "admins", "new").await.is_none());

        // The last enabled admin stays one.
        let r = t.submit("/w/admins/members/role", &t.admin, &[("username", "admin"), ("role", "developer")]).await;
        assert_eq!(r.status.as_u16(), 409, "{r:?}");
        assert!(r.body.contains("role=\"alert\""));
        assert!(member(&t, "admins", "admin").await.unwrap().is_admin);
        let r = t.submit("/w/admins/members/remove", &t.admin, &[("username", "nobody")]).await;
        assert_refused(&r, 404, "not found");

        // Groups: a taken name keeps what was typed; a summary too long stays in its field.
        t.submit("/w/admins/groups", &t.admin, &[("name", "g")]).await;
        let r = t.submit("/w/admins/groups", &t.admin, &[("name", "g"), ("summary", "second try")]).await;
        assert_refused(&r, 409, "group g already exists");
        assert!(r.body.contains("value=\"second try\""), "{}", r.body);
        let long = "x".repeat(1001);
        let r = t.submit("/w/admins/groups/g/summary", &t.admin, &[("summary", &long)]).await;
        assert_refused(&r, 400, "summary is too long");
        assert!(r.body.contains(&format!("value=\"{long}\"")));
        let r = t.submit("/w/admins/groups/g/owners/remove", &t.admin, &[("owner", "u/nobody")]).await;
        // Removing a grant that is not there changes nothing and succeeds, as in the API.
        see_other(&r);
    }
);

db_test!(
    async fn the_members_page_is_paged_and_stays_small(t) {
        for i in 0..55 {
            t.add_member("admins", &format!("member{i:02}@example.com"), false).await;
        }
        // 56 members with the admin: 50 on the first page, 6 on the second.
        let first = t.page("/w/admins/members", &t.admin).await;
        first.assert_status(200);
        assert_eq!(first.body.matches("<tr data-username=").count(), 50);
        assert!(first.body.contains("href=\"/w/admins/members?page=2\""));
        assert!(!first.body.contains("Previous page"));
        assert!(first.body.len() < 100_000, "{} bytes", first.body.len());
        let second = t.page("/w/admins/members?page=2", &t.admin).await;
        assert_eq!(second.body.matches("<tr data-username=").count(), 6);
        assert!(second.body.contains("href=\"/w/admins/members?page=1\""));
        assert!(second.body.contains("data-username=\"member54\""));
        // A page number that is not one is the first page.
        let odd = t.page("/w/admins/members?page=zero", &t.admin).await;
        odd.assert_status(200);
        assert_eq!(odd.body.matches("<tr data-username=").count(), 50);
    }
);
