-- 012_identity.sql - whose user ids are whose, and channels that change.
--
-- apps.namespace: 'family' - the app's user ids are the family's: user 42
-- of this app is user 42 of every other family app (one person, one set of
-- DMs and read markers). 'own' - the app's ids are its own: the hub knows
-- its user 42 as "app2/42" (qualified by the app), a different person from
-- anyone else's 42. Apps registered before this migration keep what they
-- had (family); apps registered from now on are 'own' unless told
-- otherwise, because sharing ids that are not the same people lets one
-- app's user read another's direct messages.
ALTER TABLE crosstalk.apps
    ADD COLUMN name text NOT NULL DEFAULT ''
        CHECK (char_length(name) <= 100 AND name !~ '[[:cntrl:]]'),
    ADD COLUMN namespace text NOT NULL DEFAULT 'family'
        CHECK (namespace IN ('family', 'own'));
ALTER TABLE crosstalk.apps ALTER COLUMN namespace SET DEFAULT 'own';

-- An archived channel keeps its history and readers; nobody posts to it.
ALTER TABLE crosstalk.channels ADD COLUMN archived_at timestamptz;

-- 'channel' events: the channel itself changed (title, archived), stored in
-- its stream with a seq like any event; data says what changed.
ALTER TABLE crosstalk.messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE crosstalk.messages
    ADD CONSTRAINT messages_kind_check
        CHECK (kind IN ('message', 'edited', 'deleted', 'channel')) NOT VALID,
    ADD COLUMN data jsonb;
ALTER TABLE crosstalk.messages VALIDATE CONSTRAINT messages_kind_check;
