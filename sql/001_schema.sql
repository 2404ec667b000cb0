-- 001_schema.sql - crosstalk's tables. Everything crosstalk stores lives in
-- schema crosstalk; it never writes the apps' own tables.

CREATE TABLE crosstalk.apps (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    key_hash    text NOT NULL,               -- sha256 hex of the whole key
    origins     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Logins registered by the apps (the default resolver reads this table).
CREATE TABLE crosstalk.sessions (
    id           bigserial PRIMARY KEY,
    ref_hash     text NOT NULL UNIQUE,       -- sha256 hex of the session ref
    app          text NOT NULL REFERENCES crosstalk.apps ON DELETE CASCADE,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX sessions_expiry ON crosstalk.sessions (expires_at);

-- last_seq is the channel's seq counter: post_message() takes it under the
-- row's lock, so seqs are gapless and grow in commit order.
CREATE TABLE crosstalk.channels (
    name        text PRIMARY KEY
                CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$' OR name ~ '^dm:[^:]+:[^:]+$'),
    title       text NOT NULL DEFAULT '',
    apps        text[],                      -- NULL: open to every app
    last_seq    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The channel stream: messages, and the edit/delete events on them. A
-- message row always shows the message's current text.
CREATE TABLE crosstalk.messages (
    id           bigserial PRIMARY KEY,
    channel      text NOT NULL REFERENCES crosstalk.channels ON DELETE CASCADE,
    seq          bigint NOT NULL,
    kind         text NOT NULL DEFAULT 'message'
                 CHECK (kind IN ('message', 'edited', 'deleted')),
    message_id   bigint NOT NULL,            -- = id for a message; its target otherwise
    app          text NOT NULL,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    text         text NOT NULL,
    client_id    text,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    edited_at    timestamptz,
    deleted_at   timestamptz,
    UNIQUE (channel, seq)
);
CREATE UNIQUE INDEX messages_client_id ON crosstalk.messages (app, user_id, client_id)
    WHERE client_id IS NOT NULL AND kind = 'message';
CREATE INDEX messages_created ON crosstalk.messages (created_at);

-- Single-use browser credentials. The session ref rides along sealed with
-- a key derived from the ticket (ref_box), so neither is stored in clear.
CREATE TABLE crosstalk.tickets (
    hash         text PRIMARY KEY,           -- sha256 hex of the ticket
    app          text NOT NULL REFERENCES crosstalk.apps ON DELETE CASCADE,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    ref_hash     text NOT NULL,
    ref_box      text NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX tickets_expiry ON crosstalk.tickets (expires_at);

CREATE TABLE crosstalk.read_markers (
    user_id     text NOT NULL,
    channel     text NOT NULL REFERENCES crosstalk.channels ON DELETE CASCADE,
    seq         bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel)
);

-- Presence: each daemon node heartbeats its row; a node whose heartbeat is
-- older than the presence TTL is dead and its users are gone.
CREATE TABLE crosstalk.nodes (
    node_id      text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE crosstalk.presence (
    node_id      text NOT NULL REFERENCES crosstalk.nodes ON DELETE CASCADE,
    conn_id      bigint NOT NULL,
    channel      text NOT NULL,
    app          text NOT NULL,
    user_id      text NOT NULL,
    display_name text NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, conn_id, channel)
);
CREATE INDEX presence_channel ON crosstalk.presence (channel);

-- Fixed-window counters shared by every process and node.
CREATE TABLE crosstalk.rate_limits (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    count        int NOT NULL
);
