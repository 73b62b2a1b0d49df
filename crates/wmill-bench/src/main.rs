//! `wmill-bench`: the benchmark harness (issue 6). `wmill-bench all` measures, on SQLite
//! and on PostgreSQL, CLI latency against Windmill's official client, authenticated
//! throughput against a bare axum handler, isolation under a login storm, the audit log at
//! 100 k / 1 M / 10 M entries, audited writes, memory, the pages (issue 15) and an identity
//! provider's initial SCIM sync of 10 000 users and 500 groups, then writes
//! `docs/benchmarks.md` and its plots (`wmill-bench report` writes them again from the
//! results). `bench/run` builds the binaries and runs it; `--smoke`
//! runs everything with tiny sizes in a minute or so, for CI.

mod api;
mod baseline;
mod hyperfine;
mod items;
mod machine;
mod pg;
mod report;
mod run;
mod seed;
mod server;
mod svg;
mod util;
mod wrk;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks of wmill-server and the wmill CLI.
#[derive(Parser)]
#[command(name = "wmill-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every benchmark and write the report.
    All(run::Options),
    /// Serve a bare axum handler returning a constant string (the throughput limit).
    Baseline {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Write `benchmarks.md` and its plots again from `bench/results.json` (after a change
    /// to the report's text; nothing is measured).
    Report {
        /// The folder holding `benchmarks.md` and `bench/` [default: docs/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print SQLite's plan for a query on a database file (with the server's SQLite).
    Explain {
        /// The SQLite database file.
        db: PathBuf,
        /// The query, with `?` parameters.
        sql: String,
        /// The parameters, in order (integers when they parse as such).
        params: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::All(opts) => run::all(opts),
        Cmd::Baseline { listen } => baseline::serve(&listen),
        Cmd::Explain { db, sql, params } => seed::explain(&db, &sql, &params),
        Cmd::Report { out } => {
            run::rewrite_report(&out.unwrap_or_else(|| workspace_root().join("docs")))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (two levels above this crate).
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}
