//! PostgreSQL for the benchmarks: a cluster of our own (PostgreSQL's defaults, durable
//! commits, `shared_buffers` raised to 1 GiB as any production setup would), or a server
//! given by URL; a fresh database per server start either way.

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;

use crate::say;
use crate::util::{Context, Result};

/// Settings our own cluster runs with, reported with the results.
pub const SETTINGS: &str =
    "fsync=on, synchronous_commit=on (defaults), shared_buffers=1GB, max_connections=300";

/// A PostgreSQL server to make databases in.
pub struct Pg {
    /// URL of its `postgres` database.
    pub admin_url: String,
    /// Our own cluster's folder, stopped and removed at the end.
    own: Option<PathBuf>,
    created: Vec<String>,
    counter: u32,
}

fn bindir() -> Result<PathBuf> {
    let mut found = None;
    for entry in std::fs::read_dir("/usr/lib/postgresql").ctx(
        "PostgreSQL server binaries are missing (apt-get install postgresql), or pass --postgres-url",
    )? {
        let p = entry.ctx("cannot list /usr/lib/postgresql")?.path().join("bin");
        if p.join("initdb").exists() {
            found = Some(p);
        }
    }
    found.ctx("no initdb under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn run_pg(bin: &Path, args: &[&str]) -> Result<()> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd
        .args(args)
        .output()
        .ctx(format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}{}",
            bin.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").ctx("cannot find a free port")?;
    Ok(l.local_addr().ctx("no local address")?.port())
}

impl Pg {
    /// Starts a throwaway cluster in `dir` (created), listening on 127.0.0.1 only.
    pub fn start_own(dir: &Path) -> Result<Pg> {
        let bin = bindir()?;
        std::fs::create_dir_all(dir).ctx("cannot create the PostgreSQL folder")?;
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err("cannot hand the PostgreSQL folder to the postgres user".into());
            }
        }
        let d = dir.to_str().ctx("PostgreSQL folder is not UTF-8")?;
        say!("starting a PostgreSQL cluster in {d} ({SETTINGS})");
        run_pg(
            &bin.join("initdb"),
            &["-D", d, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        )?;
        let port = free_port()?;
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={d} \
             -c max_connections=300 -c shared_buffers=1GB"
        );
        let log = format!("{d}/server.log");
        run_pg(
            &bin.join("pg_ctl"),
            &["-D", d, "-l", &log, "-w", "-t", "120", "-o", &opts, "start"],
        )?;
        Ok(Pg {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            own: Some(dir.to_path_buf()),
            created: Vec::new(),
            counter: 0,
        })
    }

    /// Uses a server that is already running (its databases are made and dropped by us).
    pub fn external(url: &str) -> Pg {
        Pg {
            admin_url: url.to_string(),
            own: None,
            created: Vec::new(),
            counter: 0,
        }
    }

    /// A new, empty database; returns its URL.
    pub fn fresh_db(&mut self, rt: &tokio::runtime::Runtime, tag: &str) -> Result<String> {
        self.counter += 1;
        let name = format!(
            "wmill_bench_{}_{}_{}",
            std::process::id(),
            self.counter,
            tag
        );
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.admin_url)
                .await
                .ctx(format!("cannot connect to {}", self.admin_url))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut c)
                .await
                .ctx("cannot create a database")?;
            Result::Ok(())
        })?;
        self.created.push(name.clone());
        Ok(with_database(&self.admin_url, &name))
    }

    /// `SELECT version()`.
    pub fn version(&self, rt: &tokio::runtime::Runtime) -> Result<String> {
        rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.admin_url)
                .await
                .ctx("cannot connect to PostgreSQL")?;
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(&mut c)
                .await
                .ctx("SHOW server_version")?;
            Ok(v)
        })
    }

    /// Drops what we made, and stops our own cluster.
    pub fn finish(self, rt: &tokio::runtime::Runtime) {
        if let Some(dir) = &self.own {
            if let Ok(bin) = bindir() {
                let d = dir.to_string_lossy().to_string();
                let _ = run_pg(&bin.join("pg_ctl"), &["-D", &d, "-m", "fast", "-w", "stop"]);
            }
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let _ = rt.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.admin_url).await?;
            for name in &self.created {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut c)
                .await?;
            }
            Ok::<(), sqlx::Error>(())
        });
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5/postgres", "x"),
            "postgres://postgres@127.0.0.1:5/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h:5?sslmode=disable", "x"),
            "postgres://u@h:5/x?sslmode=disable"
        );
    }
}
