//! Connection profiles, stored where and how Windmill's own client stores them:
//! `<config>/windmill/remotes.ndjson` (one `{"name","remote","workspaceId","token"}` per
//! line) and `<config>/windmill/activeWorkspace` (the active profile's name).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One saved connection, exactly Windmill's fields in Windmill's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    /// Base URL with a trailing slash, as Windmill writes it.
    pub remote: String,
    #[serde(rename = "workspaceId")]
    pub workspace_id: String,
    pub token: String,
}

/// The folder holding Windmill's profile files: `<config>/windmill`, where `<config>` is
/// `--config-dir` / `WMILL_CONFIG_DIR` if given, else `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn dir(config_dir: Option<&Path>) -> Result<PathBuf> {
    let base = match config_dir {
        Some(d) => d.to_path_buf(),
        None => match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".config"),
                None => {
                    return Err(Error::NotConfigured {
                        message: "cannot find a configuration folder: HOME is not set".into(),
                        hint: "pass --config-dir <dir> or set WMILL_CONFIG_DIR".into(),
                    });
                }
            },
        },
    };
    Ok(base.join("windmill"))
}

/// The saved profiles and the name of the active one, read from one config folder.
#[derive(Debug, Clone, Default)]
pub struct Store {
    dir: PathBuf,
    pub profiles: Vec<Profile>,
    pub active: Option<String>,
}

impl Store {
    /// Reads the folder's files; missing files are an empty store.
    pub fn load(dir: PathBuf) -> Result<Self> {
        let remotes = dir.join("remotes.ndjson");
        let profiles = match fs::read_to_string(&remotes) {
            Ok(text) => parse_remotes(&text).map_err(|e| Error::Failed {
                message: format!("cannot read {}: {e}", remotes.display()),
                hint: Some(
                    "fix or remove that line, or remove the profile and add it again".into(),
                ),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(Error::failed(format!(
                    "cannot read {}: {e}",
                    remotes.display()
                )));
            }
        };
        let active = match fs::read_to_string(dir.join("activeWorkspace")) {
            Ok(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Err(_) => None,
        };
        Ok(Self {
            dir,
            profiles,
            active,
        })
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// The active profile, if it names a saved one.
    pub fn active_profile(&self) -> Option<&Profile> {
        self.active.as_deref().and_then(|n| self.get(n))
    }

    /// Adds `profile`, replacing one of the same name; returns whether one was replaced.
    pub fn upsert(&mut self, profile: Profile) -> bool {
        match self.profiles.iter_mut().find(|p| p.name == profile.name) {
            Some(p) => {
                *p = profile;
                true
            }
            None => {
                self.profiles.push(profile);
                false
            }
        }
    }

    /// Removes the profile called `name`; returns whether it existed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.profiles.len();
        self.profiles.retain(|p| p.name != name);
        if self.active.as_deref() == Some(name) {
            self.active = None;
        }
        before != self.profiles.len()
    }

    /// The folder the files live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes both files back (owner-only permissions, replaced atomically).
    pub fn save(&self) -> Result<()> {
        create_private_dir(&self.dir)?;
        write_private(
            &self.dir.join("remotes.ndjson"),
            render_remotes(&self.profiles).as_bytes(),
        )?;
        let active = self.dir.join("activeWorkspace");
        match &self.active {
            Some(name) => write_private(&active, name.as_bytes()),
            None => match fs::remove_file(&active) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::failed(format!(
                    "cannot remove {}: {e}",
                    active.display()
                ))),
            },
        }
    }
}

/// Parses `remotes.ndjson`; blank lines are skipped, unknown fields ignored.
pub fn parse_remotes(text: &str) -> std::result::Result<Vec<Profile>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Profile>(l).map_err(|e| format!("line {}: {e}", i + 1))
        })
        .collect()
}

/// Renders profiles as Windmill writes them: one compact JSON object per line.
pub fn render_remotes(profiles: &[Profile]) -> String {
    let mut s = String::new();
    for p in profiles {
        // Serialising a struct of strings cannot fail.
        s.push_str(&serde_json::to_string(p).unwrap_or_default());
        s.push('\n');
    }
    s
}

/// A remote as Windmill stores it: `http(s)://host[:port]/[path/]`, with a trailing slash.
pub fn normalize_remote(remote: &str) -> Result<String> {
    let r = remote.trim();
    let rest = r
        .strip_prefix("http://")
        .or_else(|| r.strip_prefix("https://"))
        .ok_or_else(|| {
            Error::usage(
                format!("'{remote}' is not an http:// or https:// URL"),
                Some("give the server's base URL, e.g. http://127.0.0.1:8000/"),
            )
        })?;
    if rest.is_empty() || rest.starts_with('/') || r.contains(['?', '#', ' ']) {
        return Err(Error::usage(
            format!("'{remote}' is not a server base URL"),
            Some("give the server's base URL, e.g. http://127.0.0.1:8000/"),
        ));
    }
    let mut r = r.to_owned();
    if !r.ends_with('/') {
        r.push('/');
    }
    Ok(r)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", dir.display())))
}

/// Writes `bytes` to a fresh owner-only file next to `path`, then renames it over `path`.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::failed(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        #[cfg(unix)]
        {
            // A stale temp file may predate us with wider permissions.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDMILL_LINE: &str = r#"{"name":"prof1","remote":"http://127.0.0.1:18765/","workspaceId":"demo","token":"faketoken"}"#;

    #[test]
    fn parses_windmill_lines_and_skips_blank_ones() {
        let text = format!("{WINDMILL_LINE}\n\n{WINDMILL_LINE}\n");
        let profiles = parse_remotes(&text).unwrap();
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[0].workspace_id, "demo");
        assert_eq!(profiles[0].remote, "http://127.0.0.1:18765/");
    }

    #[test]
    fn renders_exactly_windmills_line() {
        let profiles = parse_remotes(WINDMILL_LINE).unwrap();
        assert_eq!(render_remotes(&profiles), format!("{WINDMILL_LINE}\n"));
    }

    #[test]
    fn ignores_unknown_fields_and_reports_bad_lines() {
        let extra = r#"{"name":"a","remote":"http://h/","workspaceId":"w","token":"t","x":1}"#;
        assert_eq!(parse_remotes(extra).unwrap()[0].name, "a");
        let err = parse_remotes(&format!("{WINDMILL_LINE}\nnot json")).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn remotes_get_a_trailing_slash() {
        assert_eq!(
            normalize_remote("http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000/"
        );
        assert_eq!(
            normalize_remote("https://h/sub/").unwrap(),
            "https://h/sub/"
        );
        assert!(normalize_remote("127.0.0.1:8000").is_err());
        assert!(normalize_remote("http://").is_err());
    }

    #[test]
    fn upsert_replaces_and_remove_clears_active() {
        let mut s = Store::default();
        let p = parse_remotes(WINDMILL_LINE).unwrap().remove(0);
        assert!(!s.upsert(p.clone()));
        assert!(s.upsert(p));
        s.active = Some("prof1".into());
        assert!(s.remove("prof1"));
        assert!(s.active.is_none());
        assert!(!s.remove("prof1"));
    }
}
