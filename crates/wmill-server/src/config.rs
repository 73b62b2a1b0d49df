//! Server settings: command-line flags, each with an environment variable behind it, and
//! the policy knobs (argon2 cost, lockout, session lifetime) the service reads.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::password::Argon2Params;

/// `wmill-server`: a Windmill-compatible identity administration server.
#[derive(Debug, Clone, Parser)]
#[command(name = "wmill-server", version, about, long_about = None)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "WM_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// Folder for the embedded database and the initial admin password.
    #[arg(long, env = "WM_DATA_DIR", default_value = "./wmill-data")]
    pub data_dir: PathBuf,
    /// Database: `postgres://…` for PostgreSQL, `sqlite:PATH` for another SQLite file;
    /// default the SQLite file `wmill.db` in the data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Email of the superadmin created on first start.
    #[arg(long, env = "WM_ADMIN_EMAIL", default_value = "admin@windmill.dev")]
    pub admin_email: String,
    /// Password of that superadmin; default: generated, printed once and written to
    /// `<data-dir>/initial-admin-password`.
    #[arg(long, env = "WM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Public URL of the server; session cookies get `Secure` when it is https.
    #[arg(long, env = "WM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Lifetime of login sessions, in seconds.
    #[arg(long, env = "WM_SESSION_TTL_SECS", default_value_t = 3 * 24 * 3600)]
    pub session_ttl_secs: u64,
    /// Largest lifetime of new API tokens, in seconds (default: no cap).
    #[arg(long, env = "WM_MAX_TOKEN_TTL_SECS")]
    pub max_token_ttl_secs: Option<u64>,
    /// Lifetime of impersonation tokens when none is asked for, and the longest allowed, in
    /// seconds.
    #[arg(long, env = "WM_IMPERSONATION_TTL_SECS", default_value_t = 3600)]
    pub impersonation_ttl_secs: u64,
    /// Minimum password length, in characters.
    #[arg(long, env = "WM_PASSWORD_MIN_CHARS", default_value_t = 8)]
    pub password_min_chars: usize,
    /// Minimum length of the initial password a superadmin gives a new account. Windmill's
    /// own client makes up 5 characters when `wmill user add` has none.
    #[arg(long, env = "WM_INITIAL_PASSWORD_MIN_CHARS", default_value_t = 5)]
    pub initial_password_min_chars: usize,
    /// argon2id memory cost in KiB (OWASP floor: 19456).
    #[arg(long, env = "WM_ARGON2_M_COST", default_value_t = Argon2Params::OWASP.m_cost)]
    pub argon2_m_cost: u32,
    /// argon2id iterations (OWASP floor: 2).
    #[arg(long, env = "WM_ARGON2_T_COST", default_value_t = Argon2Params::OWASP.t_cost)]
    pub argon2_t_cost: u32,
    /// argon2id lanes.
    #[arg(long, env = "WM_ARGON2_P_COST", default_value_t = Argon2Params::OWASP.p_cost)]
    pub argon2_p_cost: u32,
    /// Consecutive failed logins after which an account is locked.
    #[arg(long, env = "WM_LOCKOUT_THRESHOLD", default_value_t = 10)]
    pub lockout_threshold: u32,
    /// How long a locked account stays locked, in seconds.
    #[arg(long, env = "WM_LOCKOUT_SECS", default_value_t = 15 * 60)]
    pub lockout_secs: u64,
    /// Login attempts allowed per client IP and minute.
    #[arg(long, env = "WM_LOGIN_PER_IP_PER_MINUTE", default_value_t = 60)]
    pub login_per_ip_per_minute: u32,
    /// Proxies whose `X-Forwarded-For`, `Forwarded` and `X-Forwarded-Proto` headers are
    /// believed: comma-separated addresses or CIDR blocks (default: none, the TCP peer is the
    /// client).
    #[arg(long, env = "WM_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds a client has to send a request's headers (and, on an idle keep-alive
    /// connection, to start the next request).
    #[arg(long, env = "WM_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "WM_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, env = "WM_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Concurrent connections allowed from one client address (trusted proxies excepted).
    #[arg(long, env = "WM_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Password checks that may wait for a hashing thread; past that, logins get 503 with
    /// `Retry-After`.
    #[arg(long, env = "WM_HASH_QUEUE", default_value_t = 256)]
    pub hash_queue: usize,
    /// Largest number of database connections.
    #[arg(long, env = "WM_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Statement timeout, in milliseconds.
    #[arg(long, env = "WM_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
}

