-- The audit log as a hash chain (issue 18). Each entry's `hash` is SHA-256 of the previous
-- entry's hash and the entry's canonical content (`crate::audit_chain::entry_hash`); rows
-- written before this migration are chained once, in id order, when the server first
-- starts on it (`sealed` turns TRUE). `audit_chain` is the single head row every audited
-- write updates in its own transaction: `base_*` is where the chain starts (entries up to
-- `base_id` were removed by retention, `base_hash` is the hash of entry `base_id`, zeros
-- at genesis), `head_*` its last entry.
ALTER TABLE audit ADD COLUMN hash BLOB;

CREATE TABLE audit_chain (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    sealed    BOOLEAN NOT NULL,
    base_id   BIGINT NOT NULL,
    base_hash BLOB NOT NULL,
    head_id   BIGINT NOT NULL,
    head_hash BLOB NOT NULL
);
INSERT INTO audit_chain (id, sealed, base_id, base_hash, head_id, head_hash)
VALUES (1, FALSE, 0, zeroblob(32), 0, zeroblob(32));

-- Signed checkpoints: the chain's base and head, signed with the Ed25519 key given by
-- `--audit-signing-key` (kept outside the database).
CREATE TABLE audit_checkpoint (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at BIGINT NOT NULL,
    base_id    BIGINT NOT NULL,
    base_hash  BLOB NOT NULL,
    head_id    BIGINT NOT NULL,
    head_hash  BLOB NOT NULL,
    public_key BLOB NOT NULL,
    signature  BLOB NOT NULL
);
