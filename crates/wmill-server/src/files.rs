//! The files the server keeps (the SQLite database and its journals, its lock file, the
//! initial password): readable by the server's user only, in a folder only that user can
//! enter when the server creates it.

use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Permission bits of group and others.
#[cfg(unix)]
const SHARED_BITS: u32 = 0o077;

/// Creates `dir` (and missing parents) with mode 0700. An existing folder is left as it is
/// (it may be the user's own), with a warning when others can enter it.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & SHARED_BITS != 0
            && !dir.as_os_str().is_empty()
        {
            tracing::warn!(
                "the folder {} can be entered by other users (mode {:o}); the server's files in it are owner-only",
                dir.display(),
                meta.permissions().mode() & 0o777
            );
        }
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir)
        .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))
}

/// Opens (creating if needed, never truncating) a file readable and writable by its owner
/// only; an existing one that others could read is restricted first.
pub fn open_private(path: &Path) -> Result<std::fs::File, String> {
    tighten_if_present(path)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).truncate(false).write(true).read(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Restricts an existing file to its owner (mode 0600) when others could read or write it.
pub fn tighten_if_present(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & SHARED_BITS != 0
    {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {} to its owner: {e}", path.display()))?;
        tracing::warn!(
            "{} was readable by other users; it is now readable by its owner only",
            path.display()
        );
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether others than the owner may read `path` (false when it does not exist).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & SHARED_BITS != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Writes `content` and a newline to a new owner-only file; fails if `path` exists.
pub fn write_new_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn files_are_owner_only_and_loose_ones_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        private_dir(&sub).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        let f = sub.join("db");
        open_private(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&f));
        open_private(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        assert!(!readable_by_others(&f));
        let p = sub.join("pw");
        write_new_private(&p, "secret").unwrap();
        assert_eq!(mode(&p), 0o600);
        assert!(write_new_private(&p, "other").is_err(), "never overwritten");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "secret\n");
    }
}