pub(crate) fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR block like 10.0.0.0/8"))
}

/// The policy the service applies.
#[derive(Debug, Clone)]
pub struct Settings {
    pub argon2: Argon2Params,
    /// Parallel password hashes at most.
    pub hash_concurrency: usize,
    pub session_ttl: Duration,
    pub max_token_ttl: Option<Duration>,
    /// Default and longest lifetime of impersonation tokens.
    pub impersonation_ttl: Duration,
    pub password_min_chars: usize,
    /// For the initial password of an account a superadmin creates.
    pub initial_password_min_chars: usize,
    pub lockout_threshold: u32,
    pub lockout: Duration,
    pub login_per_ip_per_minute: u32,
    /// Whether session cookies are marked `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// The public URL's origin (`https://id.example.com`), against which cookie-authenticated
    /// requests' `Origin` is checked; without it, the request's own `Host`.
    pub public_origin: Option<String>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a client may take to send a request body.
    pub body_timeout: Duration,
    /// Password checks that may wait for a hashing thread.
    pub hash_queue: usize,
    /// How often `last_used_at` is written back.
    pub last_used_flush: Duration,
}

impl Settings {
    /// Production defaults.
    pub fn from_cli(cli: &Cli) -> Settings {
        Settings {
            argon2: Argon2Params {
                m_cost: cli.argon2_m_cost,
                t_cost: cli.argon2_t_cost,
                p_cost: cli.argon2_p_cost,
            },
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            session_ttl: Duration::from_secs(cli.session_ttl_secs),
            max_token_ttl: cli.max_token_ttl_secs.map(Duration::from_secs),
            impersonation_ttl: Duration::from_secs(cli.impersonation_ttl_secs.max(1)),
            password_min_chars: cli.password_min_chars,
            initial_password_min_chars: cli.initial_password_min_chars,
            lockout_threshold: cli.lockout_threshold,
            lockout: Duration::from_secs(cli.lockout_secs),
            login_per_ip_per_minute: cli.login_per_ip_per_minute,
            secure_cookies: cli
                .public_url
                .as_deref()
                .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://")),
            public_origin: cli.public_url.as_deref().and_then(origin_of),
            trusted_proxies: cli.trusted_proxies.clone(),
            body_timeout: Duration::from_secs(cli.body_timeout_secs.max(1)),
            hash_queue: cli.hash_queue.max(1),
            last_used_flush: Duration::from_secs(30),
        }
    }

    /// Settings for tests: cheap hashing, everything else as in production.
    pub fn for_tests() -> Settings {
        Settings {
            argon2: Argon2Params::TEST,
            hash_concurrency: 2,
            session_ttl: Duration::from_secs(3 * 24 * 3600),
            max_token_ttl: None,
            impersonation_ttl: Duration::from_secs(3600),
            password_min_chars: 8,
            initial_password_min_chars: 5,
            lockout_threshold: 10,
            lockout: Duration::from_secs(15 * 60),
            login_per_ip_per_minute: 100_000,
            secure_cookies: false,
            public_origin: None,
            trusted_proxies: Vec::new(),
            body_timeout: Duration::from_secs(30),
            hash_queue: 10_000,
            last_used_flush: Duration::from_secs(30),
        }
    }
}

