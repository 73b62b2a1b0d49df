-- Audit sinks (issue 18): where each configured sink (`--audit-sink`) has got to. `name` is
-- the sink's stable identity (its `name=` option, or its target without secrets);
-- `delivered_id` (the cursor) the last audit id the sink acknowledged (a 2xx answer, or a file write flushed to
-- disk), moved forward only, after the acknowledgement. Retention never removes an entry
-- above the lowest cursor of the configured sinks.
CREATE TABLE audit_sink (
    name         TEXT PRIMARY KEY,
    delivered_id BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
