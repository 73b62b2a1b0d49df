//! Shared by the test binaries: a real `wmill-server` process, and fresh PostgreSQL
//! databases for the tests that need one.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The PostgreSQL server for tests, from `WMILL_TEST_POSTGRES_URL`. Tests that need it are
/// marked ignored when it was not set as they were built (see `build.rs`), so a test that
/// runs and finds it unset says how to fix that.
pub fn pg_url() -> String {
    match std::env::var("WMILL_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "WMILL_TEST_POSTGRES_URL was set when these tests were built but is not set now; \
             set it again (for example to the URL `.ci/pg start` prints)"
        ),
    }
}

/// A fresh PostgreSQL database for one test, dropped (with any connection still open to
/// it) when this value is.
pub struct PgDb {
    /// Its URL.
    pub url: String,
    base: String,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop may run inside a runtime: a thread of its own runs the statement.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&base).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "warning: could not drop the test database {}: {dropped:?}",
                self.name
            );
        }
    }
}

/// Creates a fresh database on the server of `base`.
pub async fn fresh_pg_database(base: &str) -> PgDb {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to WMILL_TEST_POSTGRES_URL");
    let name = format!(
        "wmill_test_{}",
        wmill_server::random_password(12).to_lowercase()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (head, _) = base.rsplit_once('/').expect("URL with a database name");
    let tail = base
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    PgDb {
        url: format!("{head}/{name}{tail}"),
        base: base.to_string(),
        name,
    }
}

/// [`fresh_pg_database`] from synchronous code.
pub fn fresh_pg_database_blocking(base: &str) -> PgDb {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fresh_pg_database(base))
}

/// Runs the server with `args` and `env` until it exits (it must, within 30 s): its exit
/// status, stdout and stderr. For starts that are refused.
pub fn run_to_exit(
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wmill-server"));
    cmd.args(args)
        .args(["--argon2-m-cost", "64", "--argon2-t-cost", "1"])
        .env_remove("DATABASE_URL")
        .env_remove("WM_ADMIN_PASSWORD")
        .env_remove("WM_ADMIN_EMAIL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start wmill-server");
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => {
            let out = out.expect("wait for wmill-server");
            (
                out.status,
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("wmill-server {args:?} did not exit within 30 s");
        }
    }
}

/// A server process whose stdout and stderr go to files in its data folder.
pub struct Proc {
    pub child: Child,
    pub url: String,
    pub out: PathBuf,
    pub err: PathBuf,
}

/// Starts the server with its data in `data`, logs next to it named after `tag`, at debug
/// level.
pub fn start(data: &Path, tag: &str, extra: &[(&str, &str)]) -> Proc {
    start_logging(data, tag, extra, Some("debug"))
}

/// [`start`] with `RUST_LOG` set to `rust_log`, or unset (the default level, info).
pub fn start_logging(
    data: &Path,
    tag: &str,
    extra: &[(&str, &str)],
    rust_log: Option<&str>,
) -> Proc {
    let out = data.with_file_name(format!("{tag}.stdout"));
    let err = data.with_file_name(format!("{tag}.stderr"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wmill-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        // Cheap hashing keeps the test fast; the parameters do not change what is stored.
        .args(["--argon2-m-cost", "64", "--argon2-t-cost", "1"])
        .env_remove("DATABASE_URL")
        .env_remove("WM_ADMIN_PASSWORD")
        .env_remove("WM_ADMIN_EMAIL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start wmill-server");
    // Owned by a Proc from here on, so that a failure below still kills and reaps it.
    let mut p = Proc {
        child,
        url: String::new(),
        out,
        err,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&p.out).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.starts_with("listening on http://")) {
            p.url = line.trim_start_matches("listening on ").to_string();
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "no 'listening on' line; stderr: {}",
            std::fs::read_to_string(&p.err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Proc {
    /// One request; `(status, body)`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match (method, body) {
            ("GET", _) => {
                let mut r = agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
            ("PATCH", b) => {
                let mut r = agent.patch(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.header("content-type", "application/scim+json")
                    .send(b.unwrap_or(json!({})).to_string())
            }
            (_, b) => {
                let mut r = agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.header("content-type", "application/json")
                    .send(b.unwrap_or(json!({})).to_string())
            }
        };
        let mut res = res.expect("the server answers");
        let status = res.status().as_u16();
        (status, res.body_mut().read_to_string().unwrap_or_default())
    }

    /// Logs in; the session token.
    pub fn login(&self, email: &str, password: &str) -> String {
        let (s, body) = self.call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        );
        assert_eq!(s, 200, "login {email}: {body}");
        body
    }

    /// SIGTERM, then wait for a clean exit; `(stdout, stderr)`.
    pub fn stop(mut self) -> (String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(code) = self.child.try_wait().unwrap() {
                assert!(
                    code.success(),
                    "the server exits cleanly on SIGTERM: {code}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        (
            std::fs::read_to_string(&self.out).unwrap(),
            std::fs::read_to_string(&self.err).unwrap(),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A batch an audit sink received: its headers (lowercased names) and its NDJSON lines.
#[derive(Debug, Clone)]
pub struct SinkBatch {
    pub headers: Vec<(String, String)>,
    pub lines: Vec<Value>,
}

impl SinkBatch {
    pub fn ids(&self) -> Vec<i64> {
        self.lines
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an audit sink acknowledged, across its restarts.
pub type SinkLog = std::sync::Arc<std::sync::Mutex<Vec<SinkBatch>>>;

/// A real HTTP server on a loopback port standing in for a SIEM: it reads each POST,
/// waits `delay`, records the batch and answers 200 (`Connection: close`). Killing it closes
/// its port at once, dropping a request in flight unanswered (so unacknowledged); it can be
/// started again on the same port with the same log.
pub struct TestSink {
    pub port: u16,
    pub log: SinkLog,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestSink {
    /// On a free port (`port` 0) or a given one, recording into `log`.
    pub fn start(port: u16, log: SinkLog, delay: Duration) -> TestSink {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match std::net::TcpListener::bind(("127.0.0.1", port)) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("cannot bind the test sink on port {port}: {e}"),
                }
            }
        };
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let stream = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut headers = Vec::new();
                let mut line = String::new();
                let mut ok = true;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        ok = false;
                        break;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((n, v)) = l.split_once(':') {
                        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                if !ok {
                    continue;
                }
                let len: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                // Waits, unless killed meanwhile: then the request goes unanswered.
                let until = Instant::now() + delay;
                while Instant::now() < until && !stop2.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let lines = String::from_utf8(body)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                log2.lock().unwrap().push(SinkBatch { headers, lines });
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        TestSink {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/ingest`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ingest", self.port)
    }

    /// Closes the port at once (a request in flight is not answered).
    pub fn kill(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Every id acknowledged, in the order received (duplicates included).
    pub fn ids(log: &SinkLog) -> Vec<i64> {
        log.lock().unwrap().iter().flat_map(|b| b.ids()).collect()
    }
}

impl Drop for TestSink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The ids in the order they first appear.
pub fn first_occurrences(ids: &[i64]) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|i| seen.insert(*i)).collect()
}
