//! Decides, when the tests are built, which of their optional parts can run here, so that a
//! part that cannot is reported by the test harness as *ignored* (a visible skip, counted in
//! its summary) instead of passing without running:
//!
//! - `wmill_pg`: `WMILL_TEST_POSTGRES_URL` is set (the PostgreSQL half of every suite);
//! - `wmill_official_client`: Windmill's official client is installed (`WMILL_OFFICIAL_CLIENT`,
//!   or `npm ci` in `.ci/official-client`) and `node` is on `PATH`;
//! - `wmill_oidc`: `npm ci` was run in `.ci/oidc` (oidc-provider, jose) and `node` is on `PATH`;
//! - `wmill_browser`: Chromium (`CHROMIUM`, or Debian's `/usr/bin/chromium`), `npm ci` in
//!   `.ci/browser` (puppeteer-core, axe-core) and `node`;
//! - `wmill_systemd`: `systemd-analyze` is on `PATH` (the systemd unit in `contrib/`);
//! - `wmill_pg_ctl`: PostgreSQL's server binaries (`initdb`, `pg_ctl` in
//!   `/usr/lib/postgresql/*/bin`, as `.ci/pg` uses them): tests that restart a cluster of
//!   their own (`tests/pg_cache.rs`).
//!
//! Under `CI` nothing may be skipped: `tests/server/meta.rs` fails when a part is missing.

use std::path::Path;

fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn main() {
    for cfg in [
        "wmill_pg",
        "wmill_official_client",
        "wmill_oidc",
        "wmill_browser",
        "wmill_systemd",
        "wmill_pg_ctl",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    for var in [
        "WMILL_TEST_POSTGRES_URL",
        "WMILL_OFFICIAL_CLIENT",
        "CHROMIUM",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    // Installing the client (npm ci) changes this folder.
    println!("cargo::rerun-if-changed=../../.ci/official-client");
    // Only the files looked at below: a whole node_modules would be scanned on every build.
    for f in [
        "oidc/node_modules/oidc-provider/package.json",
        "oidc/node_modules/jose/package.json",
        "browser/node_modules/puppeteer-core/package.json",
        "browser/node_modules/axe-core/axe.min.js",
    ] {
        println!("cargo::rerun-if-changed=../../.ci/{f}");
    }
    println!("cargo::rerun-if-changed=build.rs");

    if set("WMILL_TEST_POSTGRES_URL") {
        println!("cargo::rustc-cfg=wmill_pg");
    }
    let client = match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => Path::new(&p).is_file(),
        _ => Path::new("../../.ci/official-client/node_modules/.bin/wmill").is_file(),
    };
    let node = on_path("node");
    let pg_ctl = std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
        versions.flatten().any(|v| {
            let bin = v.path().join("bin");
            bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()
        })
    });
    if pg_ctl {
        println!("cargo::rustc-cfg=wmill_pg_ctl");
    }
    println!("cargo::rerun-if-changed=/usr/lib/postgresql");
    if on_path("systemd-analyze") {
        println!("cargo::rustc-cfg=wmill_systemd");
    }
    if client && node {
        println!("cargo::rustc-cfg=wmill_official_client");
    }
    let installed = |dir: &str, files: &[&str]| {
        files
            .iter()
            .all(|f| Path::new(&format!("../../.ci/{dir}/node_modules/{f}")).exists())
    };
    if node && installed("oidc", &["oidc-provider/package.json", "jose/package.json"]) {
        println!("cargo::rustc-cfg=wmill_oidc");
    }
    let chromium = match std::env::var_os("CHROMIUM") {
        Some(p) if !p.is_empty() => Path::new(&p).is_file(),
        _ => Path::new("/usr/bin/chromium").is_file(),
    };
    if node
        && chromium
        && installed(
            "browser",
            &["puppeteer-core/package.json", "axe-core/axe.min.js"],
        )
    {
        println!("cargo::rustc-cfg=wmill_browser");
    }
}
