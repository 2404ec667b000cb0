-- 006_batch.sql - group commit for HTTP posts (api_post_batch) and a
-- cheaper event JSON; functions only, now in sql/functions.sql. Kept so
-- that the version stays recorded.
SELECT 1;
