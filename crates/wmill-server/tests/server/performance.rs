//! What the benchmarks (docs/benchmarks.md) changed, held in place: password hashing on a
//! few dedicated idle-priority threads that reuse their memory, with hashes that argon2's own
//! code verifies and the other way round.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use wmill_server::password::{Argon2Params, Hasher, SCHED_IDLE, Verified};

const SMALL: Argon2Params = Argon2Params {
    m_cost: 256,
    t_cost: 2,
    p_cost: 1,
};

/// The scheduling policy of the calling thread (Linux: field 41 of /proc/thread-self/stat;
/// 0 is SCHED_OTHER, 5 SCHED_IDLE).
fn my_policy() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(38)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_runs_on_a_fixed_set_of_idle_priority_threads() {
    let hasher = Hasher::new(SMALL, 2);
    let mut jobs = Vec::new();
    for _ in 0..40 {
        let h = hasher.clone();
        jobs.push(tokio::spawn(async move {
            h.run(|| {
                let name = std::thread::current().name().map(String::from);
                (name, my_policy())
            })
            .await
            .unwrap()
        }));
    }
    let mut names = std::collections::BTreeSet::new();
    for j in jobs {
        let (name, policy) = j.await.unwrap();
        let name = name.expect("hashing threads are named");
        assert!(name.starts_with("argon2-"), "{name}");
        if cfg!(target_os = "linux") {
            assert_eq!(policy, Some(SCHED_IDLE), "on {name}");
        }
        names.insert(name);
    }
    assert!(names.len() <= 2, "40 jobs on at most 2 threads: {names:?}");
    // The request threads keep the normal policy.
    if cfg!(target_os = "linux") {
        assert_eq!(my_policy(), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_hashes_and_argon2s_verify_each_other() {
    let hasher = Hasher::new(SMALL, 2);
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(SMALL.m_cost, SMALL.t_cost, SMALL.p_cost, None).unwrap(),
    );
    let password = "correct horse battery staple ü";

    let ours = hasher.hash(password.into()).await.unwrap();
    assert!(ours.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{ours}");
    let parsed = PasswordHash::new(&ours).unwrap();
    assert!(argon.verify_password(password.as_bytes(), &parsed).is_ok());
    assert!(argon.verify_password(b"wrong", &parsed).is_err());

    let theirs = argon
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string();
    assert_eq!(
        hasher
            .verify(password.into(), Some(theirs.clone()))
            .await
            .unwrap(),
        Verified::Yes
    );
    assert_eq!(
        hasher.verify("wrong".into(), Some(theirs)).await.unwrap(),
        Verified::No
    );
    // Two hashes of one password differ (fresh salt), and both verify.
    let again = hasher.hash(password.into()).await.unwrap();
    assert_ne!(ours, again);
    for h in [ours, again] {
        assert_eq!(
            hasher.verify(password.into(), Some(h)).await.unwrap(),
            Verified::Yes
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_hashes_of_other_costs_still_verify() {
    let hasher = Hasher::new(SMALL, 1);
    for (m, t) in [(64, 1), (1024, 1), (1024, 2), (128, 3)] {
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(m, t, 1, None).unwrap(),
        );
        let stored = argon.hash_password(b"mypassword123").unwrap().to_string();
        let got = hasher
            .verify("mypassword123".into(), Some(stored.clone()))
            .await
            .unwrap();
        // Weaker than configured: upgraded; stronger (more memory than the thread keeps):
        // verified on a buffer of its own.
        match got {
            Verified::Yes => assert!(m >= SMALL.m_cost && t >= SMALL.t_cost, "{stored}"),
            Verified::YesRehashed(new) => {
                assert!(m < SMALL.m_cost || t < SMALL.t_cost, "{stored}");
                assert!(new.starts_with("$argon2id$v=19$m=256,t=2,p=1$"));
            }
            Verified::No => panic!("{stored} did not verify"),
        }
        assert_eq!(
            hasher.verify("nope".into(), Some(stored)).await.unwrap(),
            Verified::No
        );
    }
    // Garbage and other algorithms never verify.
    for stored in [
        "",
        "$argon2id$v=19$m=256,t=2,p=1$",
        "$2b$12$abcdefghijklmnopqrstuv",
    ] {
        assert_eq!(
            hasher
                .verify("x".into(), Some(stored.to_string()))
                .await
                .unwrap(),
            Verified::No
        );
    }
}

// ----- the authentication cache (SQLite only) keeps revocation immediate ----------------

mod cache {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use serde_json::json;
    use tower::ServiceExt;
    use wmill_server::store::SqlStore;
    use wmill_server::store::sql::DbOptions;

    use crate::common::*;

    /// Reads `path` three times with `token`, so that whatever can be cached is.
    async fn warm(app: &TestApp, path: &str, token: &str) {
        for _ in 0..3 {
            app.get(path, token).await.assert_status(200);
        }
    }

    async fn group_list(app: &TestApp) -> serde_json::Value {
        app.get("/api/w/admins/groups/list", &app.admin)
            .await
            .json()
    }

    async fn refused(app: &TestApp, path: &str, token: &str) {
        app.get(path, token)
            .await
            .assert_text(401, "Not authorized: Unauthorized");
    }

    db_test!(
        async fn sqlite_caches_and_postgres_does_not(app) {
            assert_eq!(app.store.caches_auth(), !app.is_postgres());
        }
    );

    db_test!(
        async fn a_group_member_change_forgets_group_lists_and_keeps_callers(app) {
            const ME: &str = "/api/users/whoami";
            app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "ops"}))
                .await
                .assert_status(200);
            app.member_token("admins", "bob@example.com", false).await;
            warm(&app, ME, &app.admin).await;
            let before = group_list(&app).await;
            // Whether bob is in group ops, by the list.
            let ops = |list: &serde_json::Value| {
                list.as_array()
                    .unwrap()
                    .iter()
                    .find(|g| g["name"] == "ops")
                    .map(|g| g["members"].as_array().unwrap().contains(&json!("bob")))
                    .unwrap()
            };
            assert!(!ops(&before));
            let cached = app.store.cached_entries();
            if app.is_postgres() {
                assert_eq!(cached, (0, 0, 0), "no cache without --pg-cache");
            } else {
                assert!(cached.0 >= 1 && cached.2 >= 1, "{cached:?}");
                assert!(app.store.cached_group_bytes() > 0);
            }
            app.post("/api/w/admins/groups/adduser/ops", &app.admin, json!({"username": "bob"}))
                .await
                .assert_status(200);
            // The group lists are read again at once; the callers stay cached.
            assert_eq!(app.store.cached_entries(), cached);
            assert!(ops(&group_list(&app).await));
            app.post("/api/w/admins/groups/removeuser/ops", &app.admin, json!({"username": "bob"}))
                .await
                .assert_status(200);
            assert_eq!(app.store.cached_entries(), cached);
            assert!(!ops(&group_list(&app).await));
            // Any other write still forgets everything.
            app.post("/api/w/admins/users/update/bob", &app.admin, json!({"disabled": true}))
                .await
                .assert_status(200);
            assert_eq!(app.store.cached_entries(), (0, 0, 0));
        }
    );

    db_test!(
        async fn every_revocation_is_refused_on_the_next_request_with_caches_warm(app) {
            const ME: &str = "/api/users/whoami";
            const WS_ME: &str = "/api/w/admins/users/whoami";
            const GROUPS: &str = "/api/w/admins/groups/list";
            let bob = "bob@example.com";
            let session = app.member_token("admins", bob, false).await;

            // Token delete.
            let t = app.mint(&session, json!({"label": "a"})).await;
            warm(&app, ME, &t).await;
            warm(&app, WS_ME, &t).await;
            warm(&app, GROUPS, &t).await;
            app.delete(&format!("/api/users/tokens/delete/{t}"), &session)
                .await
                .assert_status(200);
            refused(&app, ME, &t).await;
            refused(&app, GROUPS, &t).await;

            // Logout.
            warm(&app, ME, &session).await;
            app.call("POST", "/api/auth/logout", Some(&session), None)
                .await
                .assert_status(200);
            refused(&app, ME, &session).await;

            // Expiry (time passes; nothing is written).
            let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
            let admin2 = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
            let expiring = app.mint(&admin2, json!({"expiration": soon})).await;
            warm(&app, ME, &expiring).await;
            app.clock.advance(Duration::from_secs(2 * 3600));
            refused(&app, ME, &expiring).await;

            // Disabling the account.
            let t = app.login(bob, PASSWORD).await;
            warm(&app, ME, &t).await;
            warm(&app, GROUPS, &t).await;
            app.post(&format!("/api/users/update/{bob}"), &app.admin, json!({"disabled": true}))
                .await
                .assert_status(200);
            refused(&app, ME, &t).await;
            refused(&app, GROUPS, &t).await;
            app.post(&format!("/api/users/update/{bob}"), &app.admin, json!({"disabled": false}))
                .await
                .assert_status(200);
            refused(&app, ME, &t).await;

            // Disabling the membership, then removing the member: workspace routes refuse
            // at once; the pinned token is gone with the membership.
            let t = app.login(bob, PASSWORD).await;
            let pinned = app.mint(&t, json!({"workspace_id": "admins"})).await;
            warm(&app, GROUPS, &t).await;
            warm(&app, GROUPS, &pinned).await;
            app.post("/api/w/admins/users/update/bob", &app.admin, json!({"disabled": true}))
                .await
                .assert_status(200);
            refused(&app, GROUPS, &t).await;
            app.post("/api/w/admins/users/update/bob", &app.admin, json!({"disabled": false}))
                .await
                .assert_status(200);
            warm(&app, GROUPS, &t).await;
            app.delete("/api/w/admins/users/delete/bob", &app.admin)
                .await
                .assert_status(200);
            refused(&app, GROUPS, &t).await;
            refused(&app, GROUPS, &pinned).await;
            warm(&app, ME, &t).await;

            // Demotion from superadmin takes effect on the next request.
            app.post(&format!("/api/users/update/{bob}"), &app.admin, json!({"is_super_admin": true}))
                .await
                .assert_status(200);
            warm(&app, "/api/users/list_as_super_admin", &t).await;
            app.post(&format!("/api/users/update/{bob}"), &app.admin, json!({"is_super_admin": false}))
                .await
                .assert_status(200);
            app.get("/api/users/list_as_super_admin", &t)
                .await
                .assert_status(401);

            // Deleting the account.
            warm(&app, ME, &t).await;
            app.delete(&format!("/api/users/delete/{bob}"), &app.admin)
                .await
                .assert_status(200);
            refused(&app, ME, &t).await;
        }
    );

    db_test!(
        async fn whoami_follows_every_profile_change(app) {
            // whoami answers from what authentication read with the token: each change
            // shows on the next request, caches warm or not.
            const ME: &str = "/api/users/whoami";
            const WS_ME: &str = "/api/w/admins/users/whoami";
            let dave = "dave@example.com";
            app.create_user(dave, false).await;
            let t = app.login(dave, PASSWORD).await;
            let me = app.get(ME, &t).await.json();
            assert_eq!((me["name"].clone(), me["username"].clone()), (json!(null), json!(null)));
            assert_eq!(me["super_admin"], false);
            warm(&app, ME, &t).await;
            app.post(&format!("/api/users/update/{dave}"), &app.admin, json!({"name": "Dave D", "company": "Acme"}))
                .await
                .assert_status(200);
            let me = app.get(ME, &t).await.json();
            assert_eq!((me["name"].clone(), me["company"].clone()), (json!("Dave D"), json!("Acme")));
            app.get(WS_ME, &t).await.assert_status(401);
            app.add_member("admins", dave, false).await;
            assert_eq!(app.get(ME, &t).await.json()["username"], "dave");
            let ws_me = app.get(WS_ME, &t).await.json();
            assert_eq!((ws_me["name"].clone(), ws_me["is_admin"].clone()), (json!("Dave D"), json!(false)));
            warm(&app, WS_ME, &t).await;
            app.post("/api/w/admins/users/update/dave", &app.admin, json!({"is_admin": true}))
                .await
                .assert_status(200);
            assert_eq!(app.get(WS_ME, &t).await.json()["is_admin"], true);
            app.post(&format!("/api/users/update/{dave}"), &app.admin, json!({"is_super_admin": true}))
                .await
                .assert_status(200);
            assert_eq!(app.get(ME, &t).await.json()["super_admin"], true);
            assert_eq!(app.get(WS_ME, &t).await.json()["is_super_admin"], true);
        }
    );

    db_test!(
        async fn group_lists_follow_every_change(app) {
            app.add_member("admins", "carol@example.com", false).await;
            app.post("/api/w/admins/groups/create", &app.admin, json!({"name": "ops"}))
                .await
                .assert_status(200);
            let before = group_list(&app).await;
            assert_eq!(group_list(&app).await, before);
            app.post("/api/w/admins/groups/adduser/ops", &app.admin, json!({"username": "carol"}))
                .await
                .assert_status(200);
            let after = group_list(&app).await;
            let ops = after.as_array().unwrap().iter().find(|g| g["name"] == "ops").unwrap();
            assert_eq!(ops["members"], json!(["admin", "carol"]));
            app.post("/api/w/admins/groups/update/ops", &app.admin, json!({"summary": "on call"}))
                .await
                .assert_status(200);
            let after = group_list(&app).await;
            let ops = after.as_array().unwrap().iter().find(|g| g["name"] == "ops").unwrap();
            assert_eq!(ops["summary"], "on call");
            app.delete("/api/w/admins/groups/delete/ops", &app.admin)
                .await
                .assert_status(200);
            let after = group_list(&app).await;
            assert!(after.as_array().unwrap().iter().all(|g| g["name"] != "ops"));
        }
    );

    db_test!(
        async fn a_read_in_flight_never_brings_a_revoked_token_back(app) {
            // Readers hammer a token while unrelated writes keep emptying the cache (so
            // that reads of the database are in flight all the time) and the token is
            // deleted: once the deletion has answered, every request that starts
            // afterwards is refused, whatever was in flight.
            let stop = Arc::new(AtomicBool::new(false));
            let churn = {
                let (router, stop, admin) = (app.app.clone(), stop.clone(), app.admin.clone());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let req = Request::post(format!("/api/users/update/{ADMIN_EMAIL}"))
                            .header("authorization", format!("Bearer {admin}"))
                            .header("content-type", "application/json")
                            .body(Body::from(json!({"name": format!("Admin {i}")}).to_string()))
                            .unwrap();
                        let _ = router.clone().oneshot(req).await;
                        tokio::task::yield_now().await;
                    }
                })
            };
            for round in 0..30 {
                let t = app.mint(&app.admin, json!({"label": format!("r{round}")})).await;
                let done = Arc::new(AtomicBool::new(false));
                let readers: Vec<_> = (0..6)
                    .map(|_| {
                        let (router, done, t) = (app.app.clone(), done.clone(), t.clone());
                        tokio::spawn(async move {
                            while !done.load(Ordering::Relaxed) {
                                let req = Request::get("/api/users/whoami")
                                    .header("authorization", format!("Bearer {t}"))
                                    .body(Body::empty())
                                    .unwrap();
                                let _ = router.clone().oneshot(req).await;
                                // A cached answer never waits: give the others their turn.
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                tokio::time::sleep(Duration::from_millis(3)).await;
                app.delete(&format!("/api/users/tokens/delete/{t}"), &app.admin)
                    .await
                    .assert_status(200);
                for _ in 0..30 {
                    refused(&app, "/api/users/whoami", &t).await;
                }
                done.store(true, Ordering::Relaxed);
                for r in readers {
                    r.await.unwrap();
                }
                refused(&app, "/api/users/whoami", &t).await;
            }
            stop.store(true, Ordering::Relaxed);
            churn.await.unwrap();
        }
    );

    #[tokio::test]
    async fn one_server_at_a_time_on_a_sqlite_database() {
        let dir = tempfile::tempdir().unwrap();
        let opts = DbOptions {
            url: "sqlite:wmill.db".into(),
            max_connections: 2,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        };
        let first = SqlStore::connect(&opts, dir.path()).await.unwrap();
        assert!(first.caches_auth());
        let second = SqlStore::connect(&opts, dir.path()).await;
        let err = second
            .err()
            .expect("a second store on the same file is refused");
        assert!(
            err.contains("another wmill-server is using the SQLite database"),
            "{err}"
        );
        first.close().await;
        drop(first);
        let again = SqlStore::connect(&opts, dir.path()).await.unwrap();
        assert!(again.caches_auth());
    }
}

// ----- audit queries: operations split into index-served branches, users by their index --

mod audit {
    use wmill_api::{ActionKind, AuditLog};
    use wmill_server::store::{AuditStore, NewAudit};

    type Case = (String, Box<dyn Fn(&AuditLog) -> bool>);

    db_test!(
        async fn filters_agree_with_the_whole_log(app) {
            const OPS: [&str; 9] = [
                "group", "group.create", "group.adduser", "group.x.y", "group-x", "groupx",
                "users.login", "users.token.create", "workspaces.create",
            ];
            const KINDS: [ActionKind; 3] = [ActionKind::Create, ActionKind::Update, ActionKind::Delete];
            for i in 0..270_i64 {
                let n = i as usize;
                app.store
                    .record_audit(NewAudit {
                        workspace_id: if n.is_multiple_of(5) { "other" } else { "admins" }.into(),
                        timestamp: 1_700_000_000_000_000 + i * 1_000_000,
                        username: format!("u{}", n % 7),
                        email: None,
                        operation: OPS[n % OPS.len()],
                        action_kind: KINDS[n % KINDS.len()],
                        resource: None,
                        parameters: None,
                        impersonator: None,
                    })
                    .await
                    .unwrap();
            }
            let all: Vec<AuditLog> = app
                .get("/api/w/admins/audit/list?per_page=10000", &app.admin)
                .await
                .parse();
            assert!(all.windows(2).all(|w| w[0].id > w[1].id));
            let mid = all[all.len() / 2].id;
            let prefix = |p: &'static str| move |a: &AuditLog| {
                a.operation == p || a.operation.starts_with(&format!("{p}."))
            };
            let at = all[all.len() / 3].timestamp;
            let after = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let cases: Vec<Case> = vec![
                (
                    format!("username=u3&after={after}"),
                    Box::new(move |a| a.username == "u3" && a.timestamp > at),
                ),
                (
                    format!("username=u2&before_id={mid}&action_kind=Create"),
                    Box::new(move |a| {
                        a.username == "u2" && a.id < mid && a.action_kind == ActionKind::Create
                    }),
                ),
                ("operation=group".into(), Box::new(prefix("group"))),
                ("operation=group.x".into(), Box::new(prefix("group.x"))),
                ("operation=group.create".into(), Box::new(prefix("group.create"))),
                ("operation=nothing".into(), Box::new(|_| false)),
                (
                    "operations=group-x,users.login,users.login".into(),
                    Box::new(|a| a.operation == "group-x" || a.operation == "users.login"),
                ),
                (
                    "operation=group&exclude_operations=group.create".into(),
                    Box::new(move |a| prefix("group")(a) && a.operation != "group.create"),
                ),
                (
                    "operation=users&username=u3".into(),
                    Box::new(move |a| prefix("users")(a) && a.username == "u3"),
                ),
                (
                    "operation=group&action_kind=update".into(),
                    Box::new(move |a| prefix("group")(a) && a.action_kind == ActionKind::Update),
                ),
                (
                    format!("operation=group&before_id={mid}"),
                    Box::new(move |a| prefix("group")(a) && a.id < mid),
                ),
                (
                    "operations=groupx,workspaces.create&before_id=100000".into(),
                    Box::new(|a| a.operation == "groupx" || a.operation == "workspaces.create"),
                ),
            ];
            for (query, keep) in &cases {
                let expected: Vec<i64> = all.iter().filter(|a| keep(a)).map(|a| a.id).collect();
                for page in 1..=4 {
                    let got: Vec<AuditLog> = app
                        .get(
                            &format!("/api/w/admins/audit/list?{query}&per_page=7&page={page}"),
                            &app.admin,
                        )
                        .await
                        .parse();
                    let got: Vec<i64> = got.iter().map(|a| a.id).collect();
                    let want: Vec<i64> =
                        expected.iter().copied().skip((page - 1) * 7).take(7).collect();
                    assert_eq!(got, want, "{query}, page {page}");
                }
            }
        }
    );
}
