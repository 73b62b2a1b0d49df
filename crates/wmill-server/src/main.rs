//! The `wmill-server` binary: parses settings, starts logging, runs the server.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wmill_server::config::log_directives;

fn main() -> std::process::ExitCode {
    let cli = wmill_server::config::Cli::parse();
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = match EnvFilter::try_new(log_directives(rust_log.as_deref())) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("warning: RUST_LOG is not understood ({e}); logging at info level");
            EnvFilter::new(log_directives(None))
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(wmill_server::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
