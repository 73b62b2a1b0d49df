//! `wmill-server migrate`: copies a whole database, SQLite to PostgreSQL or back, into an
//! empty one.
//!
//! Generic over the schema, so that a table added by a later migration is copied without a
//! change here: the source's tables and columns are enumerated from its catalogue (every
//! table but sqlx's `_sqlx_migrations`, SQLite's own and PostgreSQL's `cache_instance`, the
//! running instances' cache leases, which belong to no copy), each column's declared type is
//! mapped to a logical type (integer, boolean, text, bytes, float; anything else is refused
//! before a row moves), and rows are read in primary-key order and written in
//! foreign-key order.
//!
//! Everything happens in one transaction on the target: this binary's migrations are applied
//! in it (sqlx runs each in a savepoint), the rows the migrations seeded are replaced by the
//! source's, every table is copied (PostgreSQL: `COPY … FROM STDIN`; SQLite: multi-row
//! inserts), PostgreSQL's sequences are moved past the copied ids, and every table's row
//! count and content checksum are read back and compared with the source's before the
//! commit. A failure, or the process being killed, leaves the target as it was: empty.
//!
//! The checksum of a table is computed on a canonical form that both databases give alike:
//! each row's values converted to their logical type, encoded with the column names in
//! sorted order, hashed with SHA-256; the table's checksum is the row count and the sum
//! (modulo 2^128) of the rows' first 128 bits, which does not depend on the order rows come
//! back in (collations differ between the databases).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, Row, TypeInfo, ValueRef};

use super::{DbTarget, lock_sqlite, migrator};

/// What `migrate` is asked to do.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// The database to copy (`--database-url`, default the SQLite file in the data folder).
    pub from: String,
    /// The empty database to copy into (`--to`).
    pub to: String,
    /// Relative SQLite paths are taken relative to it.
    pub data_dir: PathBuf,
    /// Report what would be copied, write nothing.
    pub dry_run: bool,
}

/// One table copied (or, in a dry run, to copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub name: String,
    pub rows: u64,
    /// `count:sum` in hex, equal on both sides; empty in a dry run.
    pub checksum: String,
}

/// What `migrate` did.
#[derive(Debug, Clone)]
pub struct TransferReport {
    pub tables: Vec<TableReport>,
    pub dry_run: bool,
}

/// The logical type of a column, the same on both databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Text,
    Bytes,
    Float,
}

impl Kind {
    /// From a declared type (SQLite's `pragma table_info`, PostgreSQL's
    /// `information_schema.columns.data_type`).
    fn of(declared: &str) -> Option<Kind> {
        let t = declared.trim().to_ascii_lowercase();
        Some(match t.as_str() {
            "integer" | "int" | "bigint" | "smallint" | "int2" | "int4" | "int8" => Kind::Int,
            "boolean" | "bool" => Kind::Bool,
            "text" | "character varying" | "varchar" | "character" | "char" => Kind::Text,
            "blob" | "bytea" => Kind::Bytes,
            "real" | "double precision" | "double" | "float" | "float8" | "float4" => Kind::Float,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Col {
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    /// In the database's column order.
    cols: Vec<Col>,
    /// Primary-key columns, in key order (all columns when there is none).
    order_by: Vec<String>,
    /// Tables this one references (itself excluded).
    refs: BTreeSet<String>,
    /// PostgreSQL: columns fed by a sequence (serial or identity).
    sequences: Vec<String>,
}

/// A value in its logical type.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Float(f64),
}

/// A connection opened by [`open`].
enum Owned {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Owned {
    async fn close(self) {
        let _ = match self {
            Owned::Sqlite(c) => c.close().await,
            Owned::Pg(c) => c.close().await,
        };
    }

    fn conn(&mut self) -> Conn<'_> {
        match self {
            Owned::Sqlite(c) => Conn::Sqlite(c),
            Owned::Pg(c) => Conn::Pg(c),
        }
    }
}

/// A connection (or a transaction's) of either database.
enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

/// `"name"`, quoted for both databases.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn at(table: &str, col: &str, e: impl std::fmt::Display) -> String {
    format!("table {table}, column {col}: {e}")
}

/// Decodes column `i` of a SQLite row into `kind` (SQLite keeps booleans as 0 and 1).
fn sqlite_val(row: &SqliteRow, i: usize, kind: Kind) -> Result<Val, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Val::Null);
    }
    let class = raw.type_info().name().to_string();
    let wrong = || format!("holds a {class} value where {kind:?} is expected");
    let e = |e: sqlx::Error| e.to_string();
    Ok(match (kind, class.as_str()) {
        (Kind::Int, "INTEGER") => Val::Int(row.try_get(i).map_err(e)?),
        (Kind::Bool, "INTEGER") => match row.try_get::<i64, _>(i).map_err(e)? {
            0 => Val::Bool(false),
            1 => Val::Bool(true),
            n => return Err(format!("holds {n} where a boolean (0 or 1) is expected")),
        },
        (Kind::Text, "TEXT") => Val::Text(row.try_get(i).map_err(e)?),
        (Kind::Bytes, "BLOB") => Val::Bytes(row.try_get(i).map_err(e)?),
        (Kind::Float, "REAL") => Val::Float(row.try_get(i).map_err(e)?),
        (Kind::Float, "INTEGER") => Val::Float(row.try_get::<i64, _>(i).map_err(e)? as f64),
        _ => return Err(wrong()),
    })
}

