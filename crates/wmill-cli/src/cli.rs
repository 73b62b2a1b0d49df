//! The command line: global options shared by every command and the list of nouns.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{audit, group, instance, instance_group, scim, token, user, workspace};

const AFTER_HELP: &str = "\
Connection:
  Flags beat the environment (BASE_URL, WM_TOKEN, WM_WORKSPACE, WMILL_CONFIG_DIR), which beats
  the active profile. Profiles are Windmill's: <config>/windmill/remotes.ndjson and
  activeWorkspace, <config> being --config-dir, else WMILL_CONFIG_DIR, else $XDG_CONFIG_HOME or
  ~/.config. A profile is used only for its own server: with a --base-url that differs from the
  active profile's remote, pass --token and --workspace too. --workspace may also name a profile.

Output:
  Tables and short sentences for people; timestamps in UTC. With --json, exactly one JSON
  document on stdout: lists are arrays of the API's objects, `get`/`whoami` the object, and
  mutations an object {\"message\": <the server's answer>, ...} with any data it produced
  (\"token\", \"password\", \"profile\"). Errors go to stderr as one line with a hint.

Exit codes:
  0  success
  1  the server refused or failed the request, or a local file could not be read or written
  2  usage error (unknown option, missing argument, bad value)
  3  cannot reach the server, or no server, token or workspace is configured";

const COMPLETIONS_HELP: &str = "\
Installing (then open a new shell):
  bash        mkdir -p ~/.local/share/bash-completion/completions
              wmill completions bash > ~/.local/share/bash-completion/completions/wmill
  zsh         mkdir -p ~/.zfunc && wmill completions zsh > ~/.zfunc/_wmill
              and in ~/.zshrc, before compinit: fpath=(~/.zfunc $fpath)
  fish        wmill completions fish > ~/.config/fish/completions/wmill.fish
  powershell  wmill completions powershell >> $PROFILE
  elvish      wmill completions elvish > ~/.config/elvish/lib/wmill.elv
              and in ~/.config/elvish/rc.elv: use wmill";

/// wmill: manage a Windmill server's users, groups, tokens and audit log.
#[derive(Debug, Parser)]
#[command(
    name = "wmill",
    version,
    max_term_width = 100,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Server base URL, e.g. http://127.0.0.1:8000 [default: the active profile's remote]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "BASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub base_url: Option<String>,

    /// API token [default: the active profile's token]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WM_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// Workspace id (or a profile name) [default: the active profile's workspace]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WM_WORKSPACE",
        hide_env_values = true,
        value_name = "ID"
    )]
    pub workspace: Option<String>,

    /// Folder holding windmill/remotes.ndjson [default: $XDG_CONFIG_HOME or ~/.config]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "WMILL_CONFIG_DIR",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub config_dir: Option<PathBuf>,

    /// Read the API token from the first line of stdin instead of --token
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "token"
    )]
    pub token_stdin: bool,

    /// Print exactly one JSON document on stdout
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// Print nothing on success but the data asked for (lists, objects, tokens); errors
    /// and warnings still go to stderr
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,

    /// Where --base-url, --token and --workspace came from (filled in after parsing).
    #[arg(skip)]
    pub sources: Sources,
}

/// Where a connection setting came from, for `wmill status` and for errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    /// Not given on the command line or in the environment (a profile may fill it).
    #[default]
    Unset,
    /// A command-line flag.
    Flag,
    /// An environment variable (named).
    Env(&'static str),
    /// The first line of stdin (`--token-stdin`).
    Stdin,
}

impl Source {
    /// How `wmill status` names it; `None` when a profile (or nothing) supplied the value.
    pub fn describe(self, flag: &str) -> Option<String> {
        match self {
            Self::Unset => None,
            Self::Flag => Some(flag.to_owned()),
            Self::Env(var) => Some(format!("environment {var}")),
            Self::Stdin => Some("--token-stdin".to_owned()),
        }
    }
}

/// The source of each connection setting given on the command line or in the environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources {
    pub base_url: Source,
    pub token: Source,
    pub workspace: Source,
}

impl Sources {
    /// Reads the sources from clap's matches: global options may sit at any depth.
    pub fn from_matches(matches: &clap::ArgMatches) -> Self {
        let source = |id: &str, var: &'static str| {
            let mut m = Some(matches);
            while let Some(cur) = m {
                match cur.value_source(id) {
                    Some(clap::parser::ValueSource::CommandLine) => return Source::Flag,
                    Some(clap::parser::ValueSource::EnvVariable) => return Source::Env(var),
                    _ => {}
                }
                m = cur.subcommand().map(|(_, sub)| sub);
            }
            Source::Unset
        };
        Self {
            base_url: source("base_url", "BASE_URL"),
            token: source("token", "WM_TOKEN"),
            workspace: source("workspace", "WM_WORKSPACE"),
        }
    }
}

/// The nouns.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Instance users: add, update, remove, list, passwords, renames, tokens (superadmin)
    User(user::Args),
    /// Groups of the workspace: list, get, create, update, delete, members, owners, history
    Group(group::Args),
    /// The workspace's audit log: list (with filters), get, export (NDJSON, --follow), verify
    Audit(audit::Args),
    /// Your API tokens: list, create, delete
    Token(token::Args),
    /// Connection profiles, and the workspace itself: members, settings, creation, deletion
    Workspace(workspace::Args),
    /// Groups of accounts across workspaces: list, get, create, update, delete, add-user,
    /// remove-user
    InstanceGroup(instance_group::Args),
    /// The instance's users or instance groups as a file: export, import (superadmin)
    Instance(instance::Args),
    /// SCIM tokens for an identity provider's provisioning: list, create, delete (superadmin)
    Scim(scim::Args),
    /// Show the server, workspace, user and token the next command would use, and where
    /// each setting came from
    Status,
    /// Print the client's version and, when connected, the server's
    Version,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}
