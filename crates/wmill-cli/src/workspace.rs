//! `wmill workspace`: connection profiles (local, Windmill's files) and the workspace
//! itself on the server (creation, members).

use std::io::IsTerminal;

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;
use wmill_api::{
    AddUser, ChangeWorkspaceName, CreateServiceAccount, CreateWorkspace, EditAutoInvite,
    EditInstanceGroups, EditWorkspaceUser, GlobalUserInfo, Login, NewToken, ServiceAccountToken,
    TOKEN_PREFIX_LEN, TruncatedToken, User, UserInfo, WorkspaceId, WorkspaceSettings,
};

use crate::client::{Client, seg};
use crate::context::{Ctx, confirm, password_or_prompt};
use crate::error::{Error, Result};
use crate::output::{Table, opt, time, yes_no};
use crate::profile::{self, Profile};

/// Label of the long-lived token minted by `workspace add --email`.
const CLI_TOKEN_LABEL: &str = "wmill-cli";
/// Label the server gives the token of a browser login (`/user/cli`).
const BROWSER_TOKEN_LABEL: &str = "wmill CLI (browser login)";

/// `wmill workspace [COMMAND]`; without a command, lists the saved profiles.
#[derive(Debug, clap::Args)]
#[command(after_help = "Without a command, `wmill workspace` lists the saved profiles.")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Save a profile for a workspace on a server and make it active
    #[command(after_help = "\