/// Decodes column `i` of a PostgreSQL row into `kind`.
fn pg_val(row: &PgRow, i: usize, kind: Kind) -> Result<Val, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Val::Null);
    }
    let ty = raw.type_info().name().to_string();
    let e = |e: sqlx::Error| e.to_string();
    Ok(match (kind, ty.as_str()) {
        (Kind::Int, "INT8") => Val::Int(row.try_get(i).map_err(e)?),
        (Kind::Int, "INT4") => Val::Int(row.try_get::<i32, _>(i).map_err(e)?.into()),
        (Kind::Int, "INT2") => Val::Int(row.try_get::<i16, _>(i).map_err(e)?.into()),
        (Kind::Bool, "BOOL") => Val::Bool(row.try_get(i).map_err(e)?),
        (Kind::Text, _) => Val::Text(row.try_get(i).map_err(e)?),
        (Kind::Bytes, "BYTEA") => Val::Bytes(row.try_get(i).map_err(e)?),
        (Kind::Float, "FLOAT8") => Val::Float(row.try_get(i).map_err(e)?),
        (Kind::Float, "FLOAT4") => Val::Float(row.try_get::<f32, _>(i).map_err(e)?.into()),
        _ => return Err(format!("has type {ty} where {kind:?} is expected")),
    })
}

