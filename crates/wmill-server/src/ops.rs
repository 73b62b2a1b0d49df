//! The operations `wmill-server` runs instead of serving: `migrate` (a whole database into
//! an empty one, see [`transfer`](crate::store::sql::transfer)), `backup` and `restore` of
//! the SQLite database.

use std::io::Write;
use std::path::{Path, PathBuf};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::config::{Cli, Command};
use crate::store::sql::DbTarget;
use crate::store::sql::transfer::{TransferOptions, transfer};

/// Runs `command`; what it prints goes to stdout.
pub async fn run(command: &Command, cli: &Cli) -> Result<(), String> {
    let from = cli
        .database_url
        .clone()
        .unwrap_or_else(|| crate::DEFAULT_DATABASE_URL.into());
    match command {
        Command::Migrate { to, dry_run } => migrate(&from, to, &cli.data_dir, *dry_run).await,
        Command::Backup { file } => backup(&from, &cli.data_dir, file).await,
        Command::Restore { file } => restore(&from, &cli.data_dir, file).await,
        Command::Audit(cmd) => crate::audit_command(cmd, cli).await,
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn migrate(from: &str, to: &str, data_dir: &Path, dry_run: bool) -> Result<(), String> {
    let opts = TransferOptions {
        from: from.to_string(),
        to: to.to_string(),
        data_dir: data_dir.to_path_buf(),
        dry_run,
    };
    let report = transfer(&opts, &mut |line| say(line)).await?;
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    if report.dry_run {
        say(&format!(
            "dry run: would copy {rows} rows in {} tables; nothing was written",
            report.tables.len()
        ));
    } else {
        for t in &report.tables {
            say(&format!(
                "table {}: {} rows, checksum {}",
                t.name, t.rows, t.checksum
            ));
        }
        say(&format!(
            "migration complete: {rows} rows in {} tables copied and verified",
            report.tables.len()
        ));
    }
    Ok(())
}

/// The SQLite file of `url`, or a sentence saying that PostgreSQL is backed up otherwise.
fn sqlite_path(url: &str, data_dir: &Path, what: &str) -> Result<PathBuf, String> {
    match DbTarget::parse(url).map_err(|e| format!("--database-url: {e}"))? {
        DbTarget::Sqlite(p) => Ok(data_dir.join(p)),
        DbTarget::Postgres(_) => Err(format!(
            "{what} works on the SQLite database only; for PostgreSQL use pg_dump and \
             pg_restore (see docs/operations.md)"
        )),
    }
}

/// Checks that `path` is a sound wmill database: SQLite's integrity check passes and its
/// migrations are this binary's (or older ones, applied at the next start). Returns the
/// highest migration applied.
async fn check_database(path: &Path) -> Result<i64, String> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    let mut c = SqliteConnection::connect_with(&opts)
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .map_err(|e| format!("{} is not a SQLite database: {e}", path.display()))?;
    if check != "ok" {
        return Err(format!(
            "{} fails SQLite's integrity check: {check}",
            path.display()
        ));
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut c)
            .await
            .map_err(|_| format!("{} is not a wmill database", path.display()))?;
    let _ = c.close().await;
    let known = crate::store::sql::migration_versions(false);
    if let Some(v) = versions.iter().find(|v| !known.contains(v)) {
        return Err(format!(
            "{} has migration {v}, which this wmill-server does not know: use a newer one",
            path.display()
        ));
    }
    versions
        .last()
        .copied()
        .ok_or_else(|| format!("{} is not a wmill database", path.display()))
}

/// `VACUUM INTO` a new, owner-only file: a consistent snapshot (one read transaction),
/// taken while the server goes on writing (WAL readers do not block the writer).
async fn backup(url: &str, data_dir: &Path, file: &Path) -> Result<(), String> {
    let db = sqlite_path(url, data_dir, "backup")?;
    if !db.is_file() {
        return Err(format!("there is no SQLite database at {}", db.display()));
    }
    if file.exists() {
        return Err(format!(
            "{} exists already; a backup is never written over a file",
            file.display()
        ));
    }
    // Created owner-only and empty: VACUUM INTO keeps its permissions.
    drop(crate::files::open_private(file)?);
    let opts = SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30));
    let made = async {
        let mut c = SqliteConnection::connect_with(&opts)
            .await
            .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(file.to_string_lossy().into_owned())
            .execute(&mut c)
            .await
            .map_err(|e| format!("cannot write the backup {}: {e}", file.display()))?;
        let _ = c.close().await;
        check_database(file).await
    }
    .await;
    match made {
        Ok(version) => {
            let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
            say(&format!(
                "backup of {} written to {} ({size} bytes, schema version {version})",
                db.display(),
                file.display()
            ));
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(file);
            Err(e)
        }
    }
}

/// Copies a checked backup into place as the data folder's database, which must not exist
/// yet; a running server (holding the database's lock file) is refused.
async fn restore(url: &str, data_dir: &Path, file: &Path) -> Result<(), String> {
    let db = sqlite_path(url, data_dir, "restore")?;
    if !file.is_file() {
        return Err(format!("there is no backup file at {}", file.display()));
    }
    let version = check_database(file).await?;
    crate::files::private_dir(db.parent().unwrap_or(Path::new(".")))?;
    let _lock = crate::store::sql::lock_sqlite(&db)?;
    let mut side = db.clone().into_os_string();
    side.push("-wal");
    if db.exists() || Path::new(&side).exists() {
        return Err(format!(
            "{} exists already; restore into an empty data folder (or move that database away)",
            db.display()
        ));
    }
    let tmp = db.with_file_name(format!(".restore.{}.tmp", crate::random_password(8)));
    let placed = (|| -> Result<(), String> {
        let mut out = crate::files::open_private(&tmp)?;
        let mut input = std::fs::File::open(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        std::io::copy(&mut input, &mut out)
            .and_then(|_| out.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        // A hard link fails when the name exists: never over another database.
        std::fs::hard_link(&tmp, &db).map_err(|e| format!("cannot write {}: {e}", db.display()))
    })();
    let _ = std::fs::remove_file(&tmp);
    placed?;
    say(&format!(
        "restored {} as {} (schema version {version}); start wmill-server on it",
        file.display(),
        db.display()
    ));
    Ok(())
}
