//! `wmill`: command-line client for a Windmill-compatible server's users, groups, tokens
//! and audit log. This file parses the command line, runs one command and decides the
//! exit code; every noun lives in its own module.

mod audit;
mod browser_login;
mod cli;
mod client;
mod context;
mod error;
mod examples;
mod group;
mod instance;
mod instance_group;
mod output;
mod profile;
mod scim;
mod status;
mod token;
mod user;
mod workspace;

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use serde_json::json;

use crate::cli::{Cli, Command, Source, Sources};
use crate::context::Ctx;
use crate::error::{Category, Result};
use crate::output::Out;

fn main() -> ExitCode {
    let mut cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    if let Err(e) = token_from_stdin(&mut cli.global) {
        return fail(&e);
    }
    let ctx = Ctx {
        out: Out::new(cli.global.json, cli.global.quiet),
        global: cli.global,
    };
    let own_connection = matches!(&cli.command, Command::Workspace(a) if a.own_connection());
    let outcome = run(&ctx, cli.command);
    match outcome.map_err(|e| if own_connection { e } else { ctx.explain(e) }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints `e` as one line and returns its documented exit code.
fn fail(e: &error::Error) -> ExitCode {
    print_error(&e.to_string(), e.hint().as_deref());
    ExitCode::from(match e.category() {
        Category::Failed => 1,
        Category::Usage => 2,
        Category::Connection => 3,
    })
}

/// Parses the command line, remembering where each connection setting came from.
fn parse() -> Result<Cli, clap::Error> {
    let matches = examples::attach(Cli::command()).try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.global.sources = Sources::from_matches(&matches);
    Ok(cli)
}

/// `--token-stdin`: the token is the first line of stdin.
fn token_from_stdin(global: &mut cli::Global) -> Result<()> {
    if !global.token_stdin {
        return Ok(());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| error::Error::failed(format!("cannot read the token from stdin: {e}")))?;
    let token = line.trim();
    if token.is_empty() {
        return Err(error::Error::usage(
            "--token-stdin read no token: stdin was empty",
            Some("pipe the token in, e.g. 'printf %s \"$TOKEN\" | wmill … --token-stdin'"),
        ));
    }
    global.token = Some(token.to_owned());
    global.sources.token = Source::Stdin;
    Ok(())
}

fn run(ctx: &Ctx, command: Command) -> Result<()> {
    match command {
        Command::User(args) => user::run(ctx, args),
        Command::Group(args) => group::run(ctx, args),
        Command::Audit(args) => audit::run(ctx, args),
        Command::Token(args) => token::run(ctx, args),
        Command::Workspace(args) => workspace::run(ctx, args),
        Command::InstanceGroup(args) => instance_group::run(ctx, args),
        Command::Instance(args) => instance::run(ctx, args),
        Command::Scim(args) => scim::run(ctx, args),
        Command::Status => status::run(ctx),
        Command::Version => version(ctx),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut examples::attach(Cli::command()),
                "wmill",
                &mut script,
            );
            if ctx.out.is_json() {
                let script = String::from_utf8_lossy(&script);
                ctx.out
                    .json_doc(&json!({ "shell": shell.to_string(), "script": script }));
            } else {
                let _ = std::io::stdout().lock().write_all(&script);
            }
            Ok(())
        }
    }
}

/// The client's version, and the server's (`GET /api/version`) when one is configured.
fn version(ctx: &Ctx) -> Result<()> {
    let client_version = env!("CARGO_PKG_VERSION");
    let server = match ctx.anon() {
        Ok(client) => match client.get_text("/version") {
            Ok(v) => Some(v.trim().to_owned()),
            Err(e) => {
                print_warning(&format!("cannot get the server's version: {e}"));
                None
            }
        },
        Err(_) => None,
    };
    if ctx.out.is_json() {
        ctx.out
            .json_doc(&json!({ "client": client_version, "server": server }));
    } else {
        ctx.out.text(&format!("wmill {client_version}"));
        if let Some(server) = server {
            ctx.out.text(&format!("server {server}"));
        }
    }
    Ok(())
}

/// Help and version go to stdout as clap prints them; usage errors become one line (exit 2).
fn clap_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let (message, hint) = one_line(&e.render().to_string(), &command_path(&args));
            print_error(&message, Some(&hint));
            ExitCode::from(2)
        }
    }
}

