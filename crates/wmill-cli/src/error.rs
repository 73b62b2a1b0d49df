//! The client's one error type: what went wrong, a hint for what to do, and which of the
//! documented exit codes it stands for (decided in `main`).

use std::fmt;

/// Everything a command can fail with.
#[derive(Debug)]
pub enum Error {
    /// The command line is wrong or incomplete (exit 2).
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// No server, token or workspace is configured for a command that needs one (exit 3).
    NotConfigured { message: String, hint: String },
    /// The server could not be reached at all (exit 3).
    Unreachable { url: String, detail: String },
    /// The server answered with an error status; `text` is its body as is (exit 1).
    Server {
        status: u16,
        text: String,
        hint: Option<String>,
    },
    /// The server answered 2xx with something we could not understand (exit 1).
    Protocol { message: String },
    /// A local file could not be read or written, or a check failed (exit 1).
    Failed {
        message: String,
        hint: Option<String>,
    },
}

/// Result of every command.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which documented exit code an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The server refused or failed the request, or a local file failed.
    Failed,
    /// The command line was wrong.
    Usage,
    /// No server reachable or no connection configured.
    Connection,
}

impl Error {
    /// A usage error with an optional hint.
    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self::Usage {
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    /// A failure on our side (a local file, a refused check).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            hint: None,
        }
    }

    /// Attaches `hint` to a server error answered with `status`, unless it already has one.
    pub fn hint_on(mut self, status: u16, hint: impl Into<String>) -> Self {
        if let Self::Server {
            status: s,
            hint: h @ None,
            ..
        } = &mut self
            && *s == status
        {
            *h = Some(hint.into());
        }
        self
    }

    /// The exit-code category of this error.
    pub fn category(&self) -> Category {
        match self {
            Self::Usage { .. } => Category::Usage,
            Self::NotConfigured { .. } | Self::Unreachable { .. } => Category::Connection,
            Self::Server { .. } | Self::Protocol { .. } | Self::Failed { .. } => Category::Failed,
        }
    }

    /// What the person can do about it, if we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Usage { hint, .. } | Self::Failed { hint, .. } => hint.clone(),
            Self::NotConfigured { hint, .. } => Some(hint.clone()),
            Self::Unreachable { .. } => Some(
                "check that the server is running and that --base-url (or the profile's remote) is right"
                    .to_owned(),
            ),
            Self::Server { status, hint, .. } => hint.clone().or_else(|| default_hint(*status)),
            Self::Protocol { .. } => {
                Some("check that the URL points to a wmill or Windmill server".to_owned())
            }
        }
    }
}

fn default_hint(status: u16) -> Option<String> {
    let hint = match status {
        401 => {
            "the token is missing, expired or revoked: run 'wmill workspace add <name> <workspace_id> <remote> --email <email>' or pass --token"
        }
        403 => {
            "this needs more rights: an admin's token, or a token whose scopes cover it ('wmill token list' shows each token's scopes)"
        }
        429 => "too many attempts: wait a few minutes before trying again",
        500..=599 => "the server failed: try again, and look at the server's log if it persists",
        _ => return None,
    };
    Some(hint.to_owned())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage { message, .. }
            | Self::NotConfigured { message, .. }
            | Self::Protocol { message }
            | Self::Failed { message, .. } => f.write_str(message),
            Self::Unreachable { url, detail } => {
                write!(f, "cannot reach the server at {url}: {detail}")
            }
            Self::Server { status, text, .. } => {
                // The server's own sentence is shown as is, on one line.
                let text = text.trim();
                if text.is_empty() {
                    write!(f, "the server answered HTTP {status} with no explanation")
                } else {
                    f.write_str(&text.replace(['\r', '\n'], " "))
                }
            }
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_the_server_text_on_one_line() {
        let e = Error::Server {
            status: 404,
            text: "Not found: group x\n".into(),
            hint: None,
        };
        assert_eq!(e.to_string(), "Not found: group x");
        assert_eq!(e.category(), Category::Failed);
        let e = e.hint_on(404, "list them");
        assert_eq!(e.hint().as_deref(), Some("list them"));
    }

    #[test]
    fn hint_on_ignores_other_statuses() {
        let e = Error::Server {
            status: 401,
            text: "Not authorized: Unauthorized".into(),
            hint: None,
        }
        .hint_on(404, "nope");
        assert!(e.hint().unwrap().contains("wmill workspace add"));
    }
}
