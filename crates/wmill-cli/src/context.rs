//! What every command runs with: the global options, the printer, and the connection
//! resolved from flags, then the environment, then the active profile.

use std::io::{BufRead, IsTerminal};

use crate::cli::{Global, Source};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::output::Out;
use crate::profile::{self, Profile, Store};

const ADD_HINT: &str = "run 'wmill workspace add <name> <workspace_id> <remote> --token <token>'";

/// The global options and the printer.
pub struct Ctx {
    pub global: Global,
    pub out: Out,
}

/// Connection settings after merging flags, environment and profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub remote: Option<String>,
    pub token: Option<String>,
    pub workspace: Option<String>,
    /// The profile that supplied any of the above.
    pub profile: Option<String>,
    /// A profile that was not used because it is for another server: (name, remote).
    pub skipped: Option<(String, String)>,
}

impl Resolved {
    /// Why the active profile was not used, as a sentence ending in a full stop, or "".
    pub fn skipped_note(&self, base_source: Source) -> String {
        match &self.skipped {
            Some((name, remote)) => format!(
                " Profile '{name}' was not used: it is for {remote}, not {} (from {}).",
                self.remote.as_deref().unwrap_or("?"),
                base_source
                    .describe("--base-url")
                    .unwrap_or_else(|| "?".into())
            ),
            None => String::new(),
        }
    }
}

impl Ctx {
    /// The profile store of the config folder in use.
    pub fn store(&self) -> Result<Store> {
        Store::load(profile::dir(self.global.config_dir.as_deref())?)
    }

    /// Merges flags/environment with the profile store (read only if something is missing).
    pub fn resolve(&self) -> Result<Resolved> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let base = nonempty(&self.global.base_url);
        let token = nonempty(&self.global.token);
        let workspace = nonempty(&self.global.workspace);
        if base.is_some() && token.is_some() && workspace.is_some() {
            return merge(base, token, workspace, None);
        }
        let store = self.store()?;
        let profile = match (&base, &workspace) {
            (None, Some(w)) => store.get(w).or_else(|| store.active_profile()),
            _ => store.active_profile(),
        };
        merge(base, token, workspace, profile)
    }

    /// A client for the server that sends no token (login, version).
    pub fn anon(&self) -> Result<Client> {
        let r = self.resolve()?;
        Ok(Client::new(&require_remote(&r)?, None))
    }

    /// A client that carries a token.
    pub fn authed(&self) -> Result<Client> {
        self.authed_from(&self.resolve()?)
    }

    /// A client that carries a token, from settings already resolved.
    pub fn authed_from(&self, r: &Resolved) -> Result<Client> {
        let remote = require_remote(r)?;
        let token = r.token.clone().ok_or_else(|| Error::NotConfigured {
            message: format!(
                "not logged in: no token.{}",
                r.skipped_note(self.global.sources.base_url)
            ),
            hint: format!("{ADD_HINT} or pass --token (or set WM_TOKEN)"),
        })?;
        Ok(Client::new(&remote, Some(token)))
    }

    /// A client with a token, and the workspace id to act on.
    pub fn in_workspace(&self) -> Result<(Client, String)> {
        let r = self.resolve()?;
        let client = self.authed_from(&r)?;
        let workspace = r.workspace.clone().ok_or_else(|| Error::NotConfigured {
            message: format!(
                "no workspace selected.{}",
                r.skipped_note(self.global.sources.base_url)
            ),
            hint: format!("pass --workspace <id> (or set WM_WORKSPACE), or {ADD_HINT}"),
        })?;
        Ok((client, workspace))
    }

    /// Where the workspace id in use came from, for messages.
    pub fn workspace_source(&self, r: &Resolved) -> String {
        match (
            self.global.sources.workspace.describe("--workspace"),
            &r.profile,
        ) {
            (Some(s), _) => s,
            (None, Some(p)) => format!("profile '{p}'"),
            (None, None) => "nowhere".into(),
        }
    }

    /// Where the token in use came from, for messages.
    pub fn token_source(&self, r: &Resolved) -> String {
        match (self.global.sources.token.describe("--token"), &r.profile) {
            (Some(s), _) => s,
            (None, Some(p)) => format!("profile '{p}'"),
            (None, None) => "nowhere".into(),
        }
    }

    /// Makes a refusal say which setting is at fault. The server's bare "Unauthorized" (a
    /// token it would not take, whatever the command hinted) is diagnosed: a token that works
    /// elsewhere is not "expired or revoked". A workspace that does not exist is named with
    /// where its id came from. Costs one request, on failure only.
    pub fn explain(&self, e: Error) -> Error {
        let Error::Server {
            status,
            ref text,
            ref hint,
        } = e
        else {
            return e;
        };
        let bare_401 = status == 401 && text.trim() == "Not authorized: Unauthorized";
        let missing_workspace =
            status == 404 && hint.is_none() && text.starts_with("Not found: workspace ");
        if !bare_401 && !missing_workspace {
            return e;
        }
        let Ok(r) = self.resolve() else { return e };
        let Some(remote) = r.remote.clone() else {
            return e;
        };
        let w = r.workspace.clone().unwrap_or_default();
        let wsource = self.workspace_source(&r);
        let new_hint = if missing_workspace {
            format!(
                "workspace '{w}' (from {wsource}) does not exist on {remote}: check the id, or pick another with --workspace"
            )
        } else {
            let Ok(client) = self.authed_from(&r) else {
                return e;
            };
            match client.get::<wmill_api::GlobalUserInfo>("/users/whoami", &[]) {
                Ok(me) if !w.is_empty() => format!(
                    "the token works ({}'s) but not in workspace '{w}' (from {wsource}): they are not a member, the workspace does not exist, or the token is pinned to another one; an admin of '{w}' can run 'wmill workspace add-user {}'",
                    me.email, me.email
                ),
                Ok(_) => return e,
                Err(_) => format!(
                    "the token (from {}) is expired, revoked or pinned to a workspace: log in again with 'wmill workspace add <name> <workspace_id> <remote> --email <email>', or pass --token",
                    self.token_source(&r)
                ),
            }
        };
        match e {
            Error::Server { status, text, .. } => Error::Server {
                status,
                text,
                hint: Some(new_hint),
            },
            e => e,
        }
    }
}

