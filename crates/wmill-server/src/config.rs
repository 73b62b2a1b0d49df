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
    /// What to do instead of serving (operations on a database).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A TOML file of settings, keyed by flag name (`listen = "0.0.0.0:8000"`,
    /// `lockout-threshold = 5`, `trusted-proxies = ["10.0.0.0/8"]`). A flag given on the
    /// command line, or its environment variable, wins over the file.
    #[arg(long, env = "WM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "WM_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    /// Address of a second listener serving Prometheus metrics at `/metrics` (default: no
    /// metrics); port 0 picks a free port. Keep it off the public network.
    #[arg(long, env = "WM_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Folder for the embedded database and the initial admin password.
    #[arg(
        long,
        env = "WM_DATA_DIR",
        default_value = "./wmill-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database: `postgres://…` for PostgreSQL, `sqlite:PATH` for another SQLite file;
    /// default the SQLite file `wmill.db` in the data folder.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
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
    /// Argon2 memory of the password hashes running at once, in MiB: as many hashes run in
    /// parallel as fit (at least one, at most one per core), so that a login storm's memory
    /// does not grow with the number of cores.
    #[arg(long, env = "WM_HASH_MEMORY_MIB", default_value_t = crate::password::DEFAULT_HASH_MEMORY_KIB / 1024)]
    pub hash_memory_mib: u32,
    /// Largest number of database connections.
    #[arg(long, env = "WM_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// Statement timeout, in milliseconds.
    #[arg(long, env = "WM_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
    /// On PostgreSQL: cache what authenticating a request reads and group lists on this
    /// instance, kept coherent with every other instance (a revocation is answered only once
    /// every instance that may serve from its cache has dropped it; see docs/design.md).
    /// `off`: every request reads the database. Ignored on SQLite (always cached there).
    #[arg(long, env = "WM_PG_CACHE", value_enum, default_value_t = PgCacheMode::On)]
    pub pg_cache: PgCacheMode,
    /// Single sign-on with an OpenID provider; repeat for several (in `WM_OIDC`, separate
    /// them with `;`):
    /// `NAME=ISSUER_URL,client_id=ID,client_secret_file=PATH[,allowed_domains=a.com|b.org][,scopes=openid email profile groups][,groups_claim=groups]`.
    /// The secret is read from the file. With `allowed_domains`, a verified email of those
    /// domains gets an account at its first sign-in; without, only existing accounts sign in.
    #[arg(long = "oidc", env = "WM_OIDC", value_delimiter = ';', value_parser = parse_oidc)]
    pub oidc: Vec<OidcSpec>,
    /// Whether accounts other than superadmins may sign in with a password.
    #[arg(long, env = "WM_PASSWORD_LOGIN", value_enum, default_value_t = PasswordLogin::Enabled)]
    pub password_login: PasswordLogin,
    /// How log lines are written on stderr: `text` for people, `json` (one JSON object a
    /// line, with the request's id) for a log collector.
    #[arg(long, env = "WM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Ed25519 key file (made by `wmill-server audit keygen --out PATH`, kept outside the
    /// database) with which the server signs checkpoints of the audit chain, at intervals
    /// and on shutdown. Without it, the chain is kept but nothing is signed.
    #[arg(long, env = "WM_AUDIT_SIGNING_KEY")]
    pub audit_signing_key: Option<PathBuf>,
    /// Seconds between two signed checkpoints (one is written only if the log grew).
    #[arg(long, env = "WM_AUDIT_CHECKPOINT_SECS", default_value_t = 60)]
    pub audit_checkpoint_secs: u64,
    /// Days audit entries are kept: older ones are removed, oldest first, in batches,
    /// every `--audit-checkpoint-secs` (the chain's new start is signed, so verification
    /// still holds). Default: kept for ever.
    #[arg(long, env = "WM_AUDIT_RETENTION_DAYS", value_parser = clap::value_parser!(u64).range(1..=36500))]
    pub audit_retention_days: Option<u64>,
    /// Also deliver every audit entry, in id order and at least once, to a file or an HTTP
    /// endpoint; repeat for several (in `WM_AUDIT_SINK`, separate them with `;`):
    /// `file:/ABSOLUTE/PATH` (appended, created 0600) or
    /// `https://HOST/PATH[,header_file=PATH]` (NDJSON batches POSTed; plain http only to a
    /// loopback address), each with an optional `,name=NAME` (its identity: keep it when
    /// the target moves). `header_file` holds one `Name: value` line (the sink's token),
    /// owner-only. Each sink's cursor is kept in the database; retention keeps what a sink
    /// has not acknowledged.
    #[arg(long = "audit-sink", env = "WM_AUDIT_SINK", value_delimiter = ';', value_parser = crate::audit_sink::parse_sink)]
    pub audit_sink: Vec<crate::audit_sink::SinkSpec>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The command line with the settings of the configuration file (`--config FILE`, or
/// `WM_CONFIG`) added as flags: each key must name a flag of [`Cli`] (`-` or `_` alike);
/// one that is already on the command line, or whose environment variable is set, is left
/// out, so that flags win over the environment, and the environment over the file. An array
/// gives a repeatable flag several values.
pub fn with_config_file(
    args: Vec<std::ffi::OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<std::ffi::OsString>, String> {
    use clap::CommandFactory;
    let mut path = env("WM_CONFIG")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let given: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    for (i, a) in given.iter().enumerate() {
        if a == "--" {
            break;
        }
        if let Some(p) = a.strip_prefix("--config=") {
            path = Some(p.into());
        } else if a == "--config" {
            path = given.get(i + 1).map(PathBuf::from);
        }
    }
    let Some(path) = path else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the configuration file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("the configuration file {} is not TOML: {e}", path.display()))?;
    let cmd = Cli::command();
    let known: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| {
            a.get_long()
                .is_some_and(|l| !matches!(l, "config" | "help" | "version"))
        })
        .collect();
    let on_command_line = |long: &str| {
        given
            .iter()
            .any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")))
    };
    let mut extra: Vec<std::ffi::OsString> = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let Some(arg) = known.iter().find(|a| a.get_long() == Some(long.as_str())) else {
            let names: Vec<&str> = known.iter().filter_map(|a| a.get_long()).collect();
            return Err(format!(
                "the configuration file {}: unknown setting {key:?} (known: {})",
                path.display(),
                names.join(", ")
            ));
        };
        let from_env = arg
            .get_env()
            .and_then(|v| v.to_str())
            .is_some_and(|v| env(v).is_some_and(|x| !x.is_empty()));
        if on_command_line(&long) || from_env {
            continue;
        }
        let scalar = |v: &toml::Value| -> Result<String, String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                _ => Err(format!(
                    "the configuration file {}: {key} must be a string, a number or a \
                     boolean (or an array of them)",
                    path.display()
                )),
            }
        };
        let values = match value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
            v => vec![scalar(v)?],
        };
        for v in values {
            extra.push(format!("--{long}={v}").into());
        }
    }
    let mut out = Vec::with_capacity(args.len() + extra.len());
    let mut it = args.into_iter();
    out.extend(it.next());
    out.extend(extra);
    out.extend(it);
    Ok(out)
}

