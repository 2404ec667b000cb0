-- 004_wsd.sql - crosstalk-wsd's one-round-trip functions (publish,
-- subscribe, stream reads, login re-checks, heartbeats, presence rows); they
-- live in sql/functions.sql now. Kept so that the version stays recorded.
SELECT 1;
