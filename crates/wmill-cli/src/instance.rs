//! `wmill instance`: the instance's users as a file, in the format of Windmill's
//! `instance_users.yaml` (superadmins): export them, import them back (all or nothing).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;
use wmill_api::{ExportedInstanceGroup, ExportedUser, OverwriteReport};

use crate::context::Ctx;
use crate::error::{Error, Result};

/// `wmill instance COMMAND`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print every user (or, with --groups, every instance group) as YAML, password hashes
    /// included unless --no-password-hashes
    Export {
        /// Leave the password hashes out
        #[arg(long)]
        no_password_hashes: bool,
        /// Export the instance groups instead of the users
        #[arg(long)]
        groups: bool,
    },
    /// Make the instance's users (or, with --groups, instance groups) exactly those of a
    /// file: created, changed, and the others deleted; all or nothing
    #[command(after_help = "\
The file is what `wmill instance export` or Windmill's `wmill instance pull` wrote (YAML or JSON).
Password hashes are argon2 PHC strings, kept as they are: users keep their passwords.")]
    Import {
        /// The file to read
        file: PathBuf,
        /// Say what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// The file holds instance groups
        #[arg(long)]
        groups: bool,
    },
}

/// Runs `wmill instance …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let client = ctx.authed()?;
    match args.command {
        Cmd::Export {
            no_password_hashes,
            groups,
        } => {
            let yaml = if groups {
                let g: Vec<ExportedInstanceGroup> = client.get("/groups/export", &[])?;
                if ctx.out.is_json() {
                    ctx.out.json_doc(&g);
                    return Ok(());
                }
                to_yaml(&g)?
            } else {
                let query = [("include_password_hash", (!no_password_hashes).to_string())];
                let u: Vec<ExportedUser> = client.get("/users/export", &query)?;
                if ctx.out.is_json() {
                    ctx.out.json_doc(&u);
                    return Ok(());
                }
                to_yaml(&u)?
            };
            // A document, not text for a terminal: written as it is.
            print!("{yaml}");
            Ok(())
        }
        Cmd::Import {
            file,
            dry_run,
            groups,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::failed(format!("cannot read {}: {e}", file.display())))?;
            let query = [("dry_run", dry_run.to_string())];
            let report: OverwriteReport = if groups {
                let rows: Vec<ExportedInstanceGroup> = from_yaml(&text, &file)?;
                client.post_json_query("/groups/overwrite", &query, &rows)?
            } else {
                let rows: Vec<ExportedUser> = from_yaml(&text, &file)?;
                client.post_json_query("/users/overwrite", &query, &rows)?
            };
            let what = if groups { "instance groups" } else { "users" };
            let verb = if dry_run { "Would import" } else { "Imported" };
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_owned()
                } else {
                    v.join(", ")
                }
            };
            let sentence = format!(
                "{verb} {what}: {} created ({}), {} updated ({}), {} deleted ({}), {} unchanged.",
                report.created.len(),
                list(&report.created),
                report.updated.len(),
                list(&report.updated),
                report.deleted.len(),
                list(&report.deleted),
                report.unchanged,
            );
            ctx.out
                .done(&sentence, &sentence, json!({ "report": report }));
            Ok(())
        }
    }
}

fn to_yaml<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_saphyr::to_string(v).map_err(|e| Error::failed(format!("cannot write YAML: {e}")))
}

fn from_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &std::path::Path) -> Result<T> {
    serde_saphyr::from_str(text).map_err(|e| {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or_default().to_owned();
        Error::Failed {
            message: format!(
                "{} is not a list of the expected entries: {first}",
                file.display()
            ),
            hint: Some(
                "use a file written by 'wmill instance export' or Windmill's 'wmill instance pull'"
                    .into(),
            ),
        }
    })
}
