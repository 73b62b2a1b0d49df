//! An in-process cache of what authenticating a request reads (token → caller, account,
//! workspace membership), and of group lists, for a server that is provably alone on its
//! database: SQLite,
//! whose lock file the store holds for as long as it runs, so that no other `wmill-server`
//! can open that database. PostgreSQL never gets one: other instances change the database
//! behind this one's back, and revocation must be immediate on every instance.
//!
//! Revocation stays immediate here too. Every write transaction that may change a cached
//! row empties the cache once it has committed, before its caller is answered (the only
//! ones that do not only add rows the cache cannot hold: new tokens, audit entries, or
//! touch a column it does not hold: `last_used_at`; adding or removing a workspace group's
//! member empties only the group lists, the one kind of entry that shows group members);
//! and a read that raced with a write
//! never stores what it read: it notes the generation before reading, and stores only if
//! no write has bumped it since (both under one lock).

use std::collections::HashMap;
use std::sync::Mutex;

use super::{AccountRow, GroupRow, MemberRow, TokenAuthRow};

/// Entries kept at most per kind; past that the map is emptied and refills with what is in
/// use, so that memory stays bounded whatever the number of users and tokens.
pub const MAX_ENTRIES: usize = 20_000;

/// Bytes of group pages kept at most (an estimate of what they hold): any member can ask
/// for pages of any size and offset, so they are bounded by size, not by count.
pub const MAX_GROUP_BYTES: usize = 4 << 20;

#[derive(Default)]
struct Inner {
    generation: u64,
    tokens: HashMap<String, TokenAuthRow>,
    accounts: HashMap<String, AccountRow>,
    /// Keyed by `workspace \0 email`.
    members: HashMap<String, MemberRow>,
    /// Pages of group lists, keyed by `workspace \0 offset \0 limit`.
    groups: HashMap<String, Vec<GroupRow>>,
    /// What `groups` holds, estimated by [`page_bytes`].
    group_bytes: usize,
}

/// See the module documentation.
#[derive(Default)]
pub struct AuthCache {
    inner: Mutex<Inner>,
}

fn member_key(ws: &str, email: &str) -> String {
    format!("{ws}\0{email}")
}

fn put<V>(map: &mut HashMap<String, V>, key: String, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl AuthCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters (inserts and clears are whole), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation a read starts from; pass it back when storing what was read.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Forgets everything. Called after every write transaction, committed or not.
    pub fn invalidate(&self) {
        let mut i = self.lock();
        i.generation += 1;
        i.tokens.clear();
        i.accounts.clear();
        i.members.clear();
        i.groups.clear();
        i.group_bytes = 0;
    }

    /// Forgets the group lists only: after a write that changes nothing but a workspace
    /// group's members, which no other kind of entry reflects. The generation moves all
    /// the same, so a read of any kind that raced with the write stores nothing.
    pub fn invalidate_groups(&self) {
        let mut i = self.lock();
        i.generation += 1;
        i.groups.clear();
        i.group_bytes = 0;
    }

    pub fn token(&self, hash: &str) -> Option<TokenAuthRow> {
        let found = self.lock().tokens.get(hash).cloned();
        crate::metrics::cache_lookup("token", found.is_some());
        found
    }

    /// Stores a token read at generation `since`, unless a write happened since.
    pub fn put_token(&self, since: u64, hash: &str, row: &TokenAuthRow) {
        let mut i = self.lock();
        if i.generation == since {
            put(&mut i.tokens, hash.to_string(), row.clone());
        }
    }

    pub fn account(&self, email: &str) -> Option<AccountRow> {
        let found = self.lock().accounts.get(email).cloned();
        crate::metrics::cache_lookup("account", found.is_some());
        found
    }

    /// Stores an account read at generation `since`, unless a write happened since.
    pub fn put_account(&self, since: u64, email: &str, row: &AccountRow) {
        let mut i = self.lock();
        if i.generation == since {
            put(&mut i.accounts, email.to_string(), row.clone());
        }
    }

    pub fn member(&self, ws: &str, email: &str) -> Option<MemberRow> {
        let found = self.lock().members.get(&member_key(ws, email)).cloned();
        crate::metrics::cache_lookup("member", found.is_some());
        found
    }

    /// Stores a membership read at generation `since`, unless a write happened since.
    pub fn put_member(&self, since: u64, ws: &str, email: &str, row: &MemberRow) {
        let mut i = self.lock();
        if i.generation == since {
            put(&mut i.members, member_key(ws, email), row.clone());
        }
    }

    pub fn groups(&self, ws: &str, offset: i64, limit: i64) -> Option<Vec<GroupRow>> {
        let found = self
            .lock()
            .groups
            .get(&format!("{ws}\0{offset}\0{limit}"))
            .cloned();
        crate::metrics::cache_lookup("groups", found.is_some());
        found
    }

    /// Stores a page of groups read at generation `since`, unless a write happened since.
    /// A page larger than the whole budget is not kept; one that does not fit empties the
    /// others first.
    pub fn put_groups(&self, since: u64, ws: &str, offset: i64, limit: i64, rows: &[GroupRow]) {
        let bytes = page_bytes(rows);
        if bytes > MAX_GROUP_BYTES {
            return;
        }
        let mut i = self.lock();
        if i.generation != since {
            return;
        }
        let key = format!("{ws}\0{offset}\0{limit}");
        if i.group_bytes + bytes > MAX_GROUP_BYTES || i.groups.len() >= MAX_ENTRIES {
            i.groups.clear();
            i.group_bytes = 0;
        }
        if let Some(old) = i.groups.insert(key, rows.to_vec()) {
            i.group_bytes -= page_bytes(&old);
        }
        i.group_bytes += bytes;
    }

    /// Bytes of group pages held now (estimated).
    pub fn group_bytes(&self) -> usize {
        self.lock().group_bytes
    }

    /// Entries held now (tokens, accounts, memberships).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let i = self.lock();
        (i.tokens.len(), i.accounts.len(), i.members.len())
    }
}

