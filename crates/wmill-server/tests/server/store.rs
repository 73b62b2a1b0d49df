//! Storage-level rules, called directly and concurrently: run on both databases.

use std::sync::Arc;

use serde_json::json;
use wmill_server::store::{AccountChanges, AccountOutcome, AccountStore, NewAudit, Store};

/// Migration versions as applied: from 1, increasing (numbers are reserved per branch, so
/// one may be missing until its branch is merged).
fn in_order_from_one(versions: &[i64]) -> bool {
    versions.first() == Some(&1) && versions.windows(2).all(|w| w[0] < w[1])
}

fn audit(op: &'static str) -> NewAudit {
    NewAudit {
        workspace_id: "global".into(),
        timestamp: 1,
        username: "test".into(),
        email: None,
        operation: op,
        action_kind: wmill_api::ActionKind::Update,
        resource: None,
        parameters: None,
        impersonator: None,
    }
}

db_test!(
    async fn bootstrap_runs_once_per_database(app) {
        assert!(!app.svc.bootstrap("other@example.com", "another-password").await.unwrap());
        let listed = app.get("/api/users/list_as_super_admin", &app.admin).await.json();
        assert_eq!(listed.as_array().unwrap().len(), 1);
    }
);

db_test!(
    async fn connecting_reports_the_migrations_it_applied(app) {
        let first = app.store.schema().clone();
        let versions: Vec<i64> = first.applied.iter().map(|(v, _)| *v).collect();
        assert!(versions.len() >= 5 && in_order_from_one(&versions), "{first:?}");
        assert_eq!(first.applied[0].1, "0001_init");
        assert_eq!(Some(&first.version), versions.last());
        // Connected again: nothing to apply, the same version.
        let (store, _) = app.instance(wmill_server::config::Settings::for_tests()).await;
        assert_eq!(store.schema().applied, vec![]);
        assert_eq!(store.schema().version, first.version);
    }
);

db_test!(
    async fn two_demotions_at_once_leave_one_superadmin(app) {
        app.create_user("root@example.com", true).await;
        for round in 0..10 {
            let store = app.store.clone();
            let (a, b) = ("admin@windmill.dev", "root@example.com");
            let demote = |email: &'static str| {
                let store = store.clone();
                tokio::spawn(async move {
                    let c = AccountChanges { super_admin: Some(false), ..Default::default() };
                    store.update_account(email, c, audit("users.update")).await.unwrap()
                })
            };
            let (ra, rb) = (demote(a), demote(b));
            let outcomes = [ra.await.unwrap(), rb.await.unwrap()];
            let done = outcomes.iter().filter(|o| **o == AccountOutcome::Done).count();
            assert_eq!(done, 1, "round {round}: {outcomes:?}");
            assert!(outcomes.contains(&AccountOutcome::LastSuperadmin));
            // Promote both again for the next round.
            for e in [a, b] {
                let c = AccountChanges { super_admin: Some(true), ..Default::default() };
                assert_eq!(store.update_account(e, c, audit("users.update")).await.unwrap(), AccountOutcome::Done);
            }
        }
    }
);

db_test!(
    async fn last_use_only_moves_forward(app) {
        let t = app.mint(&app.admin, json!({"label": "t"})).await;
        let hash = wmill_server::token::digest(&t);
        let store: Arc<dyn Store> = app.store.clone();
        store.touch_tokens(vec![(hash.clone(), 4_000_000_000_000_000)]).await.unwrap();
        store.touch_tokens(vec![(hash.clone(), 1)]).await.unwrap();
        let list = store.list_tokens(ADMIN_EMAIL, 0, 100).await.unwrap();
        let row = list.iter().find(|r| r.label.as_deref() == Some("t")).unwrap();
        assert_eq!(row.last_used_at, 4_000_000_000_000_000);
        store.touch_tokens(vec![]).await.unwrap();
    }
);

// ----- a database made by the first, hand-written migration runner is adopted --------------

mod legacy {
    use std::time::Duration;

    use sqlx::Connection;
    use wmill_server::store::sql::DbOptions;
    use wmill_server::store::{AccountStore, GroupStore, SqlStore, TokenStore};

