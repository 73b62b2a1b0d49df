//! The audit log's pages (filters, keyset pages, one entry, the chart) and the superadmin's
//! console (users, workspaces), as a browser sends them. Refusals change nothing.

use std::collections::BTreeMap;

use serde_json::json;
use wmill_api::AuditLog;

use crate::common::*;

/// A workspace `ws` with a known history: groups created, edited, one deleted; `bob` a
/// plain member who created a group of his own. Returns bob's session.
async fn history(t: &TestApp) -> String {
    t.create_workspace("ws").await;
    let bob = t.member_token("ws", "bob@example.com", false).await;
    for g in ["g1", "g2", "g3"] {
        t.post("/api/w/ws/groups/create", &t.admin, json!({"name": g}))
            .await
            .assert_status(200);
    }
    t.post(
        "/api/w/ws/groups/update/g1",
        &t.admin,
        json!({"summary": "s"}),
    )
    .await
    .assert_status(200);
    t.delete("/api/w/ws/groups/delete/g3", &t.admin)
        .await
        .assert_status(200);
    t.post("/api/w/ws/groups/create", &bob, json!({"name": "bobs"}))
        .await
        .assert_status(200);
    bob
}

/// The API's list, as `token` sees it.
async fn api_list(t: &TestApp, token: &str, query: &str) -> Vec<AuditLog> {
    let r = t.get(&format!("/api/w/ws/audit/list?{query}"), token).await;
    r.assert_status(200);
    r.parse()
}