/// Operations on a database, instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copies the whole database (`--database-url`, default the SQLite file in the data
    /// folder) into an empty one, in one transaction, and verifies every table's row count
    /// and checksum before committing. Stop the server first.
    Migrate {
        /// The empty target: `postgres://…`, or `sqlite:PATH` (relative to the data folder).
        /// Give a URL with a password in the environment variable rather than as a flag.
        #[arg(long, env = "WM_MIGRATE_TO", hide_env_values = true)]
        to: String,
        /// Only report what would be copied; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Writes a consistent copy of the SQLite database to FILE (a new file), while the
    /// server may keep running and writing. For PostgreSQL use `pg_dump`
    /// (docs/operations.md).
    Backup {
        /// The backup file to create; it must not exist.
        file: std::path::PathBuf,
    },
    /// Restores a backup made by `backup` as the SQLite database of an empty data folder.
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// The audit log's tamper evidence: `keygen`, `verify`.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `wmill-server audit …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AuditCommand {
    /// Makes a new Ed25519 signing key for `--audit-signing-key` and prints its public key.
    Keygen {
        /// Where to write it (a new file, owner-only; never over an existing one).
        #[arg(long)]
        out: PathBuf,
    },
    /// Checks the audit log in the database (`--data-dir`, `--database-url`; offline: the
    /// server may be stopped) and names the first entry that was modified, deleted, inserted
    /// or reordered; exit status 0 only when the log is intact.
    Verify {
        /// The trusted public key (64 hexadecimal digits, as printed by `audit keygen`):
        /// checkpoints must be signed with it. Without it, signatures are not checked, and
        /// a chain re-hashed by someone with write access would not be detected.
        #[arg(long, env = "WM_AUDIT_PUBLIC_KEY")]
        public_key: Option<String>,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--pg-cache`: whether an instance on PostgreSQL caches authentication reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PgCacheMode {
    On,
    Off,
}

/// `--password-login`: whether non-superadmins may sign in with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PasswordLogin {
    Enabled,
    Disabled,
}

/// A client secret: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// One `--oidc` provider, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSpec {
    /// The name in URLs and on the sign-in page, and the accounts' `login_type`.
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Read from `client_secret_file` at start.
    pub client_secret: Secret,
    pub secret_file: PathBuf,
    /// Lowercased domains whose verified emails get an account at first sign-in (empty:
    /// only existing accounts sign in).
    pub allowed_domains: Vec<String>,
    /// Scopes asked for; always with `openid`.
    pub scopes: Vec<String>,
    /// The ID token claim that lists the person's groups (mapped to instance groups).
    pub groups_claim: Option<String>,
}

/// The keys an `--oidc` value may hold after `NAME=ISSUER_URL`.
const OIDC_KEYS: &str = "client_id, client_secret_file, allowed_domains, scopes, groups_claim";

/// Parses one `--oidc` value strictly (every key known, none twice, the required ones
/// there, the issuer an https URL or http on loopback) and reads its secret file.
pub fn parse_oidc(value: &str) -> Result<OidcSpec, String> {
    let value = value.trim();
    let mut parts = value.split(',');
    let head = parts.next().unwrap_or_default();
    let Some((name, issuer)) = head.split_once('=') else {
        return Err(
            "expected NAME=ISSUER_URL,client_id=ID,client_secret_file=PATH[,allowed_domains=a.com|b.org][,scopes=…][,groups_claim=…]"
                .into(),
        );
    };
    let name = name.trim();
    if name.is_empty()
        || name.len() > 40
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "provider name {name:?}: 1 to 40 letters, digits, '-' or '_'"
        ));
    }
    let issuer = issuer.trim().trim_end_matches('/').to_string();
    check_issuer(&issuer).map_err(|e| format!("provider {name}: {e}"))?;
    let mut seen = std::collections::BTreeMap::new();
    for part in parts {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "provider {name}: {part:?} is not KEY=VALUE (keys: {OIDC_KEYS})"
            ));
        };
        let k = k.trim();
        if !OIDC_KEYS.split(", ").any(|known| known == k) {
            return Err(format!(
                "provider {name}: unknown key {k:?} (keys: {OIDC_KEYS})"
            ));
        }
        if seen.insert(k.to_string(), v.trim().to_string()).is_some() {
            return Err(format!("provider {name}: {k} is given twice"));
        }
    }
    let mut take = |k: &str| seen.remove(k).filter(|v| !v.is_empty());
    let client_id =
        take("client_id").ok_or_else(|| format!("provider {name}: client_id is missing"))?;
    let secret_file = PathBuf::from(
        take("client_secret_file")
            .ok_or_else(|| format!("provider {name}: client_secret_file is missing"))?,
    );
    let secret = std::fs::read_to_string(&secret_file).map_err(|e| {
        format!(
            "provider {name}: cannot read client_secret_file {}: {e}",
            secret_file.display()
        )
    })?;
    let secret = secret.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() || secret.contains(['\n', '\r']) {
        return Err(format!(
            "provider {name}: client_secret_file {} must hold the secret on one line",
            secret_file.display()
        ));
    }
    let allowed_domains = match take("allowed_domains") {
        None => Vec::new(),
        Some(list) => {
            let mut out = Vec::new();
            for d in list.split('|') {
                let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
                if d.is_empty()
                    || !d.contains('.')
                    || !d
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    return Err(format!(
                        "provider {name}: allowed_domains: {d:?} is not a domain like example.com"
                    ));
                }
                out.push(d);
            }
            out
        }
    };
    let scopes: Vec<String> = take("scopes")
        .unwrap_or_else(|| "openid email profile".into())
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(format!("provider {name}: scopes must include openid"));
    }
    let groups_claim = take("groups_claim");
    Ok(OidcSpec {
        name: name.to_string(),
        issuer,
        client_id,
        client_secret: Secret(secret),
        secret_file,
        allowed_domains,
        scopes,
        groups_claim,
    })
}

/// An issuer must be https, or http on a loopback address (for a provider on this machine).
fn check_issuer(issuer: &str) -> Result<(), String> {
    let lower = issuer.to_ascii_lowercase();
    if lower.starts_with("https://") && origin_of(issuer).is_some() {
        return Ok(());
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        };
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
        return Err(format!(
            "issuer {issuer:?} must be https (http only on a loopback address)"
        ));
    }
    Err(format!("issuer {issuer:?} is not an https URL"))
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
    /// Only superadmins may sign in with a password (`--password-login disabled`).
    pub password_login_disabled: bool,
    /// `--public-url` without its trailing slash (redirect URIs of single sign-on).
    pub public_url: Option<String>,
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
            hash_concurrency: crate::password::concurrency_within(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                cli.hash_memory_mib.saturating_mul(1024),
                cli.argon2_m_cost,
            ),
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
            password_login_disabled: cli.password_login == PasswordLogin::Disabled,
            public_url: cli
                .public_url
                .as_deref()
                .map(|u| u.trim().trim_end_matches('/').to_string()),
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
            password_login_disabled: false,
            public_url: None,
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
            "password hashing",
            format!(
                "{} at once ({} MiB of argon2 memory at most)",
                settings.hash_concurrency,
                (settings.hash_concurrency as u64 * u64::from(a.m_cost)).div_ceil(1024)
            ),
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
    fn oidc_flags_are_parsed_strictly_and_the_secret_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "top-secret-value\n").unwrap();
        let s = secret.display();
        let ok = parse_oidc(&format!(
            "okta=https://id.example.com/,client_id=abc,client_secret_file={s},allowed_domains=Example.com|b.org,scopes=openid email groups,groups_claim=groups"
        ))
        .unwrap();
        assert_eq!(ok.name, "okta");
        assert_eq!(ok.issuer, "https://id.example.com");
        assert_eq!(ok.client_secret.0, "top-secret-value");
        assert_eq!(ok.allowed_domains, ["example.com", "b.org"]);
        assert_eq!(ok.scopes, ["openid", "email", "groups"]);
        assert_eq!(ok.groups_claim.as_deref(), Some("groups"));
        assert!(!format!("{ok:?}").contains("top-secret-value"));
        let min = parse_oidc(&format!(
            "dex=http://127.0.0.1:5556/dex,client_id=x,client_secret_file={s}"
        ))
        .unwrap();
        assert_eq!(min.scopes, ["openid", "email", "profile"]);
        assert!(min.allowed_domains.is_empty());
        for (bad, says) in [
            (
                format!("okta,client_id=a,client_secret_file={s}"),
                "NAME=ISSUER_URL",
            ),
            (
                format!("ok ta=https://a.b,client_id=a,client_secret_file={s}"),
                "provider name",
            ),
            (
                format!("o=http://id.example.com,client_id=a,client_secret_file={s}"),
                "must be https",
            ),
            (
                format!("o=ftp://a.b,client_id=a,client_secret_file={s}"),
                "not an https URL",
            ),
            (
                format!("o=https://a.b,client_secret_file={s}"),
                "client_id is missing",
            ),
            (
                "o=https://a.b,client_id=a".to_string(),
                "client_secret_file is missing",
            ),
            (
                "o=https://a.b,client_id=a,client_secret_file=/nonexistent/x".to_string(),
                "cannot read",
            ),
            (
                format!("o=https://a.b,client_id=a,client_secret_file={s},colour=blue"),
                "unknown key \"colour\"",
            ),
            (
                format!("o=https://a.b,client_id=a,client_id=b,client_secret_file={s}"),
                "given twice",
            ),
            (
                format!("o=https://a.b,client_id=a,client_secret_file={s},scopes=email"),
                "openid",
            ),
            (
                format!("o=https://a.b,client_id=a,client_secret_file={s},allowed_domains=a@b"),
                "allowed_domains",
            ),
        ] {
            let e = parse_oidc(&bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains("top-secret-value"), "{e}");
        }
        let cli = Cli::parse_from(["wmill-server", "--password-login", "disabled"]);
        assert!(Settings::from_cli(&cli).password_login_disabled);
        assert!(!Settings::from_cli(&Cli::parse_from(["wmill-server"])).password_login_disabled);
    }

    #[test]
    fn a_configuration_file_sets_every_flag_below_the_environment_and_the_command_line() {
        use clap::CommandFactory;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wmill.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nlockout_threshold = 3\nlockout-secs = 60\n\
             trusted-proxies = [\"10.0.0.0/8\", \"::1\"]\nlog-format = \"json\"\n\
             session-ttl-secs = 10\n",
        )
        .unwrap();
        let f = file.display().to_string();
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let no_env = |_: &str| None;
        let cli = Cli::parse_from(
            with_config_file(
                args(&["wmill-server", "--config", &f, "--lockout-secs", "5"]),
                no_env,
            )
            .unwrap(),
        );
        assert_eq!(cli.listen, "0.0.0.0:9000");
        assert_eq!(cli.lockout_threshold, 3);
        assert_eq!(cli.lockout_secs, 5, "the command line wins");
        assert_eq!(cli.trusted_proxies.len(), 2);
        assert_eq!(cli.log_format, LogFormat::Json);
        // The environment wins over the file (clap reads it; the file's value is left out).
        let env = |k: &str| (k == "WM_SESSION_TTL_SECS").then(|| "77".to_string());
        let out = with_config_file(args(&["wmill-server", &format!("--config={f}")]), env).unwrap();
        assert!(
            !out.iter()
                .any(|a| a.to_string_lossy().starts_with("--session-ttl-secs"))
        );
        // Through WM_CONFIG, before a subcommand.
        let env = |k: &str| (k == "WM_CONFIG").then(|| f.clone());
        let cli = Cli::parse_from(
            with_config_file(args(&["wmill-server", "backup", "x.db"]), env).unwrap(),
        );
        assert_eq!(cli.lockout_threshold, 3);
        assert!(matches!(cli.command, Some(Command::Backup { .. })));
        // Every flag may be set there.
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "config" | "help" | "version") {
                continue;
            }
            std::fs::write(&file, format!("{long} = \"x\"\n")).unwrap();
            let r = with_config_file(args(&["wmill-server", "--config", &f]), no_env);
            assert!(r.is_ok(), "{long}: {r:?}");
        }
        // Unknown keys and non-TOML are refused with a sentence.
        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        let e = with_config_file(args(&["wmill-server", "--config", &f]), no_env).unwrap_err();
        assert!(e.contains("unknown setting \"colour\""), "{e}");
        std::fs::write(&file, "listen = \n").unwrap();
        let e = with_config_file(args(&["wmill-server", "--config", &f]), no_env).unwrap_err();
        assert!(e.contains("is not TOML"), "{e}");
        std::fs::write(&file, "listen = { a = 1 }\n").unwrap();
        let e = with_config_file(args(&["wmill-server", "--config", &f]), no_env).unwrap_err();
        assert!(e.contains("must be a string"), "{e}");
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
