-- 002_functions.sql - the write path. The daemons call these, and apps may
-- call them in their own transactions. Errors carry SQLSTATE 'CTnnn' where
-- nnn is the HTTP status the API answers with.
--
-- NOTIFY channel "crosstalk", payloads (ids, never bodies):
--   m <event id> <channel> <seq>   an event committed in a channel
--   e <app> <ref hash>             a login ended
--   r <channel> <user id>          a user's read marker moved
--   p <channel>                    presence changed in a channel

CREATE FUNCTION crosstalk.fail(p_status int, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CT' || p_status::text, MESSAGE = p_message;
END $$;

CREATE FUNCTION crosstalk.text_max() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('crosstalk.text_max', true), '')::int, 4000)
$$;

CREATE FUNCTION crosstalk.check_text(p_text text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n int := char_length(p_text);
BEGIN
    IF p_text IS NULL OR n = 0 THEN
        PERFORM crosstalk.fail(422, 'text must not be empty');
    ELSIF n > crosstalk.text_max() THEN
        PERFORM crosstalk.fail(413, format('text is longer than %s characters', crosstalk.text_max()));
    END IF;
END $$;

CREATE FUNCTION crosstalk.check_user(p_user_id text, p_display_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_user_id IS NULL OR char_length(p_user_id) NOT BETWEEN 1 AND 128
       OR p_user_id ~ '[[:cntrl:]:]' THEN
        PERFORM crosstalk.fail(422, 'user_id must be 1-128 characters without ":" or control characters');
    END IF;
    IF p_display_name IS NULL OR char_length(p_display_name) NOT BETWEEN 1 AND 128
       OR p_display_name ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'display_name must be 1-128 characters without control characters');
    END IF;
END $$;

-- The two members of direct channel dm:<a>:<b>, or 422 for a bad name.
CREATE FUNCTION crosstalk.dm_members(p_channel text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    a text := split_part(p_channel, ':', 2);
    b text := substr(p_channel, 5 + length(split_part(p_channel, ':', 2)));
BEGIN
    IF a = '' OR b = '' OR position(':' IN b) > 0 OR a >= b
       OR p_channel ~ '[[:cntrl:]]' OR char_length(p_channel) > 260 THEN
        PERFORM crosstalk.fail(422, 'a direct channel is dm:<user_id>:<user_id>, ids sorted and distinct');
    END IF;
    RETURN ARRAY[a, b];
END $$;

-- A named channel exists and is open to app p_app, or 422/404/403.
CREATE FUNCTION crosstalk.check_named(p_app text, p_channel text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    allowed text[];
BEGIN
    IF p_channel !~ '^[a-z0-9][a-z0-9_.-]{0,63}$' THEN
        PERFORM crosstalk.fail(422, 'channel names are [a-z0-9][a-z0-9_.-]{0,63}');
    END IF;
    SELECT c.apps INTO allowed FROM crosstalk.channels c WHERE c.name = p_channel;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such channel');
    END IF;
    IF allowed IS NOT NULL AND NOT (p_app = ANY (allowed)) THEN
        PERFORM crosstalk.fail(403, 'this channel is not open to app ' || p_app);
    END IF;
END $$;

-- May app p_app's user p_user_id read and write p_channel? Creates a DM
-- channel on first use. Returns nothing or fails with 403/404/422.
CREATE FUNCTION crosstalk.check_access(p_app text, p_user_id text, p_channel text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m text[];
BEGIN
    IF p_channel IS NULL THEN
        PERFORM crosstalk.fail(422, 'channel is required');
    END IF;
    IF p_channel LIKE 'dm:%' THEN
        m := crosstalk.dm_members(p_channel);
        IF p_user_id IS NOT NULL AND NOT (p_user_id = ANY (m)) THEN
            PERFORM crosstalk.fail(403, 'not a member of this direct channel');
        END IF;
        INSERT INTO crosstalk.channels (name) VALUES (p_channel) ON CONFLICT DO NOTHING;
        RETURN;
    END IF;
    PERFORM crosstalk.check_named(p_app, p_channel);
END $$;

-- The JSON of one stream event, as the HTTP API and the WebSocket protocol
-- send it: ids and seqs as strings, times as ISO-8601 UTC plus *_ms.
CREATE FUNCTION crosstalk.iso(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
CREATE FUNCTION crosstalk.ms(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT floor(extract(epoch FROM t) * 1000)::bigint
$$;

CREATE FUNCTION crosstalk.event_json(e crosstalk.messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_strip_nulls(json_build_object(
        'type', e.kind,
        'id', t.id::text,
        'seq', e.seq::text,
        'channel', e.channel,
        'app', t.app,
        'user', json_build_object('id', t.user_id, 'name', t.display_name),
        'text', t.text,
        'client_id', coalesce(t.client_id, ''),
        'created_at', crosstalk.iso(t.created_at),
        'created_at_ms', crosstalk.ms(t.created_at),
        'edited_at', crosstalk.iso(t.edited_at),
        'edited_at_ms', crosstalk.ms(t.edited_at),
        'deleted', CASE WHEN t.deleted_at IS NOT NULL THEN true END))
    FROM crosstalk.messages t WHERE t.id = e.message_id
$$;

-- post_message_ex: post_message plus whether this call created the row
-- (false: client_id matched an earlier message, which is returned).
CREATE FUNCTION crosstalk.post_message_ex(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text DEFAULT NULL,
    OUT msg crosstalk.messages, OUT created boolean)
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
            RETURN;
        END IF;
    END IF;
    UPDATE crosstalk.channels SET last_seq = last_seq + 1
    WHERE name = p_channel RETURNING last_seq INTO s;
    msg.id := nextval(pg_get_serial_sequence('crosstalk.messages', 'id'));
    INSERT INTO crosstalk.messages
        (id, channel, seq, kind, message_id, app, user_id, display_name, text, client_id)
    VALUES (msg.id, p_channel, s, 'message', msg.id, p_app, p_user_id,
            p_display_name, p_text, p_client_id)
    RETURNING * INTO msg;
    PERFORM pg_notify('crosstalk', 'm ' || msg.id || ' ' || p_channel || ' ' || s);
    created := true;
END $$;

CREATE FUNCTION crosstalk.post_message(
    app text, user_id text, display_name text, channel text, text text,
    client_id text DEFAULT NULL)
RETURNS crosstalk.messages LANGUAGE sql AS $$
    SELECT (crosstalk.post_message_ex($1, $2, $3, $4, $5, $6)).msg
$$;

-- Edit or delete message p_id. p_user_id NULL: moderation by the app key
-- (any message in a channel the app may use); otherwise only the author.
CREATE FUNCTION crosstalk.change_message(
    p_kind text, p_app text, p_user_id text, p_id bigint, p_text text)
RETURNS crosstalk.messages LANGUAGE plpgsql AS $$
DECLARE
    t crosstalk.messages;
    ev crosstalk.messages;
    s bigint;
BEGIN
    IF p_kind = 'edited' THEN
        PERFORM crosstalk.check_text(p_text);
    END IF;
    SELECT * INTO t FROM crosstalk.messages WHERE id = p_id AND kind = 'message';
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such message');
    END IF;
    PERFORM crosstalk.check_access(p_app, p_user_id, t.channel);
    IF p_user_id IS NOT NULL AND (t.user_id <> p_user_id) THEN
        PERFORM crosstalk.fail(403, 'only the author may change this message');
    END IF;
    UPDATE crosstalk.channels SET last_seq = last_seq + 1
    WHERE name = t.channel RETURNING last_seq INTO s;
    -- re-read under the channel lock: a concurrent delete may have won
    SELECT * INTO t FROM crosstalk.messages WHERE id = p_id;
    IF t.deleted_at IS NOT NULL THEN
        PERFORM crosstalk.fail(409, 'message was deleted');
    END IF;
    IF p_kind = 'edited' THEN
        UPDATE crosstalk.messages SET text = p_text, edited_at = clock_timestamp()
        WHERE id = p_id;
    ELSE
        UPDATE crosstalk.messages SET text = '', deleted_at = clock_timestamp()
        WHERE id = p_id;
    END IF;
    INSERT INTO crosstalk.messages
        (channel, seq, kind, message_id, app, user_id, display_name, text)
    VALUES (t.channel, s, p_kind, p_id, p_app, coalesce(p_user_id, ''),
            coalesce(p_user_id, p_app), CASE WHEN p_kind = 'edited' THEN p_text ELSE '' END)
    RETURNING * INTO ev;
    PERFORM pg_notify('crosstalk', 'm ' || ev.id || ' ' || ev.channel || ' ' || s);
    RETURN ev;
END $$;

-- The default resolver: crosstalk's own sessions table. A deployer replaces
-- it (CREATE OR REPLACE) to read the apps' session storage; no migration
-- ever redefines it. Zero rows: not logged in.
CREATE FUNCTION crosstalk.resolve_session(app text, ref text)
RETURNS TABLE (user_id text, display_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, crosstalk AS $$
    SELECT s.user_id, s.display_name FROM crosstalk.sessions s
    WHERE s.ref_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex')
      AND s.app = $1 AND s.ended_at IS NULL AND s.expires_at > now()
$$;

CREATE FUNCTION crosstalk.register_session(
    app text, user_id text, display_name text, ttl_seconds int DEFAULT 86400)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ref text;
BEGIN
    PERFORM crosstalk.check_user($2, $3);
    IF ttl_seconds IS NULL OR ttl_seconds NOT BETWEEN 60 AND 31 * 86400 THEN
        PERFORM crosstalk.fail(422, 'ttl must be 60..2678400 seconds');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM crosstalk.apps a WHERE a.id = $1) THEN
        PERFORM crosstalk.fail(404, 'no such app');
    END IF;
    -- two v4 UUIDs from the server's strong random source: 244 random bits
    ref := 'cs_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    INSERT INTO crosstalk.sessions (ref_hash, app, user_id, display_name, expires_at)
    VALUES (encode(sha256(convert_to(ref, 'UTF8')), 'hex'), $1, $2, $3,
            now() + make_interval(secs => ttl_seconds));
    RETURN ref;
END $$;

-- Ends a login: its unredeemed tickets go, and every daemon node closes its
-- connections (NOTIFY), whichever resolver is in use. True if a session in
-- crosstalk's own table was live.
CREATE FUNCTION crosstalk.end_session(app text, ref text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    h text := encode(sha256(convert_to(coalesce($2, ''), 'UTF8')), 'hex');
    n int;
BEGIN
    UPDATE crosstalk.sessions s SET ended_at = now()
    WHERE s.ref_hash = h AND s.app = $1 AND s.ended_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM crosstalk.tickets t WHERE t.ref_hash = h AND t.app = $1;
    PERFORM pg_notify('crosstalk', 'e ' || $1 || ' ' || h);
    RETURN n > 0;
END $$;

-- Tickets: the HTTP API generates the random value and the sealed ref.
CREATE FUNCTION crosstalk.mint_ticket(
    p_hash text, p_app text, p_ref text, p_ref_box text, p_ttl int,
    OUT user_id text, OUT display_name text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.user_id, r.display_name INTO user_id, display_name
    FROM crosstalk.resolve_session(p_app, p_ref) r LIMIT 1;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(401, 'session is not logged in');
    END IF;
    INSERT INTO crosstalk.tickets (hash, app, user_id, display_name, ref_hash, ref_box, expires_at)
    VALUES (p_hash, p_app, user_id, display_name,
            encode(sha256(convert_to(p_ref, 'UTF8')), 'hex'), p_ref_box,
            now() + make_interval(secs => p_ttl));
END $$;

-- Single use: the row is gone whatever the outcome.
CREATE FUNCTION crosstalk.redeem_ticket(p_hash text)
RETURNS TABLE (app text, user_id text, display_name text, ref_hash text, ref_box text)
LANGUAGE sql AS $$
    WITH t AS (DELETE FROM crosstalk.tickets WHERE hash = p_hash RETURNING *)
    SELECT t.app, t.user_id, t.display_name, t.ref_hash, t.ref_box
    FROM t WHERE t.expires_at > now()
$$;

-- Fixed-window rate limit shared by every process: 0 when allowed, else
-- the seconds until the window reopens.
CREATE FUNCTION crosstalk.rate_take(p_key text, p_limit int, p_window int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    c int;
    ws timestamptz;
    w interval := make_interval(secs => p_window);
BEGIN
    INSERT INTO crosstalk.rate_limits AS r (key, window_start, count)
    VALUES (p_key, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN r.window_start <= now() - w THEN now() ELSE r.window_start END,
        count = CASE WHEN r.window_start <= now() - w THEN 1 ELSE r.count + 1 END
    RETURNING r.count, r.window_start INTO c, ws;
    IF c > p_limit THEN
        RETURN greatest(1, ceil(extract(epoch FROM ws + w - now()))::int);
    END IF;
    RETURN 0;
END $$;

-- Unread messages (by others, not deleted) after the user's read marker,
-- counted up to 10000 so that a huge unread backlog stays cheap.
CREATE FUNCTION crosstalk.unread_count(p_user_id text, p_channel text) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int FROM (
        SELECT 1 FROM crosstalk.messages m
        WHERE m.channel = p_channel AND m.kind = 'message' AND m.deleted_at IS NULL
          AND m.user_id <> p_user_id
          AND m.seq > coalesce((SELECT r.seq FROM crosstalk.read_markers r
                                WHERE r.user_id = p_user_id AND r.channel = p_channel), 0)
        LIMIT 10000) x
$$;

CREATE FUNCTION crosstalk.mark_read(p_user_id text, p_channel text, p_seq bigint)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crosstalk.read_markers AS r (user_id, channel, seq)
    VALUES (p_user_id, p_channel, greatest(p_seq, 0))
    ON CONFLICT (user_id, channel) DO UPDATE
        SET seq = greatest(r.seq, excluded.seq), updated_at = now();
    PERFORM pg_notify('crosstalk', 'r ' || p_channel || ' ' || p_user_id);
    RETURN crosstalk.unread_count(p_user_id, p_channel);
END $$;

-- Channels app p_app (and, when given, user p_user_id) may read.
CREATE FUNCTION crosstalk.channels_for(p_app text, p_user_id text)
RETURNS TABLE (name text, title text, apps text[], last_seq bigint, unread int)
LANGUAGE sql STABLE AS $$
    SELECT c.name, c.title, c.apps, c.last_seq,
           CASE WHEN p_user_id IS NULL THEN 0
                ELSE crosstalk.unread_count(p_user_id, c.name) END
    FROM crosstalk.channels c
    WHERE (c.name NOT LIKE 'dm:%' AND (c.apps IS NULL OR p_app = ANY (c.apps)))
       OR (p_user_id IS NOT NULL AND c.name LIKE 'dm:%'
           AND (split_part(c.name, ':', 2) = p_user_id
                OR substr(c.name, 5 + length(split_part(c.name, ':', 2))) = p_user_id))
    ORDER BY c.name
$$;

CREATE FUNCTION crosstalk.create_channel(p_name text, p_title text, p_apps text[])
RETURNS crosstalk.channels LANGUAGE plpgsql AS $$
DECLARE
    c crosstalk.channels;
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z0-9][a-z0-9_.-]{0,63}$' THEN
        PERFORM crosstalk.fail(422, 'channel names are [a-z0-9][a-z0-9_.-]{0,63}');
    END IF;
    IF char_length(p_title) > 200 OR p_title ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'title must be at most 200 characters without control characters');
    END IF;
    IF p_apps IS NOT NULL AND EXISTS (
        SELECT 1 FROM unnest(p_apps) a WHERE NOT EXISTS (
            SELECT 1 FROM crosstalk.apps x WHERE x.id = a)) THEN
        PERFORM crosstalk.fail(422, 'apps lists an unknown app');
    END IF;
    INSERT INTO crosstalk.channels (name, title, apps)
    VALUES (p_name, coalesce(p_title, ''), p_apps)
    ON CONFLICT DO NOTHING RETURNING * INTO c;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(409, 'channel already exists');
    END IF;
    RETURN c;
END $$;

-- Users online in a channel across all live nodes.
CREATE FUNCTION crosstalk.presence_of(p_channel text, p_ttl int DEFAULT 45)
RETURNS TABLE (app text, user_id text, display_name text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (p.app, p.user_id) p.app, p.user_id, p.display_name
    FROM crosstalk.presence p JOIN crosstalk.nodes n USING (node_id)
    WHERE p.channel = p_channel
      AND n.heartbeat_at > now() - make_interval(secs => p_ttl)
    ORDER BY p.app, p.user_id
$$;

-- Retention: messages older than p_days, and expired sessions and tickets.
CREATE FUNCTION crosstalk.prune(p_days int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF p_days IS NULL OR p_days < 0 THEN
        PERFORM crosstalk.fail(422, 'days must be >= 0');
    END IF;
    DELETE FROM crosstalk.messages WHERE created_at < now() - make_interval(days => p_days);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM crosstalk.sessions WHERE expires_at < now() - interval '1 day'
                                      OR ended_at < now() - interval '1 day';
    DELETE FROM crosstalk.tickets WHERE expires_at < now();
    DELETE FROM crosstalk.rate_limits WHERE window_start < now() - interval '1 day';
    DELETE FROM crosstalk.nodes WHERE heartbeat_at < now() - interval '1 day';
    RETURN n;
END $$;
