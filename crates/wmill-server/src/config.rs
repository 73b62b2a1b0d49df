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
    /// Database: `postgres://…` for PostgreSQL; default the SQLite file in the data folder.
    #[arg(long, env = "DATABASE_URL")]
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
    /// Largest number of database connections.
    #[arg(long, env = "WM_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Statement timeout, in milliseconds.
    #[arg(long, env = "WM_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
}

/// The policy the service applies.
#[derive(Debug, Clone)]
pub struct Settings {
    pub argon2: Argon2Params,
    /// Parallel password hashes at most.
    pub hash_concurrency: usize,
    pub session_ttl: Duration,
    pub max_token_ttl: Option<Duration>,
    pub password_min_chars: usize,
    /// For the initial password of an account a superadmin creates.
    pub initial_password_min_chars: usize,
    pub lockout_threshold: u32,
    pub lockout: Duration,
    pub login_per_ip_per_minute: u32,
    /// Whether session cookies are marked `Secure`.
    pub secure_cookies: bool,
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
            password_min_chars: cli.password_min_chars,
            initial_password_min_chars: cli.initial_password_min_chars,
            lockout_threshold: cli.lockout_threshold,
            lockout: Duration::from_secs(cli.lockout_secs),
            login_per_ip_per_minute: cli.login_per_ip_per_minute,
            secure_cookies: cli
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
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
            password_min_chars: 8,
            initial_password_min_chars: 5,
            lockout_threshold: 10,
            lockout: Duration::from_secs(15 * 60),
            login_per_ip_per_minute: 100_000,
            secure_cookies: false,
            last_used_flush: Duration::from_secs(30),
        }
    }
}
