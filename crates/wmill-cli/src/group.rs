//! `wmill group`: the workspace's groups and their members.

use clap::Subcommand;
use serde_json::json;
use wmill_api::{CreateGroup, Group, GroupMember};

use crate::client::seg;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::output::{Table, opt};

/// `wmill group [COMMAND]`; without a command, lists the groups.
#[derive(Debug, clap::Args)]
#[command(after_help = "Without a command, `wmill group` lists the workspace's groups.")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the workspace's groups, by name
    List,
    /// Show one group: summary, members, owners
    Get {
        /// The group's name
        name: String,
    },
    /// Create a group; you become its owner and first member
    Create {
        /// The group's name (letters, digits, '-' and '_')
        name: String,
        /// One line saying what the group is for
        #[arg(long)]
        summary: Option<String>,
    },
    /// Delete a group (admins and the group's owners)
    Delete {
        /// The group's name
        name: String,
    },
    /// Add a workspace member to a group
    AddUser {
        /// The group's name
        group: String,
        /// The member's username in this workspace
        username: String,
    },
    /// Remove a member from a group
    RemoveUser {
        /// The group's name
        group: String,
        /// The member's username in this workspace
        username: String,
    },
}

const LIST_HINT: &str = "list groups with 'wmill group list'";

fn not_found(e: Error) -> Error {
    e.hint_on(404, LIST_HINT)
}

/// Runs `wmill group …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let (client, w) = ctx.in_workspace()?;
    let w = seg(&w);
    match args.command.unwrap_or(Cmd::List) {
        Cmd::List => {
            let groups: Vec<Group> = client.get_all(&format!("/w/{w}/groups/list"), &[])?;
            let mut table = Table::new(&["NAME", "SUMMARY", "MEMBERS"]);
            for g in &groups {
                table.row(vec![
                    g.name.clone(),
                    opt(&g.summary),
                    g.members.len().to_string(),
                ]);
            }
            ctx.out.list(&groups, table, "No groups.");
        }
        Cmd::Get { name } => {
            let g: Group = client
                .get(&format!("/w/{w}/groups/get/{}", seg(&name)), &[])
                .map_err(not_found)?;
            ctx.out.object(&g, || {
                let owners: Vec<&str> = g
                    .extra_perms
                    .iter()
                    .filter(|(_, owner)| **owner)
                    .map(|(k, _)| k.strip_prefix("u/").unwrap_or(k))
                    .collect();
                ctx.out.pairs(&[
                    ("Name", g.name.clone()),
                    ("Summary", opt(&g.summary)),
                    (
                        "Members",
                        list_or_none(&g.members.iter().map(String::as_str).collect::<Vec<_>>()),
                    ),
                    ("Owners", list_or_none(&owners)),
                ])
            });
        }
        Cmd::Create { name, summary } => {
            let message = client
                .post(
                    &format!("/w/{w}/groups/create"),
                    &CreateGroup {
                        name: name.clone(),
                        summary,
                    },
                )
                .map_err(|e| {
                    e.hint_on(
                        409,
                        "pick another name, or see it with 'wmill group get <name>'",
                    )
                })?;
            ctx.out.done(
                &format!("Created group {name}."),
                &message,
                json!({ "group": name }),
            );
        }
        Cmd::Delete { name } => {
            let message = client
                .delete(&format!("/w/{w}/groups/delete/{}", seg(&name)))
                .map_err(not_found)?;
            ctx.out.done(
                &format!("Deleted group {name}."),
                &message,
                json!({ "group": name }),
            );
        }
        Cmd::AddUser { group, username } => {
            let message = client
                .post(
                    &format!("/w/{w}/groups/adduser/{}", seg(&group)),
                    &GroupMember { username: username.clone() },
                )
                .map_err(|e| {
                    e.hint_on(404, "check the group with 'wmill group list' and the username with 'wmill workspace users'")
                })?;
            let sentence = if message.contains("already a member") {
                format!("{username} is already a member of group {group}.")
            } else {
                format!("Added {username} to group {group}.")
            };
            ctx.out.done(
                &sentence,
                &message,
                json!({ "group": group, "username": username }),
            );
        }
        Cmd::RemoveUser { group, username } => {
            let message = client
                .post(
                    &format!("/w/{w}/groups/removeuser/{}", seg(&group)),
                    &GroupMember {
                        username: username.clone(),
                    },
                )
                .map_err(|e| {
                    e.hint_on(404, "see the group's members with 'wmill group get <name>'")
                })?;
            ctx.out.done(
                &format!("Removed {username} from group {group}."),
                &message,
                json!({ "group": group, "username": username }),
            );
        }
    }
    Ok(())
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}
