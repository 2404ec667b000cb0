-- 009_batch.sql - the group commit became set-based (sql/functions.sql,
-- api_post_batch): every rule is asked without raising (post_refusal and
-- its parts), so check_named, whose rule is now part of channel_refusal,
-- leaves; notify_event takes the event's fields instead of its row.
DROP FUNCTION IF EXISTS crosstalk.check_named(text, text);
DROP FUNCTION IF EXISTS crosstalk.notify_event(crosstalk.messages, json);
