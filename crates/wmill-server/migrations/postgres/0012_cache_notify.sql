-- Invalidations without a lock held to the commit (docs/design.md, "Caching on
-- PostgreSQL"). `cache_invalidate()` (0010) took an advisory lock from its call to the
-- commit, so that epochs were drawn in commit order: every invalidating write, on every
-- instance, committed one after the other. Now a write calls `cache_notify()` in its
-- transaction (the notification, delivered at commit, empties the caches) and, after its
-- commit, `cache_mark()`: an epoch drawn after the commit, sent in a notification of its
-- own. A notification carrying an epoch drawn after W's commit is delivered after W's,
-- so an instance that acknowledged it has applied W. `cache_invalidate()` stays, for SQL
-- run by hand and for instances of the previous version during a rolling upgrade (joins
-- still take its lock, which keeps those instances' waits sound).
CREATE FUNCTION cache_notify() RETURNS VOID LANGUAGE sql AS $$
    SELECT pg_notify('wmill_cache', '0');
$$;

CREATE FUNCTION cache_mark() RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    e BIGINT;
BEGIN
    e := nextval('cache_epoch');
    PERFORM pg_notify('wmill_cache', e::text);
    RETURN e;
END
$$;
