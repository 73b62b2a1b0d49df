//! The audit chain against someone with write access to the database but not the signing
//! key: each tampering, by direct SQL on the real database (SQLite file or PostgreSQL),
//! is named by verification at its first bad entry; concurrent writers keep the chain whole.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use ed25519_dalek::SigningKey;
use http_body_util::BodyExt;
use sqlx::{AssertSqlSafe, Connection};
use tower::ServiceExt;
use wmill_server::audit_chain::{Hash, Problem, Report, StoredEntry, entry_hash};
use wmill_server::store::{AuditChainStore, AuditStore, NewAudit};

use crate::common::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn entry(op: &'static str, i: i64) -> NewAudit {
    NewAudit {
        workspace_id: "admins".into(),
        timestamp: 1_700_000_000_000_000 + i,
        username: format!("writer{i}"),
        email: Some(format!("w{i}@example.com")),
        operation: op,
        action_kind: wmill_api::ActionKind::Create,
        resource: Some(format!("r{i}")),
        parameters: Some(serde_json::json!({"i": i, "note": "é\"\n"})),
        impersonator: None,
    }
}

/// A log of at least 12 entries (audited API calls and entries written by the store),
/// its head signed in a checkpoint; returns the head id.
async fn signed_log(app: &TestApp) -> i64 {
    for i in 0..4 {
        app.create_user(&format!("user{i}@example.com"), false)
            .await;
    }
    for i in 0..8 {
        app.store
            .record_audit(entry("test.write", i))
            .await
            .unwrap();
    }
    let cp = app
        .store
        .write_audit_checkpoint(&key(), app.svc.now())
        .await
        .unwrap()
        .expect("a checkpoint of a grown log");
    assert!(cp.chain.head_id >= 12, "{cp:?}");
    // Nothing new: no second checkpoint.
    assert!(
        app.store
            .write_audit_checkpoint(&key(), app.svc.now())
            .await
            .unwrap()
            .is_none()
    );
    cp.chain.head_id
}

async fn verify(app: &TestApp) -> Report {
    app.store
        .verify_audit_chain(Some(key().verifying_key()))
        .await
        .unwrap()
}

/// Runs statements on the database behind the store's back.
async fn tamper(app: &TestApp, sql: &str) {
    if app.is_postgres() {
        let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!(
            "sqlite:{}",
            app.dir.path().join("wmill.db").display()
        ))
        .await
        .unwrap();
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

/// The entries from `from` on, as stored.
async fn entries_from(app: &TestApp, from: i64) -> Vec<StoredEntry> {
    let sql = "SELECT id, workspace_id, timestamp, username, email, operation, action_kind, \
               resource, parameters, impersonator, hash FROM audit WHERE id >= $1 ORDER BY id";
    if app.is_postgres() {
        let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
        sqlx::query_as(sql)
            .bind(from)
            .fetch_all(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!(
            "sqlite:{}",
            app.dir.path().join("wmill.db").display()
        ))
        .await
        .unwrap();
        sqlx::query_as(sql)
            .bind(from)
            .fetch_all(&mut c)
            .await
            .unwrap()
    }
}

fn hex(b: &[u8]) -> String {
    wmill_server::audit_chain::to_hex(b)
}

/// A hash as an SQL literal of either database.
fn lit(app: &TestApp, h: &[u8]) -> String {
    if app.is_postgres() {
        format!("'\\x{}'::bytea", hex(h))
    } else {
        format!("X'{}'", hex(h))
    }
}

#[track_caller]
fn first_is(r: &Report, expected: Problem) {
    assert!(!r.intact(), "{r:?}");
    assert_eq!(r.first(), Some(&expected), "{}", r.describe());
}

db_test!(
    async fn an_untouched_log_verifies(app) {
        let head = signed_log(&app).await;
        let r = verify(&app).await;
        assert!(r.intact(), "{}", r.describe());
        assert_eq!((r.entries, r.head_id), (head as u64, head));
        assert_eq!((r.signed_checkpoints, r.signed_up_to), (1, head));
        // Ids are consecutive from 1: every append took the next one.
        let ids: Vec<i64> = entries_from(&app, 0).await.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=head).collect::<Vec<_>>());
    }
);

