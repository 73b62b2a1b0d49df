-- wmill schema (SQLite). Timestamps are microseconds since the Unix epoch (UTC).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE account (
    email           TEXT PRIMARY KEY,
    password_hash   TEXT NOT NULL,
    super_admin     BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT,
    company         TEXT,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    first_time_user BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      BIGINT NOT NULL
);

-- One username per email, the same in every workspace.
CREATE TABLE username (
    email    TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE
);

CREATE TABLE workspace (
    id    TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    owner TEXT NOT NULL
);

CREATE TABLE member (
    workspace_id TEXT NOT NULL REFERENCES workspace (id),
    username     TEXT NOT NULL,
    email        TEXT NOT NULL,
    is_admin     BOOLEAN NOT NULL DEFAULT FALSE,
    operator     BOOLEAN NOT NULL DEFAULT FALSE,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, username),
    UNIQUE (workspace_id, email)
);
CREATE INDEX member_by_email ON member (email);

CREATE TABLE grp (
    workspace_id TEXT NOT NULL REFERENCES workspace (id),
    name         TEXT NOT NULL,
    summary      TEXT,
    extra_perms  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE group_member (
    workspace_id TEXT NOT NULL,
    group_name   TEXT NOT NULL,
    username     TEXT NOT NULL,
    PRIMARY KEY (workspace_id, group_name, username),
    FOREIGN KEY (workspace_id, group_name) REFERENCES grp (workspace_id, name)
);
CREATE INDEX group_member_by_user ON group_member (workspace_id, username);

CREATE TABLE token (
    hash         TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL,
    email        TEXT NOT NULL,
    label        TEXT,
    expiration   BIGINT,
    workspace_id TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX token_by_email ON token (email, created_at);
CREATE INDEX token_by_prefix ON token (prefix);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    timestamp    BIGINT NOT NULL,
    username     TEXT NOT NULL,
    email        TEXT,
    operation    TEXT NOT NULL,
    action_kind  TEXT NOT NULL,
    resource     TEXT,
    parameters   TEXT
);
CREATE INDEX audit_by_workspace ON audit (workspace_id, id);
CREATE INDEX audit_by_user ON audit (workspace_id, username, id);
CREATE INDEX audit_by_operation ON audit (workspace_id, operation, id);
CREATE INDEX audit_by_kind ON audit (workspace_id, action_kind, id);
CREATE INDEX audit_by_time ON audit (workspace_id, timestamp);
