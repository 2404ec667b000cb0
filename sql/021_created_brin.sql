-- 021_created_brin.sql - messages' created_at is indexed by block range
-- (BRIN), not by a b-tree. Only the prune (DELETE ... WHERE created_at <
-- cutoff, crosstalk.prune) reads it, and rows are appended in time order,
-- so a range of table blocks covers a range of times. The b-tree took an
-- entry (and its WAL) for every stored event, on the group commit's path,
-- and about 21 MB per million rows; the block-range index takes a few
-- pages, and an insert into a range not yet summarized writes nothing.
DROP INDEX IF EXISTS crosstalk.messages_created;
CREATE INDEX messages_created ON crosstalk.messages USING brin (created_at);
