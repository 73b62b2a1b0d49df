//! Real binaries, no mocks: a `wmill-server` on port 0 with a fresh data folder, and the
//! `wmill` binary run with an isolated config folder, a clean environment and no stdin.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Password of the bootstrap superadmin.
pub const ADMIN_EMAIL: &str = "admin@windmill.dev";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wmill-{what}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `wmill-server`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    data: TempDir,
}

fn wmill_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wmill"))
}

impl Server {
    /// Starts the server and waits (with a deadline) for its `listening on` line.
    pub fn start() -> Self {
        let bin = wmill_bin().with_file_name("wmill-server");
        assert!(
            bin.exists(),
            "{} is missing: run `cargo build -p wmill-server` before these tests",
            bin.display()
        );
        let data = TempDir::new("server");
        let log = std::fs::File::create(data.path().join("server.log")).expect("server log");
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path().join("data"))
            .args(["--admin-password", ADMIN_PASSWORD])
            .env_remove("DATABASE_URL")
            .env_remove("WM_ADMIN_EMAIL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout after the line so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log =
                        std::fs::read_to_string(data.path().join("server.log")).unwrap_or_default();
                    panic!(
                        "wmill-server did not print `listening on` within 60 s; its log:\n{log}"
                    );
                }
            }
        };
        Self { child, url, data }
    }

    /// Stops the server now (for "server down" stories).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's log so far, for failure messages.
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What one `wmill` run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success with nothing on stderr; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        assert_eq!(self.stderr, "", "expected a quiet stderr, got {self:#?}");
        &self.stdout
    }

    /// Asserts failure with `code`, nothing on stdout and one line on stderr that
    /// contains every one of `needles`; returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32, needles: &[&str]) -> &str {
        assert_eq!(self.code, code, "expected exit {code}, got {self:#?}");
        assert_eq!(self.stdout, "", "expected nothing on stdout, got {self:#?}");
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "expected one error line, got {self:#?}"
        );
        assert!(self.stderr.starts_with("error: "), "{self:#?}");
        assert!(
            self.stderr.contains("hint: "),
            "expected a hint, got {self:#?}"
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "expected {n:?} in stderr, got {self:#?}"
            );
        }
        &self.stderr
    }

    /// Parses stdout as one JSON document of type `T`.
    #[track_caller]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        self.ok();
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not the expected JSON ({e}): {}", self.stdout))
    }
}

/// A person at a shell: their own config folder (`WMILL_CONFIG_DIR`), nothing else set.
pub struct Shell {
    config: TempDir,
}

impl Shell {
    pub fn new() -> Self {
        Self {
            config: TempDir::new("config"),
        }
    }

    /// The config folder (`<config>/windmill/remotes.ndjson` lives under it).
    pub fn config(&self) -> &Path {
        self.config.path()
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let bin_dir = wmill_bin().parent().expect("bin dir").to_path_buf();
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("HOME", self.config.path())
            .env("WMILL_CONFIG_DIR", self.config.path())
            .stdin(Stdio::null());
        c
    }

    /// Runs `wmill <args>`.
    pub fn wmill(&self, args: &[&str]) -> Run {
        self.wmill_env(args, &[])
    }

    /// Runs `wmill <args>` with extra environment variables.
    pub fn wmill_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(wmill_bin());
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        run(c)
    }

    /// Runs a line through `sh -c`, as typed at a prompt.
    pub fn sh(&self, line: &str) -> Run {
        let mut c = self.command("sh");
        c.args(["-c", line]);
        run(c)
    }

    /// `wmill workspace add local admins <url> --email admin… --password …`: the admin's
    /// profile, active.
    pub fn login_admin(&self, server: &Server) {
        self.add_profile(server, "local", ADMIN_EMAIL, ADMIN_PASSWORD)
            .ok();
    }

    /// `wmill workspace add <name> admins <url> --email <email> --password <password>`.
    pub fn add_profile(&self, server: &Server, name: &str, email: &str, password: &str) -> Run {
        self.wmill(&[
            "workspace",
            "add",
            name,
            "admins",
            &server.url,
            "--email",
            email,
            "--password",
            password,
        ])
    }

    /// The admin's shell (profile `local`), and the shell of `dave@example.com`, a member of
    /// `admins` who is not an admin, created by the admin (profile `dave`).
    pub fn admin_and_dave(server: &Server) -> (Shell, Shell) {
        let sh = Shell::new();
        sh.login_admin(server);
        sh.wmill(&["user", "add", "dave@example.com", "dave-password"])
            .ok();
        sh.wmill(&["workspace", "add-user", "dave@example.com"])
            .ok();
        let dave = Shell::new();
        dave.add_profile(server, "dave", "dave@example.com", "dave-password")
            .ok();
        (sh, dave)
    }
}

fn run(mut c: Command) -> Run {
    let out = c.output().expect("run command");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Compares `actual` with `tests/snapshots/<name>`; `UPDATE_SNAPSHOTS=1` rewrites it.
#[track_caller]
pub fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("snapshot dir")).expect("snapshot dir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "snapshot {} is missing: run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let mut diff = String::new();
        let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
        for i in 0..e.len().max(a.len()) {
            match (e.get(i), a.get(i)) {
                (Some(x), Some(y)) if x == y => {}
                (x, y) => {
                    diff.push_str(&format!(
                        "line {}:\n  - {}\n  + {}\n",
                        i + 1,
                        x.unwrap_or(&"<none>"),
                        y.unwrap_or(&"<none>")
                    ));
                }
            }
        }
        panic!(
            "snapshot {} differs (review, then rerun with UPDATE_SNAPSHOTS=1 to accept):\n{diff}",
            path.display()
        );
    }
}

impl Shell {
    /// Runs `line` on a pseudo-terminal (through util-linux `script`), as typed in a
    /// terminal. When `answer` is given, it is typed once `prompt` has appeared.
    pub fn tty(&self, line: &str, env: &[(&str, &str)], prompt: &str, answer: Option<&str>) -> Run {
        use std::io::{Read, Write as _};
        assert!(
            Path::new("/usr/bin/script").exists() || Path::new("/bin/script").exists(),
            "these tests need util-linux `script` to get a terminal: apt-get install util-linux"
        );
        let mut c = self.command("script");
        c.args(["-qec", line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("run script");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        if let Some(answer) = answer {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !String::from_utf8_lossy(&seen).contains(prompt) {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(bytes) => seen.extend(bytes),
                    Err(_) => panic!(
                        "no {prompt:?} prompt within 20 s; saw {:?}",
                        String::from_utf8_lossy(&seen)
                    ),
                }
            }
            // A prompt is printed before echo is turned off: typing at once could race it,
            // as a person never does.
            std::thread::sleep(Duration::from_millis(300));
            stdin
                .write_all(format!("{answer}\n").as_bytes())
                .expect("type answer");
        }
        let status = child.wait().expect("wait for script");
        drop(stdin);
        reader.join().expect("reader");
        seen.extend(rx.try_iter().flatten());
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&seen).replace("\r\n", "\n"),
            stderr,
        }
    }
}
