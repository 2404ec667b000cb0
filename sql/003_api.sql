-- 003_api.sql - what the HTTP API adds on top of the write path: read
-- access checks that never create anything, polling a channel's stream as
-- one JSON document, and the exclude_sender mark on posted messages.

-- Posted over HTTP with exclude_sender: the sha256 hex of the poster's
-- session ref. crosstalk-wsd skips this message for connections opened
-- with a ticket of that same login (tickets.ref_hash). NULL: echo to all.
ALTER TABLE crosstalk.messages ADD COLUMN exclude_ref_hash text;

-- May app p_app (and user p_user_id, NULL for an app-key-only request)
-- read p_channel? Like check_access, but creates nothing: a DM channel
-- nobody wrote to yet reads as empty. A DM needs a member's session.
-- Returns whether the channel exists; fails with 403/404/422.
CREATE FUNCTION crosstalk.check_read(p_app text, p_user_id text, p_channel text)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    m text[];
BEGIN
    IF p_channel IS NULL OR p_channel = '' THEN
        PERFORM crosstalk.fail(422, 'channel is required');
    END IF;
    IF p_channel LIKE 'dm:%' THEN
        m := crosstalk.dm_members(p_channel);
        IF p_user_id IS NULL THEN
            PERFORM crosstalk.fail(403, 'a direct channel is read with the session of one of its members');
        END IF;
        IF NOT (p_user_id = ANY (m)) THEN
            PERFORM crosstalk.fail(403, 'not a member of this direct channel');
        END IF;
        RETURN EXISTS (SELECT 1 FROM crosstalk.channels c WHERE c.name = p_channel);
    END IF;
    PERFORM crosstalk.check_named(p_app, p_channel);
    RETURN true;
END $$;

-- Events of p_channel with seq > p_after, oldest first, at most p_limit,
-- as {"messages":[event...], "last_seq", "has_more"}. last_seq is the
-- cursor to pass as the next after: the seq of the last event returned,
-- else the channel's last seq. One statement, one snapshot: a seq below
-- last_seq is always committed (seqs are taken under the channel lock).
CREATE FUNCTION crosstalk.poll(p_app text, p_user_id text, p_channel text,
                               p_after bigint, p_limit int)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    evs json;
    n int;
    top bigint;
    last bigint;
BEGIN
    IF p_after IS NULL OR p_after < 0 THEN
        PERFORM crosstalk.fail(422, 'after must be a seq >= 0');
    END IF;
    IF p_limit IS NULL OR p_limit < 1 THEN
        PERFORM crosstalk.fail(422, 'limit must be >= 1');
    END IF;
    IF NOT crosstalk.check_read(p_app, p_user_id, p_channel) THEN
        RETURN json_build_object('messages', '[]'::json, 'last_seq', '0',
                                 'has_more', false);
    END IF;
    SELECT c.last_seq INTO last FROM crosstalk.channels c WHERE c.name = p_channel;
    SELECT coalesce(json_agg(crosstalk.event_json(m) ORDER BY m.seq), '[]'::json),
           count(*), max(m.seq)
    INTO evs, n, top
    FROM (SELECT * FROM crosstalk.messages x
          WHERE x.channel = p_channel AND x.seq > p_after
          ORDER BY x.seq LIMIT p_limit) m;
    RETURN json_build_object('messages', evs,
                             'last_seq', coalesce(top, last)::text,
                             'has_more', coalesce(top, last) < last);
END $$;

-- POST messages: the per-user rate limit, post_message_ex, and the
-- exclude_sender mark, in one transaction. A refused post rolls back its
-- rate count with everything else; a throttled one returns retry_after > 0
-- and posts nothing. crosstalk-wsd reads the row after the NOTIFY, so
-- after the commit, and sees the mark. event is the message's event JSON.
CREATE FUNCTION crosstalk.api_post(
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
    SELECT * INTO r FROM crosstalk.post_message_ex(p_app, p_user_id, p_display_name,
                                                   p_channel, p_text, p_client_id);
    IF r.created AND p_exclude_ref IS NOT NULL THEN
        UPDATE crosstalk.messages SET exclude_ref_hash =
            encode(sha256(convert_to(p_exclude_ref, 'UTF8')), 'hex')
        WHERE id = (r.msg).id;
    END IF;
    event := crosstalk.event_json(r.msg);
    created := r.created;
END $$;

-- messages/edit and messages/delete: change_message, except that an
-- app key alone (moderation) may not touch a direct conversation, which
-- it may not read either. Returns the new event's JSON.
CREATE FUNCTION crosstalk.api_change(
    p_kind text, p_app text, p_user_id text, p_id bigint, p_text text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    ch text;
    ev crosstalk.messages;
BEGIN
    SELECT m.channel INTO ch FROM crosstalk.messages m
    WHERE m.id = p_id AND m.kind = 'message';
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such message');
    END IF;
    IF p_user_id IS NULL AND ch LIKE 'dm:%' THEN
        PERFORM crosstalk.fail(403, 'a direct message is changed only by its author''s session');
    END IF;
    ev := crosstalk.change_message(p_kind, p_app, p_user_id, p_id, p_text);
    -- a statement of its own: event_json (STABLE) must see the change
    RETURN crosstalk.event_json(ev);
END $$;
