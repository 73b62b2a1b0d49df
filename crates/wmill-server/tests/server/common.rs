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

/// Runs a test body once per database.
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
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::common::TestApp::postgres().await {
                    run(app).await
                }
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
    pub body: String,
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
    _dir: tempfile::TempDir,
}

pub use crate::support::{fresh_pg_database, pg_url};

impl TestApp {
    /// On a fresh SQLite file.
    pub async fn sqlite() -> TestApp {
        Self::with_url(None, Settings::for_tests()).await
    }

    /// On a fresh PostgreSQL database, or `None` (with a notice) when none is configured.
    pub async fn postgres() -> Option<TestApp> {
        let Some(base) = pg_url() else {
            eprintln!("skipped: PostgreSQL half (set WMILL_TEST_POSTGRES_URL to run it)");
            return None;
        };
        let url = fresh_pg_database(&base).await;
        Some(Self::with_url(Some(url), Settings::for_tests()).await)
    }

    /// On a fresh database of the same kind as `self`, with other settings.
    pub async fn sibling(&self, settings: Settings) -> TestApp {
        match pg_url() {
            Some(base) if self.is_postgres() => {
                Self::with_url(Some(fresh_pg_database(&base).await), settings).await
            }
            _ => Self::with_url(None, settings).await,
        }
    }

    /// Whether this app runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.store.is_postgres()
    }

    async fn with_url(url: Option<String>, settings: Settings) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = DbOptions {
            url: url.unwrap_or_else(|| "wmill.db".into()),
            max_connections: 8,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(10),
        };
        let store = Arc::new(
            SqlStore::connect(&opts, dir.path())
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
            _dir: dir,
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
            body: String::from_utf8_lossy(&bytes).into_owned(),
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
