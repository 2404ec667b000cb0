-- 014_members.sql - private channels: open to listed users only.
--
-- A channel is open to every app (apps NULL), to listed apps, or - private -
-- to its members, users listed in channel_members (and still only through
-- the listed apps, when apps is set). Group conversations are private
-- channels a user started (created_by); their owners may add people.
-- Every change of the member list is a 'member' event in the channel's
-- stream (data: {"added": [...]} or {"removed": [...]}), so clients and
-- other nodes follow it live and by seq.
ALTER TABLE crosstalk.channels
    ADD COLUMN private boolean NOT NULL DEFAULT false,
    ADD COLUMN created_by text;                  -- the hub id of a group's starter

CREATE TABLE crosstalk.channel_members (
    channel   text NOT NULL REFERENCES crosstalk.channels ON DELETE CASCADE ON UPDATE CASCADE,
    user_id   text NOT NULL,                     -- the hub's id
    role      text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'owner')),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, user_id)
);
CREATE INDEX channel_members_user ON crosstalk.channel_members (user_id);

ALTER TABLE crosstalk.messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE crosstalk.messages
    ADD CONSTRAINT messages_kind_check
        CHECK (kind IN ('message', 'edited', 'deleted', 'channel', 'member')) NOT VALID;
ALTER TABLE crosstalk.messages VALIDATE CONSTRAINT messages_kind_check;
