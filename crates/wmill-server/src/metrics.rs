//! Prometheus metrics (`prometheus-client`), served in the text format on a listener of
//! their own (`--metrics-listen`), never on the public one.
//!
//! Counted everywhere, cheaply (atomics): requests by method, route template and status and
//! their latency; logins by outcome; lockouts; the authentication cache's hits and misses
//! (SQLite); database errors. Read when scraped: password checks waiting or running, and the
//! database pools' connections, and each audit sink's lag (entries written but not yet
//! acknowledged by the sink, read from the database).

use std::sync::{Arc, LazyLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::service::Service;
use crate::store::SqlStore;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route's template (`/api/w/{workspace}/groups/get/{name}`), never the path.
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub kind: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// The sink's name, without secrets (see `audit_sink::SinkSpec::name`).
    pub sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
    pub state: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Every metric of the process.
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Latency,
    pub logins: Family<OutcomeLabels, Counter>,
    pub lockouts: Counter,
    pub cache: Family<CacheLabels, Counter>,
    pub db_errors: Counter,
    pub hash_queue: Gauge,
    pub db_connections: Family<PoolLabels, Gauge>,
    pub audit_sink_lag: Family<SinkLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    requests: Family::default(),
    latency: Family::new_with_constructor(latency_histogram),
    logins: Family::default(),
    lockouts: Counter::default(),
    cache: Family::default(),
    db_errors: Counter::default(),
    hash_queue: Gauge::default(),
    db_connections: Family::default(),
    audit_sink_lag: Family::default(),
});

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

/// Counts a cache lookup of `kind` (`token`, `account`, `member`, `groups`).
pub fn cache_lookup(kind: &str, hit: bool) {
    get()
        .cache
        .get_or_create(&CacheLabels {
            kind: kind.into(),
            result: if hit { "hit" } else { "miss" }.into(),
        })
        .inc();
}

/// Counts one answered request; a login's outcome is read from its status.
pub fn request(method: &str, route: &str, status: u16, seconds: f64) {
    let m = get();
    m.requests
        .get_or_create(&RequestLabels {
            method: method.into(),
            route: route.into(),
            status: status.to_string(),
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels {
            method: method.into(),
            route: route.into(),
        })
        .observe(seconds);
    if method == "POST" && route == "/api/auth/login" {
        let outcome = match status {
            200..=299 => "success",
            429 => "throttled",
            503 => "busy",
            400..=499 => "refused",
            _ => "error",
        };
        m.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }
}

/// The text exposition of every metric, with the gauges read now; `sinks`: the audit sinks'
/// status, read beforehand.
pub fn render(svc: &Service, store: &SqlStore, sinks: &[wmill_api::AuditSinkStatus]) -> String {
    let m = get();
    for s in sinks {
        if let Some(lag) = s.lag {
            m.audit_sink_lag
                .get_or_create(&SinkLabels {
                    sink: s.name.clone(),
                })
                .set(lag);
        }
    }
    // Every family shows, at 0 until something happens.
    for outcome in ["success", "refused", "throttled", "busy", "error"] {
        drop(m.logins.get_or_create(&OutcomeLabels {
            outcome: outcome.into(),
        }));
    }
    for kind in ["token", "account", "member", "groups"] {
        for result in ["hit", "miss"] {
            drop(m.cache.get_or_create(&CacheLabels {
                kind: kind.into(),
                result: result.into(),
            }));
        }
    }
    m.hash_queue.set(svc.hashes_pending() as i64);
    for (pool, size, idle) in store.pool_stats() {
        let size = size as usize;
        for (state, n) in [("idle", idle), ("in_use", size.saturating_sub(idle))] {
            m.db_connections
                .get_or_create(&PoolLabels {
                    pool: pool.into(),
                    state: state.into(),
                })
                .set(n as i64);
        }
    }
    let mut r = Registry::with_prefix("wmill");
    r.register(
        "http_requests",
        "Requests answered, by method, route template and status",
        m.requests.clone(),
    );
    r.register(
        "http_request_duration_seconds",
        "Time to answer, by method and route template",
        m.latency.clone(),
    );
    r.register(
        "logins",
        "Password logins by outcome (success, refused, throttled, busy, error)",
        m.logins.clone(),
    );
    r.register(
        "lockouts",
        "Accounts locked by failed logins",
        m.lockouts.clone(),
    );
    r.register(
        "auth_cache_lookups",
        "Authentication cache lookups (SQLite; PostgreSQL with --pg-cache=on), by kind and hit or miss",
        m.cache.clone(),
    );
    r.register(
        "db_errors",
        "Database errors (unique violations excepted)",
        m.db_errors.clone(),
    );
    r.register(
        "password_hash_queue",
        "Password checks waiting or running",
        m.hash_queue.clone(),
    );
    r.register(
        "db_connections",
        "Database connections, by pool and state",
        m.db_connections.clone(),
    );
    r.register(
        "audit_sink_lag_entries",
        "Audit entries written but not yet acknowledged, by audit sink",
        m.audit_sink_lag.clone(),
    );
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
        return "# the metrics could not be encoded\n".into();
    }
    out
}

/// The router of the metrics listener: `GET /metrics`.
pub fn router(svc: Arc<Service>, store: Arc<SqlStore>) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (svc, store) = (svc.clone(), store.clone());
            async move {
                let sinks = svc.audit_sink_status(true).await;
                let body = render(&svc, &store, &sinks);
                (
                    [(
                        CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    )
}
