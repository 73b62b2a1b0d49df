//! `wmill scim token`: the bearer tokens an identity provider (Okta, Entra ID…) provisions
//! users and groups with over SCIM 2.0 (superadmins mint, list and delete them).

use clap::Subcommand;
use serde_json::json;
use wmill_api::{NewScimToken, ScimToken};

use crate::client::seg;
use crate::context::{Ctx, confirm};
use crate::error::{Error, Result};
use crate::output::{Table, time};

/// Where SCIM is served, under the server's base URL: what the identity provider is given.
pub const SCIM_PATH: &str = "api/scim/v2";

/// Longest label the server takes.
const LABEL_MAX_CHARS: usize = 64;

/// `wmill scim COMMAND`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Noun,
}

#[derive(Debug, Subcommand)]
enum Noun {
    /// The SCIM tokens: list, create, delete (superadmins)
    #[command(
        after_help = "Without a command, `wmill scim token` lists the SCIM tokens.

A SCIM token is good for the SCIM endpoints only (<server>/api/scim/v2), not for the rest of
the API; the audit log names the changes it makes by its label."
    )]
    Token(TokenArgs),
}

/// `wmill scim token [COMMAND]`.
#[derive(Debug, clap::Args)]
struct TokenArgs {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the SCIM tokens (labels and prefixes, never the tokens)
    List,
    /// Create a SCIM token and print it, and nothing else, on stdout (the SCIM base URL to
    /// give the identity provider goes to stderr)
    Create {
        /// Names the identity provider: 1 to 64 letters, digits, spaces, '.', '_' or '-'
        #[arg(long, value_parser = parse_label)]
        label: String,
    },
    /// Delete a SCIM token: the provider holding it is refused from its next request on
    Delete {
        /// Its label, as shown by `scim token list`
        #[arg(value_parser = parse_label)]
        label: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// A label the server takes, or a usage error saying what one is.
fn parse_label(s: &str) -> std::result::Result<String, String> {
    let ok = !s.is_empty()
        && s.chars().count() <= LABEL_MAX_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a SCIM token label: use 1 to {LABEL_MAX_CHARS} letters, digits, spaces, '.', '_' or '-'"
        ))
    }
}

/// The SCIM base URL of a server whose base URL (profile-style, with or without its
/// trailing slash) is `remote`.
pub fn scim_url(remote: &str) -> String {
    format!("{}/{SCIM_PATH}", remote.trim_end_matches('/'))
}

/// Runs `wmill scim …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let Noun::Token(args) = args.command;
    let client = ctx.authed()?;
    let superadmin = |e: Error| e.hint_on(401, "managing SCIM tokens needs a superadmin's token");
    match args.command.unwrap_or(Cmd::List) {
        Cmd::List => {
            let tokens: Vec<ScimToken> =
                client.get("/scim_tokens/list", &[]).map_err(superadmin)?;
            let mut table = Table::new(&["LABEL", "PREFIX", "CREATED BY", "CREATED"]);
            for t in &tokens {
                table.row(vec![
                    t.label.clone(),
                    t.token_prefix.clone(),
                    t.created_by.clone(),
                    time(&t.created_at),
                ]);
            }
            ctx.out.list(&tokens, table, "No SCIM tokens.");
        }
        Cmd::Create { label } => {
            let token = client
                .post(
                    "/scim_tokens/create",
                    &NewScimToken {
                        label: label.clone(),
                    },
                )
                .map_err(|e| {
                    superadmin(e).hint_on(
                        409,
                        "see the SCIM tokens with 'wmill scim token list'; one provider, one label",
                    )
                })?;
            let token = token.trim();
            let url = scim_url(client.remote());
            if ctx.out.is_json() {
                ctx.out
                    .json_doc(&json!({ "token": token, "label": label, "scim_url": url }));
            } else {
                ctx.out.text(token);
                if !ctx.out.is_quiet() {
                    // stdout holds the token alone (`TOKEN=$(wmill scim token create …)`).
                    eprintln!(
                        "SCIM base URL for the identity provider: {}\nThe token is shown once: paste it into the provider now.",
                        crate::output::clean(&url)
                    );
                }
            }
        }
        Cmd::Delete { label, yes } => {
            confirm(
                yes,
                &format!("Delete SCIM token {label}"),
                &format!(
                    "The identity provider holding SCIM token {label} can no longer provision users and groups: its next request is refused. This cannot be undone (a new token must be created and given to it)."
                ),
            )?;
            let message = client
                .delete(&format!("/scim_tokens/delete/{}", seg(&label)))
                .map_err(|e| {
                    superadmin(e).hint_on(404, "list the SCIM tokens with 'wmill scim token list'")
                })?;
            ctx.out.done(
                &format!("Deleted SCIM token {label}."),
                &message,
                json!({ "label": label }),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked_as_the_server_does() {
        for ok in ["okta", "Entra ID prod", "a.b_c-d", &"x".repeat(64)] {
            assert_eq!(parse_label(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "okta/prod", "é", "tab\there", &"x".repeat(65)] {
            let e = parse_label(bad).unwrap_err();
            assert!(e.contains("1 to 64 letters"), "{e}");
        }
    }

    #[test]
    fn the_scim_url_is_under_the_base_url() {
        assert_eq!(
            scim_url("http://127.0.0.1:8000/"),
            "http://127.0.0.1:8000/api/scim/v2"
        );
        assert_eq!(scim_url("https://h/sub"), "https://h/sub/api/scim/v2");
    }
}
