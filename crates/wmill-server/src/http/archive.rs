//! The zip archive Windmill's `sync pull` reads: one file per user and group, and the
//! settings, without directory entries (the official client loops on them).

use std::io::{Cursor, Write};

use crate::service::SyncFiles;

/// Whether a name can be a file of the archive as it is: no separators, no `..`, nothing
/// that a client writing the files could be led astray by.
fn safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// The archive of `files`. Users whose email could not be a file name (a `/` in it) are
/// left out.
pub fn zip(files: &SyncFiles) -> Result<Vec<u8>, String> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    let mut add = |name: String, body: Vec<u8>| -> Result<(), String> {
        w.start_file(name, options).map_err(|e| e.to_string())?;
        w.write_all(&body).map_err(|e| e.to_string())
    };
    for u in files.users.iter().filter(|u| safe(&u.email)) {
        let body = serde_json::to_vec_pretty(u).map_err(|e| e.to_string())?;
        add(format!("users/{}.user.json", u.email), body)?;
    }
    for g in files.groups.iter().filter(|g| safe(&g.name)) {
        let body = serde_json::to_vec_pretty(g).map_err(|e| e.to_string())?;
        add(format!("groups/{}.group.json", g.name), body)?;
    }
    if let Some(s) = &files.settings {
        add(
            "settings.json".into(),
            serde_json::to_vec_pretty(s).map_err(|e| e.to_string())?,
        )?;
    }
    w.finish()
        .map(Cursor::into_inner)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::SyncFiles;

    #[test]
    fn names_that_could_leave_the_folder_are_not_files() {
        for bad in ["", ".hidden", "../x", "a/b", "a\\b", "nul\0", "line\nbreak"] {
            assert!(!safe(bad), "{bad:?}");
        }
        assert!(safe("alice@example.com"));
    }

    #[test]
    fn the_archive_has_only_files_and_no_unsafe_name() {
        use crate::service::{SyncGroup, SyncUser};
        let user = |email: &str| SyncUser {
            email: email.into(),
            disabled: false,
            role: "developer",
            username: "u".into(),
        };
        let files = SyncFiles {
            users: vec![
                user("a@example.com"),
                user("../../etc/passwd@x.y"),
                user("a/b@example.com"),
            ],
            groups: vec![SyncGroup {
                name: "devs".into(),
                summary: None,
                admins: vec![],
                members: vec!["u/u".into()],
            }],
            settings: Some(serde_json::json!({"name": "W"})),
        };
        let bytes = zip(&files).unwrap();
        let mut archive = ::zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = archive.file_names().map(String::from).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "groups/devs.group.json",
                "settings.json",
                "users/a@example.com.user.json"
            ]
        );
        for i in 0..archive.len() {
            assert!(!archive.by_index(i).unwrap().is_dir());
        }
    }
}
