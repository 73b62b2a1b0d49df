-- Least-privilege credentials: a token's scopes (space-separated, NULL: all its user may) and
-- read-only flag; who minted a service account's token; accounts that are service accounts
-- (no password: they cannot sign in, only hold tokens).
ALTER TABLE token ADD COLUMN scopes TEXT;
ALTER TABLE token ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE token ADD COLUMN minted_by TEXT;
ALTER TABLE account ADD COLUMN service_account BOOLEAN NOT NULL DEFAULT FALSE;