/// The 128 bits a row adds to its table's checksum.
fn row_hash(cols_sorted: &[(usize, &str)], row: &[Val]) -> u128 {
    let mut h = Sha256::new();
    for (i, name) in cols_sorted {
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        match row.get(*i).unwrap_or(&Val::Null) {
            Val::Null => h.update([0u8]),
            Val::Int(n) => {
                h.update([1u8]);
                h.update(n.to_be_bytes());
            }
            Val::Bool(b) => h.update([2u8, u8::from(*b)]),
            Val::Text(s) => {
                h.update([3u8]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            Val::Bytes(b) => {
                h.update([4u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
            Val::Float(f) => {
                h.update([5u8]);
                h.update(f.to_bits().to_be_bytes());
            }
        }
    }
    let d = h.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(d.get(..16).unwrap_or(&[0u8; 16]));
    u128::from_be_bytes(first)
}

/// A running table checksum.
#[derive(Default)]
struct Sum {
    rows: u64,
    sum: u128,
}

impl Sum {
    fn add(&mut self, cols_sorted: &[(usize, &str)], row: &[Val]) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(row_hash(cols_sorted, row));
    }
    fn text(&self) -> String {
        format!("{}:{:032x}", self.rows, self.sum)
    }
}

fn sorted_cols(t: &Table) -> Vec<(usize, &str)> {
    let mut v: Vec<(usize, &str)> = t
        .cols
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.name.as_str()))
        .collect();
    v.sort_by(|a, b| a.1.cmp(b.1));
    v
}

fn select_sql(t: &Table) -> String {
    let cols: Vec<String> = t.cols.iter().map(|c| ident(&c.name)).collect();
    let order: Vec<String> = t.order_by.iter().map(|c| ident(c)).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        cols.join(", "),
        ident(&t.name),
        order.join(", ")
    )
}

impl Conn<'_> {
    fn is_pg(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }

    /// The tables of the schema (sqlx's and SQLite's own left out), sorted by name.
    async fn tables(&mut self) -> Result<BTreeMap<String, Table>, String> {
        let mut out = BTreeMap::new();
        match self {
            Conn::Sqlite(c) => {
                let c: &mut SqliteConnection = c;
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'",
                )
                .fetch_all(&mut *c)
                .await
                .map_err(|e| e.to_string())?;
                for name in names {
                    let info: Vec<(String, String, i64)> =
                        sqlx::query_as("SELECT name, type, pk FROM pragma_table_info($1)")
                            .bind(&name)
                            .fetch_all(&mut *c)
                            .await
                            .map_err(|e| e.to_string())?;
                    let refs: Vec<String> =
                        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                            .bind(&name)
                            .fetch_all(&mut *c)
                            .await
                            .map_err(|e| e.to_string())?;
                    let mut cols = Vec::new();
                    let mut pk: Vec<(i64, String)> = Vec::new();
                    for (col, ty, k) in info {
                        let kind = Kind::of(&ty).ok_or_else(|| {
                            at(&name, &col, format!("type {ty:?} cannot be copied"))
                        })?;
                        if k > 0 {
                            pk.push((k, col.clone()));
                        }
                        cols.push(Col { name: col, kind });
                    }
                    pk.sort();
                    out.insert(name.clone(), table(name, cols, pk, refs, Vec::new()));
                }
            }
            Conn::Pg(c) => {
                let c: &mut PgConnection = c;
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                     AND table_name <> '_sqlx_migrations' AND table_name <> 'cache_instance'",
                )
                .fetch_all(&mut *c)
                .await
                .map_err(|e| e.to_string())?;
                for name in names {
                    let info: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
                        "SELECT column_name::text, data_type::text, column_default::text, \
                         is_identity::text FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = $1 \
                         ORDER BY ordinal_position",
                    )
                    .bind(&name)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(|e| e.to_string())?;
                    let pk: Vec<(i64, String)> = sqlx::query_as(
                        "SELECT array_position(i.indkey::int2[], a.attnum)::int8, a.attname::text \
                         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid \
                         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) \
                         WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace \
                         AND i.indisprimary",
                    )
                    .bind(&name)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(|e| e.to_string())?;
                    let refs: Vec<String> = sqlx::query_scalar(
                        "SELECT r.relname::text FROM pg_constraint k \
                         JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid \
                         WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace \
                         AND k.contype = 'f'",
                    )
                    .bind(&name)
                    .fetch_all(&mut *c)
                    .await
                    .map_err(|e| e.to_string())?;
                    let mut cols = Vec::new();
                    let mut sequences = Vec::new();
                    for (col, ty, default, identity) in info {
                        let kind = Kind::of(&ty).ok_or_else(|| {
                            at(&name, &col, format!("type {ty:?} cannot be copied"))
                        })?;
                        if identity == "YES"
                            || default
                                .as_deref()
                                .is_some_and(|d| d.starts_with("nextval("))
                        {
                            sequences.push(col.clone());
                        }
                        cols.push(Col { name: col, kind });
                    }
                    let mut pk = pk;
                    pk.sort();
                    out.insert(name.clone(), table(name, cols, pk, refs, sequences));
                }
            }
        }
        Ok(out)
    }

    /// Whether the database holds no table at all (sqlx's included).
    async fn has_no_table(&mut self) -> Result<bool, String> {
        let n: i64 = match self {
            Conn::Sqlite(c) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
                    .fetch_one(&mut **c)
                    .await
            }
            Conn::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema()",
                )
                .fetch_one(&mut **c)
                .await
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(n == 0)
    }

    /// The migrations applied, `(version, checksum)`, or `None` without sqlx's table.
    async fn applied(&mut self) -> Result<Option<Vec<(i64, Vec<u8>)>>, String> {
        let exists: bool =
            match self {
                Conn::Sqlite(c) => sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
                )
                .fetch_one(&mut **c)
                .await,
                Conn::Pg(c) => {
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(&mut **c)
                        .await
                }
            }
            .map_err(|e| e.to_string())?;
        if !exists {
            return Ok(None);
        }
        let sql = "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version";
        let rows: Vec<(i64, Vec<u8>)> = match self {
            Conn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut **c).await,
            Conn::Pg(c) => sqlx::query_as(sql).fetch_all(&mut **c).await,
        }
        .map_err(|e| e.to_string())?;
        Ok(Some(rows))
    }

    async fn count(&mut self, t: &str) -> Result<u64, String> {
        let sql = AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", ident(t)));
        let n: i64 = match self {
            Conn::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut **c).await,
            Conn::Pg(c) => sqlx::query_scalar(sql).fetch_one(&mut **c).await,
        }
        .map_err(|e| format!("table {t}: {e}"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn exec(&mut self, sql: &str) -> Result<(), String> {
        let sql = AssertSqlSafe(sql.to_string());
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
            Conn::Pg(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
        }
        .map_err(|e| e.to_string())
    }

    /// Reads table `t` in key order, calling `each` with every row's values.
    async fn read_rows(&mut self, t: &Table, mut each: impl AsyncRowSink) -> Result<(), String> {
        let sql = AssertSqlSafe(select_sql(t));
        match self {
            Conn::Sqlite(c) => {
                let mut rows = sqlx::query(sql).fetch(&mut **c);
                while let Some(row) = rows
                    .try_next()
                    .await
                    .map_err(|e| format!("table {}: {e}", t.name))?
                {
                    let mut vals = Vec::with_capacity(t.cols.len());
                    for (i, col) in t.cols.iter().enumerate() {
                        vals.push(
                            sqlite_val(&row, i, col.kind).map_err(|e| at(&t.name, &col.name, e))?,
                        );
                    }
                    each.row(vals).await?;
                }
            }
            Conn::Pg(c) => {
                let mut rows = sqlx::query(sql).fetch(&mut **c);
                while let Some(row) = rows
                    .try_next()
                    .await
                    .map_err(|e| format!("table {}: {e}", t.name))?
                {
                    let mut vals = Vec::with_capacity(t.cols.len());
                    for (i, col) in t.cols.iter().enumerate() {
                        vals.push(
                            pg_val(&row, i, col.kind).map_err(|e| at(&t.name, &col.name, e))?,
                        );
                    }
                    each.row(vals).await?;
                }
            }
        }
        each.done().await
    }
}

fn table(
    name: String,
    cols: Vec<Col>,
    pk: Vec<(i64, String)>,
    refs: Vec<String>,
    sequences: Vec<String>,
) -> Table {
    let order_by = if pk.is_empty() {
        cols.iter().map(|c| c.name.clone()).collect()
    } else {
        pk.into_iter().map(|(_, c)| c).collect()
    };
    let refs = refs.into_iter().filter(|r| *r != name).collect();
    Table {
        name,
        cols,
        order_by,
        refs,
        sequences,
    }
}

/// Where the rows read go.
trait AsyncRowSink {
    async fn row(&mut self, vals: Vec<Val>) -> Result<(), String>;
    async fn done(&mut self) -> Result<(), String>;
}

/// Only checksums what it is given (reading back the target).
struct ChecksumOnly<'a> {
    cols: Vec<(usize, &'a str)>,
    sum: &'a mut Sum,
}

impl AsyncRowSink for ChecksumOnly<'_> {
    async fn row(&mut self, vals: Vec<Val>) -> Result<(), String> {
        self.sum.add(&self.cols, &vals);
        Ok(())
    }
    async fn done(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Rows a progress line is printed every.
const PROGRESS_EVERY: u64 = 50_000;

/// Writes rows into the target, in batches, checksumming them on the way.
struct Writer<'a, 'c, 'p> {
    target: &'a mut Conn<'c>,
    t: &'a Table,
    cols: Vec<(usize, &'a str)>,
    sum: &'a mut Sum,
    batch: Vec<Vec<Val>>,
    /// PostgreSQL: the COPY text being built.
    copy: Vec<u8>,
    progress: &'p mut dyn FnMut(&str),
}

/// Rows per SQLite insert (its limit is 32 766 bound values).
fn sqlite_batch(cols: usize) -> usize {
    (30_000 / cols.max(1)).clamp(1, 1_000)
}

/// One value in PostgreSQL's COPY text format.
fn copy_text(out: &mut Vec<u8>, v: &Val) {
    match v {
        Val::Null => out.extend_from_slice(b"\\N"),
        Val::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Val::Bool(b) => out.push(if *b { b't' } else { b'f' }),
        Val::Float(f) => {
            let s = if f.is_nan() {
                "NaN".to_string()
            } else if f.is_infinite() {
                if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
            } else {
                format!("{f:e}")
            };
            out.extend_from_slice(s.as_bytes());
        }
        Val::Text(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    _ => out.push(b),
                }
            }
        }
        Val::Bytes(b) => {
            out.extend_from_slice(b"\\\\x");
            for x in b {
                out.extend_from_slice(format!("{x:02x}").as_bytes());
            }
        }
    }
}

