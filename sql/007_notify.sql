-- 007_notify.sql - the event rides in its NOTIFY.
--
-- Payload of a stream event, when it fits in PostgreSQL's 8000-byte limit
-- (kept under 7900 bytes):
--   m <event id> <channel> <seq> <exclude hash or -> <event JSON>
-- and otherwise the short form of 002:
--   m <event id> <channel> <seq>
-- A daemon that holds the channel's previous seq delivers the event from
-- the payload at once; after a gap, during a fetch, or for the short form it
-- reads the stream by seq as before. Edits and deletes (change_message, 002)
-- keep the short form: they are rare, and are fetched. So one post costs each node one
-- notification instead of a notification plus a query, and the commit
-- reaches subscribers one round trip sooner. Readers of the old form keep
-- working: the first four fields are unchanged.

CREATE FUNCTION crosstalk.notify_event(e crosstalk.messages, p_event json)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    head text := 'm ' || e.id || ' ' || e.channel || ' ' || e.seq;
    payload text := head || ' ' || coalesce(e.exclude_ref_hash, '-') || ' ' || p_event::text;
BEGIN
    PERFORM pg_notify('crosstalk', CASE WHEN octet_length(payload) < 7900
                                        THEN payload ELSE head END);
END $$;

-- post_message_ex, plus the exclude_sender mark set in the same INSERT, and
-- the event JSON (made once: for the NOTIFY and for the caller).
CREATE FUNCTION crosstalk.post_message_x(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_exclude_hash text,
    OUT msg crosstalk.messages, OUT created boolean, OUT event json)
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM crosstalk.check_user(p_user_id, p_display_name);
    PERFORM crosstalk.check_text(p_text);
    IF p_client_id = '' THEN
        p_client_id := NULL;
    END IF;
    IF char_length(p_client_id) > 128 THEN
        PERFORM crosstalk.fail(422, 'client_id is longer than 128 characters');
    END IF;
    PERFORM crosstalk.check_access(p_app, p_user_id, p_channel);
    -- The channel row's lock orders every writer of this channel: the seq
    -- taken below commits before the next writer can take its own.
    PERFORM 1 FROM crosstalk.channels WHERE name = p_channel FOR UPDATE;
    IF p_client_id IS NOT NULL THEN
        SELECT * INTO msg FROM crosstalk.messages m
        WHERE m.app = p_app AND m.user_id = p_user_id
          AND m.client_id = p_client_id AND m.kind = 'message';
        IF FOUND THEN
            IF msg.channel <> p_channel THEN
                PERFORM crosstalk.fail(409, 'client_id was already used in another channel');
            END IF;
            created := false;
            event := crosstalk.event_json(msg);
            RETURN;
        END IF;
    END IF;
    UPDATE crosstalk.channels SET last_seq = last_seq + 1
    WHERE name = p_channel RETURNING last_seq INTO s;
    msg.id := nextval(pg_get_serial_sequence('crosstalk.messages', 'id'));
    INSERT INTO crosstalk.messages
        (id, channel, seq, kind, message_id, app, user_id, display_name, text,
         client_id, exclude_ref_hash)
    VALUES (msg.id, p_channel, s, 'message', msg.id, p_app, p_user_id,
            p_display_name, p_text, p_client_id, p_exclude_hash)
    RETURNING * INTO msg;
    event := crosstalk.event_json(msg);
    PERFORM crosstalk.notify_event(msg, event);
    created := true;
END $$;

CREATE OR REPLACE FUNCTION crosstalk.post_message_ex(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text DEFAULT NULL,
    OUT msg crosstalk.messages, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM crosstalk.post_message_x(p_app, p_user_id, p_display_name,
                                                  p_channel, p_text, p_client_id, NULL);
    msg := r.msg;
    created := r.created;
END $$;

CREATE OR REPLACE FUNCTION crosstalk.api_post(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_exclude_ref text,
    p_rate_limit int, p_rate_window int,
    OUT retry_after int, OUT event json, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    retry_after := crosstalk.rate_take('pub:' || p_app || ':' || p_user_id,
                                       p_rate_limit, p_rate_window);
    IF retry_after > 0 THEN
        created := false;
        RETURN;
    END IF;
    SELECT * INTO r FROM crosstalk.post_message_x(
        p_app, p_user_id, p_display_name, p_channel, p_text, p_client_id,
        CASE WHEN p_exclude_ref IS NOT NULL
             THEN encode(sha256(convert_to(p_exclude_ref, 'UTF8')), 'hex') END);
    event := r.event;
    created := r.created;
END $$;
