//! `wmill audit`: the workspace's audit log, filtered.

use clap::Subcommand;
use wmill_api::{ActionKind, AuditLog};

use crate::context::Ctx;
use crate::error::Result;
use crate::output::{Table, opt, time};

/// `wmill audit [COMMAND]`; without a command, lists entries (the list filters apply).
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Without a command, `wmill audit` lists entries and takes the filters of `audit list`."
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,

    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List entries, newest first
    List(ListArgs),
    /// Show one entry with its parameters
    Get {
        /// The entry's id (the ID column of `audit list`)
        id: i64,
    },
    /// Write the workspace's entries as NDJSON (one JSON object a line, oldest first) to
    /// stdout; with --follow, keep writing new ones as they are recorded (workspace admins)
    Export {
        /// Only entries after this id (to resume: the last id written)
        #[arg(long, value_name = "ID", default_value_t = 0)]
        since_id: i64,
        /// Keep the connection open and write new entries as they are recorded; reconnects
        /// from the last id written until interrupted
        #[arg(long)]
        follow: bool,
        /// Every workspace's entries, instance-level ones included (superadmins)
        #[arg(long)]
        all_workspaces: bool,
    },
    /// Check the whole audit log against its hash chain and signed checkpoints (superadmins);
    /// exits with an error naming the first entry changed, deleted, inserted or moved
    Verify,
}

/// Filters of `audit list`. Times: RFC 3339, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`, in UTC.
#[derive(Debug, Clone, clap::Args)]
struct ListArgs {
    /// Only entries by this username
    #[arg(long)]
    username: Option<String>,
    /// Only this operation, or a dotted prefix of it (`users` matches `users.token.create`)
    #[arg(long, value_name = "OP")]
    operation: Option<String>,
    /// Only this kind: create, update, delete or execute (any case)
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    action_kind: Option<ActionKind>,
    /// Only entries at or before this time
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    before: Option<String>,
    /// Only entries after this time
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    after: Option<String>,
    /// Only entries about this resource (a group name, an email, ...)
    #[arg(long)]
    resource: Option<String>,
    /// Show at most this many entries
    #[arg(long, visible_alias = "per-page", value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=10000))]
    limit: u32,
    /// Page of results (1-based), with --limit entries a page
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    page: Option<u32>,
    /// Only entries with an id below this one (to continue a listing)
    #[arg(long, value_name = "ID")]
    before_id: Option<i64>,
    /// Every workspace's entries, instance-level ones included (superadmins)
    #[arg(long)]
    all_workspaces: bool,
}

fn parse_kind(s: &str) -> std::result::Result<ActionKind, String> {
    ActionKind::parse(s)
        .ok_or_else(|| format!("'{s}' is not one of create, update, delete, execute"))
}

fn parse_time(s: &str) -> std::result::Result<String, String> {
    match wmill_api::parse_timestamp(s) {
        Some(_) => Ok(s.to_owned()),
        None => Err(format!(
            "'{s}' is not a time: use RFC 3339 (2026-01-01T10:00:00Z) or a date (2026-01-01)"
        )),
    }
}

impl ListArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("per_page", self.limit.to_string())];
        let mut add = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                q.push((k, v));
            }
        };
        add("page", self.page.map(|p| p.to_string()));
        add("before", self.before.clone());
        add("after", self.after.clone());
        add("username", self.username.clone());
        add("operation", self.operation.clone());
        add(
            "action_kind",
            self.action_kind.map(|k| k.as_str().to_owned()),
        );
        add("resource", self.resource.clone());
        add("before_id", self.before_id.map(|i| i.to_string()));
        add(
            "all_workspaces",
            self.all_workspaces.then(|| "true".to_owned()),
        );
        q
    }
}

