-- Credentials belong to an account and go with it; group ownership is a table of its own;
-- login throttling is kept in the database (shared by every instance, kept across restarts);
-- an audit entry names the superadmin behind an impersonation token.

-- The row the transactions that may remove a superadmin lock first (see store/sql.rs).
INSERT INTO meta (key, value) VALUES ('superadmin_lock', '') ON CONFLICT (key) DO NOTHING;

-- Tokens: removed with their account (or with the superadmin who minted an impersonation),
-- and a kind the server sets: 'session' (login), 'api' (tokens/create), 'impersonation'.
-- Tokens of accounts that no longer exist, and impersonation tokens minted before their
-- minter was recorded, are not carried over.
CREATE TABLE token_new (
    hash         TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL,
    email        TEXT NOT NULL REFERENCES account (email) ON DELETE CASCADE ON UPDATE CASCADE,
    label        TEXT,
    expiration   BIGINT,
    workspace_id TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    kind         TEXT NOT NULL DEFAULT 'api',
    impersonator TEXT REFERENCES account (email) ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO token_new (hash, prefix, email, label, expiration, workspace_id, created_at, last_used_at, kind)
SELECT t.hash, t.prefix, t.email, t.label, t.expiration, t.workspace_id, t.created_at, t.last_used_at,
       CASE WHEN t.label = 'session' THEN 'session' ELSE 'api' END
FROM token t
WHERE EXISTS (SELECT 1 FROM account a WHERE a.email = t.email)
  AND NOT EXISTS (SELECT 1 FROM audit x WHERE x.workspace_id = 'global'
                  AND x.operation = 'users.impersonate' AND x.resource = t.prefix || '*****');
DROP TABLE token;
ALTER TABLE token_new RENAME TO token;
CREATE INDEX token_by_email ON token (email, created_at);
CREATE INDEX token_by_prefix ON token (prefix);
CREATE INDEX token_by_impersonator ON token (impersonator);

-- Group owners and readers (Windmill's extra_perms): principal `u/<username>` or
-- `g/<group>`; can_write = owner.
CREATE TABLE group_acl (
    workspace_id TEXT NOT NULL,
    group_name   TEXT NOT NULL,
    principal    TEXT NOT NULL,
    can_write    BOOLEAN NOT NULL,
    PRIMARY KEY (workspace_id, group_name, principal),
    FOREIGN KEY (workspace_id, group_name) REFERENCES grp (workspace_id, name) ON DELETE CASCADE
);
CREATE INDEX group_acl_by_principal ON group_acl (workspace_id, principal);
INSERT INTO group_acl (workspace_id, group_name, principal, can_write)
SELECT g.workspace_id, g.name, j.key, j.type = 'true'
FROM grp g, json_each(g.extra_perms) j
WHERE json_valid(g.extra_perms) AND j.type IN ('true', 'false');
ALTER TABLE grp DROP COLUMN extra_perms;

-- Failed logins per account (any email, existing or not), counted before verification.
CREATE TABLE login_throttle (
    email        TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX login_throttle_by_age ON login_throttle (updated_at);

ALTER TABLE audit ADD COLUMN impersonator TEXT;
