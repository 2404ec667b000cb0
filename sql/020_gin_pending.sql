-- 020_gin_pending.sql - the GIN indexes on messages keep no pending list
-- (fastupdate off). With one, each insert appended its words to the list
-- and the insert that found it full (gin_pending_list_limit, 4 MB) merged
-- the whole list into the index in its own transaction: in a 1,000-channel
-- load that post's batch touched 153,246 buffers and took 200-300 ms,
-- about once in 15,000 posts, and every post grouped with it waited as
-- long. Without it each insert adds its own words; pgbench through
-- api_post_batch measured the same CPU per post either way (100-104 us on,
-- 104-115 us off, 64 posts a call). set_search_config rebuilds the index
-- the same way.
SELECT gin_clean_pending_list('crosstalk.messages_tsv'::regclass);
ALTER INDEX crosstalk.messages_tsv SET (fastupdate = off);
SELECT gin_clean_pending_list('crosstalk.messages_mentions'::regclass);
ALTER INDEX crosstalk.messages_mentions SET (fastupdate = off);
