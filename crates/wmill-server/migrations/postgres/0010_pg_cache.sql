-- The coherent authentication cache on PostgreSQL (issue 21, docs/design.md "Caching on
-- PostgreSQL"). Each instance with `--pg-cache=on` holds a row here: its lease (a time on
-- the database's clock, microseconds since the epoch), the last invalidation epoch it has
-- applied, and whether a writer fenced it (it stopped answering; it may not renew, it must
-- join again with an empty cache). `wmill-server migrate` does not copy it; SQLite has none.
CREATE TABLE cache_instance (
    id          BIGSERIAL PRIMARY KEY,
    lease_until BIGINT NOT NULL,
    acked_epoch BIGINT NOT NULL,
    fenced      BOOLEAN NOT NULL DEFAULT FALSE
);

-- One number per invalidating write, in commit order (see cache_invalidate).
CREATE SEQUENCE cache_epoch;

-- Called by every write that may change what an instance caches, as the last statement of
-- its transaction: the advisory lock (held to the commit) makes epochs increase in commit
-- order, which is also the order in which listeners receive the notifications, so that an
-- instance's acknowledged epoch means "every invalidation up to this one is applied".
CREATE FUNCTION cache_invalidate() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    e BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7012027);
    e := nextval('cache_epoch');
    PERFORM pg_notify('wmill_cache', e::text);
    RETURN e;
END
$$;