Credentials: --token <token> (or WM_TOKEN), or --email/--password: wmill then logs in, mints a
long-lived token labelled 'wmill-cli', logs the session out and saves that token. With neither,
on a terminal, it opens <remote>/user/cli in your browser: sign in there and allow it. It checks that
the workspace exists and that you can use it before minting anything. When it replaces a
profile, the old profile's token is revoked if wmill minted it.")]
    Add {
        /// A name for the profile
        name: String,
        /// The workspace's id on the server
        workspace_id: String,
        /// The server's base URL, e.g. http://127.0.0.1:8000
        remote: String,
        /// Log in with this email instead of passing --token
        #[arg(long)]
        email: Option<String>,
        /// The password for --email [default: asked for when stdin is a terminal]
        #[arg(long, requires = "email", conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password for --email from the first line of stdin
        #[arg(long, requires = "email")]
        password_stdin: bool,
    },
    /// List the saved profiles (the active one is marked)
    List,
    /// Make a saved profile the active one
    Switch {
        /// The profile's name
        name: String,
    },
    /// Forget a saved profile (and, with --revoke, delete its token on the server)
    Remove {
        /// The profile's name
        name: String,
        /// Delete the profile's token on the server first
        #[arg(long)]
        revoke: bool,
    },
    /// Show who you are in the current workspace
    Whoami,
    /// Create a workspace on the server (superadmins); you become its admin
    Create {
        /// Its id: lowercase letters, digits and '-'
        id: String,
        /// Its display name [default: the id]
        #[arg(long)]
        name: Option<String>,
        /// Your username in it [default: from your email]
        #[arg(long)]
        username: Option<String>,
    },
    /// Add a member to the current workspace (admins)
    AddUser {
        /// Their email (their instance account may be created later)
        email: String,
        /// Their username [default: from the email]
        #[arg(long)]
        username: Option<String>,
        /// Make them an admin of the workspace
        #[arg(long, conflicts_with = "operator")]
        admin: bool,
        /// Make them an operator (may run, not edit)
        #[arg(long)]
        operator: bool,
    },
    /// Remove a member from the current workspace (admins)
    RemoveUser {
        /// Their username in the workspace (see `workspace users`)
        username: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List the current workspace's members
    Users,
    /// Service accounts of the current workspace: accounts for programs that cannot sign in
    /// with a password and hold tokens an admin mints (admins)
    #[command(subcommand)]
    ServiceAccount(ServiceAccountCmd),
    /// A member of the current workspace: role, disable, enable (admins)
    #[command(subcommand)]
    Member(MemberCmd),
    /// Show the current workspace's identity settings: auto-invite, instance groups,
    /// operator settings
    Settings,
    /// Turn auto-invite on (--role) or off (--off): new accounts of your email domain, or
    /// all of them with --all, join as operators or developers (admins)
    AutoInvite {
        /// The role new accounts get
        #[arg(long, value_parser = ["operator", "developer"], required_unless_present = "off")]
        role: Option<String>,
        /// Every new account, not only those of your email domain
        #[arg(long)]
        all: bool,
        /// Add them at once (without it, they are recorded for an invitation)
        #[arg(long)]
        add: bool,
        /// Turn auto-invite off
        #[arg(long, conflicts_with_all = ["role", "all", "add"])]
        off: bool,
    },
    /// Make the workspace fed by exactly these instance groups, each GROUP or GROUP:ROLE
    /// (admin, developer, operator; developer by default); none: no group (admins)
    InstanceGroups {
        /// GROUP or GROUP:ROLE
        groups: Vec<String>,
    },
    /// Set what operators may see, as FLAG=true|false (groups and audit_logs are
    /// enforced by this server) (admins)
    OperatorSettings {
        /// FLAG=true or FLAG=false
        #[arg(required = true)]
        flags: Vec<String>,
    },
    /// Rename the current workspace (its id stays) (admins)
    Rename {
        /// The new display name
        name: String,
    },
    /// Archive the current workspace: it leaves its members' lists (admins)
    Archive,
    /// Bring the current workspace back from the archive (admins)
    Unarchive,
    /// Delete a workspace with its members, groups and tokens pinned to it; its audit
    /// entries stay (superadmins)
    Delete {
        /// The workspace's id
        id: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Leave the current workspace (never as its last admin)
    Leave,
}

#[derive(Debug, Subcommand)]
enum MemberCmd {
    /// Set a member's role
    Role {
        /// Their username in the workspace
        username: String,
        /// admin, developer or operator
        #[arg(value_parser = ["admin", "developer", "operator"])]
        role: String,
    },
    /// Disable a member (their tokens pinned here stop working)
    Disable {
        /// Their username in the workspace
        username: String,
    },
    /// Enable a member again
    Enable {
        /// Their username in the workspace
        username: String,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceAccountCmd {
    /// Create a service account (an operator unless --admin or --developer)
    Create {
        /// Its username
        username: String,
        /// Make it an admin of the workspace
        #[arg(long, conflicts_with = "developer")]
        admin: bool,
        /// Make it a developer (not an operator)
        #[arg(long)]
        developer: bool,
    },
    /// List the workspace's service accounts
    List,
    /// Delete a service account, with its tokens
    Remove {
        /// Its username
        username: String,
    },
    /// Mint a token for a service account and print it, and nothing else, on stdout
    Token {
        /// The service account's username
        username: String,
        /// A label to recognise it by
        #[arg(long)]
        label: Option<String>,
        /// Expire this many seconds from now [default: never]
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        expires_in: Option<u64>,
        /// Only what this scope grants (repeat for several)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Only reads
        #[arg(long)]
        read_only: bool,
    },
}

impl Args {
    /// Whether the command connects with settings of its own (a profile being added or
    /// removed), not those resolved from flags and the active profile.
    pub fn own_connection(&self) -> bool {
        matches!(self.command, Some(Cmd::Add { .. } | Cmd::Remove { .. }))
    }
}

/// A saved profile as listed: never its token.
#[derive(Debug, Serialize)]
struct ProfileView<'a> {
    name: &'a str,
    remote: &'a str,
    #[serde(rename = "workspaceId")]
    workspace_id: &'a str,
    active: bool,
}

/// Runs `wmill workspace …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    match args.command.unwrap_or(Cmd::List) {
        Cmd::Add {
            name,
            workspace_id,
            remote,
            email,
            password,
            password_stdin,
        } => {
            let password = match email {
                Some(_) => Some(password_or_prompt(
                    password,
                    password_stdin,
                    "logging in",
                    "--password",
                )?),
                None => None,
            };
            add(ctx, name, workspace_id, &remote, email.zip(password))
        }
        Cmd::List => {
            let store = ctx.store()?;
            let views: Vec<ProfileView> = store
                .profiles
                .iter()
                .map(|p| ProfileView {
                    name: &p.name,
                    remote: &p.remote,
                    workspace_id: &p.workspace_id,
                    active: store.active.as_deref() == Some(p.name.as_str()),
                })
                .collect();
            let mut table = Table::new(&["ACTIVE", "NAME", "WORKSPACE", "REMOTE"]);
            for v in &views {
                let mark = if v.active { "*" } else { "" };
                table.row(vec![
                    mark.into(),
                    v.name.into(),
                    v.workspace_id.into(),
                    v.remote.into(),
                ]);
            }
            ctx.out.list(
                &views,
                table,
                "No profiles. Add one with 'wmill workspace add <name> <workspace_id> <remote> --token <token>'.",
            );
            Ok(())
        }
        Cmd::Switch { name } => {
            let mut store = ctx.store()?;
            let Some(p) = store.get(&name).cloned() else {
                return Err(unknown_profile(&store, &name));
            };
            store.active = Some(name.clone());
            store.save()?;
            let sentence = format!(
                "Switched to profile {name} (workspace {} on {}).",
                p.workspace_id, p.remote
            );
            ctx.out
                .done(&sentence, &sentence, json!({ "profile": name }));
            Ok(())
        }
        Cmd::Remove { name, revoke } => {
            let mut store = ctx.store()?;
            let Some(old) = store.get(&name).cloned() else {
                return Err(unknown_profile(&store, &name));
            };
            // Revoked first: with --revoke, a profile is never forgotten while its token
            // still works.
            if revoke {
                revoke_token(&old).map_err(|e| {
                    e.hint_on(
                        401,
                        "the token no longer works (expired or already revoked): remove the profile without --revoke",
                    )
                })?;
            }
            store.remove(&name);
            store.save()?;
            let sentence = if revoke {
                format!(
                    "Revoked the token of profile {name} on {} and removed the profile.",
                    old.remote
                )
            } else {
                format!(
                    "Removed profile {name} (its token still works on the server: --revoke deletes it)."
                )
            };
            ctx.out.done(
                &sentence,
                &sentence,
                json!({ "profile": name, "revoked": revoke }),
            );
            Ok(())
        }
        Cmd::Whoami => whoami(ctx),
        Cmd::Create { id, name, username } => {
            let client = ctx.authed()?;
            let body = CreateWorkspace {
                name: name.unwrap_or_else(|| id.clone()),
                id: id.clone(),
                username,
            };
            let message = client
                .post("/workspaces/create", &body)
                .map_err(|e| e.hint_on(409, "that id is taken: pick another one"))?;
            ctx.out.done(
                &format!("Created workspace {id}."),
                &message,
                json!({ "workspace": id }),
            );
            Ok(())
        }
        Cmd::AddUser {
            email,
            username,
            admin,
            operator,
        } => {
            let (client, w) = ctx.in_workspace()?;
            let body = AddUser {
                email: email.clone(),
                is_admin: admin,
                operator,
                username,
            };
            let message = client
                .post(&format!("/w/{}/workspaces/add_user", seg(&w)), &body)
                .map_err(|e| e.hint_on(409, "see the members with 'wmill workspace users'"))?;
            ctx.out.done(
                &format!("Added {email} to workspace {w}."),
                &message,
                json!({ "workspace": w, "email": email }),
            );
            Ok(())
        }
        Cmd::RemoveUser { username, yes } => {
            let (client, w) = ctx.in_workspace()?;
            if !yes {
                let mut cost = format!(
                    "Removing {username} from workspace {w} ends their group memberships and ownerships there and the tokens pinned to it."
                );
                if let Ok(me) = client.get::<UserInfo>(&format!("/w/{}/users/whoami", seg(&w)), &[])
                    && me.username == username
                {
                    cost.push_str(&format!(
                        " It is you: you lose access to {w} until an admin adds you back."
                    ));
                }
                confirm(false, &format!("Remove {username} from {w}"), &cost)?;
            }
            let message = client
                .delete(&format!("/w/{}/users/delete/{}", seg(&w), seg(&username)))
                .map_err(|e| {
                    e.hint_on(
                        404,
                        "see the members' usernames with 'wmill workspace users'",
                    )
                })?;
            ctx.out.done(
                &format!("Removed {username} from workspace {w}."),
                &message,
                json!({ "workspace": w, "username": username }),
            );
            Ok(())
        }
        Cmd::Users => {
            let (client, w) = ctx.in_workspace()?;
            let users: Vec<User> = client.get(&format!("/w/{}/users/list", seg(&w)), &[])?;
            let mut table = Table::new(&["USERNAME", "EMAIL", "ROLE", "DISABLED", "CREATED"]);
            for u in &users {
                table.row(vec![
                    u.username.clone(),
                    u.email.clone(),
                    role(u.is_admin, u.operator, &u.role),
                    yes_no(u.disabled),
                    time(&u.created_at),
                ]);
            }
            ctx.out.list(&users, table, "No members.");
            Ok(())
        }
        Cmd::ServiceAccount(cmd) => service_account(ctx, cmd),
        Cmd::Member(cmd) => member(ctx, cmd),
        Cmd::Delete { id, yes } => {
            confirm(
                yes,
                &format!("Delete workspace {id}"),
                &format!(
                    "Deleting workspace {id} deletes its members, groups and the tokens pinned to it; its audit entries stay. This cannot be undone."
                ),
            )?;
            let message = ctx
                .authed()?
                .delete(&format!("/workspaces/delete/{}", seg(&id)))
                .map_err(|e| e.hint_on(401, "deleting a workspace needs a superadmin's token"))?;
            ctx.out.done(
                &format!("Deleted workspace {id}."),
                &message,
                json!({ "workspace": id }),
            );
            Ok(())
        }
        other => settings(ctx, other),
    }
}

