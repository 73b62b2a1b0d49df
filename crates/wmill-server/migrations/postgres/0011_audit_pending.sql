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

-- A text field in the chain's canonical encoding (`audit_chain::entry_hash`): absent is one
-- zero byte; present is a one byte, its length in bytes (8 bytes, big-endian) and its
-- UTF-8 bytes.
CREATE FUNCTION audit_text(v TEXT) RETURNS BYTEA LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN '\x00'::bytea
           ELSE '\x01'::bytea || int8send(octet_length(convert_to(v, 'UTF8')))
                || convert_to(v, 'UTF8') END;
$$;

-- Moves every entry waiting in `audit_pending` into the chain, in `pid` order, hashed as
-- `audit_chain::entry_hash` does (the server verifies with its own code), under the head
-- row's lock, which is held to the commit of the calling statement: chainers take turns,
-- and each sees what the previous one moved. Returns how many. One round trip for the
-- instance's chainer, however many entries wait.
CREATE FUNCTION audit_chain_pending() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    head BIGINT;
    prev BYTEA;
    top BIGINT;
    n BIGINT := 0;
    r RECORD;
BEGIN
    SELECT head_id, head_hash INTO head, prev FROM audit_chain WHERE id = 1 FOR UPDATE;
    -- Past any row written behind the server's back (verification names them).
    SELECT MAX(id) INTO top FROM audit;
    head := GREATEST(head, COALESCE(top, 0));
    FOR r IN WITH moved AS (DELETE FROM audit_pending RETURNING *) SELECT * FROM moved ORDER BY pid
    LOOP
        head := head + 1;
        prev := sha256('wmill-audit-v1'::bytea || '\x00'::bytea || prev || int8send(head)
            || audit_text(r.workspace_id) || int8send(r.timestamp) || audit_text(r.username)
            || audit_text(r.email) || audit_text(r.operation) || audit_text(r.action_kind)
            || audit_text(r.resource) || audit_text(r.parameters) || audit_text(r.impersonator));
        INSERT INTO audit (id, workspace_id, timestamp, username, email, operation, action_kind,
                           resource, parameters, impersonator, hash)
        VALUES (head, r.workspace_id, r.timestamp, r.username, r.email, r.operation,
                r.action_kind, r.resource, r.parameters, r.impersonator, prev);
        n := n + 1;
    END LOOP;
    IF n > 0 THEN
        UPDATE audit_chain SET head_id = head, head_hash = prev WHERE id = 1;
        PERFORM setval('audit_id_seq', head);
    END IF;
    RETURN n;
END
$$;
