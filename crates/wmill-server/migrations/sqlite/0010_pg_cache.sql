-- Nothing on SQLite: migration 0010 creates PostgreSQL's coherent cache (issue 21), which
-- SQLite does not need (one server per database, see docs/design.md). The file keeps both
-- databases' migrations numbered alike, as `wmill-server migrate` requires. Its
-- `cache_instance` table holds only the running instances' leases: `migrate` leaves it out.
SELECT 1;
