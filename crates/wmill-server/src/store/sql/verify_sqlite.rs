//! Verifying a SQLite audit log on a connection of its own, stepped in place.
//!
//! sqlx's SQLite driver runs each connection on a worker thread and hands every row to the
//! async side through a channel, copying each value first: reading the log that way spent
//! about three quarters of a verification in the channel, the thread switches and the
//! copies (perf), for some 320,000 entries/s on one core. Here a read-only `rusqlite`
//! connection (the same bundled SQLite library) steps one statement on the calling thread
//! and lends each value to the hasher without copying it; the whole check reads one
//! snapshot (one read transaction), so entries appended meanwhile are neither half read
//! nor needed.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::audit_chain::{
    ChainState, Checkpoint, EntryRef, GENESIS, Hash, Progress, Report, Verifier,
};
use crate::store::{StoreError, StoreResult};

fn err(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// A stored hash: a malformed one matches nothing.
fn hash_or_genesis(v: &[u8]) -> Hash {
    <Hash>::try_from(v).unwrap_or(GENESIS)
}

/// A text field as the server writes it (TEXT, valid UTF-8), or `Err` for anything else.
fn text(v: ValueRef<'_>) -> Result<Option<&str>, ()> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t).map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

fn required(v: ValueRef<'_>) -> Result<&str, ()> {
    text(v)?.ok_or(())
}

/// Verifies the audit chain of the SQLite database at `path`, opened read-only.
pub(super) fn verify(
    path: &Path,
    key: Option<VerifyingKey>,
    progress: Option<Progress>,
) -> StoreResult<Report> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(err)?;
    // One snapshot from the head row to the last entry.
    let tx = conn.transaction().map_err(err)?;
    let state = tx
        .query_row(
            "SELECT base_id, base_hash, head_id, head_hash FROM audit_chain WHERE id = 1",
            [],
            |r| {
                Ok(ChainState {
                    base_id: r.get(0)?,
                    base_hash: hash_or_genesis(&r.get::<_, Vec<u8>>(1)?),
                    head_id: r.get(2)?,
                    head_hash: hash_or_genesis(&r.get::<_, Vec<u8>>(3)?),
                })
            },
        )
        .map_err(err)?;
    let checkpoints = {
        let mut st = tx
            .prepare(
                "SELECT id, created_at, base_id, base_hash, head_id, head_hash, public_key, \
                 signature FROM audit_checkpoint ORDER BY id",
            )
            .map_err(err)?;
        st.query_map([], |r| {
            Ok(Checkpoint {
                id: r.get(0)?,
                created_at: r.get(1)?,
                chain: ChainState {
                    base_id: r.get(2)?,
                    base_hash: hash_or_genesis(&r.get::<_, Vec<u8>>(3)?),
                    head_id: r.get(4)?,
                    head_hash: hash_or_genesis(&r.get::<_, Vec<u8>>(5)?),
                },
                public_key: r.get(6)?,
                signature: r.get(7)?,
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?
    };
    let mut v = Verifier::new(state.clone(), &checkpoints, key).with_progress(progress);
    {
        let mut st = tx
            .prepare(
                "SELECT id, workspace_id, timestamp, username, email, operation, action_kind, \
                 resource, parameters, impersonator, hash FROM audit ORDER BY id",
            )
            .map_err(err)?;
        let mut rows = st.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            // `id` is the rowid: always an integer.
            let id: i64 = r.get(0).map_err(err)?;
            let hash = match r.get_ref(10).map_err(err)? {
                ValueRef::Blob(b) => Some(b),
                _ => None,
            };
            let v10 = |i: usize| r.get_ref(i).map_err(|_| ());
            let entry = (|| {
                Ok::<_, ()>(EntryRef {
                    id,
                    workspace_id: required(v10(1)?)?,
                    timestamp: match v10(2)? {
                        ValueRef::Integer(t) => t,
                        _ => return Err(()),
                    },
                    username: required(v10(3)?)?,
                    email: text(v10(4)?)?,
                    operation: required(v10(5)?)?,
                    action_kind: required(v10(6)?)?,
                    resource: text(v10(7)?)?,
                    parameters: text(v10(8)?)?,
                    impersonator: text(v10(9)?)?,
                })
            })();
            match entry {
                Ok(e) => v.feed_parts(&e, hash),
                Err(()) => v.feed_unreadable(id, hash),
            }
        }
    }
    Ok(v.finish(&state))
}
