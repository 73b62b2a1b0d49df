//! Audit sinks, in-process on a real database: a real loopback HTTP sink killed and started
//! again mid-stream, a file sink, retention held back by an undelivered sink, the lag in the
//! status and the metrics, and (PostgreSQL) two instances delivering one sink in turn.
//! The server killed with SIGKILL mid-delivery, and refused configurations, are in
//! `tests/audit_sink.rs` (real processes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wmill_server::audit_sink::{SinkSpec, parse_sink};
use wmill_server::service::Service;
use wmill_server::store::{AuditChainStore, AuditSinkStore, AuditStore, NewAudit, SqlStore};

use crate::common::*;
use crate::support::{SinkLog, TestSink, first_occurrences};

fn entry(op: &'static str, i: i64, timestamp: i64) -> NewAudit {
    NewAudit {
        workspace_id: "admins".into(),
        timestamp,
        username: format!("writer{i}"),
        email: Some(format!("w{i}@example.com")),
        operation: op,
        action_kind: wmill_api::ActionKind::Create,
        resource: Some(format!("r{i}")),
        parameters: Some(serde_json::json!({"i": i})),
        impersonator: None,
    }
}

/// A service on `store` delivering to `sinks`, its deliverers started.
fn with_sinks(
    app: &TestApp,
    store: Arc<SqlStore>,
    sinks: Vec<SinkSpec>,
    retention: Option<Duration>,
) -> (Arc<Service>, Vec<tokio::task::JoinHandle<()>>) {
    let svc = Arc::new(
        Service::new(
            store.clone(),
            Arc::new(app.clock.clone()),
            wmill_server::config::Settings::for_tests(),
        )
        .with_audit_retention(retention)
        .with_audit_sinks(sinks),
    );
    let tasks = wmill_server::audit_sink::start(svc.clone(), store);
    (svc, tasks)
}

/// Every audit id in the database, in order.
async fn db_ids(store: &SqlStore) -> Vec<i64> {
    store
        .audit_after(None, 0, 10_000_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect()
}

async fn cursor_of(store: &SqlStore, name: &str) -> i64 {
    store
        .audit_sink_cursors()
        .await
        .unwrap()
        .into_iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, c)| c)
}

