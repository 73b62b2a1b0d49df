//! `wmill group`: the workspace's groups and their members.

use clap::Subcommand;
use serde_json::json;
use std::collections::BTreeMap;

use wmill_api::{AddAcl, CreateGroup, EditGroup, Group, GroupHistoryEntry, GroupMember, RemoveAcl};

use crate::client::seg;
use crate::context::{Ctx, confirm};
use crate::error::{Error, Result};
use crate::output::{Table, opt, time};

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
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
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
    /// Change a group's summary (admins and the group's owners)
    Update {
        /// The group's name
        name: String,
        /// The new summary
        #[arg(long, required_unless_present = "clear_summary")]
        summary: Option<String>,
        /// Remove the summary
        #[arg(long, conflicts_with = "summary")]
        clear_summary: bool,
    },
    /// A group's owners: list, add, remove (admins and the group's owners change them)
    #[command(subcommand)]
    Owner(OwnerCmd),
    /// A group's changes, newest first (from the audit log)
    History {
        /// The group's name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum OwnerCmd {
    /// List a group's owners (and readers)
    List {
        /// The group's name
        group: String,
    },
    /// Make a member (or, as g/<group>, a group's members) an owner of a group
    Add {
        /// The group's name
        group: String,
        /// A username, or g/<group>
        owner: String,
    },
    /// Take ownership away (never the last owner, unless you are an admin)
    Remove {
        /// The group's name
        group: String,
        /// A username, or g/<group>
        owner: String,
    },
}

/// `alice` → `u/alice`; `u/alice` and `g/team` as they are.
fn principal(owner: &str) -> String {
    if owner.starts_with("u/") || owner.starts_with("g/") {
        owner.to_owned()
    } else {
        format!("u/{owner}")
    }
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
        Cmd::Delete { name, yes } => {
            if !yes {
                let members = client
                    .get::<Group>(&format!("/w/{w}/groups/get/{}", seg(&name)), &[])
                    .map(|g| g.members.len())
                    .map_err(not_found)?;
                confirm(
                    false,
                    &format!("Delete group {name}"),
                    &format!(
                        "Deleting group {name} takes it from its {members} member(s) and its owners, with what it was granted. This cannot be undone."
                    ),
                )?;
            }
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
        Cmd::Update {
            name,
            summary,
            clear_summary: _,
        } => {
            let message = client
                .post(
                    &format!("/w/{w}/groups/update/{}", seg(&name)),
                    &EditGroup { summary },
                )
                .map_err(not_found)?;
            ctx.out.done(
                &format!("Updated group {name}."),
                &message,
                json!({ "group": name }),
            );
        }
        Cmd::Owner(OwnerCmd::List { group }) => {
            let acl: BTreeMap<String, bool> = client
                .get(&format!("/w/{w}/acls/get/group_/{}", seg(&group)), &[])
                .map_err(not_found)?;
            let rows: Vec<serde_json::Value> = acl
                .iter()
                .map(|(k, v)| json!({ "principal": k, "owner": v }))
                .collect();
            let mut table = Table::new(&["PRINCIPAL", "ROLE"]);
            for (k, v) in &acl {
                table.row(vec![
                    k.clone(),
                    if *v { "owner" } else { "reader" }.to_owned(),
                ]);
            }
            ctx.out.list(&rows, table, "No owners.");
        }
        Cmd::Owner(OwnerCmd::Add { group, owner }) => {
            let p = principal(&owner);
            let message = client
                .post(
                    &format!("/w/{w}/acls/add/group_/{}", seg(&group)),
                    &AddAcl {
                        owner: p.clone(),
                        write: Some(true),
                    },
                )
                .map_err(not_found)?;
            ctx.out.done(
                &format!("{p} owns group {group}."),
                &message,
                json!({ "group": group, "owner": p }),
            );
        }
        Cmd::Owner(OwnerCmd::Remove { group, owner }) => {
            let p = principal(&owner);
            let message = client
                .post(
                    &format!("/w/{w}/acls/remove/group_/{}", seg(&group)),
                    &RemoveAcl { owner: p.clone() },
                )
                .map_err(|e| {
                    not_found(e).hint_on(
                        409,
                        "make someone else an owner first, or ask a workspace admin",
                    )
                })?;
            ctx.out.done(
                &format!("{p} no longer owns group {group}."),
                &message,
                json!({ "group": group, "owner": p }),
            );
        }
        Cmd::History { name } => {
            let entries: Vec<GroupHistoryEntry> = client
                .get(
                    &format!("/w/{w}/groups_history/get/{}", seg(&name)),
                    &[("per_page", "100".to_owned())],
                )
                .map_err(not_found)?;
            let mut table = Table::new(&["ID", "WHEN", "BY", "CHANGE", "WHO"]);
            for e in &entries {
                table.row(vec![
                    e.id.to_string(),
                    time(&e.changed_at),
                    e.changed_by.clone(),
                    e.change_type.clone(),
                    opt(&e.member_affected),
                ]);
            }
            ctx.out.list(&entries, table, "No changes recorded.");
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
