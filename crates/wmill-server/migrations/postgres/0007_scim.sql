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
UPDATE account SET scim_id = replace(gen_random_uuid()::text, '-', '');
CREATE UNIQUE INDEX account_by_scim_id ON account (scim_id);
CREATE UNIQUE INDEX account_by_user_name ON account (lower(user_name));
-- What a provider looks accounts up by (`userName eq "…"`), and what uniqueness checks.
CREATE INDEX account_by_scim_user_name ON account (LOWER(COALESCE(user_name, email)));

UPDATE instance_group SET id = replace(gen_random_uuid()::text, '-', '') WHERE id IS NULL;

-- Ids are given when a row comes without one, whoever inserts it.
CREATE FUNCTION scim_account_id() RETURNS trigger AS $$
BEGIN
    IF NEW.scim_id IS NULL THEN
        NEW.scim_id := replace(gen_random_uuid()::text, '-', '');
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER account_scim_id BEFORE INSERT OR UPDATE ON account
    FOR EACH ROW EXECUTE FUNCTION scim_account_id();

CREATE FUNCTION scim_group_id() RETURNS trigger AS $$
BEGIN
    IF NEW.id IS NULL THEN
        NEW.id := replace(gen_random_uuid()::text, '-', '');
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER instance_group_id BEFORE INSERT OR UPDATE ON instance_group
    FOR EACH ROW EXECUTE FUNCTION scim_group_id();
