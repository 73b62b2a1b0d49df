//! Decides, when the tests are built, which of their optional parts can run here, so that a
//! part that cannot is reported by the test harness as *ignored* (a visible skip, counted in
//! its summary) instead of passing without running:
//!
//! - `wmill_pg`: `WMILL_TEST_POSTGRES_URL` is set (the PostgreSQL half of every suite);
//! - `wmill_official_client`: Windmill's official client is installed (`WMILL_OFFICIAL_CLIENT`,
//!   or `npm ci` in `.ci/official-client`) and `node` is on `PATH`.
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
    for cfg in ["wmill_pg", "wmill_official_client"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    for var in ["WMILL_TEST_POSTGRES_URL", "WMILL_OFFICIAL_CLIENT", "PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    // Installing the client (npm ci) changes this folder.
    println!("cargo::rerun-if-changed=../../.ci/official-client");
    println!("cargo::rerun-if-changed=build.rs");

    if set("WMILL_TEST_POSTGRES_URL") {
        println!("cargo::rustc-cfg=wmill_pg");
    }
    let client = match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => Path::new(&p).is_file(),
        _ => Path::new("../../.ci/official-client/node_modules/.bin/wmill").is_file(),
    };
    if client && on_path("node") {
        println!("cargo::rustc-cfg=wmill_official_client");
    }
}
