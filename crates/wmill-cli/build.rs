//! Decides, when the tests are built, whether the README's test can run whole: it needs
//! PostgreSQL's server binaries (its PostgreSQL block) and Windmill's official client (its
//! `npx windmill-cli` line). Without them `readme::every_command_of_the_readme_runs` is
//! reported by the harness as *ignored* (a counted skip) rather than passing with lines
//! left out; under `CI` that is a failure (`readme::nothing_is_skipped_under_ci`).

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wmill_readme_parts)");
    println!("cargo::rerun-if-env-changed=WMILL_OFFICIAL_CLIENT");
    println!("cargo::rerun-if-changed=../../.ci/official-client/node_modules/.bin/wmill");
    println!("cargo::rerun-if-changed=build.rs");
    let client = match std::env::var_os("WMILL_OFFICIAL_CLIENT") {
        Some(p) if !p.is_empty() => Path::new(&p).is_file(),
        _ => Path::new("../../.ci/official-client/node_modules/.bin/wmill").is_file(),
    };
    let pg = std::fs::read_dir("/usr/lib/postgresql")
        .map(|mut d| d.any(|e| e.is_ok_and(|e| e.path().join("bin/initdb").exists())))
        .unwrap_or(false);
    if client && pg {
        println!("cargo::rustc-cfg=wmill_readme_parts");
    }
}
