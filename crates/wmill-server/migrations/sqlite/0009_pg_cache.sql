-- The table of PostgreSQL's coherent cache (issue 21), unused on SQLite (one server per
-- database, see docs/design.md): created on both so that the two schemas have the same
-- tables and `wmill-server migrate` copies one into the other.
CREATE TABLE cache_instance (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lease_until INTEGER NOT NULL,
    acked_epoch INTEGER NOT NULL,
    fenced      BOOLEAN NOT NULL DEFAULT FALSE
);
