//! The README cannot rot: its shell blocks run, in order, in one `bash -e`, in a fresh
//! folder, against the server its first block starts. What is rewritten, and the few lines
//! not run (each with its reason), are listed here; a new line in the README runs unless it
//! is added to that list.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::TempDir;

/// Lines of the README not run here, and why.
const NOT_RUN: &[(&str, &str)] = &[
    ("cargo test --workspace", "the command running this test"),
    ("bench/run", "a 15-minute benchmark"),
    ("bench/run --smoke", ".ci/run runs it after the tests"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The ```sh blocks of the README, each as (heading above it, text).
fn blocks(readme: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.starts_with('#') => heading = line.trim_start_matches('#').trim().into(),
            None if line.trim() == "```sh" => current = Some(String::new()),
            None => {}
            Some(text) if line.trim() == "```" => {
                out.push((heading.clone(), std::mem::take(text)));
                current = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    out
}

/// The official client to stand in for `npx windmill-cli@1.819.0`, if installed.
fn official_client() -> Option<PathBuf> {
    std::env::var_os("WMILL_OFFICIAL_CLIENT")
        .map(PathBuf::from)
        .or_else(|| Some(repo().join(".ci/official-client/node_modules/.bin/wmill")))
        .filter(|p| p.exists())
}

fn pg_available() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .map(|mut d| d.any(|e| e.is_ok_and(|e| e.path().join("bin/initdb").exists())))
        .unwrap_or(false)
}

/// build.rs found the official client and PostgreSQL, or the harness would have ignored
/// the test: what is missing now is a failure, never a pass with lines left out.
fn skip(what: &str) {
    panic!("the README's test cannot run whole: {what}");
}

#[test]
fn nothing_is_skipped_under_ci() {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(
        !ci || cfg!(wmill_readme_parts),
        "CI is set, but the README's test was skipped: it needs PostgreSQL's server binaries and Windmill's official client (npm ci in .ci/official-client)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
#[cfg_attr(
    not(wmill_readme_parts),
    ignore = "needs PostgreSQL's server binaries and Windmill's official client (npm ci in .ci/official-client)"
)]
fn every_command_of_the_readme_runs() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 6, "too few shell blocks found: {blocks:?}");
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_wmill"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let work = TempDir::new("readme");
    let official = official_client();
    let pg = pg_available();

    let mut script = String::from(PRELUDE);
    let mut not_run = Vec::new();
    for (heading, text) in &blocks {
        if heading == "PostgreSQL" && !pg {
            skip("the README's PostgreSQL block: no PostgreSQL server binaries");
            continue;
        }
        script.push_str(&format!("\n# --- {heading}\n"));
        for line in text.lines() {
            // Compared without the comment at the end.
            let command = line.split(" #").next().unwrap_or_default().trim();
            if let Some((_, why)) = NOT_RUN.iter().find(|(l, _)| *l == command) {
                not_run.push(command.to_owned());
                script.push_str(&format!(": not run: {why}\n"));
                continue;
            }
            let mut line = line
                .replace("http://127.0.0.1:8000", "$README_URL")
                .replace("cargo run --release -p wmill-server", "start_server")
                .replace("/tmp/wmill-pg", "$WORK/wmill-pg")
                .replace("55432", "$PG_PORT");
            if line.starts_with("cargo build --release -p wmill-cli") {
                // The harness built `wmill` and put it on PATH already.
                line = ": wmill is on PATH already".into();
            }
            if line.contains("npx windmill-cli@1.819.0") {
                match &official {
                    Some(p) => {
                        line = line.replace("npx windmill-cli@1.819.0", &p.display().to_string())
                    }
                    None => {
                        skip(
                            "the README's official-client line: run `npm ci` in .ci/official-client",
                        );
                        line = ": official client not installed".into();
                    }
                }
            }
            script.push_str(&line);
            script.push('\n');
        }
    }
    let expected: Vec<&str> = NOT_RUN.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        not_run, expected,
        "NOT_RUN must list exactly the README lines it skips"
    );

    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(work.path())
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                bin_dir.display()
            ),
        )
        .env("HOME", work.path())
        .env("WORK", work.path())
        .env("PG_PORT", free_port().to_string())
        .env("REPO", repo())
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stdout.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(
        out.status.success(),
        "the README's commands failed (exit {:?}).\n--- script\n{script}\n--- stdout (end)\n{}\n--- stderr\n{stderr}",
        out.status.code(),
        tail.join("\n")
    );
    // What the README promises along the way.
    assert!(
        stdout.contains("Added profile local: workspace admins"),
        "{stdout}"
    );
    assert!(
        stdout.contains("data-team"),
        "group list shows the group: {stdout}"
    );
    assert!(
        work.path()
            .join("wmill-data/initial-admin-password")
            .exists(),
        "the first start writes the initial password"
    );
    assert!(
        stdout.contains("README: the PostgreSQL server answered") || !pg,
        "{stdout}\n{stderr}"
    );
}

/// Defined before the README's lines: `start_server` stands for `cargo run --release -p
/// wmill-server` (in the background, on a free port, until the script ends), `.ci/pg` is
/// the repository's.
const PRELUDE: &str = r#"
set -euo pipefail
export WMILL_CONFIG_DIR="$WORK/config"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
start_server() {
  local log; log=$(mktemp "$WORK/server.XXXX")
  wmill-server --listen 127.0.0.1:0 >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 600); do
    if grep -q '^listening on ' "$log"; then break; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$log" >&2; return 1; fi
    sleep 0.1
  done
  local url; url=$(sed -n 's/^listening on //p' "$log" | head -1)
  [ -n "$url" ] || { cat "$log" >&2; return 1; }
  if [ -z "${README_URL:-}" ]; then
    export README_URL="$url"
  else
    # A later start (the PostgreSQL block): check it answers, then let it be.
    curl -sf "$url/api/version" >/dev/null && echo "README: the PostgreSQL server answered at $url"
  fi
}
mkdir -p .ci && ln -s "$REPO/.ci/pg" .ci/pg
"#;
