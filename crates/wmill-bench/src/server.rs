//! Server processes: `wmill-server` (and the baseline) started on port 0, their address
//! read from the `listening on` line, their memory read from `/proc`, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::{Context, Result};

/// The bootstrap superadmin of every benchmark server.
pub const ADMIN_EMAIL: &str = "admin@windmill.dev";
/// Its password (set with `WM_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "bench-admin-password-1";

/// argon2id cost of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argon2 {
    /// The server's defaults (OWASP: m=19456 KiB, t=2, p=1).
    Defaults,
    /// The cheapest argon2 accepts (m=64 KiB, t=1), where hashing is not what is measured.
    Cheap,
}

/// A running process that printed `listening on http://…`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub pid: u32,
    /// Where its stderr goes.
    pub log: PathBuf,
}

/// How to start `wmill-server`.
pub struct ServerOpts<'a> {
    pub bin: &'a Path,
    pub data_dir: &'a Path,
    /// `None`: SQLite in the data folder.
    pub database_url: Option<&'a str>,
    pub argon2: Argon2,
    /// Extra flags, e.g. `--db-max-connections 8`.
    pub extra: Vec<String>,
}

impl Server {
    /// Starts `wmill-server` with throttling raised (every client is 127.0.0.1).
    pub fn start(o: &ServerOpts) -> Result<Server> {
        std::fs::create_dir_all(o.data_dir).ctx("cannot create the data folder")?;
        let mut cmd = Command::new(o.bin);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(o.data_dir)
            .args(["--login-per-ip-per-minute", "1000000000"])
            .args(["--lockout-threshold", "1000000000"])
            .env("WM_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn");
        if let Some(url) = o.database_url {
            cmd.arg("--database-url").arg(url);
        }
        if o.argon2 == Argon2::Cheap {
            cmd.args([
                "--argon2-m-cost",
                "64",
                "--argon2-t-cost",
                "1",
                "--argon2-p-cost",
                "1",
            ]);
        }
        cmd.args(&o.extra);
        let log = o.data_dir.join("server.log");
        Self::spawn(cmd, log)
    }

    /// Starts the bare axum baseline (this very binary, `baseline` subcommand).
    pub fn start_baseline(dir: &Path) -> Result<Server> {
        let me = std::env::current_exe().ctx("cannot find the harness binary")?;
        let mut cmd = Command::new(me);
        cmd.args(["baseline", "--listen", "127.0.0.1:0"]);
        std::fs::create_dir_all(dir).ctx("cannot create the baseline folder")?;
        Self::spawn(cmd, dir.join("baseline.log"))
    }

    fn spawn(mut cmd: Command, log: PathBuf) -> Result<Server> {
        let err = std::fs::File::create(&log).ctx(format!("cannot create {}", log.display()))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .ctx(format!("cannot start {:?}", cmd.get_program()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ctx("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then keeps draining stdout so that the server never blocks.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sent {
                    continue;
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                    sent = true;
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
            pid,
            log: log.clone(),
        };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => {
                server.url = url;
                Ok(server)
            }
            Err(_) => {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                server.kill();
                Err(format!(
                    "{:?} did not print `listening on` (log {}):\n{}",
                    cmd.get_program(),
                    log.display(),
                    tail.lines().rev().take(20).collect::<Vec<_>>().join("\n")
                ))
            }
        }
    }

    /// Resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self) -> Result<(u64, u64)> {
        memory_kib(self.pid)
    }

    /// Stops with SIGTERM (graceful shutdown), or kills after 20 s.
    pub fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().ctx("cannot wait for the server")? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "server {} exited with {status} (log {})",
                        self.pid,
                        self.log.display()
                    ))
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("server {} did not stop within 20 s", self.pid));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ctx(format!("cannot read the memory of process {pid}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// Samples a process's resident memory in the background.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(f64, f64)>>,
}

impl RssSampler {
    /// Samples `pid` every `every`, as (seconds since start, MiB).
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut out = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok((rss, _)) = memory_kib(pid) {
                    out.push((t0.elapsed().as_secs_f64(), rss as f64 / 1024.0));
                }
                std::thread::sleep(every);
            }
            out
        });
        RssSampler { stop, handle }
    }

    /// Stops and returns the samples.
    pub fn finish(self) -> Vec<(f64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}
