//! The pages of the real `wmill-server` process in a real browser: Debian's `chromium`,
//! driven by `puppeteer-core` from `.ci/browser` (npm, pinned; no browser is downloaded).
//!
//! - `pages_in_a_real_browser` runs `.ci/browser/test.mjs`: sign in, add a member, create a
//!   group and add the member, mint a token and use it on the API, the audit entry of the
//!   group's creation and its page, the superadmin's pages, the consent page of the command
//!   line clients, sign out; on every page axe-core (no serious or critical violation), under
//!   100 KB, a csrf field in every POST form, no horizontal scroll at 360 px, nothing blocked
//!   by the page's own CSP; CSRF and Origin refusals that change nothing, `<script>` names
//!   rendered as text, refused `/user/cli` ports and `next` targets, security headers and
//!   cookie flags.
//! - `official_client_browser_login` runs `.ci/browser/official-login.mjs`: Windmill's
//!   official client (`.ci/official-client`) runs `wmill workspace add` on a terminal
//!   (`script`) with `TOKEN_PORT` fixed; the browser signs in and clicks Allow; the client's
//!   profile ends with a token that works.
//!
//! Each script prints one line per check and `N passed, N failed`; the test asserts it exits
//! 0 and prints its output. Without chromium, node or `npm ci` in `.ci/browser` (or, for the
//! second test, the official client), build.rs leaves a cfg unset and the harness reports the
//! test as *ignored* (counted; a failure under `CI`, see `server::meta`). What else is missing
//! at run time (`script`) fails the test.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ADMIN_EMAIL: &str = "admin@windmill.dev";
const ADMIN_PASSWORD: &str = "admin-password-for-browser-tests";
/// How long one script may run (each takes well under a minute).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(150);

/// One browser at a time: the machines that run the suite may have two cores.
static BROWSER: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn chromium() -> PathBuf {
    match std::env::var_os("CHROMIUM") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("/usr/bin/chromium"),
    }
}

fn official_client() -> PathBuf {
    match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo().join(".ci/official-client/node_modules/.bin/wmill"),
    }
}

/// What is missing for the browser tests, if anything.
fn missing_browser_parts() -> Option<String> {
    let browser = repo().join(".ci/browser");
    if !chromium().is_file() {
        return Some(format!(
            "no chromium at {} (apt-get install chromium chromium-driver, or set CHROMIUM)",
            chromium().display()
        ));
    }
    if find_on_path("node").is_none() {
        return Some("`node` is not on PATH (Node 20)".into());
    }
    for module in [
        "node_modules/puppeteer-core/package.json",
        "node_modules/axe-core/axe.min.js",
    ] {
        if !browser.join(module).is_file() {
            return Some(format!(
                "{} is missing (run `npm ci` in .ci/browser)",
                browser.join(module).display()
            ));
        }
    }
    None
}

/// build.rs found what this test needs, or the harness would have ignored it: what is
/// missing now is a failure, never a pass that ran nothing.
fn skip(test: &str, reason: &str) {
    panic!("{test} cannot run: {reason}");
}

/// Starts a server on a fresh data folder and runs `node .ci/browser/<script>` against it;
/// prints the script's output, and fails unless it exits 0.
fn run_script(script: &str) {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    // Quieter than `support::start`'s debug level: the logs are read only on failure.
    let server = support::start_logging(
        &dir.path().join("data"),
        "server",
        &[("WM_ADMIN_PASSWORD", ADMIN_PASSWORD)],
        None,
    );
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(repo().join(".ci/browser").join(script))
        .current_dir(repo())
        .env("WMILL_URL", &server.url)
        .env("WMILL_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("WMILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WMILL_OFFICIAL_CLIENT", official_client())
        .env("CHROMIUM", chromium())
        .env_remove("WMILL_WORKSPACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    println!(
        "--- node .ci/browser/{script} ({:.1?}) ---",
        started.elapsed()
    );
    println!("{out}");
    if !err.trim().is_empty() {
        println!("--- its stderr ---\n{err}");
    }
    let Some(status) = status else {
        panic!(
            "{script} did not finish within {SCRIPT_DEADLINE:?}; its output so far:\n{out}\n{err}"
        );
    };
    if !status.success() {
        let log = std::fs::read_to_string(&server.err).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "{script} failed ({status}):\n{}\n--- the server's last log lines ---\n{}",
            out.lines()
                .filter(|l| l.starts_with("FAIL") || l.contains(" passed, "))
                .collect::<Vec<_>>()
                .join("\n"),
            tail.join("\n")
        );
    }
    assert!(
        out.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "{script} printed no summary"
    );
    drop(server);
}

#[test]
#[cfg_attr(
    not(wmill_browser),
    ignore = "needs chromium, node and `npm ci` in .ci/browser (see build.rs)"
)]
fn pages_in_a_real_browser() {
    if let Some(reason) = missing_browser_parts() {
        return skip("pages_in_a_real_browser", &reason);
    }
    run_script("test.mjs");
}

#[test]
#[cfg_attr(
    not(all(wmill_browser, wmill_official_client)),
    ignore = "needs chromium, node, `npm ci` in .ci/browser and .ci/official-client (see build.rs)"
)]
fn official_client_browser_login() {
    let missing = missing_browser_parts()
        .or_else(|| {
            (!official_client().is_file()).then(|| {
                format!(
                    "Windmill's official client is not installed at {} (run `npm ci` in \
                     .ci/official-client, or set WMILL_OFFICIAL_CLIENT)",
                    official_client().display()
                )
            })
        })
        .or_else(|| {
            find_on_path("script")
                .is_none()
                .then(|| "`script` (util-linux) is not on PATH".to_string())
        });
    if let Some(reason) = missing {
        return skip("official_client_browser_login", &reason);
    }
    run_script("official-login.mjs");
}
