-- Audit entries waiting to be chained: used on PostgreSQL only (see the PostgreSQL
-- migration 0011), where audited writes commit their entry here and an instance's chainer
-- moves it into `audit` after the commit. SQLite has a single writer and chains in the
-- writing transaction. The table exists here too so that `wmill-server migrate` copies
-- both ways unchanged; rows copied from PostgreSQL are chained when the server opens the
-- database.
CREATE TABLE audit_pending (
    pid          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    timestamp    BIGINT NOT NULL,
    username     TEXT NOT NULL,
    email        TEXT,
    operation    TEXT NOT NULL,
    action_kind  TEXT NOT NULL,
    resource     TEXT,
    parameters   TEXT,
    impersonator TEXT
);
