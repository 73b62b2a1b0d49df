-- Audit entries waiting to be chained (issue 18, docs/design.md "The audit chain on
-- PostgreSQL"). An audited write inserts its entry here, in its own transaction, without
-- waiting for anyone; after its commit, the instance's chainer moves the entries waiting,
-- in `pid` order, into `audit`, hashed and numbered, in one transaction that holds the
-- chain's head row (`audit_chain`). The writer is answered once its entry is chained. Rows
-- left here by an instance that died between the two are chained by any instance within a
-- second.
CREATE TABLE audit_pending (
    pid          BIGSERIAL PRIMARY KEY,
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