/// What a page of groups occupies: its strings and a fixed cost per value (the vectors and
/// strings' own headers and the allocator's rounding).
fn page_bytes(rows: &[GroupRow]) -> usize {
    const PER_VALUE: usize = 48;
    rows.iter()
        .map(|g| {
            PER_VALUE * (4 + g.members.len() + g.extra_perms.len())
                + g.workspace_id.len()
                + g.name.len()
                + g.summary.as_ref().map_or(0, String::len)
                + g.members.iter().map(String::len).sum::<usize>()
                + g.extra_perms.keys().map(String::len).sum::<usize>()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(email: &str) -> TokenAuthRow {
        TokenAuthRow {
            email: email.into(),
            prefix: "wm_0123456".into(),
            label: None,
            expiration: None,
            workspace_id: None,
            kind: "api".into(),
            impersonator: None,
            impersonator_ok: true,
            scopes: None,
            read_only: false,
            service_account: false,
            super_admin: false,
            devops: false,
            disabled: false,
            name: None,
            company: None,
            first_time_user: false,
            username: None,
            login_type: None,
        }
    }

    #[test]
    fn a_read_that_raced_with_a_write_is_not_stored() {
        let c = AuthCache::default();
        let since = c.generation();
        c.invalidate(); // a write committed while the read was in flight
        c.put_token(since, "h", &row("a@x.io"));
        assert!(c.token("h").is_none());
        let since = c.generation();
        c.put_token(since, "h", &row("a@x.io"));
        assert_eq!(c.token("h").unwrap().email, "a@x.io");
        c.invalidate();
        assert!(c.token("h").is_none(), "every write empties the cache");
    }

    #[test]
    fn group_pages_are_bounded_by_size() {
        let c = AuthCache::default();
        let big = GroupRow {
            workspace_id: "ws".into(),
            name: "g".into(),
            summary: Some("s".repeat(200_000)),
            extra_perms: Default::default(),
            members: vec!["member".into(); 1000],
        };
        for offset in 0..200 {
            c.put_groups(c.generation(), "ws", offset, 1, std::slice::from_ref(&big));
            assert!(c.group_bytes() <= MAX_GROUP_BYTES, "after {offset} pages");
        }
        assert!(c.group_bytes() > 0);
        let huge = GroupRow {
            summary: Some("s".repeat(MAX_GROUP_BYTES)),
            ..big
        };
        c.put_groups(c.generation(), "ws", 999, 1, &[huge]);
        assert!(
            c.groups("ws", 999, 1).is_none(),
            "a page over the budget is not kept"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let c = AuthCache::default();
        for i in 0..(MAX_ENTRIES + 10) {
            c.put_token(c.generation(), &format!("h{i}"), &row("a@x.io"));
        }
        assert!(c.sizes().0 <= MAX_ENTRIES);
    }
}