impl Writer<'_, '_, '_> {
    async fn flush(&mut self) -> Result<(), String> {
        let name = &self.t.name;
        match &mut *self.target {
            Conn::Pg(c) => {
                let c: &mut PgConnection = c;
                if self.copy.is_empty() {
                    return Ok(());
                }
                let cols: Vec<String> = self.t.cols.iter().map(|c| ident(&c.name)).collect();
                let mut copy = c
                    .copy_in_raw(&format!(
                        "COPY {} ({}) FROM STDIN",
                        ident(name),
                        cols.join(", ")
                    ))
                    .await
                    .map_err(|e| format!("table {name}: {e}"))?;
                copy.send(std::mem::take(&mut self.copy))
                    .await
                    .map_err(|e| format!("table {name}: {e}"))?;
                copy.finish()
                    .await
                    .map_err(|e| format!("table {name}: {e}"))?;
            }
            Conn::Sqlite(c) => {
                if self.batch.is_empty() {
                    return Ok(());
                }
                let cols: Vec<String> = self.t.cols.iter().map(|c| ident(&c.name)).collect();
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                    "INSERT INTO {} ({}) ",
                    ident(name),
                    cols.join(", ")
                ));
                q.push_values(self.batch.drain(..), |mut b, row| {
                    for v in row {
                        match v {
                            Val::Null => b.push_bind(None::<i64>),
                            Val::Int(n) => b.push_bind(n),
                            Val::Bool(x) => b.push_bind(x),
                            Val::Text(s) => b.push_bind(s),
                            Val::Bytes(x) => b.push_bind(x),
                            Val::Float(f) => b.push_bind(f),
                        };
                    }
                });
                q.build()
                    .execute(&mut **c)
                    .await
                    .map_err(|e| format!("table {name}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Bytes of COPY text sent at a time.
const COPY_CHUNK: usize = 4 << 20;

impl AsyncRowSink for Writer<'_, '_, '_> {
    async fn row(&mut self, vals: Vec<Val>) -> Result<(), String> {
        self.sum.add(&self.cols, &vals);
        if self.target.is_pg() {
            for (i, v) in vals.iter().enumerate() {
                if i > 0 {
                    self.copy.push(b'\t');
                }
                copy_text(&mut self.copy, v);
            }
            self.copy.push(b'\n');
            if self.copy.len() >= COPY_CHUNK {
                self.flush().await?;
            }
        } else {
            self.batch.push(vals);
            if self.batch.len() >= sqlite_batch(self.t.cols.len()) {
                self.flush().await?;
            }
        }
        if self.sum.rows.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(&format!("  {}: {} rows so far", self.t.name, self.sum.rows));
        }
        Ok(())
    }
    async fn done(&mut self) -> Result<(), String> {
        self.flush().await
    }
}

/// Opens one side. A SQLite source must exist; a SQLite target is created (owner-only)
/// unless `create` is false (a dry run). The lock file of a SQLite database is taken, so
/// that no server uses it meanwhile.
async fn open(
    url: &str,
    data_dir: &Path,
    create: bool,
    role: &str,
) -> Result<(Owned, Option<std::fs::File>, String, Option<PathBuf>), String> {
    match DbTarget::parse(url).map_err(|e| format!("{role}: {e}"))? {
        DbTarget::Postgres(u) => {
            let opts = PgConnectOptions::from_str(&u)
                .map_err(|e| format!("{role}: invalid PostgreSQL URL: {e}"))?
                .options([("statement_timeout", "0")]);
            let describe = DbTarget::Postgres(u).describe(data_dir);
            let c = PgConnection::connect_with(&opts)
                .await
                .map_err(|e| format!("{role}: cannot connect to {describe}: {e}"))?;
            Ok((Owned::Pg(c), None, describe, None))
        }
        DbTarget::Sqlite(p) => {
            let path = data_dir.join(&p);
            let describe = DbTarget::Sqlite(p).describe(data_dir);
            let exists = path.exists();
            if !exists && !create {
                if role == "source" {
                    return Err(format!(
                        "source: there is no SQLite database at {}",
                        path.display()
                    ));
                }
                return Ok((Owned::Sqlite(sqlite_memory().await?), None, describe, None));
            }
            let lock = lock_sqlite(&path).map_err(|e| format!("{role}: {e}"))?;
            if !exists {
                crate::files::open_private(&path)?;
            }
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(false)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true);
            let c = SqliteConnection::connect_with(&opts)
                .await
                .map_err(|e| format!("{role}: cannot open {describe}: {e}"))?;
            Ok((
                Owned::Sqlite(c),
                Some(lock),
                describe,
                (!exists).then_some(path),
            ))
        }
    }
}

