//! Test harness: an in-process app on a real database (a fresh SQLite file, or a fresh
//! PostgreSQL database when `WMILL_TEST_POSTGRES_URL` is set), driven with `oneshot`.
//!
//! `db_test!` turns one async test body into a test per database, so that the same suite
//! runs, unchanged, on both. The PostgreSQL half skips with a notice when no server is
//! configured, and fails when `CI` is set.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wmill_server::clock::ManualClock;
use wmill_server::config::Settings;
use wmill_server::service::Service;
use wmill_server::store::SqlStore;
use wmill_server::store::sql::DbOptions;

pub const ADMIN_EMAIL: &str = "admin@windmill.dev";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "mypassword123";

/// Runs a test body once per database. The PostgreSQL half is reported as ignored when
/// `WMILL_TEST_POSTGRES_URL` was not set as the tests were built (see `build.rs`).
#[macro_export]
macro_rules! db_test {
    ($(#[$m:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::common::*;

            async fn run($app: $crate::common::TestApp) $body

            $(#[$m])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::TestApp::sqlite().await).await
            }

            $(#[$m])*
            #[cfg_attr(not(wmill_pg), ignore = "PostgreSQL half: set WMILL_TEST_POSTGRES_URL to run it")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::common::TestApp::postgres().await).await
            }
        }
    };
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub set_cookie: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
    /// The body as sent (for binary answers).
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "not JSON: {self:?}"
        );
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.body))
    }

    /// The body parsed into a wire type.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.json())
            .unwrap_or_else(|e| panic!("unexpected shape ({e}): {}", self.body))
    }

    /// Asserts a `text/plain` answer with this status and body.
    #[track_caller]
    pub fn assert_text(&self, status: u16, body: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert!(
            self.content_type.starts_with("text/plain"),
            "content type of {self:?}"
        );
        assert_eq!(self.body, body, "body of {self:?}");
    }

    /// Asserts a `text/plain` answer with this status whose body starts with `prefix`.
    #[track_caller]
    pub fn assert_text_starts(&self, status: u16, prefix: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
        assert!(
            self.content_type.starts_with("text/plain"),
            "content type of {self:?}"
        );
        assert!(
            self.body.starts_with(prefix),
            "body of {self:?} should start with {prefix:?}"
        );
    }

    /// Asserts the status only.
    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "status of {self:?}");
    }
}

/// A server on a fresh database, with a logged-in superadmin.
pub struct TestApp {
    pub app: Router,
    pub svc: Arc<Service>,
    pub store: Arc<SqlStore>,
    pub clock: ManualClock,
    pub admin: String,
    /// The database's URL (`sqlite:wmill.db` relative to `dir`, or PostgreSQL's).
    pub db_url: String,
    pub dir: tempfile::TempDir,
    /// Dropped after the app: the PostgreSQL database goes with it.
    _pg: Option<PgDb>,
}

pub use crate::support::{PgDb, fresh_pg_database, pg_url};

impl TestApp {
    /// On a fresh SQLite file.
    pub async fn sqlite() -> TestApp {
        Self::with_url(None, Settings::for_tests()).await
    }

    /// On a fresh PostgreSQL database (dropped with the app).
    pub async fn postgres() -> TestApp {
        let db = fresh_pg_database(&pg_url()).await;
        Self::with_url(Some(db), Settings::for_tests()).await
    }

    /// On a fresh database of the same kind as `self`, with other settings.
    pub async fn sibling(&self, settings: Settings) -> TestApp {
        if self.is_postgres() {
            Self::with_url(Some(fresh_pg_database(&pg_url()).await), settings).await
        } else {
            Self::with_url(None, settings).await
        }
    }

    /// Another instance on the same database with these settings: a second server on
    /// PostgreSQL; on SQLite (one server per database) the same one restarted, after
    /// `self` let go of the file.
    pub async fn instance(&self, settings: Settings) -> (Arc<SqlStore>, Arc<Service>) {
        if !self.is_postgres() {
            self.store.close().await;
        }
        let store = Arc::new(
            SqlStore::connect(&Self::db_options(&self.db_url), self.dir.path())
                .await
                .expect("open the database again"),
        );
        let svc = Arc::new(Service::new(
            store.clone(),
            Arc::new(self.clock.clone()),
            settings,
        ));
        (store, svc)
    }

    fn db_options(url: &str) -> DbOptions {
        DbOptions {
            url: url.to_string(),
            max_connections: 8,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(10),
        }
    }

