-- 003_api.sql - what the HTTP API added (functions: sql/functions.sql).

-- Posted over HTTP with exclude_sender: the sha256 hex of the poster's
-- session ref. crosstalk-wsd skips this message for connections opened
-- with a ticket of that same login (tickets.ref_hash). NULL: echo to all.
ALTER TABLE crosstalk.messages ADD COLUMN exclude_ref_hash text;
