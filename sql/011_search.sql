-- 011_search.sql - full-text search over messages (GET messages/search, the
-- WebSocket "search" request). A stored, generated tsvector of each
-- message's current text (edits update it; edit and delete events and
-- deleted messages have none) and a GIN index on it. The text search
-- configuration is a setting (crosstalk.settings 'search_config', default
-- 'simple': words as typed, no stemming, no stop words, right for a family of
-- apps whose users write in several languages); `crosstalkctl search-config
-- NAME` changes it and rebuilds the column. Adding the column rewrites the
-- messages table once (minutes for tens of millions of rows).
CREATE TABLE crosstalk.settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO crosstalk.settings (name, value) VALUES ('search_config', 'simple');

ALTER TABLE crosstalk.messages
    ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        CASE WHEN kind = 'message' AND deleted_at IS NULL
             THEN to_tsvector('simple'::regconfig, text) END) STORED;
CREATE INDEX messages_tsv ON crosstalk.messages USING gin (tsv) WHERE tsv IS NOT NULL;
