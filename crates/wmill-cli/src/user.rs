//! `wmill user`: instance accounts (superadmin only), and tokens for a login.

use clap::Subcommand;
use serde_json::json;
use wmill_api::{
    ChangeEmail, CreateUser, GlobalUserInfo, ImpersonateToken, Login, NewToken, RenameUser,
    SetPassword, UpdateInstanceUser,
};

use crate::client::seg;
use crate::context::{Ctx, confirm, password_or_prompt, read_stdin_secret};
use crate::error::{Error, Result};
use crate::output::{Table, opt, yes_no};

/// Length of a generated password: 24 characters of 62 ≈ 143 bits.
const GENERATED_LEN: usize = 24;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `wmill user [COMMAND]`; without a command, lists the users.
#[derive(Debug, clap::Args)]
#[command(after_help = "Without a command, `wmill user` lists the instance's users.")]
pub struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Create an instance user; without a password, generate a strong one and print it once
    Add {
        /// The new user's email
        email: String,
        /// Their password [default: 24 random characters, printed once]
        #[arg(conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read their password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
        /// Make them a superadmin
        #[arg(long)]
        superadmin: bool,
        /// Their company
        #[arg(long)]
        company: Option<String>,
        /// Their full name
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete an instance user, their memberships and their tokens
    Remove {
        /// The user's email
        email: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Print a new token, and nothing else: for --email/--password (no login needed), else for
    /// the current login
    CreateToken {
        /// Log in as this user instead of using the current login
        #[arg(long)]
        email: Option<String>,
        /// Their password [default: asked for when stdin is a terminal]
        #[arg(long, requires = "email", conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of stdin
        #[arg(long, requires = "email")]
        password_stdin: bool,
    },
    /// List instance users (superadmins first, then by email)
    List,
    /// Change a user: superadmin or not, enabled or not, name, company (superadmins)
    #[command(after_help = "Disabling a user ends every token they hold or minted.")]
    Update {
        /// The user's email
        email: String,
        /// Make them a superadmin
        #[arg(long, conflicts_with = "no_superadmin")]
        superadmin: bool,
        /// Take superadmin away
        #[arg(long)]
        no_superadmin: bool,
        /// Disable the account (its tokens end)
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the account again
        #[arg(long)]
        enable: bool,
        /// Their full name
        #[arg(long)]
        name: Option<String>,
        /// Their company
        #[arg(long)]
        company: Option<String>,
    },
    /// Set a password: yours, or (superadmins) another user's; their login sessions end
    SetPassword {
        /// The user's email [default: you]
        email: Option<String>,
        /// The new password [default: asked for when stdin is a terminal]
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the new password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
        /// End their API and impersonation tokens too
        #[arg(long)]
        revoke_tokens: bool,
    },
    /// Give a user another username, in every workspace (superadmins)
    Rename {
        /// The user's email
        email: String,
        /// The new username
        new_username: String,
    },
    /// Move a user to another email, with their username, memberships and tokens
    /// (superadmins)
    ChangeEmail {
        /// The user's current email
        email: String,
        /// The new email
        new_email: String,
    },
    /// Print a token to act as another user, and nothing else; it expires within the
    /// server's impersonation limit and names you in the audit log (superadmins)
    Impersonate {
        /// The user's email
        email: String,
        /// A label to recognise it by
        #[arg(long)]
        label: Option<String>,
    },
}

/// What removing `email` costs, for the confirmation; what the server cannot tell is left
/// out (the server refuses what it must anyway).
fn removal_cost(client: &crate::client::Client, email: &str) -> String {
    let mut cost = format!(
        "Removing {email} deletes the account, its membership of every workspace, the group ownerships held under its usernames and all its tokens. This cannot be undone."
    );
    let is = |a: &str| a.eq_ignore_ascii_case(email);
    if let Ok(me) = client.get::<GlobalUserInfo>("/users/whoami", &[])
        && is(&me.email)
    {
        cost.push_str(" It is your own account: the token you are using stops working.");
    }
    if let Ok(users) = client.get_all::<GlobalUserInfo>("/users/list_as_super_admin", &[]) {
        let supers: Vec<&GlobalUserInfo> = users
            .iter()
            .filter(|u| u.super_admin && !u.disabled)
            .collect();
        if supers.len() == 1 && is(&supers[0].email) {
            cost.push_str(
                " It is the last enabled superadmin, so the server will refuse: make another account superadmin first ('wmill user update <email> --superadmin').",
            );
        }
    }
    cost
}

/// Runs `wmill user …`.
pub fn run(ctx: &Ctx, args: Args) -> Result<()> {
    match args.command.unwrap_or(Cmd::List) {
        Cmd::List => list(ctx),
        Cmd::Add {
            email,
            password,
            password_stdin,
            superadmin,
            company,
            name,
        } => {
            let client = ctx.authed()?;
            let password = match password_stdin {
                true => Some(read_stdin_secret("--password-stdin")?),
                false => password,
            };
            let generated = password.is_none();
            let password = match password {
                Some(p) => p,
                None => generate_password(GENERATED_LEN)?,
            };
            let body = CreateUser {
                email: email.clone(),
                password: password.clone(),
                super_admin: superadmin,
                name,
                company,
            };
            let message = client.post("/users/create", &body).map_err(|e| {
                e.hint_on(
                    409,
                    "that email is taken: pick another one or remove the user first",
                )
                .hint_on(401, "creating users needs a superadmin's token")
            })?;
            let role = if superadmin { "superadmin" } else { "user" };
            if generated && ctx.out.is_quiet() && !ctx.out.is_json() {
                // Quiet, but the password is the data this command produced.
                ctx.out.text(&password);
            } else if generated {
                ctx.out.done(
                    &format!("Created {role} {email} with password: {password}\n(shown only once: store it now)"),
                    &message,
                    json!({ "email": email, "password": password }),
                );
            } else {
                ctx.out.done(
                    &format!("Created {role} {email}."),
                    &message,
                    json!({ "email": email }),
                );
            }
            Ok(())
        }
        Cmd::Remove { email, yes } => {
            let client = ctx.authed()?;
            if !yes {
                confirm(
                    false,
                    &format!("Remove user {email}"),
                    &removal_cost(&client, &email),
                )?;
            }
            let message = client
                .delete(&format!("/users/delete/{}", seg(&email)))
                .map_err(|e| {
                    e.hint_on(404, "list users with 'wmill user list'")
                        .hint_on(401, "removing users needs a superadmin's token")
                })?;
            ctx.out.done(
                &format!("Removed user {email}."),
                &message,
                json!({ "email": email }),
            );
            Ok(())
        }
        Cmd::Update {
            email,
            superadmin,
            no_superadmin,
            disable,
            enable,
            name,
            company,
        } => {
            let body = UpdateInstanceUser {
                is_super_admin: (superadmin || no_superadmin).then_some(superadmin),
                disabled: (disable || enable).then_some(disable),
                name,
                company,
            };
            if body.is_super_admin.is_none()
                && body.disabled.is_none()
                && body.name.is_none()
                && body.company.is_none()
            {
                return Err(Error::usage(
                    "nothing to change",
                    Some(
                        "give --superadmin, --no-superadmin, --disable, --enable, --name or --company",
                    ),
                ));
            }
            let message = ctx
                .authed()?
                .post(&format!("/users/update/{}", seg(&email)), &body)
                .map_err(|e| {
                    e.hint_on(404, "list users with 'wmill user list'")
                        .hint_on(401, "changing users needs a superadmin's token")
                })?;
            ctx.out.done(
                &format!("Updated user {email}."),
                &message,
                json!({ "email": email }),
            );
            Ok(())
        }
        Cmd::SetPassword {
            email,
            password,
            password_stdin,
            revoke_tokens,
        } => {
            let password =
                password_or_prompt(password, password_stdin, "setting a password", "--password")?;
            let body = SetPassword {
                password,
                revoke_tokens: revoke_tokens.then_some(true),
            };
            let client = ctx.authed()?;
            let (path, who) = match &email {
                Some(e) => (format!("/users/set_password_of/{}", seg(e)), e.clone()),
                None => ("/users/setpassword".to_owned(), "your account".to_owned()),
            };
            let message = client.post(&path, &body).map_err(|e| {
                e.hint_on(404, "list users with 'wmill user list'").hint_on(
                    401,
                    "setting another user's password needs a superadmin's token",
                )
            })?;
            ctx.out.done(
                &format!("Set the password of {who}."),
                &message,
                json!({ "email": email }),
            );
            Ok(())
        }
        Cmd::Rename {
            email,
            new_username,
        } => {
            let message = ctx
                .authed()?
                .post(
                    &format!("/users/rename/{}", seg(&email)),
                    &RenameUser {
                        new_username: new_username.clone(),
                    },
                )
                .map_err(|e| {
                    e.hint_on(409, "pick another username")
                        .hint_on(404, "list users with 'wmill user list'")
                })?;
            ctx.out.done(
                &format!("{email} is now {new_username}."),
                &message,
                json!({ "email": email, "username": new_username }),
            );
            Ok(())
        }
        Cmd::ChangeEmail { email, new_email } => {
            let message = ctx
                .authed()?
                .post(
                    &format!("/users/change_email/{}", seg(&email)),
                    &ChangeEmail {
                        new_email: new_email.clone(),
                    },
                )
                .map_err(|e| {
                    e.hint_on(409, "that email belongs to someone else")
                        .hint_on(404, "list users with 'wmill user list'")
                })?;
            ctx.out.done(
                &format!("{email} is now {new_email}."),
                &message,
                json!({ "email": new_email, "previous_email": email }),
            );
            Ok(())
        }
        Cmd::Impersonate { email, label } => {
            let token = ctx
                .authed()?
                .post(
                    "/users/tokens/impersonate",
                    &ImpersonateToken {
                        impersonate_email: email,
                        label,
                        expiration: None,
                    },
                )
                .map_err(|e| {
                    e.hint_on(401, "impersonating needs a superadmin's token")
                        .hint_on(404, "list users with 'wmill user list'")
                })?;
            print_token(ctx, token.trim());
            Ok(())
        }
        Cmd::CreateToken {
            email,
            password,
            password_stdin,
        } => {
            let token = match email {
                Some(email) => {
                    let password =
                        password_or_prompt(password, password_stdin, "logging in", "--password")?;
                    ctx.anon()?
                        .post("/auth/login", &Login { email, password })
                        .map_err(|e| e.hint_on(400, "check the email and password"))?
                }
                None => ctx
                    .authed()?
                    .post("/users/tokens/create", &NewToken::default())?,
            };
            print_token(ctx, token.trim());
            Ok(())
        }
    }
}

/// Prints a minted token: the raw token alone, or `{"token": …}` with `--json`.
pub fn print_token(ctx: &Ctx, token: &str) {
    if ctx.out.is_json() {
        ctx.out.json_doc(&json!({ "token": token }));
    } else {
        ctx.out.text(token);
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let client = ctx.authed()?;
    let users: Vec<GlobalUserInfo> = client
        .get_all("/users/list_as_super_admin", &[])
        .map_err(|e| e.hint_on(401, "listing instance users needs a superadmin's token"))?;
    let mut table = Table::new(&[
        "EMAIL",
        "USERNAME",
        "NAME",
        "COMPANY",
        "SUPERADMIN",
        "DISABLED",
    ]);
    for u in &users {
        table.row(vec![
            u.email.clone(),
            opt(&u.username),
            opt(&u.name),
            opt(&u.company),
            yes_no(u.super_admin),
            yes_no(u.disabled),
        ]);
    }
    ctx.out.list(&users, table, "No users.");
    Ok(())
}

/// `len` characters of `[A-Za-z0-9]` from the OS CSPRNG, without modulo bias.
pub fn generate_password(len: usize) -> Result<String> {
    // 248 = 4 × 62: bytes at or above it are rejected so every character is equally likely.
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)
            .map_err(|e| Error::failed(format!("cannot get random bytes from the OS: {e}")))?;
        for &b in buf.iter().filter(|&&b| b < LIMIT) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_differ() {
        let a = generate_password(GENERATED_LEN).unwrap();
        let b = generate_password(GENERATED_LEN).unwrap();
        assert!(a.len() >= 20);
        assert_eq!(a.len(), GENERATED_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn generated_passwords_use_the_whole_alphabet() {
        let many = generate_password(20_000).unwrap();
        for &c in ALPHABET {
            assert!(many.contains(c as char), "never saw {}", c as char);
        }
    }
}
