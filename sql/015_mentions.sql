-- 015_mentions.sql - @mentions, resolved by the hub when a message is
-- stored (never taken from the client): messages.mentions holds the hub ids
-- of the people a message mentions who may read its channel. One trigger
-- fills it on every path a message is inserted by (a group commit, a
-- single post), and only for texts with an '@' (its WHEN is checked
-- without calling the function). The function's body is
-- crosstalk.mentions_on_insert() in sql/functions.sql; this is its first
-- version, replaced there.
ALTER TABLE crosstalk.messages ADD COLUMN mentions text[];
CREATE INDEX messages_mentions ON crosstalk.messages USING gin (mentions)
    WHERE mentions IS NOT NULL;

CREATE FUNCTION crosstalk.mentions_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER messages_mentions BEFORE INSERT ON crosstalk.messages
    FOR EACH ROW WHEN (NEW.kind = 'message' AND strpos(NEW.text, '@') > 0)
    EXECUTE FUNCTION crosstalk.mentions_on_insert();
