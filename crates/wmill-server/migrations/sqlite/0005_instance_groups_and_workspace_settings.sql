-- Instance groups: groups of accounts across workspaces, with an optional instance role
-- ('superadmin' or 'devops') their members hold while they belong; the workspaces they feed
-- (their members become members there with a role, while they belong); the identity part of
-- workspace settings; workspaces archived.
CREATE TABLE instance_group (
    name              TEXT PRIMARY KEY,
    id                TEXT UNIQUE,
    summary           TEXT,
    instance_role     TEXT,
    scim_display_name TEXT,
    external_id       TEXT,
    created_at        BIGINT NOT NULL
);
CREATE TABLE instance_group_member (
    group_name TEXT NOT NULL REFERENCES instance_group (name) ON DELETE CASCADE ON UPDATE CASCADE,
    email      TEXT NOT NULL REFERENCES account (email) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (group_name, email)
);
CREATE INDEX instance_group_member_by_email ON instance_group_member (email);
CREATE TABLE workspace_instance_group (
    workspace_id TEXT NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    group_name   TEXT NOT NULL REFERENCES instance_group (name) ON DELETE CASCADE ON UPDATE CASCADE,
    role         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, group_name)
);
CREATE INDEX workspace_instance_group_by_group ON workspace_instance_group (group_name);
-- The instance group a membership came from (NULL: added directly).
ALTER TABLE member ADD COLUMN via_instance_group TEXT;
-- Settings as JSON objects (NULL: never set), and whether the workspace is archived.
ALTER TABLE workspace ADD COLUMN auto_invite TEXT;
ALTER TABLE workspace ADD COLUMN operator_settings TEXT;
ALTER TABLE workspace ADD COLUMN archived BOOLEAN NOT NULL DEFAULT FALSE;
-- The row every change of instance-group memberships locks first (one at a time).
INSERT INTO meta (key, value) VALUES ('instance_group_lock', '') ON CONFLICT (key) DO NOTHING;
-- Ids of deleted workspaces: never given again, so that a new workspace never shows the
-- audit entries of an old one of the same id.
CREATE TABLE deleted_workspace (
    id         TEXT PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);
