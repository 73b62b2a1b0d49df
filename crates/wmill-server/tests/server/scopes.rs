//! Least-privilege tokens: scopes and read-only tokens on every endpoint, minting that never
//! widens, label and scope updates, and service accounts.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wmill_api::{ScopeDomain, TruncatedToken, User};

use crate::common::*;
use crate::permissions::{Kind, callers, rows};

/// Every scope a token may hold: `*` and the twenty of the five identity domains.
fn every_scope() -> Vec<String> {
    let mut all = vec!["*".to_string()];
    for d in ["users", "groups", "workspaces", "audit", "settings"] {
        for a in ["read", "write", "delete", "admin"] {
            all.push(format!("{d}:{a}"));
        }
    }
    all
}

/// Whether holding `held` grants `needed` (the rule, written again from the contract: admin
/// implies its domain's other actions, nothing else implies anything).
fn grants(held: &str, needed: &str) -> bool {
    if held == "*" || held == needed {
        return true;
    }
    let (hd, ha) = held.split_once(':').unwrap();
    let (nd, _) = needed.split_once(':').unwrap();
    hd == nd && ha == "admin"
}

/// The scope each route declares in the OpenAPI document (`None`: any token, or public).
fn declared_scopes() -> std::collections::HashMap<String, Option<String>> {
    let doc = wmill_server::http::openapi_doc(&wmill_server::config::Settings::for_tests());
    let mut out = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scope = op["security"]
                .as_array()
                .and_then(|reqs| reqs.iter().find_map(|r| r.get("bearer")))
                .and_then(|b| b.as_array().and_then(|a| a.first()).and_then(Value::as_str))
                .map(String::from);
            out.insert(format!("{} {path}", method.to_uppercase()), scope);
        }
    }
    out
}

#[test]
fn every_operation_declares_what_it_needs() {
    let doc = wmill_server::http::openapi_doc(&wmill_server::config::Settings::for_tests());
    let public: BTreeSet<&str> = [
        "GET /api/version",
        "GET /api/audit/public_key",
        "GET /api/health/status",
        "GET /api/health/live",
        "GET /api/health/ready",
        "GET /api/openapi.json",
        "POST /api/auth/login",
        "GET /api/auth/is_password_login_disabled",
        "GET /api/auth/is_smtp_configured",
    ]
    .into();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let label = format!("{} {path}", method.to_uppercase());
            let reqs = op["security"].as_array();
            let declared = reqs.is_some_and(|r| r.iter().any(|x| x.get("bearer").is_some()));
            if public.contains(label.as_str()) {
                assert_eq!(reqs.map(Vec::len), Some(0), "{label} is public");
            } else if !declared {
                missing.push(label);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without a declared scope: {missing:?}"
    );
}