/// An empty in-memory database: what a SQLite target that does not exist yet holds.
async fn sqlite_memory() -> Result<SqliteConnection, String> {
    SqliteConnection::connect("sqlite::memory:")
        .await
        .map_err(|e| e.to_string())
}

/// Orders tables so that every table comes after those it references.
fn dependency_order(tables: &BTreeMap<String, Table>) -> Result<Vec<String>, String> {
    let mut left: BTreeMap<&str, BTreeSet<&str>> = tables
        .values()
        .map(|t| {
            (
                t.name.as_str(),
                t.refs
                    .iter()
                    .map(String::as_str)
                    .filter(|r| tables.contains_key(*r))
                    .collect(),
            )
        })
        .collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready: Vec<&str> = left
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let names: Vec<&str> = left.keys().copied().collect();
            return Err(format!(
                "the tables {} reference each other in a cycle; migrate cannot order them",
                names.join(", ")
            ));
        }
        for n in ready {
            left.remove(n);
            for deps in left.values_mut() {
                deps.remove(n);
            }
            out.push(n.to_string());
        }
    }
    Ok(out)
}

/// Versions and checksums of this binary's migrations for one database.
fn expected(postgres: bool) -> Vec<(i64, Vec<u8>)> {
    migrator(postgres)
        .iter()
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect()
}

