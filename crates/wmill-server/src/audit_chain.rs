//! Tamper evidence for the audit log: every entry's hash covers its canonical content and
//! the previous entry's hash (one chain per database), and checkpoints sign the chain's base
//! and head with an Ed25519 key kept outside the database.
//!
//! The store appends to the chain inside the transaction that writes the entry (see
//! `store/sql/chain.rs`); this module holds what both the server and the verifier compute:
//! [`entry_hash`], the checkpoint message, the key file, and [`Verifier`], which reads the
//! log in id order once and names the first entry that was modified, deleted, inserted or
//! reordered.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash "before" the first entry.
pub const GENESIS: Hash = [0; 32];

/// One entry as stored, borrowed: what its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub id: i64,
    pub workspace_id: &'a str,
    pub timestamp: i64,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub operation: &'a str,
    pub action_kind: &'a str,
    pub resource: Option<&'a str>,
    /// The parameters as stored (JSON text), byte for byte.
    pub parameters: Option<&'a str>,
    pub impersonator: Option<&'a str>,
}

fn put_text(h: &mut Sha256, v: Option<&str>) {
    match v {
        // A length prefix: no two different field lists encode the same bytes.
        Some(s) => {
            h.update([1]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
        None => h.update([0]),
    }
}

/// SHA-256 of `prev` and the entry's canonical encoding: a version tag, the id, then every
/// field in a fixed order, texts length-prefixed and absent ones marked apart from empty.
pub fn entry_hash(prev: &Hash, e: &EntryRef<'_>) -> Hash {
    let mut h = Sha256::new();
    h.update(b"wmill-audit-v1\0");
    h.update(prev);
    h.update(e.id.to_be_bytes());
    put_text(&mut h, Some(e.workspace_id));
    h.update(e.timestamp.to_be_bytes());
    put_text(&mut h, Some(e.username));
    put_text(&mut h, e.email);
    put_text(&mut h, Some(e.operation));
    put_text(&mut h, Some(e.action_kind));
    put_text(&mut h, e.resource);
    put_text(&mut h, e.parameters);
    put_text(&mut h, e.impersonator);
    h.finalize().into()
}

/// The chain's state as the head row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    /// Entries up to this id were removed by retention (0: none).
    pub base_id: i64,
    /// The hash of entry `base_id` ([`GENESIS`] when 0).
    pub base_hash: Hash,
    /// The last entry chained (0: none).
    pub head_id: i64,
    pub head_hash: Hash,
}

/// A signed checkpoint, as stored.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub id: i64,
    pub created_at: i64,
    pub chain: ChainState,
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
}

/// The bytes a checkpoint's signature covers.
pub fn checkpoint_message(created_at: i64, c: &ChainState) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + 8 * 3 + 64);
    m.extend_from_slice(b"wmill-audit-checkpoint-v1\0");
    m.extend_from_slice(&created_at.to_be_bytes());
    m.extend_from_slice(&c.base_id.to_be_bytes());
    m.extend_from_slice(&c.base_hash);
    m.extend_from_slice(&c.head_id.to_be_bytes());
    m.extend_from_slice(&c.head_hash);
    m
}

/// Signs the chain's state at `created_at`: (public key, signature).
pub fn sign_checkpoint(key: &SigningKey, created_at: i64, c: &ChainState) -> (Vec<u8>, Vec<u8>) {
    let sig = key.sign(&checkpoint_message(created_at, c));
    (
        key.verifying_key().to_bytes().to_vec(),
        sig.to_bytes().to_vec(),
    )
}

/// Lowercase hexadecimal.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Exactly 32 bytes from 64 hexadecimal digits.
pub fn from_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A public key given as 64 hexadecimal digits.
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let bytes = from_hex32(s).ok_or_else(|| {
        "an audit public key is 64 hexadecimal digits (as printed by 'wmill-server audit keygen')"
            .to_string()
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "this is not an Ed25519 public key".to_string())
}

const KEY_FILE_PREFIX: &str = "wmill-audit-ed25519-secret:";

