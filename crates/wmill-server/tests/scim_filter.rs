//! SCIM filters compiled by `wmill_server::scim::filter` and run for real: a small users
//! table (and an emails table for a multi-valued attribute) on an in-memory SQLite database,
//! and on a fresh PostgreSQL database when `WMILL_TEST_POSTGRES_URL` is set (otherwise that
//! half is reported as ignored). Each filter must select exactly the expected rows.

mod support;

use sqlx::AssertSqlSafe;
use wmill_server::scim::filter::{
    AttrMap, AttrType, Bind, Column, CompareOp, Dialect, compile_str,
};

const SCHEMA: &[&str] = &[
    "CREATE TABLE scim_users (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, \
     external_id TEXT, given_name TEXT, display_name TEXT, disabled BOOLEAN NOT NULL, \
     updated_at BIGINT NOT NULL, login_count BIGINT)",
    "CREATE TABLE scim_emails (user_id TEXT NOT NULL, type TEXT, value TEXT NOT NULL)",
];

/// (id, user_name, external_id, given_name, display_name, disabled, updated_at, login_count)
type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    bool,
    i64,
    Option<i64>,
);

const DAY: i64 = 86_400_000_000;
/// 2024-01-01T00:00:00Z in microseconds.
const JAN1: i64 = 1_704_067_200_000_000;

const USERS: &[Row] = &[
    (
        "u1",
        "Alice@Example.com",
        Some("ext-1"),
        Some("Alice"),
        Some("Alice A"),
        false,
        JAN1,
        Some(5),
    ),
    (
        "u2",
        "bob@example.com",
        Some("EXT-2"),
        Some("Bob"),
        None,
        true,
        JAN1 + DAY,
        None,
    ),
    (
        "u3",
        "carol_50%@x.org",
        None,
        Some(""),
        Some("Carol"),
        false,
        JAN1 + 2 * DAY,
        Some(0),
    ),
    (
        "u4",
        "dave@x.org",
        Some("x' OR 1=1 --"),
        None,
        None,
        false,
        JAN1 - DAY,
        Some(12),
    ),
];

const EMAILS: &[(&str, &str, &str)] = &[
    ("u1", "work", "alice@work.example"),
    ("u1", "home", "alice@home.example"),
    ("u2", "home", "bob@home.example"),
    ("u3", "work", "carol@x.org"),
];

fn map() -> AttrMap {
    let emails = AttrMap::new(&[])
        .column(
            "value",
            Column::new("e.value", AttrType::StringCaseInsensitive).not_null(),
        )
        .column(
            "type",
            Column::new("e.type", AttrType::StringCaseInsensitive),
        );
    AttrMap::new(&["urn:ietf:params:scim:schemas:core:2.0:User"])
        .column(
            "id",
            Column::new("u.id", AttrType::StringCaseExact).not_null(),
        )
        .column(
            "userName",
            Column::new("u.user_name", AttrType::StringCaseInsensitive).not_null(),
        )
        .column(
            "externalId",
            Column::new("u.external_id", AttrType::StringCaseExact),
        )
        .column(
            "name.givenName",
            Column::new("u.given_name", AttrType::StringCaseInsensitive),
        )
        .column(
            "displayName",
            Column::new("u.display_name", AttrType::StringCaseInsensitive),
        )
        .column(
            "active",
            Column::new("NOT u.disabled", AttrType::Boolean).not_null(),
        )
        .column(
            "meta.lastModified",
            Column::new("u.updated_at", AttrType::DateTimeMicros).not_null(),
        )
        .column(
            "loginCount",
            Column::new("u.login_count", AttrType::Integer).only(&[
                CompareOp::Eq,
                CompareOp::Gt,
                CompareOp::Lt,
            ]),
        )
        .multi_valued(
            "emails",
            "EXISTS (SELECT 1 FROM scim_emails e WHERE e.user_id = u.id AND ",
            ")",
            emails,
        )
}