fn versions(v: &[(i64, Vec<u8>)]) -> String {
    let list: Vec<String> = v.iter().map(|(n, _)| n.to_string()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Copies `opts.from` into the empty database `opts.to` (see the module's documentation),
/// calling `progress` with a line now and then. A SQLite target this created is removed
/// again when it fails.
pub async fn transfer(
    opts: &TransferOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<TransferReport, String> {
    let mut created = None;
    let out = run(opts, progress, &mut created).await;
    if let (Err(_), Some(path)) = (&out, created) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
    out
}

async fn run(
    opts: &TransferOptions,
    progress: &mut dyn FnMut(&str),
    created: &mut Option<PathBuf>,
) -> Result<TransferReport, String> {
    DbTarget::parse(&opts.to).map_err(|e| format!("--to: {e}"))?;
    let (mut src_owned, _src_lock, src_name, _) =
        open(&opts.from, &opts.data_dir, false, "source").await?;
    let mut src = src_owned.conn();
    // The same migrations on both sides: the source must hold exactly this binary's.
    let (sv, tv) = (
        migrator(false)
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>(),
        migrator(true).iter().map(|m| m.version).collect::<Vec<_>>(),
    );
    if sv != tv {
        return Err(
            "this wmill-server's SQLite and PostgreSQL migrations differ; it cannot migrate".into(),
        );
    }
    let want = expected(src.is_pg());
    match src.applied().await? {
        None => {
            return Err(format!(
                "the source ({src_name}) is not a wmill database (no _sqlx_migrations table)"
            ));
        }
        Some(have) if have != want => {
            return Err(format!(
                "the source ({src_name}) has the migrations {} applied, this wmill-server has {}: \
                 start this version of wmill-server on it once (it applies its migrations), or \
                 migrate with the version that made it",
                versions(&have),
                versions(&want)
            ));
        }
        Some(_) => {}
    }
    let (mut dst_owned, _dst_lock, dst_name, made) =
        open(&opts.to, &opts.data_dir, !opts.dry_run, "target").await?;
    *created = made;
    if !dst_owned.conn().has_no_table().await? {
        return Err(format!(
            "the target ({dst_name}) is not empty: it has tables already; migrate copies into \
             an empty database only (create a new one, or drop what it holds)"
        ));
    }
    // One snapshot of the source throughout.
    src.exec(if src.is_pg() {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    } else {
        "BEGIN"
    })
    .await?;
    let tables = src.tables().await?;
    let order = dependency_order(&tables)?;
    progress(&format!("copying {src_name} into {dst_name}"));

    if opts.dry_run {
        let mut out = Vec::new();
        for name in &order {
            let rows = src.count(name).await?;
            progress(&format!("  {name}: {rows} rows"));
            out.push(TableReport {
                name: name.clone(),
                rows,
                checksum: String::new(),
            });
        }
        src.exec("COMMIT").await?;
        return Ok(TransferReport {
            tables: out,
            dry_run: true,
        });
    }

    // Everything below in one transaction on the target.
    let report = match &mut dst_owned {
        Owned::Sqlite(c) => {
            let mut tx = c.begin().await.map_err(|e| e.to_string())?;
            sqlx::raw_sql("PRAGMA defer_foreign_keys = ON")
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            migrator(false)
                .run(&mut *tx)
                .await
                .map_err(|e| format!("target: cannot apply the migrations: {e}"))?;
            let out = copy_all(
                &mut src,
                &mut Conn::Sqlite(&mut tx),
                &tables,
                &order,
                progress,
            )
            .await?;
            tx.commit()
                .await
                .map_err(|e| format!("target: cannot commit: {e}"))?;
            out
        }
        Owned::Pg(c) => {
            let mut tx = c.begin().await.map_err(|e| e.to_string())?;
            migrator(true)
                .run(&mut *tx)
                .await
                .map_err(|e| format!("target: cannot apply the migrations: {e}"))?;
            let out = copy_all(&mut src, &mut Conn::Pg(&mut tx), &tables, &order, progress).await?;
            tx.commit()
                .await
                .map_err(|e| format!("target: cannot commit: {e}"))?;
            out
        }
    };
    src.exec("COMMIT").await?;
    src_owned.close().await;
    dst_owned.close().await;
    progress("committed");
    Ok(TransferReport {
        tables: report,
        dry_run: false,
    })
}

/// Inside the target's transaction, its migrations applied: checks that its schema is the
/// source's, copies every table, moves sequences past the ids copied, and compares every
/// table's count and checksum with the source's.
async fn copy_all(
    src: &mut Conn<'_>,
    dst: &mut Conn<'_>,
    tables: &BTreeMap<String, Table>,
    order: &[String],
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<TableReport>, String> {
    let target_tables = dst.tables().await?;
    let names = |m: &BTreeMap<String, Table>| m.keys().cloned().collect::<Vec<_>>().join(", ");
    if target_tables.keys().ne(tables.keys()) {
        return Err(format!(
            "the schemas differ: the source has the tables {}, the target (migrated) {}",
            names(tables),
            names(&target_tables)
        ));
    }
    for (name, t) in tables {
        let Some(d) = target_tables.get(name) else {
            continue;
        };
        let shape = |t: &Table| {
            let mut v: Vec<(String, Kind)> =
                t.cols.iter().map(|c| (c.name.clone(), c.kind)).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        if shape(t) != shape(d) {
            return Err(format!(
                "the schemas differ: table {name} has the columns {:?} in the source, {:?} in \
                 the target",
                shape(t),
                shape(d)
            ));
        }
    }
    let mut sums: BTreeMap<&str, Sum> = BTreeMap::new();
    for name in order {
        let Some(t) = tables.get(name) else { continue };
        // Rows the migrations seeded (the source has them too, as the same migrations ran).
        dst.exec(&format!("DELETE FROM {}", ident(name))).await?;
        let mut sum = Sum::default();
        let writer = Writer {
            target: &mut *dst,
            t,
            cols: sorted_cols(t),
            sum: &mut sum,
            batch: Vec::new(),
            copy: Vec::new(),
            progress: &mut *progress,
        };
        src.read_rows(t, writer).await?;
        progress(&format!("  {name}: {} rows copied", sum.rows));
        // The target's catalogue knows its sequences (a SQLite source has none).
        let sequences = target_tables
            .get(name)
            .map_or(&[][..], |d| &d.sequences[..]);
        if let Conn::Pg(c) = dst {
            for col in sequences {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence($1, $2), \
                     COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                    ident(col),
                    ident(name)
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(name)
                    .bind(col)
                    .execute(&mut **c)
                    .await
                    .map_err(|e| format!("table {name}: cannot move its sequence: {e}"))?;
            }
        }
        sums.insert(name.as_str(), sum);
    }
    // Read everything back, inside the transaction, before it commits.
    let mut out = Vec::new();
    for name in order {
        let (Some(t), Some(want)) = (tables.get(name), sums.get(name.as_str())) else {
            continue;
        };
        let mut got = Sum::default();
        dst.read_rows(
            t,
            ChecksumOnly {
                cols: sorted_cols(t),
                sum: &mut got,
            },
        )
        .await?;
        let counted = dst.count(name).await?;
        if got.text() != want.text() || counted != want.rows {
            return Err(format!(
                "verification failed for table {name}: the source has {} rows (checksum {}), \
                 the target {counted} (checksum {}); nothing was committed",
                want.rows,
                want.text(),
                got.text()
            ));
        }
        out.push(TableReport {
            name: name.clone(),
            rows: want.rows,
            checksum: want.text(),
        });
    }
    progress(&format!(
        "verified: {} tables, row counts and checksums equal",
        out.len()
    ));
    Ok(out)
}