/// Writes a new signing key to `path` (created owner-only, never over an existing file) and
/// returns its public key.
pub fn generate_key_file(path: &Path) -> Result<VerifyingKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no random source: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    crate::files::write_new_private(path, &format!("{KEY_FILE_PREFIX}{}\n", to_hex(&seed)))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(key.verifying_key())
}

/// Reads a signing key written by [`generate_key_file`]; refuses a file other users may read.
pub fn load_key_file(path: &Path) -> Result<SigningKey, String> {
    if crate::files::readable_by_others(path) {
        return Err(format!(
            "{} can be read by other users; restrict it (chmod 600)",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the audit signing key {}: {e}", path.display()))?;
    let seed = text
        .trim()
        .strip_prefix(KEY_FILE_PREFIX)
        .and_then(from_hex32)
        .ok_or_else(|| {
            format!(
                "{} is not an audit signing key (make one with 'wmill-server audit keygen --out PATH')",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// One entry as read for verification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEntry {
    pub id: i64,
    pub workspace_id: String,
    pub timestamp: i64,
    pub username: String,
    pub email: Option<String>,
    pub operation: String,
    pub action_kind: String,
    pub resource: Option<String>,
    pub parameters: Option<String>,
    pub impersonator: Option<String>,
    pub hash: Option<Vec<u8>>,
}

impl StoredEntry {
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            id: self.id,
            workspace_id: &self.workspace_id,
            timestamp: self.timestamp,
            username: &self.username,
            email: self.email.as_deref(),
            operation: &self.operation,
            action_kind: &self.action_kind,
            resource: self.resource.as_deref(),
            parameters: self.parameters.as_deref(),
            impersonator: self.impersonator.as_deref(),
        }
    }
}

/// What is wrong, at which entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The entry's content (or its id) no longer matches its hash: changed, or moved.
    Modified { id: i64 },
    /// Entries `from..=to` are missing.
    Deleted { from: i64, to: i64 },
    /// An entry that is not part of the chain (no hash, or before its start).
    Inserted { id: i64 },
    /// A checkpoint names a chain state the log does not have.
    CheckpointMismatch { checkpoint: i64, id: i64 },
    /// A checkpoint's signature does not verify with the trusted key.
    BadSignature { checkpoint: i64, id: i64 },
    /// The head row does not match the last entry (the tail was cut or added to).
    HeadMismatch { head_id: i64, last_id: i64 },
    /// A public key was given, but no checkpoint is signed with it.
    NoSignedCheckpoint,
    /// The chain starts after entry `base_id` (entries up to it removed), but no checkpoint
    /// signed by the trusted key says so: entries were removed behind the server's back.
    UnsignedBase { base_id: i64 },
}

impl Problem {
    /// The first entry the problem concerns (for ordering and for the report).
    pub fn entry(&self) -> i64 {
        match *self {
            Problem::Modified { id }
            | Problem::Inserted { id }
            | Problem::CheckpointMismatch { id, .. }
            | Problem::BadSignature { id, .. } => id,
            Problem::Deleted { from, .. } => from,
            Problem::HeadMismatch { head_id, last_id } => head_id.min(last_id) + 1,
            Problem::NoSignedCheckpoint => i64::MAX,
            Problem::UnsignedBase { .. } => 1,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Modified { id } => write!(
                f,
                "entry {id} was modified: its content no longer matches its hash (changed, or \
                 moved from elsewhere in the log)"
            ),
            Problem::Deleted { from, to } if from == to => {
                write!(f, "entry {from} was deleted")
            }
            Problem::Deleted { from, to } => write!(f, "entries {from} to {to} were deleted"),
            Problem::Inserted { id } => {
                write!(f, "entry {id} was inserted: it is not part of the chain")
            }
            Problem::CheckpointMismatch { checkpoint, id } => write!(
                f,
                "checkpoint {checkpoint} signed the chain up to entry {id}, which the log no \
                 longer matches: an entry up to {id} was changed, deleted or the chain re-hashed"
            ),
            Problem::BadSignature { checkpoint, id } => write!(
                f,
                "checkpoint {checkpoint} (up to entry {id}) is not signed by the trusted key: \
                 it was forged or altered"
            ),
            Problem::HeadMismatch { head_id, last_id } => write!(
                f,
                "the chain's head is entry {head_id} but the last chained entry is {last_id}: \
                 the tail was cut or added to"
            ),
            Problem::NoSignedCheckpoint => {
                write!(f, "no checkpoint is signed by the trusted public key")
            }
            Problem::UnsignedBase { base_id } => write!(
                f,
                "entries up to {base_id} were removed, but no checkpoint signed by the trusted \
                 key records that removal: they were deleted behind the server's back"
            ),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// Whether nothing is wrong (`problems` is empty).
    pub intact: bool,
    /// Entries read.
    pub entries: u64,
    /// Checkpoints whose signature was checked and matched, and the highest entry they cover.
    pub signed_checkpoints: u64,
    pub signed_up_to: i64,
    /// Whether signatures were checked (a trusted public key was given).
    pub signatures_checked: bool,
    /// The last chained entry.
    pub head_id: i64,
    /// What is wrong, first entry first (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// The report for people ([`Report::describe`]).
    pub text: String,
}

/// Most problems a report lists.
pub const MAX_PROBLEMS: usize = 100;

impl Report {
    /// Whether nothing is wrong.
    pub fn intact(&self) -> bool {
        self.intact && self.problems.is_empty()
    }

    /// The report for people: what was checked, then each problem, first entry first.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} audit entries read, chain head at entry {}\n",
            self.entries, self.head_id
        );
        if self.signatures_checked {
            out.push_str(&format!(
                "{} checkpoints signed by the trusted key, covering entries up to {}\n",
                self.signed_checkpoints, self.signed_up_to
            ));
            if self.signed_up_to < self.head_id && self.problems.is_empty() {
                out.push_str(&format!(
                    "entries after {} are not yet covered by a signed checkpoint\n",
                    self.signed_up_to
                ));
            }
        } else {
            out.push_str(
                "signatures not checked (no public key given): a chain re-hashed by someone \
                 with write access to the database would not be detected\n",
            );
        }
        if self.problems.is_empty() {
            out.push_str("intact\n");
        } else {
            for p in &self.problems {
                out.push_str(&format!("NOT INTACT: {p}\n"));
            }
        }
        out
    }

    /// The first bad entry, if any.
    pub fn first(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

/// Told how many entries a verification has read, every [`PROGRESS_EVERY`].
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// Entries between two calls of a [`Progress`].
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// Checks entries fed in id order against the chain's state and its checkpoints.
pub struct Verifier {
    progress: Option<Progress>,
    state: ChainState,
    /// Checkpoints (id, created_at order) by the entry they end at: the hashes that entry
    /// must have.
    expected: BTreeMap<i64, Vec<(i64, Hash)>>,
    prev: Hash,
    last_id: i64,
    report: Report,
}

impl Verifier {
    /// `key`: the trusted public key; without it, checkpoints are compared with the log
    /// but their signatures are not checked (anyone able to write the database could have
    /// written them).
    pub fn new(state: ChainState, checkpoints: &[Checkpoint], key: Option<VerifyingKey>) -> Self {
        let mut report = Report {
            signatures_checked: key.is_some(),
            ..Default::default()
        };
        let mut expected: BTreeMap<i64, Vec<(i64, Hash)>> = BTreeMap::new();
        for cp in checkpoints {
            if let Some(k) = &key {
                let sig_ok = cp.public_key.as_slice() == k.as_bytes()
                    && <[u8; 64]>::try_from(cp.signature.as_slice()).is_ok_and(|s| {
                        k.verify(
                            &checkpoint_message(cp.created_at, &cp.chain),
                            &Signature::from_bytes(&s),
                        )
                        .is_ok()
                    });
                if !sig_ok {
                    report.problems.push(Problem::BadSignature {
                        checkpoint: cp.id,
                        id: cp.chain.head_id,
                    });
                    continue;
                }
                report.signed_checkpoints += 1;
                report.signed_up_to = report.signed_up_to.max(cp.chain.head_id);
            }
            // A checkpoint from before retention removed its entries says nothing now,
            // except that its base must not be after the current one.
            if cp.chain.head_id > state.base_id {
                expected
                    .entry(cp.chain.head_id)
                    .or_default()
                    .push((cp.id, cp.chain.head_hash));
            } else if cp.chain.head_id == state.base_id && cp.chain.head_hash != state.base_hash {
                report.problems.push(Problem::CheckpointMismatch {
                    checkpoint: cp.id,
                    id: cp.chain.head_id,
                });
            }
        }
        if key.is_some() && report.signed_checkpoints == 0 && state.head_id > state.base_id {
            report.problems.push(Problem::NoSignedCheckpoint);
        }
        // Retention moves the base and signs the new one at once: a base no signed
        // checkpoint records is a removal made by someone else.
        if key.is_some()
            && state.base_id > 0
            && report.signed_checkpoints > 0
            && !checkpoints.iter().any(|cp| {
                cp.chain.base_id == state.base_id
                    && cp.chain.base_hash == state.base_hash
                    && !report.problems.contains(&Problem::BadSignature {
                        checkpoint: cp.id,
                        id: cp.chain.head_id,
                    })
            })
        {
            report.problems.push(Problem::UnsignedBase {
                base_id: state.base_id,
            });
        }
        Verifier {
            progress: None,
            prev: state.base_hash,
            last_id: state.base_id,
            state,
            expected,
            report,
        }
    }

    /// Calls `progress` with the entries read so far, every [`PROGRESS_EVERY`].
    pub fn with_progress(mut self, progress: Option<Progress>) -> Self {
        self.progress = progress;
        self
    }

    fn problem(&mut self, p: Problem) {
        self.report.problems.push(p);
    }

    /// The next entry, in id order.
    pub fn feed(&mut self, e: &StoredEntry) {
        self.feed_parts(&e.as_ref(), e.hash.as_deref());
    }

    /// The next entry, in id order, with its stored hash (borrowed from a row as read).
    pub fn feed_parts(&mut self, e: &EntryRef<'_>, hash: Option<&[u8]>) {
        self.feed_checked(e.id, Some(e), hash);
    }

    /// The next entry, in id order, when a field of it could not be read as the type it
    /// is written with (SQLite keeps whatever type a direct write gives a value): it was
    /// not written by the server, so it does not match its hash.
    pub fn feed_unreadable(&mut self, id: i64, hash: Option<&[u8]>) {
        self.feed_checked(id, None, hash);
    }

    fn feed_checked(&mut self, id: i64, e: Option<&EntryRef<'_>>, hash: Option<&[u8]>) {
        self.report.entries += 1;
        if self.report.entries.is_multiple_of(PROGRESS_EVERY)
            && let Some(p) = &self.progress
        {
            p(self.report.entries);
        }
        let Some(stored) = hash else {
            self.problem(Problem::Inserted { id });
            return;
        };
        if id <= self.state.base_id {
            self.problem(Problem::Inserted { id });
            return;
        }
        let computed = e.map(|e| entry_hash(&self.prev, e));
        if computed.is_none_or(|c| c.as_slice() != stored) {
            if id > self.last_id + 1 {
                self.problem(Problem::Deleted {
                    from: self.last_id + 1,
                    to: id - 1,
                });
            } else if id > self.state.head_id {
                self.problem(Problem::Inserted { id });
            } else {
                // Consistent with some predecessor but not this one: it moved, or what
                // came before it did. Otherwise its own content changed.
                self.problem(Problem::Modified { id });
            }
        }
        // A gap whose next entry links to the entry before it is no damage: ids the
        // entries never had (a log from before the chain, whose ids skipped rolled-back
        // inserts, was chained as it was).
        // Continue from the stored hash: later, independent damage is reported too.
        self.prev = <Hash>::try_from(stored).unwrap_or(computed.unwrap_or(GENESIS));
        self.last_id = id;
        if let Some(cps) = self.expected.remove(&id) {
            for (cp, h) in cps {
                if h != self.prev {
                    self.problem(Problem::CheckpointMismatch { checkpoint: cp, id });
                }
            }
        }
        // Checkpoints whose entry was skipped (deleted).
        while let Some((&skipped, _)) = self.expected.first_key_value() {
            if skipped >= id {
                break;
            }
            if let Some(cps) = self.expected.remove(&skipped) {
                for (cp, _) in cps {
                    self.problem(Problem::CheckpointMismatch {
                        checkpoint: cp,
                        id: skipped,
                    });
                }
            }
        }
    }

    /// The report, once every entry was fed; `head` is the head row as read after the
    /// last entry (entries may have been appended while they were read).
    pub fn finish(mut self, head: &ChainState) -> Report {
        // Checkpoints past the last entry: the tail they signed is gone.
        if let Some((&to, _)) = self.expected.last_key_value() {
            let from = self.last_id + 1;
            self.problem(Problem::Deleted { from, to });
        }
        if self.last_id != head.head_id || self.prev != head.head_hash {
            self.problem(Problem::HeadMismatch {
                head_id: head.head_id,
                last_id: self.last_id,
            });
        }
        self.report.head_id = self.last_id;
        // Stable: problems at the same entry keep the order they were found in.
        self.report.problems.sort_by_key(Problem::entry);
        self.report.problems.truncate(MAX_PROBLEMS);
        self.report.intact = self.report.problems.is_empty();
        self.report.text = self.report.describe();
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, prev: &Hash, op: &str) -> StoredEntry {
        let mut e = StoredEntry {
            id,
            workspace_id: "ws".into(),
            timestamp: id * 10,
            username: "u".into(),
            email: Some("u@example.com".into()),
            operation: op.into(),
            action_kind: "Create".into(),
            resource: None,
            parameters: Some("{\"a\":1}".into()),
            impersonator: None,
            hash: None,
        };
        e.hash = Some(entry_hash(prev, &e.as_ref()).to_vec());
        e
    }

    fn chain(n: i64) -> (Vec<StoredEntry>, ChainState) {
        let mut prev = GENESIS;
        let mut out = Vec::new();
        for id in 1..=n {
            let e = entry(id, &prev, &format!("op.{id}"));
            prev = e.hash.clone().unwrap().try_into().unwrap();
            out.push(e);
        }
        let state = ChainState {
            base_id: 0,
            base_hash: GENESIS,
            head_id: n,
            head_hash: prev,
        };
        (out, state)
    }

    fn verify(entries: &[StoredEntry], state: &ChainState) -> Report {
        let mut v = Verifier::new(state.clone(), &[], None);
        for e in entries {
            v.feed(e);
        }
        v.finish(state)
    }

    #[test]
    fn absent_and_empty_fields_hash_differently() {
        let (entries, _) = chain(1);
        let mut e = entries[0].clone();
        let a = entry_hash(&GENESIS, &e.as_ref());
        e.resource = Some(String::new());
        assert_ne!(a, entry_hash(&GENESIS, &e.as_ref()));
        // Moving bytes between neighbouring fields changes the hash.
        let mut f = entries[0].clone();
        f.username = "uu".into();
        f.email = Some("@example.com".into());
        assert_ne!(a, entry_hash(&GENESIS, &f.as_ref()));
    }

    #[test]
    fn each_kind_of_damage_is_named_at_its_entry() {
        let (entries, state) = chain(10);
        assert!(verify(&entries, &state).intact());

        let mut modified = entries.clone();
        modified[4].username = "mallory".into();
        let r = verify(&modified, &state);
        assert_eq!(r.first(), Some(&Problem::Modified { id: 5 }), "{r:?}");

        let mut deleted = entries.clone();
        deleted.remove(3);
        let r = verify(&deleted, &state);
        assert_eq!(
            r.first(),
            Some(&Problem::Deleted { from: 4, to: 4 }),
            "{r:?}"
        );

        let mut truncated = entries.clone();
        truncated.truncate(7);
        let r = verify(&truncated, &state);
        assert_eq!(
            r.first(),
            Some(&Problem::HeadMismatch {
                head_id: 10,
                last_id: 7
            })
        );
        assert_eq!(r.first().unwrap().entry(), 8);
    }

    #[test]
    fn ids_skipped_when_the_log_was_chained_are_no_damage() {
        // A log from before the chain, ids with a gap (a rolled-back insert), chained as it
        // was: intact. The same gap made by deleting an entry afterwards is not.
        let mut prev = GENESIS;
        let mut entries = Vec::new();
        for id in [1, 2, 4, 5] {
            let e = entry(id, &prev, "op");
            prev = e.hash.clone().unwrap().try_into().unwrap();
            entries.push(e);
        }
        let state = ChainState {
            base_id: 0,
            base_hash: GENESIS,
            head_id: 5,
            head_hash: prev,
        };
        assert!(verify(&entries, &state).intact());
        entries.remove(1);
        assert_eq!(
            verify(&entries, &state).first(),
            Some(&Problem::Deleted { from: 2, to: 3 })
        );
    }

    #[test]
    fn a_checkpoint_catches_a_rehashed_chain_and_its_signature_a_forged_one() {
        let (entries, state) = chain(5);
        let key = SigningKey::from_bytes(&[7; 32]);
        let (pk, sig) = sign_checkpoint(&key, 1, &state);
        let cp = Checkpoint {
            id: 1,
            created_at: 1,
            chain: state.clone(),
            public_key: pk,
            signature: sig,
        };
        let mut v = Verifier::new(
            state.clone(),
            std::slice::from_ref(&cp),
            Some(key.verifying_key()),
        );
        entries.iter().for_each(|e| v.feed(e));
        let r = v.finish(&state);
        assert!(r.intact(), "{r:?}");
        assert_eq!((r.signed_checkpoints, r.signed_up_to), (1, 5));

        // Entry 3 changed and everything after re-hashed, head included.
        let mut prev: Hash = entries[1].hash.clone().unwrap().try_into().unwrap();
        let mut forged = entries.clone();
        forged[2].operation = "nothing.happened".into();
        for e in forged.iter_mut().skip(2) {
            let h = entry_hash(&prev, &e.as_ref());
            e.hash = Some(h.to_vec());
            prev = h;
        }
        let forged_state = ChainState {
            head_hash: prev,
            ..state.clone()
        };
        let mut v = Verifier::new(
            forged_state.clone(),
            std::slice::from_ref(&cp),
            Some(key.verifying_key()),
        );
        forged.iter().for_each(|e| v.feed(e));
        let r = v.finish(&forged_state);
        assert_eq!(
            r.first(),
            Some(&Problem::CheckpointMismatch {
                checkpoint: 1,
                id: 5
            })
        );
        // The checkpoint rewritten too: its signature no longer verifies.
        let cp2 = Checkpoint {
            chain: forged_state.clone(),
            ..cp.clone()
        };
        let mut v = Verifier::new(forged_state.clone(), &[cp2], Some(key.verifying_key()));
        forged.iter().for_each(|e| v.feed(e));
        let r = v.finish(&forged_state);
        assert!(
            r.problems.contains(&Problem::BadSignature {
                checkpoint: 1,
                id: 5
            }),
            "{r:?}"
        );
        assert!(!r.intact());
    }

    #[test]
    fn keys_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let public = generate_key_file(&path).unwrap();
        assert_eq!(load_key_file(&path).unwrap().verifying_key(), public);
        assert!(generate_key_file(&path).is_err(), "never over a file");
        assert_eq!(
            parse_public_key(&to_hex(public.as_bytes())).unwrap(),
            public
        );
        assert!(parse_public_key("zz").is_err());
    }
}
