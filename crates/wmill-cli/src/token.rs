//! `wmill token`: the caller's own API tokens.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use clap::Subcommand;
use serde_json::json;
use wmill_api::{NewToken, ScopeDomain, TOKEN_PREFIX_LEN, TokenLabel, TokenScopes, TruncatedToken};

use crate::client::seg;
use crate::context::{Ctx, confirm};
use crate::error::{Error, Result};
use crate::output::{Table, opt, time};

/// `wmill token [COMMAND]`; without a command, lists your tokens.
#[derive(Debug, clap::Args)]
#[command(after_help = "Without a command, `wmill token` lists your tokens.")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List your tokens (prefixes only), newest first
    List,
    /// Create a token and print it, and nothing else, on stdout
    #[command(
        after_help = "A token with scopes may do only what they grant (and never more than you may); `wmill token
scopes` lists them. A token made with a scoped or read-only token can be no wider."
    )]
    Create {
        /// A label to recognise it by in `token list`
        #[arg(long)]
        label: Option<String>,
        /// Expire this many seconds from now [default: never]
        #[arg(long, value_name = "SECONDS", conflicts_with = "expiration",
              value_parser = clap::value_parser!(u64).range(1..))]
        expires_in: Option<u64>,
        /// Expire at this time (RFC 3339, e.g. 2030-01-01T00:00:00Z) [default: never]
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        expiration: Option<String>,
        /// Only what this scope grants (repeat for several), e.g. groups:write [default: all you may do]
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Only reads (GET requests), whatever the scopes
        #[arg(long)]
        read_only: bool,
        /// Only in this workspace
        #[arg(long = "only-workspace", value_name = "WORKSPACE")]
        only_workspace: Option<String>,
    },
    /// Change one of your tokens' label or scopes (scopes only narrow, unless the token you
    /// use covers the new ones)
    Update {
        /// The token's 10-character prefix, as shown by `token list`
        prefix: String,
        /// A new label
        #[arg(long)]
        label: Option<String>,
        /// The new scopes (repeat for several; `*` for all you may do)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// List the scopes a token may hold
    Scopes,
    /// Delete one of your tokens, given whole or by its 10-character prefix
    Delete {
        /// The token, or its prefix as shown by `token list`
        // Its own id: `token` is the global --token, which would swallow this value.
        #[arg(id = "token_or_prefix", value_name = "TOKEN")]
        token: String,
        /// Do not ask for confirmation when it is the token in use
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

fn parse_time(s: &str) -> std::result::Result<String, String> {
    match wmill_api::parse_timestamp(s) {
        Some(_) => Ok(s.to_owned()),
        None => Err(format!(
            "'{s}' is not a time: use RFC 3339, e.g. 2030-01-01T00:00:00Z"
        )),
    }
}

/// The expiration `secs` seconds after `now`, as RFC 3339 UTC; `None` if out of range.
pub fn expiration_after(now: DateTime<Utc>, secs: u64) -> Option<String> {
    let delta = TimeDelta::try_seconds(i64::try_from(secs).ok()?)?;
    Some(
        now.checked_add_signed(delta)?
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

/// Runs `wmill token …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    let client = ctx.authed()?;
    match args.command.unwrap_or(Cmd::List) {
        Cmd::List => {
            let tokens: Vec<TruncatedToken> = client.get_all(
                "/users/tokens/list",
                &[("exclude_ephemeral", "true".to_owned())],
            )?;
            let mut table = Table::new(&[
                "PREFIX",
                "LABEL",
                "CREATED",
                "LAST USED",
                "EXPIRES",
                "WORKSPACE",
                "SCOPES",
            ]);
            for t in &tokens {
                let mut scopes = t
                    .scopes
                    .as_ref()
                    .map_or_else(|| "*".to_owned(), |s| s.join(" "));
                if t.read_only {
                    scopes.push_str(" (read-only)");
                }
                table.row(vec![
                    t.token_prefix.clone(),
                    opt(&t.label),
                    time(&t.created_at),
                    time(&t.last_used_at),
                    t.expiration
                        .as_ref()
                        .map_or_else(|| "never".to_owned(), time),
                    t.workspace_id.clone().unwrap_or_else(|| "(all)".to_owned()),
                    scopes,
                ]);
            }
            ctx.out.list(&tokens, table, "No tokens.");
        }
        Cmd::Create {
            label,
            expires_in,
            expiration,
            scopes,
            read_only,
            only_workspace,
        } => {
            let expiration = match expires_in {
                Some(secs) => Some(expiration_after(Utc::now(), secs).ok_or_else(|| {
                    Error::usage(
                        format!("--expires-in {secs} is too far in the future"),
                        None,
                    )
                })?),
                None => expiration,
            };
            let token = client
                .post(
                    "/users/tokens/create",
                    &NewToken {
                        label,
                        expiration,
                        scopes: (!scopes.is_empty()).then_some(scopes),
                        workspace_id: only_workspace,
                        read_only: read_only.then_some(true),
                    },
                )
                .map_err(|e| {
                    e.hint_on(
                        400,
                        "an expiration must be in the future, and scopes are listed by 'wmill token scopes'",
                    )
                })?;
            crate::user::print_token(ctx, token.trim());
        }
        Cmd::Update {
            prefix,
            label,
            scopes,
        } => {
            if label.is_none() && scopes.is_empty() {
                return Err(Error::usage(
                    "nothing to change",
                    Some("pass --label and/or --scope"),
                ));
            }
            let mut messages = Vec::new();
            if let Some(label) = label {
                messages.push(client.post(
                    &format!("/users/tokens/update_label/{}", seg(&prefix)),
                    &TokenLabel { label },
                )?);
            }
            if !scopes.is_empty() {
                messages.push(
                    client
                        .post(
                            &format!("/users/tokens/update_scopes/{}", seg(&prefix)),
                            &TokenScopes { scopes },
                        )
                        .map_err(|e| e.hint_on(400, "list the scopes with 'wmill token scopes'"))?,
                );
            }
            ctx.out.done(
                &format!("Updated token {prefix}."),
                &messages.join("; "),
                json!({ "token_prefix": prefix }),
            );
        }
        Cmd::Scopes => {
            let domains: Vec<ScopeDomain> = client.get("/tokens/list/scopes", &[])?;
            let mut table = Table::new(&["SCOPE", "WHAT IT GRANTS"]);
            table.row(vec!["*".into(), "everything you may do".into()]);
            for d in &domains {
                for s in &d.scopes {
                    table.row(vec![s.value.clone(), s.label.clone()]);
                }
            }
            ctx.out.list(&domains, table, "No scopes.");
        }
        Cmd::Delete { token, yes } => {
            let r = ctx.resolve()?;
            let in_use = r.token.as_deref().is_some_and(|t| {
                token.chars().count() >= TOKEN_PREFIX_LEN && t.starts_with(token.as_str())
            });
            if in_use {
                confirm(
                    yes,
                    "Delete the token in use",
                    &format!(
                        "This is the token wmill is using (from {}): once deleted, commands fail until you log in again with 'wmill workspace add <name> <workspace_id> <remote> --email <email>'.",
                        ctx.token_source(&r)
                    ),
                )?;
            }
            let message = client
                .delete(&format!("/users/tokens/delete/{}", seg(&token)))
                // An ambiguous prefix (409) is explained by the server: pass the whole token.
                .map_err(|e| e.hint_on(404, "list your tokens with 'wmill token list'"))?;
            // Never echo a whole token back: its prefix identifies it.
            let prefix: String = token.chars().take(TOKEN_PREFIX_LEN).collect();
            ctx.out.done(
                &format!("Deleted token {prefix}."),
                &message,
                json!({ "token_prefix": prefix }),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_adds_seconds_in_utc() {
        let now = wmill_api::parse_timestamp("2026-01-01T23:59:30.5Z").unwrap();
        assert_eq!(
            expiration_after(now, 3600).unwrap(),
            "2026-01-02T00:59:30.500Z"
        );
        assert_eq!(
            expiration_after(now, 30).unwrap(),
            "2026-01-02T00:00:00.500Z"
        );
        assert_eq!(expiration_after(now, u64::MAX), None);
    }
}
