//! Version, health, the OpenAPI document, unknown routes and methods.

use serde_json::Value;

db_test!(
    async fn version_health_and_openapi(app) {
        let v = app.call("GET", "/api/version", None, None).await;
        v.assert_text(200, concat!("CE v", env!("CARGO_PKG_VERSION")));
        let h = app.call("GET", "/api/health/status", None, None).await;
        assert_eq!(h.content_type, "application/json");
        assert_eq!(h.json(), serde_json::json!({"status": "healthy", "database_healthy": true}));
        let doc = app.call("GET", "/api/openapi.json", None, None).await;
        assert_eq!(doc.content_type, "application/json");
        let doc: Value = doc.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
        let paths = doc["paths"].as_object().unwrap();
        for p in ["/api/users/create", "/api/w/{workspace}/audit/list", "/api/users/tokens/delete/{prefix_or_token}"] {
            assert!(paths.contains_key(p), "{p} is documented");
        }
        assert!(doc["components"]["schemas"]["GlobalUserInfo"].is_object());
    }
);

db_test!(
    async fn unknown_methods_and_routes(app) {
        let r = app.call("PUT", "/api/users/whoami", Some(&app.admin), None).await;
        r.assert_text(405, "Method not allowed: PUT is not allowed on /api/users/whoami");
        app.call("GET", "/api/w/admins/nothing", Some(&app.admin), None).await.assert_text(404, "Not found: no route for GET /api/w/admins/nothing");
    }
);

/// Under `CI` every optional part of the suites must run: a part reported as ignored there
/// would be a test that CI believes it ran.
#[test]
fn nothing_is_skipped_under_ci() {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let missing: Vec<&str> = [
        (cfg!(wmill_pg), "PostgreSQL (WMILL_TEST_POSTGRES_URL)"),
        (
            cfg!(wmill_official_client),
            "Windmill's official client (npm ci in .ci/official-client) and node",
        ),
        (
            cfg!(wmill_oidc),
            "an OpenID provider for the SSO tests (npm ci in .ci/oidc) and node",
        ),
        (
            cfg!(wmill_browser),
            "a browser for the page tests (chromium, npm ci in .ci/browser) and node",
        ),
        (
            cfg!(wmill_pg_ctl),
            "PostgreSQL's server binaries (initdb, pg_ctl: apt-get install postgresql), for the \
             tests that restart a cluster of their own",
        ),
        (
            cfg!(wmill_systemd),
            "systemd-analyze, to verify contrib/wmill-server.service (apt-get install systemd)",
        ),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    if ci {
        assert!(
            missing.is_empty(),
            "CI is set, but these parts of the tests were skipped: {missing:?}"
        );
    } else if !missing.is_empty() {
        eprintln!("note: tests needing {missing:?} are reported as ignored");
    }
}