db_test!(
    async fn a_changed_field_is_named(app) {
        signed_log(&app).await;
        tamper(&app, "UPDATE audit SET username = 'mallory' WHERE id = 5").await;
        first_is(&verify(&app).await, Problem::Modified { id: 5 });
        // The parameters too, even a change JSON readers would not see (the last entry
        // has some).
        tamper(
            &app,
            "UPDATE audit SET parameters = REPLACE(parameters, ':', ' :') \
             WHERE id = (SELECT MAX(id) FROM audit)",
        )
        .await;
        let r = verify(&app).await;
        assert!(r.problems.contains(&Problem::Modified { id: r.head_id }), "{r:?}");
        assert_eq!(r.first(), Some(&Problem::Modified { id: 5 }));
    }
);

db_test!(
    async fn a_field_retyped_behind_the_servers_back_is_named(app) {
        // SQLite keeps the type a direct write gives a value: the same bytes as a BLOB in
        // a text column are not what the server wrote. (An integer column converts digits
        // written as text back to an integer: nothing to see there.)
        if app.is_postgres() {
            return;
        }
        signed_log(&app).await;
        for (id, sql) in [
            (3, "UPDATE audit SET username = CAST(username AS BLOB) WHERE id = 3"),
            (7, "UPDATE audit SET resource = CAST(resource AS BLOB) WHERE id = 7"),
            (9, "UPDATE audit SET email = CAST(email AS BLOB) WHERE id = 9"),
        ] {
            tamper(&app, sql).await;
            let r = verify(&app).await;
            assert!(r.problems.contains(&Problem::Modified { id }), "{id}: {r:?}");
            first_is(&r, Problem::Modified { id: 3 });
        }
        // Invalid UTF-8 in a text column.
        tamper(
            &app,
            "UPDATE audit SET operation = CAST(X'FF' AS TEXT) WHERE id = 2",
        )
        .await;
        first_is(&verify(&app).await, Problem::Modified { id: 2 });
    }
);

db_test!(
    async fn a_deleted_entry_is_named(app) {
        signed_log(&app).await;
        tamper(&app, "DELETE FROM audit WHERE id = 7").await;
        first_is(&verify(&app).await, Problem::Deleted { from: 7, to: 7 });
    }
);

db_test!(
    async fn an_inserted_entry_is_named(app) {
        let head = signed_log(&app).await;
        // With the next id, as a careless forger would (no hash)...
        tamper(
            &app,
            &format!(
                "INSERT INTO audit (id, workspace_id, timestamp, username, operation, action_kind) \
                 VALUES ({}, 'admins', 1, 'mallory', 'users.delete', 'Delete')",
                head + 1
            ),
        )
        .await;
        first_is(&verify(&app).await, Problem::Inserted { id: head + 1 });
        // ...and with a hash computed as the server would, linked to the head, without
        // moving the head (that would need rewriting what the checkpoint signed).
        tamper(&app, &format!("DELETE FROM audit WHERE id = {}", head + 1)).await;
        let last = entries_from(&app, head).await.remove(0);
        let mut forged = last.clone();
        forged.id = head + 1;
        forged.username = "mallory".into();
        (forged.email, forged.resource, forged.parameters, forged.impersonator) =
            (None, None, None, None);
        let prev: Hash = last.hash.clone().unwrap().try_into().unwrap();
        let h = entry_hash(&prev, &forged.as_ref());
        tamper(
            &app,
            &format!(
                "INSERT INTO audit (id, workspace_id, timestamp, username, operation, action_kind, hash) \
                 VALUES ({}, '{}', {}, 'mallory', '{}', '{}', {})",
                head + 1,
                forged.workspace_id,
                forged.timestamp,
                forged.operation,
                forged.action_kind,
                lit(&app, &h)
            ),
        )
        .await;
        let r = verify(&app).await;
        assert!(!r.intact(), "{r:?}");
        assert_eq!(r.first().unwrap().entry(), head + 1, "{}", r.describe());
    }
);

db_test!(
    async fn two_swapped_entries_are_named(app) {
        signed_log(&app).await;
        tamper(
            &app,
            "UPDATE audit SET id = -1 WHERE id = 4; UPDATE audit SET id = 4 WHERE id = 9; \
             UPDATE audit SET id = 9 WHERE id = -1;",
        )
        .await;
        let r = verify(&app).await;
        first_is(&r, Problem::Modified { id: 4 });
        assert!(r.problems.contains(&Problem::Modified { id: 9 }), "{r:?}");
    }
);

