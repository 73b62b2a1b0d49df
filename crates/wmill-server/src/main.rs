//! The `wmill-server` binary: parses settings, starts logging, runs the server.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use wmill_server::config::{LogFormat, log_directives};

fn main() -> std::process::ExitCode {
    let args = match wmill_server::config::with_config_file(std::env::args_os().collect(), |k| {
        std::env::var(k).ok()
    }) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let cli = wmill_server::config::Cli::parse_from(args);
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = match EnvFilter::try_new(log_directives(rust_log.as_deref())) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("warning: RUST_LOG is not understood ({e}); logging at info level");
            EnvFilter::new(log_directives(None))
        }
    };
    let json = cli.log_format == LogFormat::Json;
    if json {
        // One object a line: the event's fields flattened, the request's span (its id).
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init();
    }
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
            if json {
                tracing::error!("{e}");
            } else {
                eprintln!("error: {e}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