/// Runs `wmill audit …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let (client, w) = ctx.in_workspace()?;
    let w = crate::client::seg(&w);
    match args.command {
        None => list(ctx, &client, &w, &args.list),
        Some(Cmd::List(list_args)) => list(ctx, &client, &w, &list_args),
        Some(Cmd::Export {
            since_id,
            follow,
            all_workspaces,
        }) => export(&client, &w, since_id, follow, all_workspaces),
        Some(Cmd::Verify) => verify(ctx, &client),
        Some(Cmd::Get { id }) => {
            let e: AuditLog = client
                .get(&format!("/w/{w}/audit/get/{id}"), &[])
                .map_err(|e| e.hint_on(404, "list entries with 'wmill audit list'"))?;
            ctx.out.object(&e, || {
                let mut s = ctx.out.pairs(&[
                    ("ID", e.id.to_string()),
                    ("Timestamp", time(&e.timestamp)),
                    ("Workspace", e.workspace_id.clone()),
                    ("Username", e.username.clone()),
                    ("Email", opt(&e.email)),
                    ("Operation", e.operation.clone()),
                    ("Action kind", e.action_kind.to_string()),
                    ("Resource", opt(&e.resource)),
                ]);
                if let Some(p) = e.parameters.as_ref().filter(|p| !is_empty(p)) {
                    s.push_str("\nParameters:");
                    // JSON escapes C0 controls, not C1 or bidirectional ones.
                    for line in serde_json::to_string_pretty(p).unwrap_or_default().lines() {
                        s.push('\n');
                        s.push_str(&crate::output::clean(line));
                    }
                }
                s
            });
            Ok(())
        }
    }
}

/// Seconds a followed export stays open before it reconnects from the last id.
const FOLLOW_SECS: u64 = 300;

fn export(
    client: &crate::client::Client,
    w: &str,
    since_id: i64,
    follow: bool,
    all_workspaces: bool,
) -> Result<()> {
    use std::io::Write;
    let mut last = since_id;
    let mut failures = 0u32;
    let stdout = std::io::stdout();
    loop {
        let mut q = vec![("since_id", last.to_string())];
        if all_workspaces {
            q.push(("all_workspaces", "true".to_owned()));
        }
        if follow {
            q.push(("follow", "true".to_owned()));
            q.push(("follow_secs", FOLLOW_SECS.to_string()));
        }
        let got = client.get_lines(
            &format!("/w/{w}/audit/export"),
            &q,
            std::time::Duration::from_secs(FOLLOW_SECS + 60),
            |line| {
                let id = serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v["id"].as_i64())
                    .ok_or_else(|| crate::error::Error::Protocol {
                        message: format!("unexpected line in the audit export: {line}"),
                    })?;
                let mut out = stdout.lock();
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(|e| crate::error::Error::Failed {
                        message: format!("cannot write the export: {e}"),
                        hint: None,
                    })?;
                last = id;
                Ok(())
            },
        );
        match got {
            Ok(()) if !follow => return Ok(()),
            Ok(()) => failures = 0,
            // The server's refusals are final; a cut connection is resumed when following.
            Err(e @ crate::error::Error::Server { .. }) => return Err(e),
            Err(e) if !follow => return Err(e),
            Err(e) => {
                failures = failures.saturating_add(1);
                let wait = 1u64 << failures.min(5);
                eprintln!("note: {e}; resuming after entry {last} in {wait} s");
                std::thread::sleep(std::time::Duration::from_secs(wait));
            }
        }
    }
}

/// Longest a streamed verification may last (about a billion entries at this machine's
/// rate).
const VERIFY_MAX_SECS: u64 = 6 * 3600;