    /// What the old runner left: its two migrations, its `schema_migrations` table, and data
    /// of each kind the new migration converts.
    fn legacy_sql(postgres: bool) -> String {
        let dir = if postgres { "postgres" } else { "sqlite" };
        let read = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/migrations/{dir}/{name}.sql",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        format!(
            "{}\n{}\n\
             CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY);\n\
             INSERT INTO schema_migrations (version) VALUES (1), (2);\n\
             INSERT INTO meta (key, value) VALUES ('superadmin_lock', ''), ('bootstrapped', '1');\n\
             INSERT INTO account (email, password_hash, super_admin, disabled, first_time_user, created_at) \
               VALUES ('alice@example.com', 'x', TRUE, FALSE, FALSE, 1);\n\
             INSERT INTO username (email, username) VALUES ('alice@example.com', 'alice');\n\
             INSERT INTO workspace (id, name, owner) VALUES ('ws', 'WS', 'alice@example.com');\n\
             INSERT INTO member (workspace_id, username, email, is_admin, operator, disabled, created_at) \
               VALUES ('ws', 'alice', 'alice@example.com', TRUE, FALSE, FALSE, 1);\n\
             INSERT INTO grp (workspace_id, name, summary, extra_perms) VALUES \
               ('ws', 'all', NULL, '{{}}'), ('ws', 'team', 'T', '{{\"u/alice\": true, \"g/all\": false}}');\n\
             INSERT INTO token (hash, prefix, email, label, expiration, workspace_id, created_at, last_used_at) VALUES \
               ('h-session', 'wm_session', 'alice@example.com', 'session', NULL, NULL, 1, 1), \
               ('h-api', 'wm_apitokn', 'alice@example.com', 'ci', NULL, NULL, 2, 2), \
               ('h-orphan', 'wm_orphann', 'gone@example.com', NULL, NULL, NULL, 3, 3), \
               ('h-imp', 'wm_imperso', 'alice@example.com', NULL, NULL, NULL, 4, 4);\n\
             INSERT INTO audit (workspace_id, timestamp, username, email, operation, action_kind, resource) \
               VALUES ('global', 4, 'root@example.com', NULL, 'users.impersonate', 'Create', 'wm_imperso*****');\n",
            read("0001_init"),
            read("0002_audit_by_user_time"),
        )
    }

    async fn check(store: SqlStore) {
        // The entry written before the chain existed was chained at connection.
        let r = wmill_server::store::AuditChainStore::verify_audit_chain(&store, None)
            .await
            .unwrap();
        assert!(r.intact() && r.entries == 1 && r.head_id == 1, "{r:?}");
        let g = store.group("ws", "team").await.unwrap().unwrap();
        assert_eq!(
            g.extra_perms.into_iter().collect::<Vec<_>>(),
            [("g/all".to_string(), false), ("u/alice".to_string(), true)]
        );
        let tokens = store.list_tokens("alice@example.com", 0, 10).await.unwrap();
        let kinds: Vec<(String, String)> = tokens
            .iter()
            .map(|t| (t.prefix.clone(), t.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("wm_apitokn".to_string(), "api".to_string()),
                ("wm_session".to_string(), "session".to_string())
            ],
            "the impersonation token of unknown minter and the orphan are gone"
        );
        assert!(store.account("alice@example.com").await.unwrap().is_some());
        let f = store.fingerprint().await.unwrap();
        let count = |t: &str| f.iter().find(|(n, _)| n == t).unwrap().1;
        assert_eq!(count("token"), 2);
        assert_eq!(count("audit"), 1);
        store.close().await;
    }

    fn opts(url: String) -> DbOptions {
        DbOptions {
            url,
            max_connections: 2,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wmill.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}?mode=rwc", file.display()))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(legacy_sql(false)))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        let store = SqlStore::connect(&opts("sqlite:wmill.db".into()), dir.path())
            .await
            .unwrap();
        // Adopted versions are not reported as applied.
        let applied: Vec<i64> = store.schema().applied.iter().map(|(v, _)| *v).collect();
        assert_eq!(applied.first(), Some(&3), "{applied:?}");
        check(store).await;
        // Adopted once: the old table is gone, sqlx's records every version, and a restart
        // changes nothing.
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", file.display()))
            .await
            .unwrap();
        let old: Option<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name = 'schema_migrations'")
                .fetch_optional(&mut c)
                .await
                .unwrap();
        assert!(old.is_none());
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .unwrap();
        assert!(
            versions.len() >= 4 && super::in_order_from_one(&versions),
            "{versions:?}"
        );
        c.close().await.unwrap();
        check(
            SqlStore::connect(&opts("sqlite:wmill.db".into()), dir.path())
                .await
                .unwrap(),
        )
        .await;
    }

    #[tokio::test]
    #[cfg_attr(
        not(wmill_pg),
        ignore = "PostgreSQL half: set WMILL_TEST_POSTGRES_URL to run it"
    )]
    async fn postgres() {
        let db = crate::support::fresh_pg_database(&crate::support::pg_url()).await;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(legacy_sql(true)))
            .execute(&mut c)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        check(
            SqlStore::connect(&opts(db.url.clone()), dir.path())
                .await
                .unwrap(),
        )
        .await;
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut c)
                .await
                .unwrap();
        assert!(
            versions.len() >= 4 && super::in_order_from_one(&versions),
            "{versions:?}"
        );
        c.close().await.unwrap();
        check(
            SqlStore::connect(&opts(db.url.clone()), dir.path())
                .await
                .unwrap(),
        )
        .await;
    }

    #[tokio::test]
    async fn an_edited_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::connect(&opts("sqlite:wmill.db".into()), dir.path())
            .await
            .unwrap();
        store.close().await;
        drop(store);
        let file = dir.path().join("wmill.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", file.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        let err = SqlStore::connect(&opts("sqlite:wmill.db".into()), dir.path())
            .await
            .err()
            .expect("refused");
        assert!(err.contains("cannot migrate the database"), "{err}");
    }
}