fn member(ctx: &Ctx, cmd: MemberCmd) -> Result<()> {
    let (client, w) = ctx.in_workspace()?;
    let ws = seg(&w);
    let (username, body, sentence) = match cmd {
        MemberCmd::Role { username, role } => {
            let body = EditWorkspaceUser {
                is_admin: Some(role == "admin"),
                operator: Some(role == "operator"),
                disabled: None,
            };
            let sentence = format!("{username} is now {role} of workspace {w}.");
            (username, body, sentence)
        }
        MemberCmd::Disable { username } => {
            let body = EditWorkspaceUser {
                disabled: Some(true),
                ..Default::default()
            };
            let sentence = format!("Disabled {username} in workspace {w}.");
            (username, body, sentence)
        }
        MemberCmd::Enable { username } => {
            let body = EditWorkspaceUser {
                disabled: Some(false),
                ..Default::default()
            };
            let sentence = format!("Enabled {username} in workspace {w}.");
            (username, body, sentence)
        }
    };
    let message = client
        .post(&format!("/w/{ws}/users/update/{}", seg(&username)), &body)
        .map_err(|e| e.hint_on(404, "list members with 'wmill workspace users'"))?;
    ctx.out.done(
        &sentence,
        &message,
        json!({ "workspace": w, "username": username }),
    );
    Ok(())
}