/// The ids of the rows of the page's audit table, in order.
fn row_ids(body: &str) -> Vec<i64> {
    let Some(start) = body.find("<table id=\"audit\"") else {
        return Vec::new();
    };
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    table
        .split("<tr data-id=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The value of `href` of the link with this id.
fn link(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let tag_start = body[..at].rfind('<')?;
    let tag = &body[tag_start..tag_start + body[tag_start..].find('>')?];
    let h = tag.find("href=\"")? + 6;
    Some(tag[h..h + tag[h..].find('"')?].replace("&amp;", "&"))
}

/// The password a page shows once.
fn shown_password(body: &str) -> Option<String> {
    let at = body.find("<code id=\"new-password\">")? + "<code id=\"new-password\">".len();
    Some(body[at..at + body[at..].find("</code>")?].to_string())
}

/// The counts the chart draws for one day: kind → count.
fn chart_day(body: &str, day: &str) -> BTreeMap<String, i64> {
    let at = body
        .find(&format!("<g data-day=\"{day}\">"))
        .unwrap_or_else(|| panic!("no bar for {day}"));
    let g = &body[at..at + body[at..].find("</g>").unwrap()];
    g.split("data-kind=\"")
        .skip(1)
        .map(|s| {
            let kind = s[..s.find('"').unwrap()].to_string();
            let c = s.find("data-count=\"").unwrap() + 12;
            (kind, s[c..c + s[c..].find('"').unwrap()].parse().unwrap())
        })
        .collect()
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

db_test!(
    async fn the_audit_page_lists_filters_and_pages_like_the_api(t) {
        history(&t).await;
        let page = t.page("/w/ws/audit", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<form id=\"audit-filters\" method=\"get\""));
        for name in ["username", "operation", "operations", "exclude_operations", "action_kind", "resource", "before", "after", "per_page"] {
            assert!(page.body.contains(&format!("name=\"{name}\"")), "no {name} field");
        }
        let all: Vec<i64> = api_list(&t, &t.admin, "per_page=50").await.iter().map(|e| e.id).collect();
        assert_eq!(row_ids(&page.body), all);
        assert!(page.body.contains(&format!("<a href=\"/w/ws/audit/{}\"", all[0])));

        // Each filter narrows as the API's does.
        for q in [
            "operation=group.create",
            "operation=group",
            "action_kind=delete",
            "username=bob",
            "operations=group.edit%2Cgroup.delete",
            "exclude_operations=group.create",
            "resource=g1",
        ] {
            let page = t.page(&format!("/w/ws/audit?{q}"), &t.admin).await;
            page.assert_status(200);
            let api: Vec<i64> = api_list(&t, &t.admin, q).await.iter().map(|e| e.id).collect();
            assert!(!api.is_empty(), "{q} matches something");
            assert_eq!(row_ids(&page.body), api, "{q}");
        }
        // Empty fields, as a form sends them, are no filter.
        let blank = t
            .page("/w/ws/audit?username=&operation=&operations=&exclude_operations=&action_kind=&resource=&before=&after=&per_page=", &t.admin)
            .await;
        blank.assert_status(200);
        assert_eq!(row_ids(&blank.body), all);
        // A time window; `after` keeps what was typed.
        let later = t.page("/w/ws/audit?after=2999-01-01", &t.admin).await;
        assert!(row_ids(&later.body).is_empty());
        assert!(later.body.contains("value=\"2999-01-01\""));
        let earlier = t.page("/w/ws/audit?before=2999-01-01T10%3A00", &t.admin).await;
        assert_eq!(row_ids(&earlier.body), all);

        // Keyset pages: two at a time, the filters carried along.
        let mut seen = Vec::new();
        let mut next = Some("/w/ws/audit?per_page=2&action_kind=create".to_string());
        let creates: Vec<i64> = api_list(&t, &t.admin, "action_kind=create").await.iter().map(|e| e.id).collect();
        while let Some(path) = next {
            let p = t.page(&path, &t.admin).await;
            p.assert_status(200);
            let ids = row_ids(&p.body);
            assert!(ids.len() <= 2);
            if !seen.is_empty() {
                let newest = link(&p.body, "newest").expect("a Newest link");
                assert_eq!(newest, "/w/ws/audit?action_kind=create&per_page=2");
            }
            seen.extend(ids);
            next = link(&p.body, "older");
            if let Some(n) = &next {
                assert!(n.contains("action_kind=create") && n.contains("per_page=2"), "{n}");
                assert!(n.contains(&format!("before_id={}", seen.last().unwrap())), "{n}");
            }
        }
        assert_eq!(seen, creates);

        // A filter the API refuses: the form again, with what was typed and the reason.
        let bad = t.page("/w/ws/audit?per_page=many&username=bob", &t.admin).await;
        bad.assert_status(400);
        assert!(bad.body.contains("role=\"alert\""), "{}", bad.body);
        assert!(bad.body.contains("per_page must be a whole number"), "{}", bad.body);
        assert!(bad.body.contains("value=\"bob\""));
    }
);

db_test!(
    async fn an_entry_shows_its_fields_and_parameters(t) {
        history(&t).await;
        t.post(
            "/api/w/ws/workspaces/change_workspace_name",
            &t.admin,
            json!({"new_name": "<script>alert(1)</script>"}),
        )
        .await
        .assert_status(200);
        let e = api_list(&t, &t.admin, "operation=workspaces.change_workspace_name").await;
        let id = e[0].id;
        let page = t.page(&format!("/w/ws/audit/{id}"), &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("workspaces.change_workspace_name"));
        assert!(page.body.contains("<pre id=\"parameters\""), "{}", page.body);
        // Pretty JSON, escaped.
        assert!(page.body.contains("&quot;new_name&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;"), "{}", page.body);
        assert!(!page.body.contains("<script>alert"));
        assert!(page.body.contains(ADMIN_EMAIL));
        // Not there, or not a number: the service's refusal as a page.
        t.page("/w/ws/audit/999999", &t.admin).await.assert_status(404);
        let bad = t.page("/w/ws/audit/x", &t.admin).await;
        bad.assert_status(400);
        assert!(bad.body.contains("audit id must be a whole number"));
    }
);

db_test!(
    async fn the_chart_draws_todays_activity_by_kind(t) {
        history(&t).await;
        let today = chrono::DateTime::from_timestamp_micros(t.svc.now())
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for e in api_list(&t, &t.admin, "per_page=10000").await {
            if e.timestamp.format("%Y-%m-%d").to_string() == today {
                *expected.entry(e.action_kind.as_str().to_lowercase()).or_default() += 1;
            }
        }
        assert!(expected["create"] >= 4 && expected["update"] >= 1 && expected["delete"] == 1, "{expected:?}");
        let page = t.page("/w/ws/audit", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<svg class=\"chart\" role=\"img\" aria-label=\"Audit entries per day"), "{}", page.body);
        assert_eq!(page.body.matches("<g data-day=").count(), 30, "30 days");
        assert_eq!(chart_day(&page.body, &today), expected);
        assert!(page.body.contains("<rect class=\"k-create\""));
        assert!(page.body.contains("<rect class=\"k-delete\""));
        // The text alternative and the legend.
        assert!(page.body.contains("<details>"));
        let total: i64 = expected.values().sum();
        assert!(page.body.contains(&format!("<th scope=\"row\">{today}</th>")));
        assert!(page.body.contains(&format!("<td>{total}</td>")));
        assert!(page.body.contains("class=\"legend\""));
        // The chart follows the filters.
        let deletes = t.page("/w/ws/audit?action_kind=delete", &t.admin).await;
        assert_eq!(
            chart_day(&deletes.body, &today),
            BTreeMap::from([("delete".to_string(), 1)])
        );
        // Nothing drawn without a style attribute or an inline script.
        assert!(!page.body.contains("style="));
        assert!(!page.body.contains("<script>"));
    }
);

db_test!(
    async fn members_see_on_the_page_what_the_api_shows_them(t) {
        let bob = history(&t).await;
        let page = t.page("/w/ws/audit", &bob).await;
        page.assert_status(200);
        let api: Vec<i64> = api_list(&t, &bob, "").await.iter().map(|e| e.id).collect();
        assert!(!api.is_empty());
        assert_eq!(row_ids(&page.body), api);
        // Someone else's entries: none, as the API says.
        let others = t.page("/w/ws/audit?username=admin", &bob).await;
        assert!(row_ids(&others.body).is_empty());
        let today = chrono::DateTime::from_timestamp_micros(t.svc.now())
            .unwrap()
            .format("%Y-%m-%d")
            .to_string();
        let drawn: i64 = chart_day(&page.body, &today).values().sum();
        assert_eq!(drawn, api.len() as i64, "the chart counts only his own");
        // An admin's entry is not found for him; no superadmin checkbox either.
        let theirs = api_list(&t, &t.admin, "username=admin").await;
        t.page(&format!("/w/ws/audit/{}", theirs[0].id), &bob).await.assert_status(404);
        t.page(&format!("/w/ws/audit/{}", api[0]), &bob).await.assert_status(200);
        assert!(!page.body.contains("name=\"all_workspaces\""));
        let all = t.page("/w/ws/audit?all_workspaces=true", &bob).await;
        all.assert_status(403);
        // Not a member: refused.
        t.create_user("eve@example.com", false).await;
        let eve = t.login("eve@example.com", PASSWORD).await;
        let r = t.page("/w/ws/audit", &eve).await;
        assert!(r.status.is_client_error(), "{r:?}");
        assert!(!r.body.contains("<table id=\"audit\""));
        // An operator, when the workspace keeps its audit log from operators.
        t.create_user("op@example.com", false).await;
        t.post(
            "/api/w/ws/workspaces/add_user",
            &t.admin,
            json!({"email": "op@example.com", "is_admin": false, "operator": true}),
        )
        .await
        .assert_status(201);
        let op = t.login("op@example.com", PASSWORD).await;
        t.page("/w/ws/audit", &op).await.assert_status(200);
        t.post("/api/w/ws/workspaces/operator_settings", &t.admin, json!({"audit_logs": false}))
            .await
            .assert_status(200);
        let refused = t.page("/w/ws/audit", &op).await;
        refused.assert_status(403);
        assert!(refused.body.contains("operators of workspace ws may not see its audit logs"), "{}", refused.body);
        // The superadmin sees every workspace's entries when asking for them.
        let every = t.page("/w/ws/audit?all_workspaces=true&operation=workspaces.create", &t.admin).await;
        every.assert_status(200);
        assert!(!row_ids(&every.body).is_empty());
    }
);

db_test!(
    async fn a_superadmin_adds_disables_promotes_resets_and_removes_users(t) {
        let page = t.page("/admin/users", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<form id=\"add-user\" method=\"post\" action=\"/admin/users\""));
        assert!(page.body.contains(ADMIN_EMAIL));

        // Add: a strong password, shown once, that works.
        let r = t
            .submit("/admin/users", &t.admin, &[("email", "alice@example.com"), ("name", "Alice"), ("superadmin", "")])
            .await;
        r.assert_status(200);
        assert_eq!(r.headers["cache-control"], "no-store");
        let password = shown_password(&r.body).expect("the password, once");
        assert_eq!(password.len(), 24);
        assert!(password.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(r.body.contains("data-copy=\"new-password\""));
        let alice = t.login("alice@example.com", &password).await;
        let again = t.page("/admin/users", &t.admin).await;
        assert!(shown_password(&again.body).is_none() && !again.body.contains(&password));
        assert!(again.body.contains("alice@example.com") && again.body.contains("Alice"));
        let who: serde_json::Value = t.get("/api/users/whoami", &alice).await.json();
        assert_eq!(who["super_admin"], false);
        assert!(again.body.contains("aria-label=\"Disable alice@example.com\""));
        assert!(again.body.contains("aria-label=\"Remove alice@example.com\""));

        // A refusal keeps what was typed and says why.
        let dup = t.submit("/admin/users", &t.admin, &[("email", "alice@example.com"), ("name", "Other")]).await;
        dup.assert_status(409);
        assert!(dup.body.contains("role=\"alert\""));
        assert!(dup.body.contains("user with email alice@example.com already exists"));
        assert!(dup.body.contains("value=\"Other\""));
        assert!(shown_password(&dup.body).is_none());

        // Disable, then enable.
        let r = t.submit("/admin/users/disable", &t.admin, &[("email", "alice@example.com"), ("disabled", "true")]).await;
        r.assert_status(303);
        let after = t.page(r.headers["location"].to_str().unwrap(), &t.admin).await;
        assert!(after.body.contains("alice@example.com was disabled."));
        assert!(after.body.contains("aria-label=\"Enable alice@example.com\""));
        let refused = t.call("POST", "/api/auth/login", None, Some(json!({"email": "alice@example.com", "password": password}))).await;
        assert!(refused.status.is_client_error(), "{refused:?}");
        t.submit("/admin/users/disable", &t.admin, &[("email", "alice@example.com"), ("disabled", "false")])
            .await
            .assert_status(303);
        // Disabling ended her sessions: she signs in again.
        let alice = t.login("alice@example.com", &password).await;

        // Make superadmin, and back.
        t.submit("/admin/users/superadmin", &t.admin, &[("email", "alice@example.com"), ("super_admin", "true")])
            .await
            .assert_status(303);
        let who: serde_json::Value = t.get("/api/users/whoami", &alice).await.json();
        assert_eq!(who["super_admin"], true);
        let listed = t.page("/admin/users", &t.admin).await;
        assert!(listed.body.contains("aria-label=\"Remove superadmin from alice@example.com\""));
        t.submit("/admin/users/superadmin", &t.admin, &[("email", "alice@example.com"), ("super_admin", "false")])
            .await
            .assert_status(303);
        let who: serde_json::Value = t.get("/api/users/whoami", &alice).await.json();
        assert_eq!(who["super_admin"], false);

        // Reset the password: a new one, shown once; the old one no longer works.
        let r = t.submit("/admin/users/password", &t.admin, &[("email", "alice@example.com")]).await;
        r.assert_status(200);
        assert_eq!(r.headers["cache-control"], "no-store");
        let fresh = shown_password(&r.body).expect("the new password");
        assert_ne!(fresh, password);
        t.login("alice@example.com", &fresh).await;
        let old = t.call("POST", "/api/auth/login", None, Some(json!({"email": "alice@example.com", "password": password}))).await;
        assert!(old.status.is_client_error());

        // The last superadmin cannot be removed, demoted or disabled: the server's sentence.
        for (path, fields) in [
            ("/admin/users/remove", vec![("email", ADMIN_EMAIL)]),
            ("/admin/users/superadmin", vec![("email", ADMIN_EMAIL), ("super_admin", "false")]),
            ("/admin/users/disable", vec![("email", ADMIN_EMAIL), ("disabled", "true")]),
        ] {
            let before = t.fingerprint().await;
            let r = t.submit(path, &t.admin, &fields).await;
            r.assert_status(409);
            assert!(r.body.contains("role=\"alert\""));
            assert!(r.body.contains("is the last enabled superadmin"), "{}", r.body);
            assert_eq!(t.fingerprint().await, before, "{path}");
        }

        // Remove (the form asks first).
        let listed = t.page("/admin/users", &t.admin).await;
        assert!(listed.body.contains("data-confirm=\"Remove alice@example.com?"));
        let r = t.submit("/admin/users/remove", &t.admin, &[("email", "alice@example.com")]).await;
        r.assert_status(303);
        let after = t.page(r.headers["location"].to_str().unwrap(), &t.admin).await;
        assert!(after.body.contains("alice@example.com was removed."));
        assert!(!after.body.contains("data-email=\"alice@example.com\""));
        let gone = t.call("POST", "/api/auth/login", None, Some(json!({"email": "alice@example.com", "password": fresh}))).await;
        assert!(gone.status.is_client_error());
        // Each change is audited like the API's.
        let ops: Vec<String> = t.audit_all().await.into_iter().map(|e| e.operation).collect();
        for op in ["users.add_global", "users.update", "users.setpassword", "users.delete"] {
            assert!(ops.iter().any(|o| o == op), "{op} in {ops:?}");
        }
    }
);

db_test!(
    async fn a_superadmin_creates_archives_and_deletes_workspaces(t) {
        let page = t.page("/admin/workspaces", &t.admin).await;
        page.assert_status(200);
        assert!(page.body.contains("<form id=\"new-workspace\" method=\"post\" action=\"/admin/workspaces\""));
        assert!(page.body.contains("<tr data-id=\"admins\""));
        // `admins` cannot be deleted: no button for it.
        assert!(!page.body.contains("aria-label=\"Delete admins\""));

        let r = t.submit("/admin/workspaces", &t.admin, &[("id", "team"), ("name", "The team")]).await;
        r.assert_status(303);
        let listed = t.page(r.headers["location"].to_str().unwrap(), &t.admin).await;
        assert!(listed.body.contains("Workspace team was created."));
        assert!(listed.body.contains("The team"));
        let row = |body: &str| {
            let at = body.find("<tr data-id=\"team\"").expect("team's row");
            body[at..at + body[at..].find("</tr>").unwrap()].to_string()
        };
        assert!(row(&listed.body).contains("<td>no</td>"));
        t.get("/api/w/team/workspaces/get_settings", &t.admin).await.assert_status(200);

        // Taken id: refused, the form keeps what was typed.
        let dup = t.submit("/admin/workspaces", &t.admin, &[("id", "team"), ("name", "Again")]).await;
        dup.assert_status(409);
        assert!(dup.body.contains("workspace team already exists"));
        assert!(dup.body.contains("value=\"Again\""));

        // Archive and back.
        t.submit("/admin/workspaces/archive", &t.admin, &[("id", "team"), ("archived", "true")])
            .await
            .assert_status(303);
        let listed = t.page("/admin/workspaces", &t.admin).await;
        assert!(row(&listed.body).contains("<td>yes</td>"), "{}", row(&listed.body));
        assert!(row(&listed.body).contains("aria-label=\"Unarchive team\""));
        let mine: serde_json::Value = t.get("/api/workspaces/users", &t.admin).await.json();
        assert!(!mine.to_string().contains("\"team\""), "archived: out of its members' lists");
        t.submit("/admin/workspaces/archive", &t.admin, &[("id", "team"), ("archived", "false")])
            .await
            .assert_status(303);
        let listed = t.page("/admin/workspaces", &t.admin).await;
        assert!(row(&listed.body).contains("<td>no</td>"));

        // Delete (the form asks first).
        assert!(listed.body.contains("data-confirm=\"Delete workspace team?"));
        let r = t.submit("/admin/workspaces/delete", &t.admin, &[("id", "team")]).await;
        r.assert_status(303);
        let listed = t.page("/admin/workspaces", &t.admin).await;
        assert!(!listed.body.contains("<tr data-id=\"team\""));
        t.get("/api/w/team/workspaces/get_settings", &t.admin).await.assert_status(404);
        // Deleting admins is the service's refusal, shown on the page.
        let r = t.submit("/admin/workspaces/delete", &t.admin, &[("id", "admins")]).await;
        r.assert_status(409);
        assert!(r.body.contains("cannot be deleted"));
    }
);

db_test!(
    async fn non_superadmins_get_403_and_nothing_changes(t) {
        let bob = t.member_token("admins", "bob@example.com", true).await;
        for path in ["/admin/users", "/admin/workspaces"] {
            let r = t.page(path, &bob).await;
            r.assert_status(403);
            assert!(!r.body.contains(ADMIN_EMAIL), "{path} shows nothing");
            assert!(!r.body.contains("<table"));
        }
        let before = t.fingerprint().await;
        for (path, fields) in [
            ("/admin/users", vec![("email", "mallory@example.com")]),
            ("/admin/users/disable", vec![("email", ADMIN_EMAIL), ("disabled", "true")]),
            ("/admin/users/superadmin", vec![("email", "bob@example.com"), ("super_admin", "true")]),
            ("/admin/users/password", vec![("email", ADMIN_EMAIL)]),
            ("/admin/users/remove", vec![("email", ADMIN_EMAIL)]),
            ("/admin/workspaces", vec![("id", "mine"), ("name", "Mine")]),
            ("/admin/workspaces/archive", vec![("id", "admins"), ("archived", "true")]),
            ("/admin/workspaces/delete", vec![("id", "admins")]),
        ] {
            let r = t.submit(path, &bob, &fields).await;
            r.assert_status(403);
            assert!(shown_password(&r.body).is_none());
        }
        assert_eq!(t.fingerprint().await, before);
        t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        // Signed out: to the sign-in page.
        let req = axum::http::Request::builder()
            .uri("/admin/users")
            .header("host", "localhost")
            .body(axum::body::Body::empty())
            .unwrap();
        let r = t.send(req).await;
        r.assert_status(303);
        assert!(r.headers["location"].to_str().unwrap().starts_with("/user/login?next=/admin/users"));
    }
);

db_test!(
    async fn forms_without_their_value_or_from_elsewhere_change_nothing(t) {
        t.create_user("alice@example.com", false).await;
        let csrf = t.csrf(&t.admin).await;
        let before = t.fingerprint().await;
        for (path, fields) in [
            ("/admin/users", vec![("email", "mallory@example.com")]),
            ("/admin/users/disable", vec![("email", "alice@example.com"), ("disabled", "true")]),
            ("/admin/users/superadmin", vec![("email", "alice@example.com"), ("super_admin", "true")]),
            ("/admin/users/password", vec![("email", "alice@example.com")]),
            ("/admin/users/remove", vec![("email", "alice@example.com")]),
            ("/admin/workspaces", vec![("id", "mine"), ("name", "Mine")]),
            ("/admin/workspaces/archive", vec![("id", "admins"), ("archived", "true")]),
            ("/admin/workspaces/delete", vec![("id", "admins")]),
        ] {
            // No CSRF value.
            let r = t.submit_raw(path, Some(&t.admin), Some("http://localhost"), &pairs(&fields)).await;
            r.assert_status(403);
            // Another session's value.
            let mut wrong = pairs(&fields);
            wrong.push(("csrf".into(), "0".repeat(32)));
            t.submit_raw(path, Some(&t.admin), Some("http://localhost"), &wrong).await.assert_status(403);
            // The right value, from another site.
            let mut foreign = pairs(&fields);
            foreign.push(("csrf".into(), csrf.clone()));
            let r = t.submit_raw(path, Some(&t.admin), Some("http://evil.example"), &foreign).await;
            r.assert_status(403);
            assert!(shown_password(&r.body).is_none());
        }
        assert_eq!(t.fingerprint().await, before);
        let alice = t.login("alice@example.com", PASSWORD).await;
        let who: serde_json::Value = t.get("/api/users/whoami", &alice).await.json();
        assert_eq!(who["super_admin"], false);
    }
);

db_test!(
    async fn what_people_typed_is_shown_as_text(t) {
        let evil = "<script>alert(1)</script>";
        let r = t.submit("/admin/users", &t.admin, &[("email", "x@example.com"), ("name", evil)]).await;
        r.assert_status(200);
        assert!(!r.body.contains(evil));
        assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let listed = t.page("/admin/users", &t.admin).await;
        assert!(!listed.body.contains(evil) && listed.body.contains("&lt;script&gt;"));
        // A refused form echoes it escaped too.
        let r = t.submit("/admin/users", &t.admin, &[("email", "not an email"), ("name", evil)]).await;
        assert!(r.status.is_client_error());
        assert!(!r.body.contains(evil));
        // Workspace names, and filters echoed in the form and the paging links.
        t.submit("/admin/workspaces", &t.admin, &[("id", "w2"), ("name", evil)]).await.assert_status(303);
        let listed = t.page("/admin/workspaces", &t.admin).await;
        assert!(!listed.body.contains(evil) && listed.body.contains("&lt;script&gt;"));
        let q = format!("/w/w2/audit?resource={}&per_page=1", urlencode("\"><script>alert(1)</script>"));
        let page = t.page(&q, &t.admin).await;
        page.assert_status(200);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
    }
);
