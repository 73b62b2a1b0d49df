//! `wmill instance-group`: groups of accounts across workspaces (superadmins change them),
//! an instance role they give, and the workspaces they feed.

use clap::Subcommand;
use serde_json::json;
use wmill_api::{
    CreateInstanceGroup, InstanceGroup, InstanceGroupMember, InstanceGroupWithWorkspaces,
    UpdateInstanceGroup,
};

use crate::client::seg;
use crate::context::{Ctx, confirm};
use crate::error::{Error, Result};
use crate::output::{Table, opt};

/// `wmill instance-group [COMMAND]`; without a command, lists them.
#[derive(Debug, clap::Args)]
#[command(after_help = "Without a command, `wmill instance-group` lists the instance groups.")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the instance groups
    List,
    /// Show one: summary, role, members, the workspaces it feeds
    Get {
        /// Its name
        name: String,
    },
    /// Create an instance group (superadmins)
    Create {
        /// Its name (letters, digits, '-' and '_')
        name: String,
        /// One line saying what it is for
        #[arg(long)]
        summary: Option<String>,
    },
    /// Change its summary or the instance role its members hold (superadmins)
    Update {
        /// Its name
        name: String,
        /// The new summary [default: the current one]
        #[arg(long)]
        summary: Option<String>,
        /// superadmin, devops, or user (none)
        #[arg(long, value_parser = ["superadmin", "devops", "user"])]
        role: Option<String>,
    },
    /// Delete it, and the workspace memberships it made (superadmins)
    Delete {
        /// Its name
        name: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Add an account to it (superadmins)
    AddUser {
        /// The group's name
        name: String,
        /// The account's email
        email: String,
    },
    /// Remove an account from it (superadmins)
    RemoveUser {
        /// The group's name
        name: String,
        /// The account's email
        email: String,
    },
}

/// Runs `wmill instance-group …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let client = ctx.authed()?;
    let hint = |e: Error| e.hint_on(404, "list instance groups with 'wmill instance-group list'");
    match args.command.unwrap_or(Cmd::List) {
        Cmd::List => {
            let groups: Vec<InstanceGroup> = client.get("/groups/list", &[])?;
            let mut table = Table::new(&["NAME", "SUMMARY", "ROLE", "MEMBERS"]);
            for g in &groups {
                table.row(vec![
                    g.name.clone(),
                    opt(&g.summary),
                    opt(&g.instance_role),
                    g.emails.len().to_string(),
                ]);
            }
            ctx.out.list(&groups, table, "No instance groups.");
        }
        Cmd::Get { name } => {
            let g: InstanceGroupWithWorkspaces = client
                .get(&format!("/groups/get/{}", seg(&name)), &[])
                .map_err(hint)?;
            ctx.out.object(&g, || {
                let workspaces: Vec<String> = g
                    .workspaces
                    .iter()
                    .map(|w| format!("{} ({})", w.workspace_id, w.role))
                    .collect();
                let or_none = |v: Vec<String>| {
                    if v.is_empty() {
                        "(none)".to_owned()
                    } else {
                        v.join(", ")
                    }
                };
                ctx.out.pairs(&[
                    ("Name", g.name.clone()),
                    ("Summary", opt(&g.summary)),
                    ("Instance role", opt(&g.instance_role)),
                    ("Members", or_none(g.emails.clone())),
                    ("Workspaces", or_none(workspaces)),
                ])
            });
        }
        Cmd::Create { name, summary } => {
            let message = client.post(
                "/groups/create",
                &CreateInstanceGroup {
                    name: name.clone(),
                    summary,
                },
            )?;
            ctx.out.done(
                &format!("Created instance group {name}."),
                &message,
                json!({ "group": name }),
            );
        }
        Cmd::Update {
            name,
            summary,
            role,
        } => {
            let current: InstanceGroupWithWorkspaces = client
                .get(&format!("/groups/get/{}", seg(&name)), &[])
                .map_err(hint)?;
            let body = UpdateInstanceGroup {
                new_summary: summary.or(current.summary).unwrap_or_default(),
                instance_role: role.map(Some),
            };
            let message = client
                .post(&format!("/groups/update/{}", seg(&name)), &body)
                .map_err(hint)?;
            ctx.out.done(
                &format!("Updated instance group {name}."),
                &message,
                json!({ "group": name }),
            );
        }
        Cmd::Delete { name, yes } => {
            confirm(
                yes,
                &format!("Delete instance group {name}"),
                &format!(
                    "Deleting instance group {name} ends the workspace memberships and the instance role it gave its members. This cannot be undone."
                ),
            )?;
            let message = client
                .delete(&format!("/groups/delete/{}", seg(&name)))
                .map_err(hint)?;
            ctx.out.done(
                &format!("Deleted instance group {name}."),
                &message,
                json!({ "group": name }),
            );
        }
        Cmd::AddUser { name, email } => {
            let message = client
                .post(
                    &format!("/groups/adduser/{}", seg(&name)),
                    &InstanceGroupMember {
                        email: email.clone(),
                    },
                )
                .map_err(hint)?;
            let sentence = if message.contains("already") {
                format!("{email} is already in instance group {name}.")
            } else {
                format!("Added {email} to instance group {name}.")
            };
            ctx.out.done(
                &sentence,
                &message,
                json!({ "group": name, "email": email }),
            );
        }
        Cmd::RemoveUser { name, email } => {
            let message = client
                .post(
                    &format!("/groups/removeuser/{}", seg(&name)),
                    &InstanceGroupMember {
                        email: email.clone(),
                    },
                )
                .map_err(hint)?;
            ctx.out.done(
                &format!("Removed {email} from instance group {name}."),
                &message,
                json!({ "group": name, "email": email }),
            );
        }
    }
    Ok(())
}