/// The workspace's settings and lifecycle.
fn settings(ctx: &Ctx, cmd: Cmd) -> Result<()> {
    let (client, w) = ctx.in_workspace()?;
    let ws = seg(&w);
    let (path, body, sentence) = match cmd {
        Cmd::Settings => {
            let s: WorkspaceSettings =
                client.get(&format!("/w/{ws}/workspaces/get_settings"), &[])?;
            let name = client.get_text(&format!("/w/{ws}/workspaces/get_workspace_name"))?;
            ctx.out.object(&s, || {
                let auto = match &s.auto_invite {
                    Some(a) if a.enabled == Some(true) => format!(
                        "on: {} join as {}{}",
                        a.domain
                            .as_deref()
                            .map_or("every new account".to_owned(), |d| format!(
                                "accounts of {d}"
                            )),
                        if a.operator == Some(true) {
                            "operators"
                        } else {
                            "developers"
                        },
                        if a.mode.as_deref() == Some("add") {
                            ""
                        } else {
                            " (invited)"
                        }
                    ),
                    _ => "off".to_owned(),
                };
                let groups = s
                    .auto_invite
                    .as_ref()
                    .and_then(|a| a.instance_groups_roles.clone())
                    .filter(|g| !g.is_empty())
                    .map_or("(none)".to_owned(), |g| {
                        g.iter()
                            .map(|(k, v)| format!("{k} ({v})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    });
                let operators = s.operator_settings.as_ref().map_or(
                    "(not set: they see everything)".to_owned(),
                    |o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                );
                ctx.out.pairs(&[
                    ("Workspace", format!("{} ({name})", s.workspace_id)),
                    ("Auto-invite", auto),
                    ("Instance groups", groups),
                    ("Operators see", operators),
                ])
            });
            return Ok(());
        }
        Cmd::AutoInvite {
            role,
            all,
            add,
            off,
        } => {
            let body = if off {
                EditAutoInvite::default()
            } else {
                EditAutoInvite {
                    operator: Some(role.as_deref() == Some("operator")),
                    invite_all: Some(all),
                    auto_add: Some(add),
                }
            };
            let sentence = if off {
                format!("Auto-invite is off in workspace {w}.")
            } else {
                format!("Auto-invite is on in workspace {w}.")
            };
            ("edit_auto_invite", serde_json::to_value(body), sentence)
        }
        Cmd::InstanceGroups { groups } => {
            let mut names = Vec::new();
            let mut roles = std::collections::BTreeMap::new();
            for g in groups {
                let (name, role) = g.split_once(':').unwrap_or((g.as_str(), "developer"));
                names.push(name.to_owned());
                roles.insert(name.to_owned(), role.to_owned());
            }
            let sentence = if names.is_empty() {
                format!("No instance group feeds workspace {w} now.")
            } else {
                format!("Workspace {w} is fed by {}.", names.join(", "))
            };
            let body = EditInstanceGroups {
                groups: Some(names),
                roles: Some(roles),
            };
            ("edit_instance_groups", serde_json::to_value(body), sentence)
        }
        Cmd::OperatorSettings { flags } => {
            let mut map = serde_json::Map::new();
            for f in &flags {
                let parsed = f
                    .split_once('=')
                    .and_then(|(k, v)| v.parse::<bool>().ok().map(|v| (k.to_owned(), v)));
                let Some((k, v)) = parsed else {
                    return Err(Error::usage(
                        format!("'{f}' is not FLAG=true or FLAG=false"),
                        Some("for example: wmill workspace operator-settings groups=false"),
                    ));
                };
                map.insert(k, v.into());
            }
            let sentence = format!("Operator settings of workspace {w} updated.");
            (
                "operator_settings",
                Ok(serde_json::Value::Object(map)),
                sentence,
            )
        }
        Cmd::Rename { name } => {
            let body = ChangeWorkspaceName {
                new_name: name.clone(),
            };
            (
                "change_workspace_name",
                serde_json::to_value(body),
                format!("Workspace {w} is now named {name}."),
            )
        }
        Cmd::Archive => ("archive", Ok(json!({})), format!("Archived workspace {w}.")),
        Cmd::Unarchive => (
            "unarchive",
            Ok(json!({})),
            format!("Unarchived workspace {w}."),
        ),
        Cmd::Leave => ("leave", Ok(json!({})), format!("You left workspace {w}.")),
        _ => return Err(Error::failed("not a workspace settings command")),
    };
    let body = body.map_err(|e| Error::failed(format!("cannot encode the request: {e}")))?;
    let message = client
        .post(&format!("/w/{ws}/workspaces/{path}"), &body)
        .map_err(|e| e.hint_on(403, "this needs an admin of the workspace"))?;
    ctx.out.done(&sentence, &message, json!({ "workspace": w }));
    Ok(())
}

fn service_account(ctx: &Ctx, cmd: ServiceAccountCmd) -> Result<()> {
    let (client, w) = ctx.in_workspace()?;
    let ws = seg(&w);
    match cmd {
        ServiceAccountCmd::Create {
            username,
            admin,
            developer,
        } => {
            let body = CreateServiceAccount {
                username: username.clone(),
                is_admin: Some(admin),
                operator: Some(!admin && !developer),
                add_to_deployers: None,
            };
            let message = client
                .post(&format!("/w/{ws}/workspaces/create_service_account"), &body)
                .map_err(|e| e.hint_on(409, "that username is taken: pick another one"))?;
            ctx.out.done(
                &format!("Created service account {username} in workspace {w}."),
                &message,
                json!({ "workspace": w, "username": username }),
            );
        }
        ServiceAccountCmd::List => {
            let users: Vec<User> = client.get(&format!("/w/{ws}/users/list"), &[])?;
            let accounts: Vec<&User> = users.iter().filter(|u| u.is_service_account).collect();
            let mut table = Table::new(&["USERNAME", "ROLE", "DISABLED", "CREATED"]);
            for u in &accounts {
                table.row(vec![
                    u.username.clone(),
                    role(u.is_admin, u.operator, &u.role),
                    yes_no(u.disabled),
                    time(&u.created_at),
                ]);
            }
            ctx.out.list(&accounts, table, "No service accounts.");
        }
        ServiceAccountCmd::Remove { username } => {
            let message = client
                .delete(&format!("/w/{ws}/users/delete/{}", seg(&username)))
                .map_err(|e| {
                    e.hint_on(404, "list them with 'wmill workspace service-account list'")
                })?;
            ctx.out.done(
                &format!("Removed service account {username} and its tokens."),
                &message,
                json!({ "workspace": w, "username": username }),
            );
        }
        ServiceAccountCmd::Token {
            username,
            label,
            expires_in,
            scopes,
            read_only,
        } => {
            let expiration = match expires_in {
                Some(secs) => Some(
                    crate::token::expiration_after(chrono::Utc::now(), secs).ok_or_else(|| {
                        Error::usage(
                            format!("--expires-in {secs} is too far in the future"),
                            None,
                        )
                    })?,
                ),
                None => None,
            };
            let body = ServiceAccountToken {
                username,
                label,
                expiration,
                scopes: (!scopes.is_empty()).then_some(scopes),
                read_only: read_only.then_some(true),
            };
            let token = client
                .post(&format!("/w/{ws}/users/impersonate_service_account"), &body)
                .map_err(|e| {
                    e.hint_on(404, "list them with 'wmill workspace service-account list'")
                })?;
            crate::user::print_token(ctx, token.trim());
        }
    }
    Ok(())
}

fn role(is_admin: bool, operator: bool, role: &Option<String>) -> String {
    match role.as_deref() {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ if is_admin => "admin".to_owned(),
        _ if operator => "operator".to_owned(),
        _ => "developer".to_owned(),
    }
}

fn unknown_profile(store: &profile::Store, name: &str) -> Error {
    let names: Vec<&str> = store.profiles.iter().map(|p| p.name.as_str()).collect();
    let hint = if names.is_empty() {
        "no profile is saved: add one with 'wmill workspace add <name> <workspace_id> <remote> --token <token>'".to_owned()
    } else {
        format!("saved profiles: {}", names.join(", "))
    };
    Error::Usage {
        message: format!("no profile named '{name}' in {}", store.dir().display()),
        hint: Some(hint),
    }
}

fn add(
    ctx: &Ctx,
    name: String,
    workspace_id: String,
    remote: &str,
    login: Option<(String, String)>,
) -> Result<()> {
    let remote = profile::normalize_remote(remote)?;
    let mut store = ctx.store()?;
    let (token, minted, me) = match login {
        Some((email, password)) => {
            // Nothing is minted until the login and the workspace are known to work.
            let session = login_session(&remote, email, password)?;
            let outcome = check_workspace(&session, &workspace_id)
                .and_then(|me| Ok((mint_token(&session)?, me)));
            // The session is not needed any more; failing to end it early only leaves it to
            // expire.
            let _ = session.post("/auth/logout", &json!({}));
            let (token, me) = outcome?;
            (token, true, me)
        }
        None => {
            let given = ctx.global.token.clone().filter(|t| !t.trim().is_empty());
            let (token, minted) = match given {
                Some(t) => (t, false),
                // On a terminal, a browser can sign in for us (the server mints the token).
                None if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
                    (crate::browser_login::login(&remote)?, true)
                }
                None => {
                    return Err(Error::usage(
                        "workspace add needs credentials",
                        Some(
                            "pass --token <token> (or --token-stdin), or --email <email> to log in; on a terminal, a browser can sign in",
                        ),
                    ));
                }
            };
            let me = check_workspace(&Client::new(&remote, Some(token.clone())), &workspace_id)
                .inspect_err(|_| {
                    if minted {
                        // A token no profile will hold: revoked at once.
                        let _ = revoke_token(&Profile {
                            name: String::new(),
                            remote: remote.clone(),
                            workspace_id: String::new(),
                            token: token.clone(),
                        });
                    }
                })?;
            (token, minted, me)
        }
    };
    let new = Profile {
        name: name.clone(),
        remote: remote.clone(),
        workspace_id: workspace_id.clone(),
        token: token.clone(),
    };
    let old = store.get(&name).cloned();
    store.upsert(new.clone());
    store.active = Some(name.clone());
    if let Err(e) = store.save() {
        if minted {
            // A token no profile holds is a credential nobody would ever revoke.
            let _ = revoke_token(&new);
        }
        return Err(e);
    }
    // The replaced profile's token: deleted when `workspace add` minted it (its label says
    // so), left alone otherwise (it may be in use elsewhere).
    let mut replaced_note = String::new();
    if let Some(old) = old.as_ref().filter(|o| o.token != token) {
        match revoke_if_minted_here(old) {
            Ok(note) => replaced_note = format!(" {note}"),
            Err(e) => crate::print_warning(&format!(
                "could not revoke the replaced profile's token on {}: {e}",
                old.remote
            )),
        }
    }
    let verb = if old.is_some() { "Replaced" } else { "Added" };
    let sentence = format!(
        "{verb} profile {name}: workspace {workspace_id} on {remote} as {}; it is now active.{replaced_note}",
        me.email
    );
    ctx.out.done(
        &sentence,
        &sentence,
        json!({
            "profile": { "name": name, "remote": remote, "workspaceId": workspace_id },
            "email": me.email,
        }),
    );
    Ok(())
}

/// Logs in and returns a client carrying the session.
fn login_session(remote: &str, email: String, password: String) -> Result<Client> {
    let session = Client::new(remote, None)
        .post("/auth/login", &Login { email, password })
        .map_err(|e| e.hint_on(400, "check the email and password"))?;
    Ok(Client::new(remote, Some(session.trim().to_owned())))
}

/// Mints the long-lived token a profile keeps, with the session of a login.
fn mint_token(session: &Client) -> Result<String> {
    let token = session.post(
        "/users/tokens/create",
        &NewToken {
            label: Some(CLI_TOKEN_LABEL.to_owned()),
            ..NewToken::default()
        },
    )?;
    Ok(token.trim().to_owned())
}

/// Deletes a profile's token on its server, with the token itself.
fn revoke_token(p: &Profile) -> Result<()> {
    let prefix: String = p.token.chars().take(TOKEN_PREFIX_LEN).collect();
    Client::new(&p.remote, Some(p.token.clone()))
        .delete(&format!("/users/tokens/delete/{}", seg(&prefix)))
        .map(drop)
}

/// Deletes a profile's token if `workspace add` minted it (labelled [`CLI_TOKEN_LABEL`], or
/// [`BROWSER_TOKEN_LABEL`] by a browser login);
/// returns a sentence saying what became of it.
fn revoke_if_minted_here(p: &Profile) -> Result<&'static str> {
    let client = Client::new(&p.remote, Some(p.token.clone()));
    let tokens: Vec<TruncatedToken> = match client.get_all(
        "/users/tokens/list",
        &[("exclude_ephemeral", "true".to_owned())],
    ) {
        Ok(t) => t,
        Err(Error::Server { status: 401, .. }) => {
            return Ok("The replaced profile's token no longer worked.");
        }
        Err(e) => return Err(e),
    };
    let mine = tokens.iter().any(|t| {
        p.token.starts_with(&t.token_prefix)
            && matches!(
                t.label.as_deref(),
                Some(CLI_TOKEN_LABEL | BROWSER_TOKEN_LABEL)
            )
    });
    if !mine {
        return Ok(
            "The replaced profile's token was not minted by wmill and still works: delete it with 'wmill token delete' if it is no longer needed.",
        );
    }
    revoke_token(p)?;
    Ok("The replaced profile's token was revoked.")
}

fn check_workspace(client: &Client, workspace: &str) -> Result<UserInfo> {
    let whoami = format!("/w/{}/users/whoami", seg(workspace));
    match client.post_json::<_, bool>(
        "/workspaces/exists",
        &WorkspaceId {
            id: workspace.to_owned(),
        },
    ) {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::Failed {
                message: format!(
                    "workspace '{workspace}' does not exist on {}",
                    client.remote()
                ),
                hint: Some(format!(
                    "check the id, or create it with 'wmill workspace create {workspace}' (superadmins)"
                )),
            });
        }
        // A token pinned to one workspace is refused on instance routes: try the workspace.
        Err(Error::Server { status: 401, .. }) => {}
        Err(e) => return Err(e),
    }
    client.get::<UserInfo>(&whoami, &[]).map_err(|e| {
        e.hint_on(
            401,
            format!(
                "the token was refused for workspace '{workspace}': check it, or ask an admin to run 'wmill workspace add-user <your email>' there"
            ),
        )
    })
}

