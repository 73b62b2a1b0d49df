//! What every command runs with: the global options, the printer, and the connection
//! resolved from flags, then the environment, then the active profile.

use std::io::IsTerminal;

use crate::cli::Global;
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
        Self::authed_from(&self.resolve()?)
    }

    /// A client that carries a token, from settings already resolved.
    pub fn authed_from(r: &Resolved) -> Result<Client> {
        let remote = require_remote(r)?;
        let token = r.token.clone().ok_or_else(|| Error::NotConfigured {
            message: "not logged in: no token".into(),
            hint: format!("{ADD_HINT} or pass --token (or set WM_TOKEN)"),
        })?;
        Ok(Client::new(&remote, Some(token)))
    }

    /// A client with a token, and the workspace id to act on.
    pub fn in_workspace(&self) -> Result<(Client, String)> {
        let r = self.resolve()?;
        let remote = require_remote(&r)?;
        let token = r.token.ok_or_else(|| Error::NotConfigured {
            message: "not logged in: no token".into(),
            hint: format!("{ADD_HINT} or pass --token (or set WM_TOKEN)"),
        })?;
        let workspace = r.workspace.ok_or_else(|| Error::NotConfigured {
            message: "no workspace selected".into(),
            hint: format!("pass --workspace <id> (or set WM_WORKSPACE), or {ADD_HINT}"),
        })?;
        Ok((Client::new(&remote, Some(token)), workspace))
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
    let profile = profile.filter(|p| match &base {
        None => true,
        Some(b) => profile::normalize_remote(&p.remote).ok().as_deref() == Some(b.as_str()),
    });
    let Some(p) = profile else {
        return Ok(Resolved {
            remote: base,
            token,
            workspace,
            profile: None,
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
    })
}

/// A password that was not given: asked for without echo when stdin is a terminal, a
/// usage error otherwise.
pub fn password_or_prompt(given: Option<String>, what: &str, flag: &str) -> Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!("{what} needs a password and stdin is not a terminal"),
            Some(&format!("pass {flag} <password>")),
        ));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|e| Error::failed(format!("cannot read the password: {e}")))
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