/// The subcommand path the arguments name (`wmill token create`), for help hints.
fn command_path(args: &[String]) -> String {
    let mut cmd = Cli::command();
    let mut path = vec!["wmill".to_owned()];
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let takes_value = !long.contains('=')
                && cmd
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .is_some_and(|a| a.get_action().takes_values());
            if takes_value {
                args.next();
            }
            continue;
        }
        let Some(sub) = cmd.find_subcommand(arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_owned());
        cmd = sub;
    }
    path.join(" ")
}

/// Squeezes clap's multi-line usage error into a message and a hint: clap's own tip if it
/// has one, then where to read the command's help.
fn one_line(rendered: &str, command: &str) -> (String, String) {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut message = lines
        .next()
        .unwrap_or("invalid command line")
        .trim_start_matches("error:")
        .trim()
        .to_owned();
    // "…were not provided:" is followed by the indented list of what is missing.
    if message.ends_with(':') {
        let listed: Vec<&str> = rendered
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with(' ') && !l.trim().is_empty())
            .map(str::trim)
            .collect();
        if !listed.is_empty() {
            message = format!("{} {}", message, listed.join(", "));
        }
    }
    let tip = lines
        .find_map(|l| l.strip_prefix("tip:"))
        .map(|t| t.trim().to_owned());
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage:"))
        .map(|u| format!("usage: {}; ", u.trim()))
        .unwrap_or_default();
    let help = format!("{usage}see '{command} --help'");
    let hint = match tip {
        Some(t) => format!("{t}; {help}"),
        None => help,
    };
    (message, hint)
}

fn print_error(message: &str, hint: Option<&str>) {
    let label = if stderr_color() {
        "\x1b[31merror:\x1b[0m"
    } else {
        "error:"
    };
    // A server's text is in most messages: shown, never obeyed.
    let message = output::clean(message);
    let hint = hint.map(output::clean);
    let line = match hint {
        Some(h) => format!("{label} {message}; hint: {h}"),
        None => format!("{label} {message}"),
    };
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub fn print_warning(message: &str) {
    let label = if stderr_color() {
        "\x1b[33mwarning:\x1b[0m"
    } else {
        "warning:"
    };
    let message = output::clean(message);
    let _ = writeln!(std::io::stderr().lock(), "{label} {message}");
}

fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && !output::no_color()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn clap_errors_become_one_line_with_a_hint() {
        let argv = [
            "token",
            "create",
            "--expires-in",
            "5",
            "--expiration",
            "2030-01-01",
        ];
        let err = Cli::try_parse_from(std::iter::once("wmill").chain(argv)).unwrap_err();
        let args: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let (message, hint) = one_line(&err.render().to_string(), &command_path(&args));
        assert!(message.contains("--expires-in"), "{message}");
        assert!(!message.contains('\n'));
        assert!(hint.ends_with("see 'wmill token create --help'"), "{hint}");
    }

    #[test]
    fn missing_arguments_are_named() {
        let err = Cli::try_parse_from(["wmill", "group", "update", "devs"]).unwrap_err();
        let (message, hint) = one_line(&err.render().to_string(), "wmill group update");
        assert!(message.contains("--summary"), "{message}");
        assert!(!message.contains('\n'));
        let err = Cli::try_parse_from(["wmill", "group", "add-user"]).unwrap_err();
        let (message, hint2) = one_line(&err.render().to_string(), "wmill group add-user");
        assert!(message.contains("<GROUP>, <USERNAME>"), "{message}");
        assert!(
            hint2.starts_with("usage: wmill group add-user <GROUP> <USERNAME>; see"),
            "{hint2}"
        );
        assert!(hint.contains("usage: wmill group update"), "{hint}");
    }

    #[test]
    fn command_path_skips_options_and_their_values() {
        let args: Vec<String> = [
            "--workspace",
            "group",
            "audit",
            "--json",
            "list",
            "--after",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(command_path(&args), "wmill audit list");
    }

    #[test]
    fn positional_token_is_not_the_global_token() {
        let cli = Cli::try_parse_from(["wmill", "token", "delete", "wm_abcdefg"]).unwrap();
        assert_ne!(cli.global.token.as_deref(), Some("wm_abcdefg"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