db_test!(
    async fn a_cut_tail_is_named_through_the_signed_head(app) {
        let head = signed_log(&app).await;
        let keep = head - 3;
        // The entries and the head row, made consistent: only the checkpoint remembers.
        tamper(
            &app,
            &format!(
                "DELETE FROM audit WHERE id > {keep}; \
                 UPDATE audit_chain SET head_id = {keep}, \
                   head_hash = (SELECT hash FROM audit WHERE id = {keep}) WHERE id = 1;"
            ),
        )
        .await;
        first_is(
            &verify(&app).await,
            Problem::Deleted {
                from: keep + 1,
                to: head,
            },
        );
        // The checkpoint deleted too: no signed checkpoint remains, which is reported.
        tamper(&app, "DELETE FROM audit_checkpoint").await;
        first_is(&verify(&app).await, Problem::NoSignedCheckpoint);
    }
);

db_test!(
    async fn a_chain_rehashed_without_the_key_does_not_verify(app) {
        let head = signed_log(&app).await;
        // Entry 6 changed, then every hash from it on recomputed as the server would,
        // the head row too.
        let mut rows = entries_from(&app, 5).await;
        let mut prev: Hash = rows[0].hash.clone().unwrap().try_into().unwrap();
        let mut sql = String::from("UPDATE audit SET username = 'mallory' WHERE id = 6;");
        rows[1].username = "mallory".into();
        for e in rows.iter().skip(1) {
            prev = entry_hash(&prev, &e.as_ref());
            sql.push_str(&format!(
                "UPDATE audit SET hash = {} WHERE id = {};",
                lit(&app, &prev),
                e.id
            ));
        }
        sql.push_str(&format!(
            "UPDATE audit_chain SET head_hash = {} WHERE id = 1;",
            lit(&app, &prev)
        ));
        tamper(&app, &sql).await;
        // Consistent, but not what was signed.
        let r = verify(&app).await;
        assert!(!r.intact());
        assert!(
            matches!(r.first(), Some(Problem::CheckpointMismatch { id, .. }) if *id == head),
            "{}",
            r.describe()
        );
        // The checkpoint rewritten to match: its signature fails.
        tamper(
            &app,
            &format!("UPDATE audit_checkpoint SET head_hash = {}", lit(&app, &prev)),
        )
        .await;
        let r = verify(&app).await;
        assert!(
            matches!(r.first(), Some(Problem::BadSignature { id, .. }) if *id == head),
            "{}",
            r.describe()
        );
        // A forger's own key, its checkpoint in the table: not the trusted key.
        let forger = SigningKey::from_bytes(&[1; 32]);
        app.store
            .write_audit_checkpoint(&forger, app.svc.now())
            .await
            .unwrap();
        assert!(!verify(&app).await.intact());
        // Without the trusted key nothing shows: why verification needs it.
        let blind = app.store.verify_audit_chain(None).await.unwrap();
        assert!(blind.intact() && !blind.signatures_checked, "{blind:?}");
    }
);

