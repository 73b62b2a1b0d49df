-- Nothing on SQLite: migration 0012 changes how PostgreSQL's coherent cache is invalidated
-- (issue 21), which SQLite does not have. The file keeps both databases' migrations
-- numbered alike, as `wmill-server migrate` requires.
SELECT 1;