fn whoami(ctx: &Ctx) -> Result<()> {
    let r = ctx.resolve()?;
    let client = ctx.authed_from(&r)?;
    match &r.workspace {
        Some(w) => {
            let me: UserInfo = client.get(&format!("/w/{}/users/whoami", seg(w)), &[])?;
            ctx.out.object(&me, || {
                ctx.out.pairs(&[
                    (
                        "Profile",
                        r.profile.clone().unwrap_or_else(|| "(none)".into()),
                    ),
                    ("Remote", client.remote().to_owned()),
                    ("Workspace", me.workspace_id.clone()),
                    ("Email", me.email.clone()),
                    ("Username", me.username.clone()),
                    ("Name", opt(&me.name)),
                    ("Role", role(me.is_admin, me.operator, &me.role)),
                    ("Superadmin", yes_no(me.is_super_admin)),
                    (
                        "Groups",
                        if me.groups.is_empty() {
                            "(none)".into()
                        } else {
                            me.groups.join(", ")
                        },
                    ),
                ])
            });
        }
        None => {
            let me: GlobalUserInfo = client.get("/users/whoami", &[])?;
            ctx.out.object(&me, || {
                ctx.out.pairs(&[
                    (
                        "Profile",
                        r.profile.clone().unwrap_or_else(|| "(none)".into()),
                    ),
                    ("Remote", client.remote().to_owned()),
                    ("Workspace", "(none)".into()),
                    ("Email", me.email.clone()),
                    ("Username", opt(&me.username)),
                    ("Name", opt(&me.name)),
                    ("Superadmin", yes_no(me.super_admin)),
                ])
            });
        }
    }
    Ok(())
}