fn require_remote(r: &Resolved) -> Result<String> {
    r.remote.clone().ok_or_else(|| Error::NotConfigured {
        message: "no server configured".into(),
        hint: format!("{ADD_HINT} or pass --base-url (or set BASE_URL)"),
    })
}

/// Flags/environment win; the profile fills the gaps, but only when it is for the same
/// server (a profile's token is never sent to another server).
pub fn merge(
    base: Option<String>,
    token: Option<String>,
    workspace: Option<String>,
    profile: Option<&Profile>,
) -> Result<Resolved> {
    let base = base.map(|b| profile::normalize_remote(&b)).transpose()?;
    let same_server = |p: &&Profile| match &base {
        None => true,
        Some(b) => profile::normalize_remote(&p.remote).ok().as_deref() == Some(b.as_str()),
    };
    let skipped = profile
        .filter(|p| !same_server(p))
        .map(|p| (p.name.clone(), p.remote.clone()));
    let Some(p) = profile.filter(same_server) else {
        return Ok(Resolved {
            remote: base,
            token,
            workspace,
            profile: None,
            skipped,
        });
    };
    // `--workspace <profile name>` selects that profile's workspace id.
    let workspace = match workspace {
        Some(w) if w == p.name => Some(p.workspace_id.clone()),
        Some(w) => Some(w),
        None => Some(p.workspace_id.clone()),
    };
    Ok(Resolved {
        remote: base.or_else(|| Some(p.remote.clone())),
        token: token.or_else(|| Some(p.token.clone())),
        workspace,
        profile: Some(p.name.clone()),
        skipped: None,
    })
}

/// A password: given, read from stdin (`--password-stdin`), or else asked for without echo
/// when stdin is a terminal; a usage error otherwise.
pub fn password_or_prompt(
    given: Option<String>,
    from_stdin: bool,
    what: &str,
    flag: &str,
) -> Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if from_stdin {
        return read_stdin_secret("--password-stdin");
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!("{what} needs a password and stdin is not a terminal"),
            Some(&format!(
                "pass {flag} <password> or pipe it with --password-stdin"
            )),
        ));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|e| Error::failed(format!("cannot read the password: {e}")))
}

/// Asks before a destructive command: `--yes` skips the question; on a terminal, `cost`
/// (what will be lost) is shown and the answer must be y or yes; without a terminal, nothing
/// is asked and nothing is done.
pub fn confirm(yes: bool, action: &str, cost: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        return Err(Error::usage(
            format!(
                "not confirmed, nothing done: {action} asks for confirmation and stdin is not a terminal. {cost}"
            ),
            Some("add --yes to confirm"),
        ));
    }
    eprint!("{cost}\n{action}? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::failed(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Failed {
            message: format!("cancelled: {action} was not confirmed, nothing was changed"),
            hint: Some("answer y to confirm, or pass --yes".into()),
        }),
    }
}

/// A secret on the first line of stdin (without its line ending); `flag` names the option
/// that asked for it. Only the line ending is removed: spaces may belong to a password.
pub fn read_stdin_secret(flag: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ")
            .map_err(|e| Error::failed(format!("cannot read the password: {e}")));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::failed(format!("{flag}: cannot read stdin: {e}")))?;
    let secret = line.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(Error::usage(
            format!("{flag} read nothing: stdin was empty"),
            Some("pipe the secret in, e.g. 'printf %s \"$SECRET\" | wmill …'"),
        ));
    }
    Ok(secret.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prof() -> Profile {
        Profile {
            name: "prod".into(),
            remote: "http://h:1/".into(),
            workspace_id: "ws".into(),
            token: "tok".into(),
        }
    }

    #[test]
    fn profile_fills_the_gaps() {
        let r = merge(None, None, None, Some(&prof())).unwrap();
        assert_eq!(r.remote.as_deref(), Some("http://h:1/"));
        assert_eq!(r.token.as_deref(), Some("tok"));
        assert_eq!(r.workspace.as_deref(), Some("ws"));
    }

    #[test]
    fn flags_beat_the_profile() {
        let r = merge(None, Some("t2".into()), Some("other".into()), Some(&prof())).unwrap();
        assert_eq!(r.token.as_deref(), Some("t2"));
        assert_eq!(r.workspace.as_deref(), Some("other"));
        assert_eq!(r.remote.as_deref(), Some("http://h:1/"));
    }

    #[test]
    fn workspace_may_name_the_profile() {
        let r = merge(None, None, Some("prod".into()), Some(&prof())).unwrap();
        assert_eq!(r.workspace.as_deref(), Some("ws"));
    }

    #[test]
    fn a_profile_for_another_server_is_not_used() {
        let r = merge(Some("http://other:2".into()), None, None, Some(&prof())).unwrap();
        assert_eq!(r.remote.as_deref(), Some("http://other:2/"));
        assert_eq!(r.token, None);
        assert_eq!(r.workspace, None);
        let same = merge(Some("http://h:1".into()), None, None, Some(&prof())).unwrap();
        assert_eq!(same.token.as_deref(), Some("tok"));
    }
}
