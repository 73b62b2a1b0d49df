//! The command line: global options shared by every command and the list of nouns.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{audit, group, instance, instance_group, token, user, workspace};

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

/// wmill: manage a Windmill server's users, groups, tokens and audit log.
#[derive(Debug, Parser)]
#[command(
    name = "wmill",
    version,
    max_term_width = 100,
    after_help = AFTER_HELP,
    disable_help_subcommand = true
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

    /// Print exactly one JSON document on stdout
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

/// The nouns.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Instance users: add, update, remove, list, passwords, renames, tokens (superadmin)
    User(user::Args),
    /// Groups of the workspace: list, get, create, update, delete, members, owners, history
    Group(group::Args),
    /// The workspace's audit log: list (with filters), get
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
    /// Print the client's version and, when connected, the server's
    Version,
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}
