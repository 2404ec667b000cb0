-- 016_replies_reactions.sql - replies and reactions.
--
-- messages.reply_to: the message this one answers (same channel; no foreign
-- key: prune may remove the one answered, and the reply still shows it was
-- one). Reactions: one row per (message, emoji, user); each change is a
-- 'reaction' event in the channel's stream that shows the message's
-- current state - its reactions included - so a replay converges as it does
-- for edits. messages.reactions keeps that state on the message row
-- ([{"emoji", "users": [...]}] in order of first use), so no event ever
-- needs a second query to show it.
ALTER TABLE crosstalk.messages
    ADD COLUMN reply_to bigint,
    ADD COLUMN reactions jsonb;

CREATE TABLE crosstalk.reactions (
    message_id  bigint NOT NULL REFERENCES crosstalk.messages ON DELETE CASCADE,
    emoji       text NOT NULL,
    user_id     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (message_id, emoji, user_id)
);

ALTER TABLE crosstalk.messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE crosstalk.messages
    ADD CONSTRAINT messages_kind_check
        CHECK (kind IN ('message', 'edited', 'deleted', 'channel', 'member', 'reaction')) NOT VALID;
ALTER TABLE crosstalk.messages VALIDATE CONSTRAINT messages_kind_check;