db_test!(
    /// Every endpoint × every scope × read-only or not, with a superadmin's token (whose user
    /// may do everything, so that only the scopes and the read-only flag refuse): the expected
    /// status, and for refusals, nothing changed.
    async fn every_endpoint_for_every_scope(app) {
        let declared = declared_scopes();
        let mut failures = Vec::new();
        let mut cells = 0;
        for row in rows() {
            let label = format!("{} {}", row.method, row.template);
            let needed = declared.get(&label).cloned().flatten();
            let app = app.sibling(wmill_server::config::Settings::for_tests()).await;
            callers(&app).await;
            // Cells change the superadmin's password (ending their sessions): an API token
            // prepares and mints.
            let root = app.mint(&app.admin, json!({"label": "root"})).await;
            for (i, scope) in every_scope().into_iter().enumerate() {
                for read_only in [false, true] {
                    let n = 100 + i * 2 + usize::from(read_only);
                    let token = app.mint(&root, json!({"scopes": [scope], "read_only": read_only, "label": "cell"})).await;
                    let cell = (row.make)(n, &token);
                    for (m, p, b) in cell.prep {
                        let r = app.call(m, &p, Some(&root), b).await;
                        assert!(r.status.is_success(), "prep {m} {p} for {label}: {r:?}");
                    }
                    let (m, p, b) = cell.req;
                    let writes = !matches!(m, "GET" | "HEAD");
                    // Operations that need a second scope inside (they reach another domain).
                    let also = match label.as_str() {
                        "POST /api/groups/overwrite" => Some("users:admin"),
                        "POST /api/w/{workspace}/workspaces/edit_instance_groups" => Some("users:write"),
                        _ => None,
                    };
                    let want = match row.kind {
                        Kind::Public => row.valid[2],
                        Kind::Logout => 200,
                        Kind::Authed if read_only && writes => 403,
                        Kind::Authed => match &needed {
                            Some(s) if !grants(&scope, s) => 403,
                            _ if also.is_some_and(|a| !grants(&scope, a)) => 403,
                            // The cell sets its own token's scopes to groups:read: a widening
                            // unless its scope grants that already.
                            _ if label.contains("update_scopes") && !grants(&scope, "groups:read") => 403,
                            _ => row.valid[2],
                        },
                    };
                    let before = app.fingerprint().await;
                    let r = app.call(m, &p, Some(&token), b).await;
                    cells += 1;
                    if r.status.as_u16() != want {
                        failures.push(format!("{label} with {scope} read_only={read_only}: want {want}, got {} {:?}", r.status.as_u16(), r.body));
                    }
                    if r.status.as_u16() == 403 {
                        let expected_text = if read_only && writes {
                            "Not authorized: this token is read-only".to_string()
                        } else if label.contains("update_scopes") && needed.is_none() {
                            format!(
                                "Not authorized: the scopes of token {} can be narrowed, but widened only as far as this token's own: it lacks groups:read",
                                &token[..10]
                            )
                        } else if let (Some(a), Some(n)) = (also, &needed)
                            && grants(&scope, n)
                        {
                            format!("Not authorized: this token lacks the scope {a}")
                        } else {
                            format!("Not authorized: this token lacks the scope {}", needed.clone().unwrap_or_default())
                        };
                        if r.body != expected_text {
                            failures.push(format!("{label} with {scope}: text {:?}, want {expected_text:?}", r.body));
                        }
                    }
                    if !r.status.is_success() && app.fingerprint().await != before {
                        failures.push(format!("{label} with {scope} read_only={read_only}: refused but the data changed"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{} of {cells} cells differ:\n{}", failures.len(), failures.join("\n"));
        assert!(cells > 1500, "{cells}");
    }
);

db_test!(
    async fn scopes_are_windmills_strings_and_unknown_ones_are_named(app) {
        for bad in ["scripts:run", "groups:run", "groups", "Groups:read", "jobs:read"] {
            app.post("/api/users/tokens/create", &app.admin, json!({"scopes": [bad]}))
                .await
                .assert_text_starts(400, &format!("Bad request: scope {bad:?} is not one this server knows"));
        }
        let domains: Vec<ScopeDomain> = app.get("/api/tokens/list/scopes", &app.admin).await.parse();
        let values: Vec<String> = domains.iter().flat_map(|d| d.scopes.iter().map(|s| s.value.clone())).collect();
        assert_eq!(values.len(), 20);
        assert!(values.contains(&"audit:read".to_string()) && values.contains(&"users:admin".to_string()));
        let t = app.mint(&app.admin, json!({"scopes": ["audit:read"], "read_only": true, "label": "auditor"})).await;
        let list: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &app.admin).await.parse();
        let mine = list.iter().find(|x| x.token_prefix == t[..10]).unwrap();
        assert_eq!(mine.scopes.as_deref(), Some(&["audit:read".to_string()][..]));
        assert!(mine.read_only);
        assert_eq!(mine.email.as_deref(), Some(ADMIN_EMAIL));
        let session = list.iter().find(|x| x.token_prefix == app.admin[..10]).unwrap();
        assert_eq!(session.scopes, None, "unrestricted tokens have no scopes");
        // The issue's own example: that token cannot create a superadmin.
        app.post("/api/users/create", &t, json!({"email": "x@example.com", "password": PASSWORD, "super_admin": true}))
            .await
            .assert_text(403, "Not authorized: this token is read-only");
        app.get("/api/w/admins/audit/list", &t).await.assert_status(200);
        app.get("/api/users/list_as_super_admin", &t).await.assert_text(403, "Not authorized: this token lacks the scope users:read");
    }
);

db_test!(
    async fn a_token_never_mints_a_wider_one(app) {
        let t = app.mint(&app.admin, json!({"scopes": ["groups:admin", "audit:read"], "expiration": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()})).await;
        // Narrower is fine; absent scopes inherit the parent's.
        let child = app.mint(&t, json!({"scopes": ["groups:read"]})).await;
        let inherited = app.mint(&t, json!({})).await;
        let list: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &app.admin).await.parse();
        let scopes = |p: &str| list.iter().find(|x| x.token_prefix == p[..10]).unwrap().scopes.clone();
        assert_eq!(scopes(&child), Some(vec!["groups:read".to_string()]));
        assert_eq!(scopes(&inherited), Some(vec!["groups:admin".to_string(), "audit:read".to_string()]));
        let parent_exp = list.iter().find(|x| x.token_prefix == t[..10]).unwrap().expiration.unwrap();
        assert_eq!(list.iter().find(|x| x.token_prefix == inherited[..10]).unwrap().expiration, Some(parent_exp), "no later than the parent");
        // Wider, longer or unrestricted: refused, nothing minted.
        let before = app.fingerprint().await;
        app.post("/api/users/tokens/create", &t, json!({"scopes": ["users:read"]}))
            .await
            .assert_text(403, "Not authorized: a token can only mint tokens within its own scopes, and this one lacks users:read");
        app.post("/api/users/tokens/create", &t, json!({"scopes": ["*"]})).await.assert_status(403);
        let far = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        app.post("/api/users/tokens/create", &t, json!({"expiration": far})).await.assert_status(400);
        // Impersonation and password changes need `*` or users:admin.
        app.post("/api/users/tokens/impersonate", &t, json!({"impersonate_email": ADMIN_EMAIL})).await.assert_status(403);
        app.post("/api/users/setpassword", &t, json!({"password": "another password"})).await.assert_status(403);
        assert_eq!(app.fingerprint().await, before);
        // A read-only token mints nothing (minting is a change).
        let ro = app.mint(&app.admin, json!({"read_only": true})).await;
        app.post("/api/users/tokens/create", &ro, json!({})).await.assert_text(403, "Not authorized: this token is read-only");
    }
);

db_test!(
    async fn labels_and_scopes_are_updated_and_audited(app) {
        let t = app.mint(&app.admin, json!({"scopes": ["groups:write"], "label": "ci"})).await;
        let p = &t[..10];
        app.post(&format!("/api/users/tokens/update_label/{p}"), &app.admin, json!({"label": "deploy"}))
            .await
            .assert_text(200, &format!("label of token {p} updated"));
        app.post(&format!("/api/users/tokens/update_scopes/{p}"), &app.admin, json!({"scopes": ["groups:read", "audit:read"]}))
            .await
            .assert_status(200);
        let list: Vec<TruncatedToken> = app.get("/api/users/tokens/list", &app.admin).await.parse();
        let mine = list.iter().find(|x| x.token_prefix == p).unwrap();
        assert_eq!(mine.label.as_deref(), Some("deploy"));
        assert_eq!(mine.scopes, Some(vec!["groups:read".to_string(), "audit:read".to_string()]));
        // A scoped token narrows itself, but cannot widen itself or a sibling beyond its own.
        app.post(&format!("/api/users/tokens/update_scopes/{p}"), &t, json!({"scopes": ["audit:read"]})).await.assert_status(200);
        let before = app.fingerprint().await;
        app.post(&format!("/api/users/tokens/update_scopes/{p}"), &t, json!({"scopes": ["users:admin"]}))
            .await
            .assert_text_starts(403, &format!("Not authorized: the scopes of token {p} can be narrowed"));
        app.post("/api/users/tokens/update_scopes/wm_NOPE000", &app.admin, json!({"scopes": []})).await.assert_status(404);
        assert_eq!(app.fingerprint().await, before);
        let updates: Vec<wmill_api::AuditLog> = app.audit_all().await.into_iter().filter(|e| e.operation == "users.token.update").collect();
        assert_eq!(updates.len(), 3);
        assert_eq!(updates[2].parameters, Some(json!({"label": "deploy"})));
        assert_eq!(updates[0].resource.as_deref(), Some(&format!("{p}*****")[..]));
    }
);

db_test!(
    /// A token holds no right its user lacks: the user's rights are read at each request.
    async fn a_demoted_users_scoped_tokens_lose_the_rights_at_once(app) {
        app.create_user("root@example.com", true).await;
        let root = app.login("root@example.com", PASSWORD).await;
        let t = app.mint(&root, json!({"scopes": ["users:admin", "workspaces:admin"]})).await;
        app.get("/api/users/list_as_super_admin", &t).await.assert_status(200);
        app.post("/api/users/update/root@example.com", &app.admin, json!({"is_super_admin": false})).await.assert_status(200);
        app.get("/api/users/list_as_super_admin", &t).await.assert_status(401);
        app.post("/api/workspaces/create", &t, json!({"id": "nope", "name": "n"})).await.assert_status(401);
    }
);

db_test!(
    /// Random sequences of mints, scope updates and demotions: no token ever does what its
    /// user may not, and no child ever holds a scope its parent lacks.
    async fn no_sequence_of_mints_updates_and_demotions_widens_a_token(app) {
        use rand::RngExt;
        let scopes = every_scope();
        let mut rng = rand::rng();
        app.create_user("root@example.com", true).await;
        app.create_workspace("ws").await;
        let root_session = app.login("root@example.com", PASSWORD).await;
        // (token, its scopes as minted or updated: None = unrestricted)
        let mut tokens: Vec<(String, Option<Vec<String>>)> = vec![(root_session, None)];
        let mut superadmin = true;
        for step in 0..120 {
            let (parent, parent_scopes) = tokens[rng.random_range(0..tokens.len())].clone();
            match rng.random_range(0..10) {
                0..=5 => {
                    let k = rng.random_range(0..3);
                    let ask: Vec<String> = (0..k).map(|_| scopes[rng.random_range(0..scopes.len())].clone()).collect();
                    let r = app.post("/api/users/tokens/create", &parent, json!({"scopes": ask})).await;
                    let asked = if ask.is_empty() { parent_scopes.clone() } else if ask.iter().any(|s| s == "*") { None } else { Some(ask.clone()) };
                    let within = match (&parent_scopes, &asked) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(p), Some(c)) => c.iter().all(|c| p.iter().any(|p| grants(p, c))),
                    };
                    if r.status.as_u16() == 201 {
                        assert!(within, "step {step}: {asked:?} minted from {parent_scopes:?}");
                        tokens.push((r.body, asked));
                    } else {
                        assert!(!within || r.status.as_u16() == 401, "step {step}: refused {asked:?} from {parent_scopes:?}: {r:?}");
                    }
                }
                6..=7 => {
                    // Narrow or widen one of root's tokens through another.
                    let (target, target_scopes) = tokens[rng.random_range(0..tokens.len())].clone();
                    let new = vec![scopes[rng.random_range(1..scopes.len())].clone()];
                    let r = app.post(&format!("/api/users/tokens/update_scopes/{}", &target[..10]), &parent, json!({"scopes": new})).await;
                    if r.status.as_u16() == 200 {
                        let covered = |held: &Option<Vec<String>>| match held {
                            None => true,
                            Some(h) => new.iter().all(|n| h.iter().any(|x| grants(x, n))),
                        };
                        assert!(covered(&parent_scopes) || covered(&target_scopes), "step {step}: widened {target_scopes:?} to {new:?} through {parent_scopes:?}");
                        if let Some(e) = tokens.iter_mut().find(|(t, _)| *t == target) {
                            e.1 = Some(new);
                        }
                    }
                }
                _ => {
                    superadmin = !superadmin;
                    app.post("/api/users/update/root@example.com", &app.admin, json!({"is_super_admin": superadmin})).await.assert_status(200);
                }
            }
            // The invariant, for every token: superadmin rights only while root is one, and
            // only with a scope that grants them.
            for (t, s) in &tokens {
                let r = app.get("/api/users/list_as_super_admin", t).await.status.as_u16();
                let scope_ok = s.as_ref().is_none_or(|s| s.iter().any(|x| grants(x, "users:read")));
                if r == 200 {
                    assert!(superadmin && scope_ok, "step {step}: {s:?} listed users (superadmin: {superadmin})");
                }
            }
        }
    }
);

db_test!(
    async fn service_accounts_hold_tokens_that_outlive_who_minted_them(app) {
        app.create_workspace("ws").await;
        let wsa = app.member_token("ws", "wsa@example.com", true).await;
        let member = app.member_token("ws", "mem@example.com", false).await;
        app.post("/api/w/ws/workspaces/create_service_account", &member, json!({"username": "ci_bot"})).await.assert_status(403);
        app.post("/api/w/ws/workspaces/create_service_account", &wsa, json!({"username": "ci_bot", "operator": false}))
            .await
            .assert_text(201, "service account ci_bot created");
        app.post("/api/w/ws/workspaces/create_service_account", &wsa, json!({"username": "ci_bot"})).await.assert_status(409);
        let users: Vec<User> = app.get("/api/w/ws/users/list", &wsa).await.parse();
        let bot = users.iter().find(|u| u.username == "ci_bot").unwrap();
        assert!(bot.is_service_account && !bot.operator && !bot.is_admin);
        // It cannot sign in, nor be given a password.
        app.call("POST", "/api/auth/login", None, Some(json!({"email": bot.email, "password": ""}))).await.assert_status(400);
        app.post(&format!("/api/users/set_password_of/{}", bot.email), &app.admin, json!({"password": "a password!"})).await.assert_status(409);
        // An admin mints its token: pinned to the workspace, scoped as asked, audited.
        let t = app.post("/api/w/ws/users/impersonate_service_account", &wsa, json!({"username": "ci_bot", "scopes": ["groups:write", "groups:read"]})).await;
        t.assert_status(201);
        let t = t.body;
        app.post("/api/w/ws/groups/create", &t, json!({"name": "deployers"})).await.assert_status(200);
        app.get("/api/w/ws/users/list", &t).await.assert_status(403);
        app.get("/api/users/whoami", &t).await.assert_status(401);
        let who: wmill_api::UserInfo = app.get("/api/w/ws/users/whoami", &t).await.parse();
        assert_eq!(who.username, "ci_bot");
        let log = app.audit_all().await;
        let minted = log.iter().find(|e| e.operation == "users.token.create" && e.workspace_id == "ws").unwrap();
        assert_eq!((minted.username.as_str(), minted.parameters.as_ref().unwrap()["service_account"].as_str()), ("wsa", Some("ci_bot")));
        let made = log.iter().find(|e| e.operation == "group.create").unwrap();
        assert_eq!(made.username, "ci_bot", "what it does is audited as the service account");
        // The admin who minted it leaves: the token stays.
        app.delete("/api/users/delete/wsa@example.com", &app.admin).await.assert_status(200);
        app.get("/api/w/ws/groups/list", &t).await.assert_status(200);
        // Disabled, its tokens end (and do not come back); removed, it is gone.
        app.post("/api/w/ws/users/update/ci_bot", &app.admin, json!({"disabled": true})).await.assert_status(200);
        app.get("/api/w/ws/groups/list", &t).await.assert_status(401);
        app.post("/api/w/ws/users/update/ci_bot", &app.admin, json!({"disabled": false})).await.assert_status(200);
        app.get("/api/w/ws/groups/list", &t).await.assert_status(401);
        let t2 = app.post("/api/w/ws/users/impersonate_service_account", &app.admin, json!({"username": "ci_bot"})).await.body;
        app.get("/api/w/ws/groups/list", &t2).await.assert_status(200);
        app.delete("/api/w/ws/users/delete/ci_bot", &app.admin).await.assert_status(200);
        app.get("/api/w/ws/groups/list", &t2).await.assert_status(401);
        app.get(&format!("/api/users/exists/{}", bot.email), &app.admin).await.json();
        assert_eq!(app.get(&format!("/api/users/exists/{}", bot.email), &app.admin).await.body, "false");
    }
);