db_test!(
    async fn fifty_concurrent_writers_keep_one_chain(app) {
        let before = verify(&app).await;
        // On PostgreSQL, two instances on the same database share the writers.
        let second = if app.is_postgres() {
            Some(app.instance(wmill_server::config::Settings::for_tests()).await.0)
        } else {
            None
        };
        let mut tasks = Vec::new();
        for w in 0..50i64 {
            let store: Arc<wmill_server::store::SqlStore> = match (&second, w % 2) {
                (Some(s), 1) => s.clone(),
                _ => app.store.clone(),
            };
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    store.record_audit(entry("test.concurrent", w * 100 + i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let r = app.store.verify_audit_chain(None).await.unwrap();
        assert!(r.intact(), "{}", r.describe());
        assert_eq!(r.entries, before.entries + 500);
        let ids: Vec<i64> = entries_from(&app, 0).await.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=r.head_id).collect::<Vec<_>>(), "no gap, no fork");
    }
);

db_test!(
    async fn entries_committed_but_not_chained_are_chained_by_any_instance(app) {
        // On PostgreSQL an audited write commits its entry to `audit_pending` and has it
        // chained after its commit; an instance that dies between the two leaves it there.
        // On SQLite such rows come only from a copy of a PostgreSQL database.
        let before = verify_unsigned(&app).await;
        let orphan = "INSERT INTO audit_pending (workspace_id, timestamp, username, email, \
                      operation, action_kind, resource, parameters, impersonator) VALUES \
                      ('admins', 1700000000000000, 'ghost', NULL, 'test.orphan', 'Create', \
                      NULL, '{\"n\":1}', NULL)";
        tamper(&app, orphan).await;
        tamper(&app, &orphan.replace("test.orphan", "test.orphan2")).await;
        let store = if app.is_postgres() {
            // The running instance's sweep chains them, within about a second.
            app.store.clone()
        } else {
            // The next start chains them.
            app.instance(wmill_server::config::Settings::for_tests()).await.0
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let r = loop {
            let r = store.verify_audit_chain(None).await.unwrap();
            if r.entries == before.entries + 2 || std::time::Instant::now() > deadline {
                break r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(r.intact(), "{}", r.describe());
        assert_eq!(r.entries, before.entries + 2, "{}", r.describe());
        let last = entries_from(&app, before.head_id + 1).await;
        let ops: Vec<&str> = last.iter().map(|e| e.operation.as_str()).collect();
        assert_eq!(ops, ["test.orphan", "test.orphan2"], "chained in the order written");
        assert_eq!(last[0].parameters.as_deref(), Some("{\"n\":1}"));
        // Nothing waits any more, and a write after them is chained after them.
        store.record_audit(entry("test.after", 1)).await.unwrap();
        let after = entries_from(&app, before.head_id + 3).await;
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].operation, "test.after");
        let waiting: i64 = if app.is_postgres() {
            let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending")
                .fetch_one(&mut c)
                .await
                .unwrap()
        } else {
            0
        };
        assert_eq!(waiting, 0);
        assert!(store.verify_audit_chain(None).await.unwrap().intact());
    }
);

db_test!(
    async fn an_audited_write_is_answered_once_its_entry_is_chained(app) {
        // Read-your-writes across instances: the entry of a write answered by one instance
        // is in the chain, with its id, when the answer arrives.
        let other = if app.is_postgres() {
            app.instance(wmill_server::config::Settings::for_tests()).await.0
        } else {
            app.store.clone()
        };
        for i in 0..20 {
            let head = verify_unsigned(&app).await.head_id;
            other.record_audit(entry("test.answered", i)).await.unwrap();
            let got = entries_from(&app, head + 1).await;
            assert_eq!(got.len(), 1, "round {i}");
            assert_eq!(got[0].username, format!("writer{i}"));
            assert!(got[0].hash.is_some());
        }
    }
);

db_test!(
    async fn the_api_publishes_the_key_and_verifies_for_superadmins(app) {
        signed_log(&app).await;
        let svc = wmill_server::service::Service::new(
            app.store.clone(),
            Arc::new(app.clock.clone()),
            wmill_server::config::Settings::for_tests(),
        )
        .with_audit_key(Some(key()));
        let router = wmill_server::http::app(Arc::new(svc));
        let get = |path: &str, token: Option<&str>| {
            let mut req = Request::builder().uri(path);
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let router = router.clone();
            let req = req.body(Body::empty()).unwrap();
            async move {
                let res = router.oneshot(req).await.unwrap();
                let status = res.status().as_u16();
                let body = res.into_body().collect().await.unwrap().to_bytes();
                (status, String::from_utf8(body.to_vec()).unwrap())
            }
        };
        let (status, body) = get("/api/audit/public_key", None).await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["public_key"], hex(key().verifying_key().as_bytes()));
        assert_eq!(v["algorithm"], "ed25519");
        // The test app's own service has no key: null.
        let none = app.get("/api/audit/public_key", "").await.json();
        assert!(none["public_key"].is_null(), "{none}");

        let (status, body) = get("/api/audit/verify", Some(&app.admin)).await;
        assert_eq!(status, 200, "{body}");
        let r: Report = serde_json::from_str(&body).unwrap();
        assert!(r.intact && r.signatures_checked && r.signed_checkpoints == 1, "{r:?}");

        let bob = app.member_token("admins", "bob@example.com", true).await;
        let (status, body) = get("/api/audit/verify", Some(&bob)).await;
        assert_eq!(status, 401, "{body}");
        let (status, _) = get("/api/audit/verify", None).await;
        assert_eq!(status, 401);

        // Streamed: NDJSON ending with the report (progress lines come every
        // PROGRESS_EVERY entries: none in a log this small).
        let (status, body) = get("/api/audit/verify?stream=true", Some(&app.admin)).await;
        assert_eq!(status, 200, "{body}");
        let lines = ndjson(&body);
        assert_eq!(lines.len(), 1, "{body}");
        let r: Report = serde_json::from_value(lines[0]["report"].clone()).unwrap();
        assert!(r.intact && r.signatures_checked, "{r:?}");
        let (status, body) = get("/api/audit/verify?stream=true", Some(&bob)).await;
        assert_eq!(status, 401, "{body}");
        let (status, body) = get("/api/audit/verify?stream=maybe", Some(&app.admin)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("stream must be true or false"), "{body}");

        tamper(&app, "UPDATE audit SET resource = 'elsewhere' WHERE id = 3").await;
        let (status, body) = get("/api/audit/verify", Some(&app.admin)).await;
        assert_eq!(status, 200);
        let r: Report = serde_json::from_str(&body).unwrap();
        first_is(&r, Problem::Modified { id: 3 });
        let (_, body) = get("/api/audit/verify?stream=true", Some(&app.admin)).await;
        let r: Report = serde_json::from_value(ndjson(&body)[0]["report"].clone()).unwrap();
        first_is(&r, Problem::Modified { id: 3 });
    }
);

// Entries bulk-loaded by SQL, chained with the function the server uses at its first start
// on an older log; then verified whole. `WMILL_TEST_AUDIT_ENTRIES` sets the size (default
// 1 000 000; the throughput is a benchmark item, not asserted here).
db_test!(
    async fn a_log_of_a_million_entries_verifies(app) {
        let n: i64 = std::env::var("WMILL_TEST_AUDIT_ENTRIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let head = app.store.verify_audit_chain(None).await.unwrap().head_id;
        let (series, text) = if app.is_postgres() {
            (
                format!("WITH s(x) AS (SELECT generate_series(1, {n})) "),
                "x::text",
            )
        } else {
            (
                format!(
                    "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n}) "
                ),
                "x",
            )
        };
        tamper(
            &app,
            &format!(
                "{series}INSERT INTO audit (id, workspace_id, timestamp, username, email, operation, \
                 action_kind, resource, parameters) \
                 SELECT {head} + x, 'ws' || ({text}), x, 'u' || ({text}), 'u@example.com', \
                 'group.adduser', 'Update', 'g' || ({text}), '{{\"user\": \"u' || ({text}) || '\"}}' FROM s"
            ),
        )
        .await;
        // Outside the chain until chained: verification names the first.
        first_is(
            &app.store.verify_audit_chain(None).await.unwrap(),
            Problem::Inserted { id: head + 1 },
        );
        assert_eq!(app.store.seal_audit_chain().await.unwrap(), n as u64);
        // Told its progress as it reads: every PROGRESS_EVERY entries, rising.
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let told = seen.clone();
        let progress: wmill_server::audit_chain::Progress =
            Arc::new(move |k| told.lock().unwrap().push(k));
        let r = app
            .store
            .verify_audit_chain_with(None, Some(progress))
            .await
            .unwrap();
        assert!(r.intact(), "{}", r.describe());
        assert_eq!((r.entries, r.head_id), ((head + n) as u64, head + n));
        let every = wmill_server::audit_chain::PROGRESS_EVERY;
        let want: Vec<u64> = (1..=r.entries / every).map(|k| k * every).collect();
        assert_eq!(*seen.lock().unwrap(), want);
        // The server goes on appending after them, the id sequence included.
        app.store.record_audit(entry("test.after", 0)).await.unwrap();
        let r = verify_unsigned(&app).await;
        assert!(r.intact() && r.head_id == head + n + 1, "{}", r.describe());
    }
);

async fn verify_unsigned(app: &TestApp) -> Report {
    app.store.verify_audit_chain(None).await.unwrap()
}

/// The NDJSON lines of an answer as JSON values.
fn ndjson(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

db_test!(
    async fn the_export_streams_entries_in_id_order_to_whom_may_read_them(app) {
        for i in 0..5 {
            app.store.record_audit(entry("test.export", i)).await.unwrap();
        }
        let r = app.get("/api/w/admins/audit/export", &app.admin).await;
        r.assert_status(200);
        assert!(r.content_type.starts_with("application/x-ndjson"), "{r:?}");
        let lines = ndjson(&r.body);
        let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(lines.iter().all(|l| l["workspace_id"] == "admins"));
        assert_eq!(
            lines.iter().filter(|l| l["operation"] == "test.export").count(),
            5
        );
        // Resumed from an id: only what follows it.
        let third = ids[ids.len() - 3];
        let r = app
            .get(&format!("/api/w/admins/audit/export?since_id={third}"), &app.admin)
            .await;
        let after: Vec<i64> = ndjson(&r.body).iter().map(|l| l["id"].as_i64().unwrap()).collect();
        assert_eq!(after, ids[ids.len() - 2..].to_vec());
        // Every workspace, "global" included, for a superadmin only.
        let all = app
            .get("/api/w/admins/audit/export?all_workspaces=true", &app.admin)
            .await;
        let all = ndjson(&all.body);
        assert!(all.iter().any(|l| l["workspace_id"] == "global"));
        assert_eq!(all.len() as u64, verify_unsigned(&app).await.entries);

        let admin = app.member_token("admins", "wsadmin@example.com", true).await;
        let member = app.member_token("admins", "member@example.com", false).await;
        app.get("/api/w/admins/audit/export", &admin).await.assert_status(200);
        app.get("/api/w/admins/audit/export?all_workspaces=true", &admin)
            .await
            .assert_text(403, "Permission denied: all_workspaces requires a superadmin");
        app.get("/api/w/admins/audit/export", &member)
            .await
            .assert_text(403, "Permission denied: exporting the audit log requires a workspace admin");
        app.get("/api/w/admins/audit/export?since_id=x", &app.admin)
            .await
            .assert_text(400, "Bad request: since_id must be a whole number, not \"x\"");
        app.get("/api/w/admins/audit/export?follow=true&follow_secs=0", &app.admin)
            .await
            .assert_text(400, "Bad request: follow_secs must be between 1 and 3600, not 0");
    }
);

db_test!(
    async fn follow_delivers_an_entry_committed_elsewhere_within_a_second(app) {
        let before = verify_unsigned(&app).await.head_id;
        // On PostgreSQL the entry is written by another instance; SQLite has one server.
        let writer = if app.is_postgres() {
            app.instance(wmill_server::config::Settings::for_tests()).await.0
        } else {
            app.store.clone()
        };
        let req = Request::builder()
            .uri(format!(
                "/api/w/admins/audit/export?since_id={before}&follow=true&follow_secs=5"
            ))
            .header("authorization", format!("Bearer {}", app.admin))
            .body(Body::empty())
            .unwrap();
        let res = app.app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let mut body = res.into_body();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        writer.record_audit(entry("test.followed", 1)).await.unwrap();
        let written = std::time::Instant::now();
        let frame = tokio::time::timeout(std::time::Duration::from_secs(2), body.frame())
            .await
            .expect("the entry arrives while the connection is open")
            .unwrap()
            .unwrap();
        let late = written.elapsed();
        assert!(late < std::time::Duration::from_secs(1), "{late:?}");
        let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
        let lines = ndjson(&text);
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["operation"], "test.followed");
        assert_eq!(lines[0]["id"], before + 1);
        // The answer ends after follow_secs.
        let rest = tokio::time::timeout(std::time::Duration::from_secs(8), body.collect())
            .await
            .expect("the answer ends")
            .unwrap();
        assert!(rest.to_bytes().is_empty());
    }
);

db_test!(
    async fn retention_removes_old_entries_and_verification_still_holds(app) {
        let head = signed_log(&app).await;
        let svc = wmill_server::service::Service::new(
            app.store.clone(),
            Arc::new(app.clock.clone()),
            wmill_server::config::Settings::for_tests(),
        )
        .with_audit_key(Some(key()))
        .with_audit_retention(Some(std::time::Duration::from_secs(30 * 86_400)));
        // Nothing is old yet but the store's own test entries (2023), which come after
        // the bootstrap's: only a prefix of the chain is ever removed.
        assert_eq!(svc.prune_audit().await.unwrap(), 0);
        app.clock.advance(std::time::Duration::from_secs(40 * 86_400));
        for i in 0..3 {
            let mut e = entry("test.recent", i);
            e.timestamp = app.svc.now();
            app.store.record_audit(e).await.unwrap();
        }
        assert_eq!(svc.prune_audit().await.unwrap(), head as u64);
        let r = verify(&app).await;
        assert!(r.intact(), "{}", r.describe());
        assert_eq!(r.entries, 3);
        let left: Vec<i64> = entries_from(&app, 0).await.iter().map(|e| e.id).collect();
        assert_eq!(left, vec![head + 1, head + 2, head + 3]);
        // The next one removed behind the server's back, the base moved to match: no
        // signed checkpoint records that base.
        tamper(
            &app,
            &format!(
                "UPDATE audit_chain SET base_id = {0}, \
                   base_hash = (SELECT hash FROM audit WHERE id = {0}) WHERE id = 1; \
                 DELETE FROM audit WHERE id = {0};",
                head + 1
            ),
        )
        .await;
        first_is(&verify(&app).await, Problem::UnsignedBase { base_id: head + 1 });
    }
);