fn verify(ctx: &Ctx, client: &crate::client::Client) -> Result<()> {
    use std::io::{IsTerminal, Write};
    // Streamed: the server reports how far it has read (shown on a terminal) and ends
    // with the report.
    let show = std::io::stderr().is_terminal() && !ctx.out.is_json();
    let mut report = None;
    let mut failed = None;
    client
        .get_lines(
            "/audit/verify",
            &[("stream", "true".to_owned())],
            std::time::Duration::from_secs(VERIFY_MAX_SECS),
            |line| {
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|_| crate::error::Error::Protocol {
                        message: format!("unexpected line in the verification: {line}"),
                    })?;
                if let Some(n) = v["entries_read"].as_u64() {
                    if show {
                        eprint!("\r{n} entries read");
                        let _ = std::io::stderr().flush();
                    }
                } else if let Some(e) = v["error"].as_str() {
                    failed = Some(e.to_string());
                } else if !v["report"].is_null() {
                    report = Some(v["report"].clone());
                } else if v.get("intact").is_some() {
                    // A server that does not stream answers the report alone.
                    report = Some(v);
                }
                Ok(())
            },
        )
        .map_err(|e| e.hint_on(401, "verifying the audit log needs a superadmin's token"))?;
    if show {
        eprint!("\r\x1b[K");
    }
    if let Some(e) = failed {
        return Err(crate::error::Error::Failed {
            message: format!("the server could not finish the verification: {e}"),
            hint: None,
        });
    }
    let report = report.ok_or_else(|| crate::error::Error::Protocol {
        message: "the verification ended without its report (connection cut?)".into(),
    })?;
    let intact = report["intact"].as_bool() == Some(true);
    if ctx.out.is_json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for line in report["text"].as_str().unwrap_or_default().lines() {
            println!("{}", crate::output::clean(line));
        }
    }
    if intact {
        Ok(())
    } else {
        let first = report["problems"][0].clone();
        Err(crate::error::Error::Failed {
            message: format!("the audit log is not intact (first problem: {first})"),
            hint: None,
        })
    }
}

fn is_empty(v: &serde_json::Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
}

fn list(ctx: &Ctx, client: &crate::client::Client, w: &str, args: &ListArgs) -> Result<()> {
    let entries: Vec<AuditLog> = client
        .get(&format!("/w/{w}/audit/list"), &args.query())
        .map_err(|e| {
            if args.all_workspaces {
                e.hint_on(
                    403,
                    "--all-workspaces needs a superadmin's token, not a workspace admin's: without it you see this workspace's entries",
                )
            } else {
                e
            }
        })?;
    // Across workspaces, each row says whose it is (`global`: the instance's own events).
    let mut headers = vec!["ID", "TIMESTAMP"];
    if args.all_workspaces {
        headers.push("WORKSPACE");
    }
    headers.extend(["USERNAME", "OPERATION", "ACTION", "RESOURCE"]);
    let mut table = Table::new(&headers);
    for e in &entries {
        let mut row = vec![e.id.to_string(), time(&e.timestamp)];
        if args.all_workspaces {
            row.push(e.workspace_id.clone());
        }
        row.extend([
            e.username.clone(),
            e.operation.clone(),
            e.action_kind.to_string(),
            opt(&e.resource),
        ]);
        table.row(row);
    }
    ctx.out.list(&entries, table, "No audit entries match.");
    if !ctx.out.is_json()
        && entries.len() == args.limit as usize
        && let Some(last) = entries.last()
    {
        eprintln!(
            "note: showing the {} newest entries; for older ones add --before-id {} (or raise --limit)",
            args.limit, last.id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        list: ListArgs,
    }

    #[test]
    fn filters_go_through_as_typed() {
        let t = T::try_parse_from([
            "t",
            "--username",
            "alice",
            "--after",
            "2026-01-01",
            "--action-kind",
            "DELETE",
        ])
        .unwrap();
        let q = t.list.query();
        assert!(q.contains(&("after", "2026-01-01".to_owned())));
        assert!(q.contains(&("username", "alice".to_owned())));
        assert!(q.contains(&("action_kind", "Delete".to_owned())));
        assert!(q.contains(&("per_page", "30".to_owned())));
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        assert!(T::try_parse_from(["t", "--after", "yesterday"]).is_err());
        assert!(T::try_parse_from(["t", "--action-kind", "created"]).is_err());
        assert!(T::try_parse_from(["t", "--limit", "0"]).is_err());
    }
}