    /// Whether this app runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.store.is_postgres()
    }

    async fn with_url(pg: Option<PgDb>, settings: Settings) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_url = pg
            .as_ref()
            .map_or_else(|| "sqlite:wmill.db".to_string(), |p| p.url.clone());
        let store = Arc::new(
            SqlStore::connect(&Self::db_options(&db_url), dir.path())
                .await
                .expect("open the database"),
        );
        let clock = ManualClock::new();
        let svc = Arc::new(Service::new(
            store.clone(),
            Arc::new(clock.clone()),
            settings,
        ));
        assert!(
            svc.bootstrap(ADMIN_EMAIL, ADMIN_PASSWORD)
                .await
                .expect("bootstrap")
        );
        let app = wmill_server::http::app(svc.clone());
        let mut t = TestApp {
            app,
            svc,
            store,
            clock,
            admin: String::new(),
            db_url,
            dir,
            _pg: pg,
        };
        t.admin = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        t
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("").to_string())
        };
        let content_type = header("content-type").unwrap_or_default();
        let set_cookie = header("set-cookie");
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            content_type,
            set_cookie,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call("DELETE", path, Some(token), None).await
    }

    /// A page, as a browser signed in with `session` asks for it (cookie, `Host: localhost`).
    pub async fn page(&self, path: &str, session: &str) -> Resp {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "localhost")
            .header("cookie", format!("token={session}"))
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    /// The CSRF value of the forms on `session`'s pages, read from a page as a browser would.
    pub async fn csrf(&self, session: &str) -> String {
        let page = self.page("/user/profile", session).await;
        let at = page
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field on the profile page: {page:?}"));
        let rest = &page.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// Posts a form from one of our pages: `session`'s cookie, `Origin: http://localhost`,
    /// its CSRF value (unless `fields` carries its own `csrf`), url-encoded.
    pub async fn submit(&self, path: &str, session: &str, fields: &[(&str, &str)]) -> Resp {
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            pairs.push(("csrf".into(), self.csrf(session).await));
        }
        self.submit_raw(path, Some(session), Some("http://localhost"), &pairs)
            .await
    }

    /// Posts a url-encoded form exactly as given (no CSRF value added), for the refusals.
    pub async fn submit_raw(
        &self,
        path: &str,
        session: Option<&str>,
        origin: Option<&str>,
        pairs: &[(String, String)],
    ) -> Resp {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(s) = session {
            req = req.header("cookie", format!("token={s}"));
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login of {email}: {r:?}");
        r.body
    }

    /// Creates an instance account (as the superadmin).
    pub async fn create_user(&self, email: &str, super_admin: bool) {
        let r = self
            .post(
                "/api/users/create",
                &self.admin,
                json!({"email": email, "password": PASSWORD, "super_admin": super_admin}),
            )
            .await;
        r.assert_text(201, &format!("email {email} created"));
    }

    /// Creates a workspace (as the superadmin).
    pub async fn create_workspace(&self, id: &str) {
        let r = self
            .post(
                "/api/workspaces/create",
                &self.admin,
                json!({"id": id, "name": id}),
            )
            .await;
        r.assert_text(200, &format!("Created workspace {id}"));
    }

    /// Adds `email` to workspace `ws` (as the superadmin).
    pub async fn add_member(&self, ws: &str, email: &str, is_admin: bool) {
        let r = self
            .post(
                &format!("/api/w/{ws}/workspaces/add_user"),
                &self.admin,
                json!({"email": email, "is_admin": is_admin, "operator": false}),
            )
            .await;
        r.assert_text(201, &format!("user with email {email} added"));
    }

    /// Creates an account, adds it to `ws`, logs it in; returns its token.
    pub async fn member_token(&self, ws: &str, email: &str, is_admin: bool) -> String {
        self.create_user(email, false).await;
        self.add_member(ws, email, is_admin).await;
        self.login(email, PASSWORD).await
    }

    /// Mints an API token with `body` as the request.
    pub async fn mint(&self, token: &str, body: Value) -> String {
        let r = self.post("/api/users/tokens/create", token, body).await;
        assert_eq!(r.status.as_u16(), 201, "{r:?}");
        r.body
    }

    /// Row counts and the highest audit id.
    pub async fn fingerprint(&self) -> Vec<(String, i64)> {
        self.store.fingerprint().await.expect("fingerprint")
    }

    /// Every audit entry, newest first (as the superadmin).
    pub async fn audit_all(&self) -> Vec<wmill_api::AuditLog> {
        let r = self
            .get(
                "/api/w/admins/audit/list?all_workspaces=true&per_page=10000",
                &self.admin,
            )
            .await;
        r.parse()
    }
}

/// Percent-encodes a form value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