/// The configuration summary printed on stderr at start (as `vault server` does): where the
/// database is (`database`, as [`DbTarget::describe`](crate::store::sql::DbTarget::describe)
/// gives it, never with a password), the address really listened on, and the policy knobs
/// an operator most often wants to check. One aligned `label: value` line each.
pub fn summary(
    cli: &Cli,
    settings: &Settings,
    database: &str,
    listen: std::net::SocketAddr,
) -> String {
    let a = &settings.argon2;
    let lines = [
        ("database", database.to_string()),
        ("listen", format!("http://{listen}")),
        ("data folder", cli.data_dir.display().to_string()),
        (
            "argon2id cost",
            format!("m={} KiB, t={}, p={}", a.m_cost, a.t_cost, a.p_cost),
        ),
        (
            "lockout",
            format!(
                "{} failed logins in a row lock an account for {} s",
                settings.lockout_threshold.max(1),
                settings.lockout.as_secs()
            ),
        ),
        (
            "logins per IP",
            format!("{} a minute", settings.login_per_ip_per_minute),
        ),
        (
            "session TTL",
            format!("{} s", settings.session_ttl.as_secs()),
        ),
    ];
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!(
        "wmill-server {} configuration:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in lines {
        out.push_str(&format!("  {k:>width$}: {v}\n"));
    }
    out
}

/// The tracing filter directives for a `RUST_LOG` value (`None` or blank: `info`). sqlx
/// writes every statement at debug level under the target `sqlx::query`: that stays off
/// (slow-statement warnings stay on) unless the value names sqlx, so that
/// `RUST_LOG=debug` or `wmill_server=debug` shows requests, not queries.
pub fn log_directives(rust_log: Option<&str>) -> String {
    let given = rust_log.map(str::trim).filter(|v| !v.is_empty());
    let base = given.unwrap_or("info");
    if base.contains("sqlx") {
        base.to_string()
    } else {
        format!("{base},sqlx::query=warn")
    }
}

/// `scheme://host[:port]` of a URL, lowercased, without a default port.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    if authority.is_empty() {
        return None;
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = authority.strip_suffix(default_port).unwrap_or(authority);
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin_of("https://ID.example.com/wmill/").as_deref(),
            Some("https://id.example.com")
        );
        assert_eq!(origin_of("http://h:80").as_deref(), Some("http://h"));
        assert_eq!(
            origin_of("http://h:8000/x").as_deref(),
            Some("http://h:8000")
        );
        assert_eq!(origin_of("ftp://h"), None);
        assert_eq!(origin_of("null"), None);
    }

    #[test]
    fn sqlx_queries_are_logged_only_when_asked() {
        assert_eq!(log_directives(None), "info,sqlx::query=warn");
        assert_eq!(log_directives(Some("  ")), "info,sqlx::query=warn");
        assert_eq!(log_directives(Some("debug")), "debug,sqlx::query=warn");
        assert_eq!(
            log_directives(Some("wmill_server=debug")),
            "wmill_server=debug,sqlx::query=warn"
        );
        assert_eq!(log_directives(Some("info,sqlx=debug")), "info,sqlx=debug");
    }

    #[test]
    fn the_summary_is_aligned_and_complete() {
        let cli = Cli::parse_from([
            "wmill-server",
            "--data-dir",
            "/srv/wmill",
            "--lockout-threshold",
            "5",
            "--lockout-secs",
            "60",
            "--login-per-ip-per-minute",
            "30",
            "--session-ttl-secs",
            "3600",
        ]);
        let settings = Settings::from_cli(&cli);
        let text = summary(
            &cli,
            &settings,
            "SQLite at /srv/wmill/wmill.db",
            "127.0.0.1:8000".parse().unwrap(),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("wmill-server "), "{text}");
        for want in [
            "database: SQLite at /srv/wmill/wmill.db",
            "listen: http://127.0.0.1:8000",
            "data folder: /srv/wmill",
            "argon2id cost: m=19456 KiB, t=2, p=1",
            "lockout: 5 failed logins in a row lock an account for 60 s",
            "logins per IP: 30 a minute",
            "session TTL: 3600 s",
        ] {
            assert!(lines.iter().any(|l| l.ends_with(want)), "{want}: {text}");
        }
        let colons: Vec<usize> = lines[1..].iter().map(|l| l.find(": ").unwrap()).collect();
        assert!(colons.windows(2).all(|w| w[0] == w[1]), "aligned: {text}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_net(" 127.0.0.1 ").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.local").is_err());
    }
}
