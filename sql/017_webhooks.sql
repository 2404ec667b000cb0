-- 017_webhooks.sql - webhooks from an outbox: never an event without its
-- commit, never a commit without its event.
--
-- An app registers endpoints (hooks) for kinds of events. What happens is
-- written to crosstalk.outbox in the transaction that made it happen (a
-- trigger on messages for messages and member changes and mentions of people
-- who were offline; register_session and end_session for logins), one row
-- per hook. crosstalk-fcgi's delivery thread claims due rows with FOR UPDATE
-- SKIP LOCKED (any number of processes and nodes, no double work), POSTs
-- them signed, and retries with backoff until they are delivered or parked.
CREATE TABLE crosstalk.hooks (
    id          bigserial PRIMARY KEY,
    app         text NOT NULL REFERENCES crosstalk.apps ON DELETE CASCADE,
    url         text NOT NULL CHECK (url ~ '^https?://[^[:space:][:cntrl:]]+$' AND char_length(url) <= 500),
    events      text[] NOT NULL CHECK (events <@ ARRAY['message', 'mention', 'member', 'session']
                                       AND cardinality(events) > 0),
    secret      text NOT NULL,              -- signs each delivery (HMAC-SHA256)
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hooks_app ON crosstalk.hooks (app);

CREATE TABLE crosstalk.outbox (
    id            bigserial PRIMARY KEY,    -- also the delivery's idempotency id
    hook_id       bigint NOT NULL REFERENCES crosstalk.hooks ON DELETE CASCADE,
    event         text NOT NULL,            -- message, mention, member, session
    channel       text,                     -- events of a channel, in order per channel
    payload       jsonb NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts      int NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    last_status   int,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz
);
CREATE INDEX outbox_due ON crosstalk.outbox (next_at) WHERE state = 'pending';
CREATE INDEX outbox_hook ON crosstalk.outbox (hook_id, id);

-- The trigger's first version (sql/functions.sql replaces it): once per
-- INSERT statement, over the rows it added (a group commit's 64 posts are
-- one call, and without hooks one probe of an empty table).
CREATE FUNCTION crosstalk.hooks_exist() RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT EXISTS (SELECT 1 FROM crosstalk.hooks) $$;
CREATE FUNCTION crosstalk.outbox_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER messages_outbox AFTER INSERT ON crosstalk.messages
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION crosstalk.outbox_on_insert();
