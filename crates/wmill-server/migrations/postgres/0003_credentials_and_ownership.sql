-- Credentials belong to an account and go with it; group ownership is a table of its own;
-- login throttling is kept in the database (shared by every instance, kept across restarts);
-- an audit entry names the superadmin behind an impersonation token.

-- The row the transactions that may remove a superadmin lock first (see store/sql.rs).
INSERT INTO meta (key, value) VALUES ('superadmin_lock', '') ON CONFLICT (key) DO NOTHING;

-- Tokens: removed with their account (or with the superadmin who minted an impersonation),
-- and a kind the server sets: 'session' (login), 'api' (tokens/create), 'impersonation'.
-- Tokens of accounts that no longer exist, and impersonation tokens minted before their
-- minter was recorded, are not carried over.
DELETE FROM token t
WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.email = t.email)
   OR EXISTS (SELECT 1 FROM audit x WHERE x.workspace_id = 'global'
              AND x.operation = 'users.impersonate' AND x.resource = t.prefix || '*****');
ALTER TABLE token ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
UPDATE token SET kind = 'session' WHERE label = 'session';
ALTER TABLE token ADD COLUMN impersonator TEXT
    REFERENCES account (email) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE token ADD CONSTRAINT token_email_fkey FOREIGN KEY (email)
    REFERENCES account (email) ON DELETE CASCADE ON UPDATE CASCADE;
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
SELECT g.workspace_id, g.name, j.key, j.value = 'true'::jsonb
FROM grp g, jsonb_each(g.extra_perms::jsonb) j
WHERE jsonb_typeof(j.value) = 'boolean';
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