/// (filter, ids it selects)
const CASES: &[(&str, &[&str])] = &[
    ("userName eq \"alice@example.com\"", &["u1"]),
    ("USERNAME Eq \"BOB@EXAMPLE.COM\"", &["u2"]),
    ("externalId eq \"ext-2\"", &[]),
    ("externalId eq \"EXT-2\"", &["u2"]),
    ("externalId eq \"x' OR 1=1 --\"", &["u4"]),
    ("externalId sw \"ext\"", &["u1"]),
    ("externalId ne \"ext-1\"", &["u2", "u3", "u4"]),
    ("externalId pr", &["u1", "u2", "u4"]),
    ("not (externalId pr)", &["u3"]),
    ("externalId eq null", &["u3"]),
    ("userName co \"50%\"", &["u3"]),
    ("userName co \"_\"", &["u3"]),
    ("userName ew \"@X.ORG\"", &["u3", "u4"]),
    ("name.givenName pr", &["u1", "u2"]),
    ("not (name.givenName eq \"alice\")", &["u2", "u3", "u4"]),
    (
        "displayName eq \"Carol\" or displayName eq \"alice a\"",
        &["u1", "u3"],
    ),
    ("active eq false", &["u2"]),
    ("active eq true and userName sw \"a\"", &["u1"]),
    (
        "active eq true and (userName sw \"a\" or userName sw \"d\")",
        &["u1", "u4"],
    ),
    (
        "userName sw \"a\" or userName sw \"b\" and active eq true",
        &["u1"],
    ),
    (
        "meta.lastModified gt \"2024-01-01T00:00:00Z\"",
        &["u2", "u3"],
    ),
    (
        "meta.lastModified le \"2024-01-01T01:00:00+01:00\"",
        &["u1", "u4"],
    ),
    ("loginCount gt 1", &["u1", "u4"]),
    ("not (loginCount lt 5)", &["u1", "u2", "u4"]),
    ("userName gt \"c\"", &["u3", "u4"]),
    ("emails[type eq \"work\" and value co \"@x\"]", &["u3"]),
    ("emails[type eq \"home\"]", &["u1", "u2"]),
    ("emails.value ew \".example\"", &["u1", "u2"]),
    ("emails pr", &["u1", "u2", "u3"]),
    ("not (emails pr)", &["u4"]),
    (
        "urn:ietf:params:scim:schemas:core:2.0:User:id eq \"u2\"",
        &["u2"],
    ),
    ("id eq \"U2\"", &[]),
];

fn query(sql: &str) -> String {
    format!("SELECT u.id FROM scim_users u WHERE {sql} ORDER BY u.id")
}

#[tokio::test]
async fn sqlite_rows_match() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    for s in SCHEMA {
        sqlx::query(*s).execute(&pool).await.unwrap();
    }
    for u in USERS {
        sqlx::query("INSERT INTO scim_users VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(u.0)
            .bind(u.1)
            .bind(u.2)
            .bind(u.3)
            .bind(u.4)
            .bind(u.5)
            .bind(u.6)
            .bind(u.7)
            .execute(&pool)
            .await
            .unwrap();
    }
    for e in EMAILS {
        sqlx::query("INSERT INTO scim_emails VALUES ($1, $2, $3)")
            .bind(e.0)
            .bind(e.1)
            .bind(e.2)
            .execute(&pool)
            .await
            .unwrap();
    }
    let map = map();
    for (filter, want) in CASES {
        let c = compile_str(filter, &map, Dialect::Sqlite, 1).unwrap();
        let sql = query(&c.sql);
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.as_str()));
        for b in c.binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
                Bind::Bool(b) => q.bind(b),
            };
        }
        let got = q
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(got, *want, "{filter} → {sql}");
    }
    // The hostile value did not get into the SQL: the tables are intact.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scim_users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 4);
}

#[cfg_attr(
    not(wmill_pg),
    ignore = "PostgreSQL half: set WMILL_TEST_POSTGRES_URL to run it"
)]
#[tokio::test]
async fn postgres_rows_match() {
    let db = support::fresh_pg_database(&support::pg_url()).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    for s in SCHEMA {
        sqlx::query(*s).execute(&pool).await.unwrap();
    }
    for u in USERS {
        sqlx::query("INSERT INTO scim_users VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(u.0)
            .bind(u.1)
            .bind(u.2)
            .bind(u.3)
            .bind(u.4)
            .bind(u.5)
            .bind(u.6)
            .bind(u.7)
            .execute(&pool)
            .await
            .unwrap();
    }
    for e in EMAILS {
        sqlx::query("INSERT INTO scim_emails VALUES ($1, $2, $3)")
            .bind(e.0)
            .bind(e.1)
            .bind(e.2)
            .execute(&pool)
            .await
            .unwrap();
    }
    let map = map();
    for (filter, want) in CASES {
        let c = compile_str(filter, &map, Dialect::Postgres, 1).unwrap();
        let sql = query(&c.sql);
        let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.as_str()));
        for b in c.binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
                Bind::Bool(b) => q.bind(b),
            };
        }
        let got = q
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(got, *want, "{filter} → {sql}");
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scim_users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 4);
    pool.close().await;
}
