-- 019_channel_hooks.sql - channel hooks, as ColdFusion's ChannelListener
-- had them: before a user's publish or subscribe on a channel is accepted,
-- the hub asks the hook of that channel (a name, or a prefix ending in *)
-- over HTTP: allow, deny (with a message) or, for a publish, a new text.
-- The daemons read this table and call the hooks themselves (wsd from its
-- event loop, never blocking it); nothing is queued in the database.
CREATE TABLE crosstalk.channel_hooks (
    id          bigserial PRIMARY KEY,
    app         text NOT NULL REFERENCES crosstalk.apps ON DELETE CASCADE,
    pattern     text NOT NULL UNIQUE CHECK (pattern ~ '^(\*|[^*[:space:][:cntrl:]]{1,128}\*?)$'),
    url         text NOT NULL CHECK (url ~ '^https?://[^[:space:][:cntrl:]]+$' AND char_length(url) <= 500),
    events      text[] NOT NULL CHECK (events <@ ARRAY['publish', 'subscribe']
                                       AND cardinality(events) > 0),
    secret      text NOT NULL,              -- signs each call (HMAC-SHA256)
    timeout_ms  int NOT NULL DEFAULT 2000 CHECK (timeout_ms BETWEEN 50 AND 30000),
    fail_open   boolean NOT NULL DEFAULT true, -- a hook that fails: allow (or refuse)
    created_at  timestamptz NOT NULL DEFAULT now()
);
