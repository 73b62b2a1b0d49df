//! Several real server processes on one PostgreSQL database, as behind a load balancer:
//! bootstrap once, immediate revocation across instances, one winner among concurrent
//! creations, unique increasing audit ids, and recovery when the database comes back.
//!
//! Needs `WMILL_TEST_POSTGRES_URL`: without it (as the tests were built) each test is
//! reported as ignored; under `CI` that is a failure (`tests/server/meta.rs`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Proc, pg_url, start};

/// Two instances on one fresh database, started at the same moment, with generated
/// admin passwords. Returns them, the password that won, and the database (dropped last).
fn pair() -> (tempfile::TempDir, Proc, Proc, String, support::PgDb) {
    let pg = support::fresh_pg_database_blocking(&pg_url());
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    let env = [("DATABASE_URL", pg.url.as_str())];
    let (a, b) = std::thread::scope(|s| {
        let ha = s.spawn(|| start(&da, "a", &env));
        let hb = s.spawn(|| start(&db, "b", &env));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let files: Vec<String> = [&da, &db]
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("initial-admin-password")).ok())
        .collect();
    assert_eq!(files.len(), 1, "exactly one instance bootstraps: {files:?}");
    let password = files[0].trim().to_string();
    (dir, a, b, password, pg)
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn bootstrap_runs_once_and_revocation_is_immediate_everywhere() {
    let (_dir, a, b, password, _pg) = pair();
    let admin = a.login("admin@windmill.dev", &password);
    let (s, _) = b.call("GET", "/api/users/whoami", Some(&admin), None);
    assert_eq!(s, 200, "a session made on A works on B");
    let (_, audit) = b.call(
        "GET",
        "/api/w/admins/audit/list?all_workspaces=true",
        Some(&admin),
        None,
    );
    let audit: Vec<Value> = serde_json::from_str(&audit).unwrap();
    let boots = audit
        .iter()
        .filter(|e| e["username"] == "system" && e["operation"] == "users.add_global")
        .count();
    assert_eq!(boots, 1);

    // A token deleted on A is refused by B on its very next request.
    let (_, t) = a.call(
        "POST",
        "/api/users/tokens/create",
        Some(&admin),
        Some(json!({})),
    );
    assert_eq!(b.call("GET", "/api/users/whoami", Some(&t), None).0, 200);
    assert_eq!(
        a.call(
            "DELETE",
            &format!("/api/users/tokens/delete/{t}"),
            Some(&admin),
            None
        )
        .0,
        200
    );
    assert_eq!(b.call("GET", "/api/users/whoami", Some(&t), None).0, 401);

    // A user disabled on A, then deleted on B.
    let body =
        json!({"email": "bob@example.com", "password": "bob-password", "super_admin": false});
    assert_eq!(
        a.call("POST", "/api/users/create", Some(&admin), Some(body))
            .0,
        201
    );
    let bob = b.login("bob@example.com", "bob-password");
    assert_eq!(a.call("GET", "/api/users/whoami", Some(&bob), None).0, 200);
    assert_eq!(
        a.call(
            "POST",
            "/api/users/update/bob@example.com",
            Some(&admin),
            Some(json!({"disabled": true}))
        )
        .0,
        200
    );
    assert_eq!(b.call("GET", "/api/users/whoami", Some(&bob), None).0, 401);
    assert_eq!(
        b.call(
            "POST",
            "/api/users/update/bob@example.com",
            Some(&admin),
            Some(json!({"disabled": false}))
        )
        .0,
        200
    );
    let bob = a.login("bob@example.com", "bob-password");
    assert_eq!(
        b.call(
            "DELETE",
            "/api/users/delete/bob@example.com",
            Some(&admin),
            None
        )
        .0,
        200
    );
    assert_eq!(a.call("GET", "/api/users/whoami", Some(&bob), None).0, 401);
    // Logout on B ends the session on A.
    assert_eq!(
        b.call("POST", "/api/auth/logout", Some(&admin), None).0,
        200
    );
    assert_eq!(
        a.call("GET", "/api/users/whoami", Some(&admin), None).0,
        401
    );
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn concurrent_creations_across_instances_have_one_winner_and_ordered_audit() {
    let (_dir, a, b, password, _pg) = pair();
    let admin = a.login("admin@windmill.dev", &password);
    let servers = Arc::new([a, b]);
    let mut handles = Vec::new();
    for i in 0..50 {
        let servers = servers.clone();
        let admin = admin.clone();
        handles.push(std::thread::spawn(move || {
            let body = json!({"email": "same@example.com", "password": "same-password", "super_admin": false});
            servers[i % 2].call("POST", "/api/users/create", Some(&admin), Some(body))
        }));
    }
    let results: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|(s, _)| *s == 201 || *s == 409),
        "{results:?}"
    );

    // Interleaved mutations on both instances: every one has its entry, ids unique and
    // increasing in the order the mutations were made.
    let mut made = Vec::new();
    for i in 0..20 {
        let name = format!("g{i}");
        let (s, _) = servers[i % 2].call(
            "POST",
            "/api/w/admins/groups/create",
            Some(&admin),
            Some(json!({"name": name})),
        );
        assert_eq!(s, 200);
        made.push(name);
    }
    let (_, list) = servers[1].call(
        "GET",
        "/api/w/admins/audit/list?all_workspaces=true&per_page=1000",
        Some(&admin),
        None,
    );
    let list: Vec<Value> = serde_json::from_str(&list).unwrap();
    let ids: Vec<i64> = list.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|x, y| y.cmp(x));
    sorted.dedup();
    assert_eq!(ids, sorted, "unique and newest first");
    let creations: Vec<&str> = list
        .iter()
        .rev()
        .filter(|e| e["operation"] == "group.create")
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    assert_eq!(
        creations,
        made.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let adds = list
        .iter()
        .filter(|e| e["operation"] == "users.add_global" && e["resource"] == "same@example.com")
        .count();
    assert_eq!(adds, 1);
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn the_server_reports_and_survives_a_database_outage() {
    // A database of our own that we can cut off by terminating its connections and
    // refusing new ones, without disturbing the other tests' databases.
    let base = pg_url();
    let pg = support::fresh_pg_database_blocking(&base);
    let url = pg.url.clone();
    let dbname = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let p = start(
        &dir.path().join("d"),
        "outage",
        &[
            ("DATABASE_URL", &url),
            ("WM_ADMIN_PASSWORD", "outage-password"),
            // The uncached path, whose every request asks the database (with the cache on,
            // a request may be answered from it in the moment before the instance notices
            // that its listener was cut: tests/pg_cache.rs covers that case).
            ("WM_PG_CACHE", "off"),
        ],
    );
    let admin = p.login("admin@windmill.dev", "outage-password");
    assert_eq!(
        p.call("GET", "/api/health/status", None, None),
        (
            200,
            r#"{"status":"healthy","database_healthy":true}"#.into()
        )
    );

    let admin_sql = |sql: String| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            })
    };
    admin_sql(format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS false"));
    admin_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
    ));
    let (s, body) = p.call("GET", "/api/health/status", None, None);
    assert_eq!(
        (s, body.as_str()),
        (503, r#"{"status":"unhealthy","database_healthy":false}"#)
    );
    let (s, body) = p.call("GET", "/api/users/whoami", Some(&admin), None);
    assert_eq!(s, 503, "{body}");
    assert!(
        body.starts_with("Service unavailable: the database cannot be reached"),
        "{body}"
    );

    admin_sql(format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS true"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if p.call("GET", "/api/users/whoami", Some(&admin), None).0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "requests did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(p.call("GET", "/api/health/status", None, None).0, 200);
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn a_service_accounts_tokens_end_on_every_instance() {
    let (_dir, a, b, password, _pg) = pair();
    let admin = a.login("admin@windmill.dev", &password);
    let (s, body) = a.call(
        "POST",
        "/api/w/admins/workspaces/create_service_account",
        Some(&admin),
        Some(json!({"username": "bot"})),
    );
    assert_eq!(s, 201, "{body}");
    let mint = |p: &Proc| {
        let (s, t) = p.call(
            "POST",
            "/api/w/admins/users/impersonate_service_account",
            Some(&admin),
            Some(json!({"username": "bot", "scopes": ["groups:read"]})),
        );
        assert_eq!(s, 201, "{t}");
        t
    };
    let groups = |p: &Proc, t: &str| p.call("GET", "/api/w/admins/groups/list", Some(t), None).0;
    // Minted through A, used through B; disabled through A: refused on B at once.
    let t1 = mint(&a);
    assert_eq!(groups(&b, &t1), 200);
    let (s, _) = a.call(
        "POST",
        "/api/w/admins/users/update/bot",
        Some(&admin),
        Some(json!({"disabled": true})),
    );
    assert_eq!(s, 200);
    assert_eq!(groups(&b, &t1), 401);
    assert_eq!(groups(&a, &t1), 401);
    // Enabled through B, a new token through B works on A; removed through B: refused on A.
    let (s, _) = b.call(
        "POST",
        "/api/w/admins/users/update/bot",
        Some(&admin),
        Some(json!({"disabled": false})),
    );
    assert_eq!(s, 200);
    assert_eq!(groups(&a, &t1), 401, "a disable ended that token for good");
    let t2 = mint(&b);
    assert_eq!(groups(&a, &t2), 200);
    let (s, _) = b.call(
        "DELETE",
        "/api/w/admins/users/delete/bot",
        Some(&admin),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(groups(&a, &t2), 401);
}

#[test]
#[cfg_attr(
    not(wmill_pg),
    ignore = "needs PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
fn scim_deprovisioning_through_one_instance_ends_access_on_the_other() {
    let (_dir, a, b, password, _pg) = pair();
    let admin = a.login("admin@windmill.dev", &password);
    let (s, scim) = a.call(
        "POST",
        "/api/scim_tokens/create",
        Some(&admin),
        Some(json!({"label": "okta"})),
    );
    assert_eq!(s, 201, "{scim}");
    // Provisioned through B with a password; signed in through A; uses its token on B.
    let (s, user) = b.call(
        "POST",
        "/api/scim/v2/Users",
        Some(&scim),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "leaver@example.com",
            "emails": [{"value": "leaver@example.com", "primary": true}],
            "password": "leaver-password-1",
            "active": true,
        })),
    );
    assert_eq!(s, 201, "{user}");
    let id = serde_json::from_str::<Value>(&user).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let session = a.login("leaver@example.com", "leaver-password-1");
    let whoami = |p: &Proc| p.call("GET", "/api/users/whoami", Some(&session), None).0;
    assert_eq!(whoami(&b), 200);
    // Deactivated through A (Okta's shape): B refuses the session on its next request.
    let (s, body) = a.call(
        "PATCH",
        &format!("/api/scim/v2/Users/{id}"),
        Some(&scim),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}],
        })),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(whoami(&b), 401);
    assert_eq!(whoami(&a), 401);
    // The SCIM token deleted through B is refused by A at once.
    let (s, _) = b.call("DELETE", "/api/scim_tokens/delete/okta", Some(&admin), None);
    assert_eq!(s, 200);
    let (s, _) = a.call("GET", "/api/scim/v2/Users", Some(&scim), None);
    assert_eq!(s, 401);
}
