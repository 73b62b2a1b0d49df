//! `wmill status`: which server, workspace, user and token the next command would use, and
//! where each setting came from (like `gh auth status`).

use serde::Serialize;
use wmill_api::{GlobalUserInfo, TOKEN_PREFIX_LEN, UserInfo};

use crate::client::{Client, seg};
use crate::context::Ctx;
use crate::error::{Error, Result};

/// One setting and where it came from.
#[derive(Debug, Serialize)]
struct Setting {
    value: Option<String>,
    source: String,
}

/// What `wmill status --json` prints.
#[derive(Debug, Serialize)]
struct Status {
    server: Setting,
    workspace: Setting,
    /// The token's first characters only.
    token: Setting,
    /// The account the token belongs to, when the server could be asked.
    email: Option<String>,
    username: Option<String>,
    role: Option<String>,
    super_admin: Option<bool>,
    server_version: Option<String>,
    /// Profiles that were not used, and why.
    notes: Vec<String>,
    /// What went wrong when checking with the server, if anything.
    problem: Option<String>,
}

/// Runs `wmill status`: exit 0 when the settings work, else the exit code of what failed.
pub fn run(ctx: &Ctx) -> Result<()> {
    let r = ctx.resolve()?;
    let sources = ctx.global.sources;
    let from_profile = |s: Option<String>, has: bool| match (s, &r.profile) {
        (Some(s), _) => s,
        (None, Some(p)) if has => format!("profile '{p}'"),
        _ => "not set".to_owned(),
    };
    let mut notes = Vec::new();
    if let Some((name, remote)) = &r.skipped {
        notes.push(format!(
            "profile '{name}' is for {remote}, not {}: its token and workspace are not used",
            r.remote.as_deref().unwrap_or("?")
        ));
    }
    if r.profile.is_none() && r.skipped.is_none() {
        notes.push("no active profile".to_owned());
    }
    let mut status = Status {
        server: Setting {
            value: r.remote.clone(),
            source: from_profile(sources.base_url.describe("--base-url"), r.remote.is_some()),
        },
        workspace: Setting {
            value: r.workspace.clone(),
            source: from_profile(
                sources.workspace.describe("--workspace"),
                r.workspace.is_some(),
            ),
        },
        token: Setting {
            value: r
                .token
                .as_ref()
                .map(|t| format!("{}…", t.chars().take(TOKEN_PREFIX_LEN).collect::<String>())),
            source: from_profile(sources.token.describe("--token"), r.token.is_some()),
        },
        email: None,
        username: None,
        role: None,
        super_admin: None,
        server_version: None,
        notes,
        problem: None,
    };
    let checked = check(ctx, &r, &mut status);
    if let Err(e) = &checked {
        status.problem = Some(match e.hint() {
            Some(h) => format!("{e}; {h}"),
            None => e.to_string(),
        });
    }
    print(ctx, &status);
    // The table says what is wrong; the exit code says so to scripts.
    checked.map_err(|e| match e {
        Error::Server { status, text, .. } => Error::Server {
            status,
            text,
            hint: Some("see the status above".into()),
        },
        e => e,
    })
}

/// Asks the server who the token is, in the workspace when there is one.
fn check(ctx: &Ctx, r: &crate::context::Resolved, status: &mut Status) -> Result<()> {
    let Some(remote) = &r.remote else {
        return Err(Error::NotConfigured {
            message: "no server configured".into(),
            hint: "run 'wmill workspace add <name> <workspace_id> <remote> --email <email>' or pass --base-url".into(),
        });
    };
    status.server_version = Some(
        Client::new(remote, None)
            .get_text("/version")?
            .trim()
            .to_owned(),
    );
    let client = ctx.authed_from(r)?;
    match client.get::<GlobalUserInfo>("/users/whoami", &[]) {
        Ok(me) => {
            status.email = Some(me.email);
            status.super_admin = Some(me.super_admin);
        }
        // A token pinned to one workspace is refused on instance routes: ask the workspace.
        Err(Error::Server { status: 401, .. }) if r.workspace.is_some() => {}
        Err(e) => return Err(ctx.explain(e)),
    }
    if let Some(w) = &r.workspace {
        let info: UserInfo = client
            .get(&format!("/w/{}/users/whoami", seg(w)), &[])
            .map_err(|e| ctx.explain(e))?;
        status.email = Some(info.email);
        status.username = Some(info.username);
        status.role = Some(
            if info.is_admin {
                "admin"
            } else if info.operator {
                "operator"
            } else {
                "developer"
            }
            .to_owned(),
        );
        status.super_admin = Some(info.is_super_admin);
    }
    Ok(())
}

fn print(ctx: &Ctx, s: &Status) {
    ctx.out.object(s, || {
        let show = |v: &Option<String>, source: &str| match v {
            Some(v) => format!("{v}  ({source})"),
            None => "(not set)".to_owned(),
        };
        let mut pairs = vec![
            ("Server", show(&s.server.value, &s.server.source)),
            ("Workspace", show(&s.workspace.value, &s.workspace.source)),
            ("Token", show(&s.token.value, &s.token.source)),
        ];
        if let Some(email) = &s.email {
            let mut who = email.clone();
            if let Some(u) = &s.username {
                who.push_str(&format!(" as {u}"));
            }
            if let Some(role) = &s.role {
                who.push_str(&format!(", {role}"));
            }
            if s.super_admin == Some(true) {
                who.push_str(", superadmin");
            }
            pairs.push(("User", who));
        }
        if let Some(v) = &s.server_version {
            pairs.push(("Server version", v.clone()));
        }
        for n in &s.notes {
            pairs.push(("Note", n.clone()));
        }
        if let Some(p) = &s.problem {
            pairs.push(("Problem", p.clone()));
        }
        ctx.out.pairs(&pairs)
    });
}