/// Waits until sink `name` acknowledged the chain's head.
async fn caught_up(store: &SqlStore, name: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let head = store.audit_head_id().await.unwrap();
        let c = cursor_of(store, name).await;
        if c == head {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sink {name} still at {c}, head at {head}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The export's lines for every workspace (what a sink must have received, once each).
async fn export_lines(app: &TestApp) -> Vec<serde_json::Value> {
    let r = app
        .get("/api/w/admins/audit/export?all_workspaces=true", &app.admin)
        .await;
    r.assert_status(200);
    r.body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The lines of `log` in the order their ids first appear.
fn first_lines(log: &SinkLog) -> Vec<serde_json::Value> {
    let mut seen = std::collections::HashSet::new();
    log.lock()
        .unwrap()
        .iter()
        .flat_map(|b| b.lines.clone())
        .filter(|l| seen.insert(l["id"].as_i64().unwrap()))
        .collect()
}

/// Writes `n` entries through the store and, every tenth, an audited API call, a little
/// apart, from a task of its own.
fn writer(app: &TestApp, from: i64, n: i64) -> tokio::task::JoinHandle<()> {
    let store = app.store.clone();
    let clock = app.clock.clone();
    let (router, admin) = (app.app.clone(), app.admin.clone());
    tokio::spawn(async move {
        use tower::ServiceExt;
        for i in from..from + n {
            store
                .record_audit(entry(
                    "test.sink",
                    i,
                    wmill_server::clock::Clock::now(&clock),
                ))
                .await
                .unwrap();
            if i % 10 == 0 {
                let req = axum::http::Request::builder()
                    .method("POST")
                    .uri("/api/w/admins/groups/create")
                    .header("authorization", format!("Bearer {admin}"))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(
                        serde_json::json!({"name": format!("g{i}")}).to_string(),
                    ))
                    .unwrap();
                let res = router.clone().oneshot(req).await.unwrap();
                assert_eq!(res.status().as_u16(), 200, "group g{i}");
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    })
}

db_test!(
    async fn an_http_sink_killed_and_started_again_mid_stream_gets_every_entry_in_order(app) {
        let log = SinkLog::default();
        let sink = TestSink::start(0, log.clone(), Duration::from_millis(5));
        let port = sink.port;
        let spec = parse_sink(&format!("{},name=siem", sink.url())).unwrap();
        let (svc, tasks) = with_sinks(&app, app.store.clone(), vec![spec], None);
        let w = writer(&app, 0, 400);
        // Some entries arrive, then the sink dies while the writes go on.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TestSink::ids(&log).len() < 60 {
            assert!(Instant::now() < deadline, "nothing reached the sink");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sink.kill();
        let at_kill = TestSink::ids(&log).len();
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!w.is_finished(), "the writes go on while the sink is away");
        let error = svc.audit_sink_status(true).await[0].clone();
        assert!(error.last_error.is_some(), "{error:?}");
        assert!(error.lag.unwrap() > 0, "{error:?}");
        let _sink = TestSink::start(port, log.clone(), Duration::from_millis(5));
        w.await.unwrap();
        caught_up(&app.store, "siem", Duration::from_secs(60)).await;
        for t in &tasks {
            t.abort();
        }
        assert!(TestSink::ids(&log).len() > at_kill, "delivery resumed");

        let ids = TestSink::ids(&log);
        let db = db_ids(&app.store).await;
        assert_eq!(first_occurrences(&ids), db, "every entry once at least, in id order");
        // Each batch follows on from what came before it: no gap, nothing out of order.
        let mut max = 0;
        for b in log.lock().unwrap().iter() {
            let bids = b.ids();
            assert!(bids.windows(2).all(|w| w[1] == w[0] + 1), "{bids:?}");
            assert!(bids[0] <= max + 1, "batch {bids:?} after {max}");
            max = max.max(*bids.last().unwrap());
            assert_eq!(b.header("content-type"), Some("application/x-ndjson"));
        }
        // The export's lines, exactly.
        assert_eq!(first_lines(&log), export_lines(&app).await);
    }
);

db_test!(
    async fn a_file_sink_gets_every_entry_in_order_and_is_owners_only(app) {
        use std::os::unix::fs::PermissionsExt;
        let path = app.dir.path().join("sink").join("audit.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = parse_sink(&format!("file:{}", path.display())).unwrap();
        let name = spec.name.clone();
        let (_svc, tasks) = with_sinks(&app, app.store.clone(), vec![spec], None);
        writer(&app, 0, 150).await.unwrap();
        caught_up(&app.store, &name, Duration::from_secs(30)).await;
        // Caught up, a new entry is in the file within a second.
        app.store.record_audit(entry("test.prompt", 0, app.svc.now())).await.unwrap();
        let written = Instant::now();
        while !std::fs::read_to_string(&path).unwrap().contains("test.prompt") {
            assert!(written.elapsed() < Duration::from_secs(1), "not in the file within 1 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        caught_up(&app.store, &name, Duration::from_secs(5)).await;
        for t in &tasks {
            t.abort();
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "created owner-only");
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, db_ids(&app.store).await, "each entry once, in id order");
        assert_eq!(lines, export_lines(&app).await);
    }
);

db_test!(
    async fn retention_keeps_what_a_sink_has_not_delivered(app) {
        // A sink whose port is closed for now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = parse_sink(&format!("http://127.0.0.1:{port}/ingest,name=later")).unwrap();
        let (svc, tasks) = with_sinks(
            &app,
            app.store.clone(),
            vec![spec],
            Some(Duration::from_secs(30 * 86_400)),
        );
        for i in 0..20 {
            app.store.record_audit(entry("test.old", i, app.svc.now())).await.unwrap();
        }
        app.clock.advance(Duration::from_secs(40 * 86_400));
        for i in 0..3 {
            app.store.record_audit(entry("test.recent", i, app.svc.now())).await.unwrap();
        }
        let before = db_ids(&app.store).await;
        assert_eq!(svc.prune_audit().await.unwrap(), 0, "nothing delivered: nothing removed");
        assert_eq!(db_ids(&app.store).await, before);

        let log = SinkLog::default();
        let _sink = TestSink::start(port, log.clone(), Duration::ZERO);
        caught_up(&app.store, "later", Duration::from_secs(60)).await;
        assert_eq!(first_occurrences(&TestSink::ids(&log)), before);
        // Delivered: the old entries may go now, the recent ones stay.
        let removed = svc.prune_audit().await.unwrap();
        assert_eq!(removed as usize, before.len() - 3);
        assert_eq!(db_ids(&app.store).await, before[before.len() - 3..].to_vec());
        let r = app.store.verify_audit_chain(None).await.unwrap();
        assert!(r.intact(), "{}", r.describe());
        for t in &tasks {
            t.abort();
        }
    }
);

db_test!(
    async fn retention_stops_at_the_cursor_of_a_sink_part_way(app) {
        // The cursor is what counts: a sink that acknowledged up to some entry lets
        // retention remove up to it, not further.
        let spec = parse_sink("http://127.0.0.1:9/never,name=partway").unwrap();
        let svc = Service::new(
            app.store.clone(),
            Arc::new(app.clock.clone()),
            wmill_server::config::Settings::for_tests(),
        )
        .with_audit_retention(Some(Duration::from_secs(86_400)))
        .with_audit_sinks(vec![spec]);
        for i in 0..10 {
            app.store.record_audit(entry("test.old", i, app.svc.now())).await.unwrap();
        }
        app.clock.advance(Duration::from_secs(2 * 86_400));
        app.store.record_audit(entry("test.recent", 0, app.svc.now())).await.unwrap();
        let ids = db_ids(&app.store).await;
        let upto = ids[4];
        let mut lease = app
            .store
            .lease_audit_sink("partway", app.svc.now())
            .await
            .unwrap()
            .expect("the lease");
        assert!(
            app.store
                .advance_audit_sink(&mut lease, "partway", 0, upto, app.svc.now())
                .await
                .unwrap()
        );
        // Moving it from a value it no longer has fails: one deliverer wins.
        assert!(
            !app.store
                .advance_audit_sink(&mut lease, "partway", 0, upto + 1, app.svc.now())
                .await
                .unwrap()
        );
        app.store.release_audit_sink(lease).await;
        assert_eq!(svc.prune_audit().await.unwrap(), 5);
        assert_eq!(db_ids(&app.store).await, ids[5..].to_vec());
    }
);

db_test!(
    async fn the_status_and_the_metrics_show_the_lag_until_it_is_zero(app) {
        use std::os::unix::fs::PermissionsExt;
        let header = app.dir.path().join("sink-header");
        std::fs::write(&header, "Authorization: Bearer sink-secret-token-value\n").unwrap();
        std::fs::set_permissions(&header, std::fs::Permissions::from_mode(0o600)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A URL with a user part and a query: neither is shown.
        let spec = parse_sink(&format!(
            "http://siem-user:siem-password@127.0.0.1:{port}/ingest?apikey=query-secret,header_file={}",
            header.display()
        ))
        .unwrap();
        let name = spec.name.clone();
        assert_eq!(name, format!("http://127.0.0.1:{port}/ingest"));
        let (svc, tasks) = with_sinks(&app, app.store.clone(), vec![spec], None);
        let router = wmill_server::http::app(svc.clone());
        let status = || {
            let router = router.clone();
            async move {
                use http_body_util::BodyExt;
                use tower::ServiceExt;
                let req = axum::http::Request::builder()
                    .uri("/api/health/status")
                    .body(axum::body::Body::empty())
                    .unwrap();
                let res = router.oneshot(req).await.unwrap();
                assert_eq!(res.status().as_u16(), 200);
                let body = res.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        let metric = |text: &str| -> Option<i64> {
            let prefix = format!("wmill_audit_sink_lag_entries{{sink=\"{name}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(|v| v.trim().parse().unwrap())
        };
        let secrets = ["sink-secret-token-value", "siem-password", "siem-user", "query-secret"];
        // Down: the lag is the whole log, the error is said.
        let deadline = Instant::now() + Duration::from_secs(20);
        let body = loop {
            let body = status().await;
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if !v["audit_sinks"][0]["last_error"].is_null() {
                break body;
            }
            assert!(Instant::now() < deadline, "no error reported: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let s = &v["audit_sinks"][0];
        let head = app.store.audit_head_id().await.unwrap();
        assert_eq!(s["name"], name.as_str());
        assert_eq!(s["cursor"], 0);
        assert_eq!(s["head_id"], head);
        assert_eq!(s["lag"], head);
        assert!(s["last_error"].as_str().unwrap().contains(&name), "{s}");
        assert!(s["last_success_at"].is_null());
        for secret in secrets {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
        let text = wmill_server::metrics::render(
            &svc,
            &app.store,
            &svc.audit_sink_status(true).await,
        );
        assert_eq!(metric(&text), Some(head), "{text}");

        // Up: delivered, the lag goes to 0, the header reached the sink.
        let log = SinkLog::default();
        let _sink = TestSink::start(port, log.clone(), Duration::ZERO);
        caught_up(&app.store, &name, Duration::from_secs(60)).await;
        let body = status().await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let s = &v["audit_sinks"][0];
        assert_eq!((s["lag"].as_i64(), s["cursor"].as_i64()), (Some(0), Some(head)), "{s}");
        assert!(s["last_success_at"].is_string(), "{s}");
        assert_eq!(s["delivering"], true);
        let text = wmill_server::metrics::render(
            &svc,
            &app.store,
            &svc.audit_sink_status(true).await,
        );
        assert_eq!(metric(&text), Some(0), "{text}");
        let batch = log.lock().unwrap()[0].clone();
        assert_eq!(
            batch.header("authorization"),
            Some("Bearer sink-secret-token-value")
        );
        // The token is nowhere in the audit log either.
        let all = export_lines(&app).await;
        for secret in secrets {
            assert!(!serde_json::to_string(&all).unwrap().contains(secret));
        }
        for t in &tasks {
            t.abort();
        }
    }
);

/// Two instances on one PostgreSQL database, both configured with the same sink: one
/// delivers, the other waits; when the first goes away the second takes over.
#[cfg_attr(
    not(wmill_pg),
    ignore = "PostgreSQL: set WMILL_TEST_POSTGRES_URL to run it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_instances_deliver_one_sink_in_turn() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::postgres().await;
    let (second, _) = app
        .instance(wmill_server::config::Settings::for_tests())
        .await;
    let log = SinkLog::default();
    let sink = TestSink::start(0, log.clone(), Duration::from_millis(2));
    let spec = |who: &str| {
        let h = app.dir.path().join(format!("header-{who}"));
        std::fs::write(&h, format!("X-Instance: {who}\n")).unwrap();
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o600)).unwrap();
        parse_sink(&format!(
            "{},name=shared,header_file={}",
            sink.url(),
            h.display()
        ))
        .unwrap()
    };
    let (a, a_tasks) = with_sinks(&app, app.store.clone(), vec![spec("a")], None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !a.audit_sinks()[0].progress().delivering {
        assert!(Instant::now() < deadline, "a never delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (b, b_tasks) = with_sinks(&app, second.clone(), vec![spec("b")], None);
    writer(&app, 0, 200).await.unwrap();
    caught_up(&app.store, "shared", Duration::from_secs(30)).await;
    let ids = TestSink::ids(&log);
    assert_eq!(
        ids,
        db_ids(&app.store).await,
        "one deliverer: each entry once, in order"
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|b| b.header("x-instance") == Some("a"))
    );
    assert!(!b.audit_sinks()[0].progress().delivering, "b waits");

    // The first instance goes away (its lease's connection with it): the second takes over.
    for t in &a_tasks {
        t.abort();
    }
    for t in a_tasks {
        let _ = t.await;
    }
    let before = log.lock().unwrap().len();
    writer(&app, 1000, 200).await.unwrap();
    caught_up(&app.store, "shared", Duration::from_secs(60)).await;
    let ids = TestSink::ids(&log);
    let db = db_ids(&app.store).await;
    assert_eq!(first_occurrences(&ids), db, "nothing missing, order kept");
    assert!(
        ids.len() - db.len() <= wmill_server::audit_sink::BATCH as usize,
        "duplicates only around the takeover: {} extra",
        ids.len() - db.len()
    );
    let batches = log.lock().unwrap().clone();
    assert!(
        batches[before..]
            .iter()
            .all(|b| b.header("x-instance") == Some("b"))
    );
    let mut max = 0;
    for batch in &batches {
        let bids = batch.ids();
        assert!(
            bids[0] <= max + 1,
            "batch {bids:?} after {max}: out of order"
        );
        max = max.max(*bids.last().unwrap());
    }
    assert!(b.audit_sinks()[0].progress().delivering);
    for t in &b_tasks {
        t.abort();
    }
}
