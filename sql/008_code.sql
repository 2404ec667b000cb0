-- 008_code.sql - function bodies move to sql/functions.sql, applied by
-- migrate after the numbered migrations whenever its text changes; its
-- sha256 is recorded here. Functions that left the interface, or whose
-- result type changed, are dropped first.
CREATE TABLE crosstalk.code (
    name        text PRIMARY KEY,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- post_message_ex: replaced by post_message_x (which also returns the
-- event); check_access: reading and subscribing no longer create a DM
-- channel (check_read), only a post does (lock_channel).
DROP FUNCTION IF EXISTS crosstalk.post_message_ex(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS crosstalk.check_access(text, text, text);
