-- SCIM 2.0 provisioning (issue 17).
--
-- SCIM tokens: bearer tokens an identity provider uses on /api/scim, and nowhere else. Only
-- their SHA-256 digest is kept; the label names the provider in the audit log.
CREATE TABLE scim_token (
    hash       TEXT PRIMARY KEY,
    prefix     TEXT NOT NULL,
    label      TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every account gets a stable SCIM id (its email may change), and the attributes SCIM
-- carries that accounts did not have: userName when it is not the email, externalId and the
-- parts of the name.
ALTER TABLE account ADD COLUMN scim_id TEXT;
ALTER TABLE account ADD COLUMN user_name TEXT;
ALTER TABLE account ADD COLUMN external_id TEXT;
ALTER TABLE account ADD COLUMN given_name TEXT;
ALTER TABLE account ADD COLUMN family_name TEXT;
-- When SCIM last changed the account or group (meta.lastModified; created_at before that).
ALTER TABLE account ADD COLUMN scim_modified_at BIGINT;
ALTER TABLE instance_group ADD COLUMN scim_modified_at BIGINT;
UPDATE account SET scim_id = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX account_by_scim_id ON account (scim_id);
CREATE UNIQUE INDEX account_by_user_name ON account (lower(user_name));
-- What a provider looks accounts up by (`userName eq "…"`), and what uniqueness checks.
CREATE INDEX account_by_scim_user_name ON account (LOWER(COALESCE(user_name, email)));
CREATE TRIGGER account_scim_id AFTER INSERT ON account FOR EACH ROW WHEN NEW.scim_id IS NULL
BEGIN
    UPDATE account SET scim_id = lower(hex(randomblob(16))) WHERE email = NEW.email;
END;
CREATE TRIGGER account_scim_id_kept AFTER UPDATE OF scim_id ON account FOR EACH ROW WHEN NEW.scim_id IS NULL
BEGIN
    UPDATE account SET scim_id = lower(hex(randomblob(16))) WHERE email = NEW.email;
END;

-- Every instance group gets an id too (imports may bring theirs).
UPDATE instance_group SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE TRIGGER instance_group_id AFTER INSERT ON instance_group FOR EACH ROW WHEN NEW.id IS NULL
BEGIN
    UPDATE instance_group SET id = lower(hex(randomblob(16))) WHERE name = NEW.name;
END;
CREATE TRIGGER instance_group_id_kept AFTER UPDATE OF id ON instance_group FOR EACH ROW WHEN NEW.id IS NULL
BEGIN
    UPDATE instance_group SET id = lower(hex(randomblob(16))) WHERE name = NEW.name;
END;
