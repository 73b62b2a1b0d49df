-- Single sign-on with OpenID Connect: the way an account last signed in (NULL: its
-- password), and the sign-ins started with a provider, each taken (deleted) once.
ALTER TABLE account ADD COLUMN login_type TEXT;

CREATE TABLE oidc_login (
    state_hash    TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    next          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX oidc_login_by_time ON oidc_login (created_at);
