-- functions.sql - the current definition of every function in schema
-- crosstalk but the resolver. `crosstalkctl migrate` applies it after the
-- numbered migrations whenever its text changed (its sha256 is recorded in
-- crosstalk.code), so this file, not the migrations, is where a function's
-- body is read and changed. A migration that changes a function's
-- arguments or result type drops the old one first (see 008).
--
-- resolve_session is not here: a deployer replaces it, and migrate never
-- redefines it (002).
--
-- Errors carry SQLSTATE 'CTnnn' where nnn is the HTTP status the API
-- answers with.
--
-- NOTIFY channel "crosstalk" (core/notice.h parses these; every field is
-- escaped with wire(), so a blank in a user id never splits a field):
--   m <event id> <channel> <seq> [<exclude hash or -> <event JSON>]
--   e <app> <ref hash>             a login ended
--   r <channel> <user id>          a user's read marker moved
--   p <channel>                    presence changed in a channel
--   t <channel> <user JSON>        someone is typing (never stored)
--
-- Lock order, everywhere: channel rows (by name), then rate-limit rows (by
-- key). Group commits take their channel rows without waiting (SKIP
-- LOCKED) and hand back the posts whose channel another transaction holds.

-- --- checks ----------------------------------------------------------------

CREATE OR REPLACE FUNCTION crosstalk.fail(p_status int, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CT' || p_status::text, MESSAGE = p_message;
END $$;

-- Each rule below is written once, as a function that says why something
-- would be refused ((state, message), NULL when it is fine) without
-- raising, so that a group commit can refuse one post and go on with the
-- others without a subtransaction; the check_* functions raise what they
-- say.
CREATE OR REPLACE FUNCTION crosstalk.refuse(p_state text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_state IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_state, MESSAGE = p_message;
    END IF;
END $$;

-- A list as people type it on a command line ("a, b,c"): the items,
-- blanks around them dropped, empty ones too. The one way crosstalkctl
-- turns a list argument into an array.
CREATE OR REPLACE FUNCTION crosstalk.split_list(p text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(btrim(x) ORDER BY n) FILTER (WHERE btrim(x) <> ''), '{}')
    FROM unnest(string_to_array(p, ',')) WITH ORDINALITY AS u(x, n)
$$;

CREATE OR REPLACE FUNCTION crosstalk.text_max() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('crosstalk.text_max', true), '')::int, 4000)
$$;

-- Is p_user connected to a live daemon node now (a presence row on a node
-- whose heartbeat is younger than [limits] presence_ttl, which the daemons
-- set on their sessions)? The one definition of "online": the directory
-- and the webhooks' "mentioned while offline" both ask it.
CREATE OR REPLACE FUNCTION crosstalk.online(p_user text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM crosstalk.presence p JOIN crosstalk.nodes n USING (node_id)
        WHERE p.user_id = p_user
          AND n.heartbeat_at > now() - make_interval(secs =>
              coalesce(nullif(current_setting('crosstalk.presence_ttl', true), '')::int, 45)))
$$;

-- The *_refusal functions say why something would be refused (state,
-- message; NULL state: fine) without raising, each as one SQL SELECT so
-- that a caller's query inlines them: crosstalk.api_post_batch asks them of
-- a whole batch in one statement. The check_* functions raise what they
-- say. One row always.
DROP FUNCTION IF EXISTS crosstalk.post_check(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS crosstalk.post_refusal(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS crosstalk.post_refusal(text, text, text, text, text, text, boolean);
DROP FUNCTION IF EXISTS crosstalk.post_refusal(text, text, text, text, text, text, boolean, boolean);
DROP FUNCTION IF EXISTS crosstalk.check_read(text, text, text);
DROP FUNCTION IF EXISTS crosstalk.channel_refusal(text, text, text);
DROP FUNCTION IF EXISTS crosstalk.check_text(text);
DROP FUNCTION IF EXISTS crosstalk.text_refusal(text);
CREATE FUNCTION crosstalk.text_refusal(p_text text)
RETURNS TABLE (state text, message text)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_text IS NULL OR p_text = '' THEN 'CT422'
                WHEN char_length(p_text) > crosstalk.text_max() THEN 'CT413' END,
           CASE WHEN p_text IS NULL OR p_text = '' THEN 'text must not be empty'
                WHEN char_length(p_text) > crosstalk.text_max()
                THEN format('text is longer than %s characters', crosstalk.text_max()) END
$$;

CREATE FUNCTION crosstalk.check_text(p_text text) RETURNS void
LANGUAGE sql STABLE AS $$
    SELECT crosstalk.refuse(r.state, r.message) FROM crosstalk.text_refusal(p_text) r
$$;

-- What a user id may be, the one rule (core/util.c ct_valid_user_id and
-- web/crosstalk.js say the same): 1-128 characters, none of them ':' or a
-- control character (U+0000-U+001F, U+007F-U+009F). Blanks, quotes, upper
-- case and any other script are fine. A display name: 1-128 characters
-- without control characters. The message, or NULL when both are fine.
CREATE OR REPLACE FUNCTION crosstalk.user_refusal(p_user_id text, p_display_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_user_id IS NULL OR char_length(p_user_id) NOT BETWEEN 1 AND 128
             OR p_user_id ~ '[\u0001-\u001f\u007f-\u009f:]'
        THEN 'user_id must be 1-128 characters without ":" or control characters'
        WHEN p_display_name IS NULL OR char_length(p_display_name) NOT BETWEEN 1 AND 128
             OR p_display_name ~ '[\u0001-\u001f\u007f-\u009f]'
        THEN 'display_name must be 1-128 characters without control characters'
    END
$$;

CREATE OR REPLACE FUNCTION crosstalk.check_user(p_user_id text, p_display_name text) RETURNS void
LANGUAGE sql IMMUTABLE AS $$
    SELECT crosstalk.refuse(CASE WHEN r IS NOT NULL THEN 'CT422' END, r)
    FROM crosstalk.user_refusal(p_user_id, p_display_name) r
$$;

-- --- identity ------------------------------------------------------------------

-- The hub's id of user p_raw of app p_app (012_identity.sql): p_raw itself
-- for an app that shares the family's ids, "<app>/<id>" for an app whose
-- ids are its own. refusal: why p_raw cannot be one of the app's ids (NULL:
-- it can; the hub id still has to pass user_refusal). No row: no such app.
-- A set (one row at most), so that a query's FROM inlines it: as a call
-- it is parsed and planned once per statement that makes it, which on the
-- HTTP publish path (session_user) cost more than the post's own checks.
CREATE OR REPLACE FUNCTION crosstalk.hub_user_rows(p_app text, p_raw text)
RETURNS TABLE (user_id text, refusal text)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN a.namespace = 'own' THEN a.id || '/' || p_raw ELSE p_raw END,
           CASE WHEN a.namespace = 'family' AND position('/' IN p_raw) > 0
                THEN 'user_id must not contain "/" in app ' || a.id
                     || ', which shares the family''s user ids ("/" marks the id of an app whose ids are its own: app/id)'
                WHEN a.namespace = 'own' AND char_length(p_raw) > 127 - char_length(a.id)
                THEN 'user_id of app ' || a.id || ' must be at most '
                     || (127 - char_length(a.id)) || ' characters (the hub knows it as '
                     || a.id || '/<id>, at most 128)'
           END
    FROM crosstalk.apps a WHERE a.id = p_app
$$;

-- hub_user_rows as one value (NULLs for no such app), for expressions.
CREATE OR REPLACE FUNCTION crosstalk.hub_user(p_app text, p_raw text,
                                              OUT user_id text, OUT refusal text)
LANGUAGE sql STABLE AS $$
    SELECT h.user_id, h.refusal FROM crosstalk.hub_user_rows(p_app, p_raw) h
$$;

-- Who session p_ref of app p_app is, by the hub's id: the deployer's
-- resolve_session, qualified by hub_user. Every path that turns a session
-- into a user goes through here. No row: not logged in; refusal set: the
-- resolver answered an id the app's namespace cannot have.
CREATE OR REPLACE FUNCTION crosstalk.session_user(p_app text, p_ref text)
RETURNS TABLE (user_id text, display_name text, refusal text)
LANGUAGE sql STABLE AS $$
    SELECT h.user_id, r.display_name, h.refusal
    FROM (SELECT * FROM crosstalk.resolve_session(p_app, p_ref) LIMIT 1) r
    CROSS JOIN LATERAL crosstalk.hub_user_rows(p_app, r.user_id) h
$$;

-- A field of a NOTIFY payload: '%' and ' ' escaped (core/notice.c).
CREATE OR REPLACE FUNCTION crosstalk.wire(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT replace(replace(s, '%', '%25'), ' ', '%20')
$$;

CREATE OR REPLACE FUNCTION crosstalk.iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
CREATE OR REPLACE FUNCTION crosstalk.ms(t timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT floor(extract(epoch FROM t) * 1000)::bigint
$$;

-- --- channels and access ---------------------------------------------------

-- Why dm:<a>:<b> is not a direct channel's name (NULL: it is). The ids are
-- sorted by code point (COLLATE "C": UTF-8 byte order, the order C and
-- crosstalk.js use), whatever the database's collation.
CREATE OR REPLACE FUNCTION crosstalk.dm_refusal(p_channel text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a = '' OR b = '' OR position(':' IN b) > 0
                  OR a COLLATE "C" >= b COLLATE "C"
                  OR char_length(a) > 128 OR char_length(b) > 128
                  OR p_channel ~ '[\u0001-\u001f\u007f-\u009f]'
                THEN 'a direct channel is dm:<user_id>:<user_id>, ids sorted and distinct' END
    FROM (SELECT split_part(p_channel, ':', 2) AS a,
                 substr(p_channel, 5 + length(split_part(p_channel, ':', 2))) AS b) x
$$;

-- The two members of direct channel dm:<a>:<b>, or 422 for a bad name.
CREATE OR REPLACE FUNCTION crosstalk.dm_members(p_channel text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    why text := crosstalk.dm_refusal(p_channel);
BEGIN
    IF why IS NOT NULL THEN
        PERFORM crosstalk.fail(422, why);
    END IF;
    RETURN ARRAY[split_part(p_channel, ':', 2),
                 substr(p_channel, 5 + length(split_part(p_channel, ':', 2)))];
END $$;

-- Why p is not a channel name (NULL: it is): the rule
-- [a-z0-9][a-z0-9_.-]{0,63}, said as a length and an unbounded class (the
-- bounded repeat made it the dearest test of a post), and its message. One
-- place for every path that names a channel (posts, reads, creation); a
-- plain SQL expression, so the planner inlines it.
DROP FUNCTION IF EXISTS crosstalk.channel_name_ok(text); -- its boolean form
CREATE OR REPLACE FUNCTION crosstalk.channel_name_refusal(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p IS NULL OR char_length(p) > 64 OR p !~ '^[a-z0-9][a-z0-9_.-]*$'
                THEN 'channel names are [a-z0-9][a-z0-9_.-]{0,63}' END
$$;

-- May app p_app (and user p_user_id, NULL for an app-key-only request)
-- read or write p_channel? (state, message) why not, and whether the
-- channel exists (a DM nobody wrote to yet does not: only a post creates
-- it, after its rate limit). A DM needs a member's session; a named
-- channel must exist and be open to the app.
CREATE FUNCTION crosstalk.channel_refusal(p_app text, p_user_id text, p_channel text)
RETURNS TABLE (state text, message text, have boolean, archived boolean)
LANGUAGE sql STABLE AS $$
    SELECT v.state, v.message, v.state IS NULL AND x.found, x.archived
    FROM (SELECT coalesce(p_channel LIKE 'dm:%', false) AS dm,
                 CASE WHEN p_channel LIKE 'dm:%' THEN crosstalk.dm_refusal(p_channel) END AS dm_why,
                 c.apps, c.name IS NOT NULL AS found,
                 coalesce(c.archived_at IS NOT NULL, false) AS archived,
                 crosstalk.channel_name_refusal(p_channel) AS name_why,
                 coalesce(c.private, false) AND p_user_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM crosstalk.channel_members mb
                                 WHERE mb.channel = p_channel AND mb.user_id = p_user_id) AS outsider
          FROM (SELECT 1) one
          LEFT JOIN crosstalk.channels c ON c.name = p_channel) x
    CROSS JOIN LATERAL (SELECT
        CASE WHEN p_channel IS NULL OR p_channel = '' THEN 'CT422'
             WHEN x.dm AND x.dm_why IS NOT NULL THEN 'CT422'
             WHEN x.dm AND p_user_id IS NULL THEN 'CT403'
             WHEN x.dm AND p_user_id <> split_part(p_channel, ':', 2)
                  AND p_user_id <> substr(p_channel, 5 + length(split_part(p_channel, ':', 2)))
             THEN 'CT403'
             WHEN x.dm THEN NULL
             WHEN x.name_why IS NOT NULL THEN 'CT422'
             WHEN NOT x.found THEN 'CT404'
             WHEN x.apps IS NOT NULL AND NOT (p_app = ANY (x.apps)) THEN 'CT403'
             WHEN x.outsider THEN 'CT403'
        END AS state,
        CASE WHEN p_channel IS NULL OR p_channel = '' THEN 'channel is required'
             WHEN x.dm AND x.dm_why IS NOT NULL THEN x.dm_why
             WHEN x.dm AND p_user_id IS NULL
             THEN 'a direct channel needs the session of one of its members'
             WHEN x.dm AND p_user_id <> split_part(p_channel, ':', 2)
                  AND p_user_id <> substr(p_channel, 5 + length(split_part(p_channel, ':', 2)))
             THEN 'not a member of this direct channel'
             WHEN x.dm THEN NULL
             WHEN x.name_why IS NOT NULL THEN x.name_why
             WHEN NOT x.found THEN 'no such channel'
             WHEN x.apps IS NOT NULL AND NOT (p_app = ANY (x.apps))
             THEN 'this channel is not open to app ' || p_app
             WHEN x.outsider THEN 'not a member of this private channel'
        END AS message) v
$$;

-- channel_refusal, raised; else whether the channel exists.
CREATE FUNCTION crosstalk.check_read(p_app text, p_user_id text, p_channel text)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM crosstalk.channel_refusal(p_app, p_user_id, p_channel);
    PERFORM crosstalk.refuse(r.state, r.message);
    RETURN r.have;
END $$;

DROP FUNCTION IF EXISTS crosstalk.create_channel(text, text, text[]); -- before 014
-- A channel: open to every app (p_apps NULL), to listed apps, and - private
-- - to its members only (p_members, hub ids; the first event of its stream
-- says who). p_by: the hub id of a user who starts a group (its owner).
CREATE OR REPLACE FUNCTION crosstalk.create_channel(
    p_name text, p_title text, p_apps text[], p_private boolean DEFAULT false,
    p_members text[] DEFAULT NULL, p_by text DEFAULT NULL, p_by_app text DEFAULT '',
    p_by_name text DEFAULT '')
RETURNS crosstalk.channels LANGUAGE plpgsql AS $$
DECLARE
    c crosstalk.channels;
    why text := crosstalk.channel_name_refusal(p_name);
BEGIN
    IF why IS NOT NULL THEN
        PERFORM crosstalk.fail(422, why);
    END IF;
    IF char_length(p_title) > 200 OR p_title ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'title must be at most 200 characters without control characters');
    END IF;
    IF p_apps IS NOT NULL AND EXISTS (
        SELECT 1 FROM unnest(p_apps) a WHERE NOT EXISTS (
            SELECT 1 FROM crosstalk.apps x WHERE x.id = a)) THEN
        PERFORM crosstalk.fail(422, 'apps lists an unknown app');
    END IF;
    IF p_members IS NOT NULL AND NOT coalesce(p_private, false) THEN
        PERFORM crosstalk.fail(422, 'only a private channel has members');
    END IF;
    INSERT INTO crosstalk.channels (name, title, apps, private, created_by)
    VALUES (p_name, coalesce(p_title, ''), p_apps, coalesce(p_private, false), p_by)
    ON CONFLICT DO NOTHING RETURNING * INTO c;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(409, 'channel already exists');
    END IF;
    IF cardinality(p_members) > 0 OR p_by IS NOT NULL THEN
        -- the first event says who is in it, the starter included
        PERFORM crosstalk.change_members(
            p_name, true, coalesce(p_members, '{}') || CASE WHEN p_by IS NOT NULL THEN ARRAY[p_by] END,
            p_by_app, p_by, p_by_name, true);
        UPDATE crosstalk.channel_members SET role = 'owner'
        WHERE channel = p_name AND user_id = p_by;
        SELECT * INTO c FROM crosstalk.channels WHERE name = p_name;
    END IF;
    RETURN c;
END $$;

-- --- members of private channels -------------------------------------------------

-- Add (p_add) or remove the users p_users (hub ids, 1-100 at a time) of
-- private channel p_channel, as app p_app (NULL: crosstalkctl) and, when
-- p_by is set, as that user: an owner of the channel (a group's starter),
-- or anyone removing only themselves (leaving). The change is a 'member'
-- event in the stream; people added get an 'r' notice (their unread count,
-- by which their clients learn of the channel); people removed lose it at
-- once on every node (crosstalk-wsd drops their subscriptions on the
-- event). Returns the event's JSON, or NULL when nothing changed.
-- p_trusted: the caller already checked who may do this (create_channel).
CREATE OR REPLACE FUNCTION crosstalk.change_members(
    p_channel text, p_add boolean, p_users text[], p_app text, p_by text,
    p_by_name text DEFAULT '', p_trusted boolean DEFAULT false)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    c crosstalk.channels;
    done text[];
    bad text;
    n int;
BEGIN
    SELECT * INTO c FROM crosstalk.channels WHERE name = p_channel FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such channel');
    END IF;
    IF NOT c.private THEN
        PERFORM crosstalk.fail(409, 'only a private channel has members');
    END IF;
    IF p_app IS NOT NULL AND p_app <> '' AND c.apps IS NOT NULL AND NOT (p_app = ANY (c.apps)) THEN
        PERFORM crosstalk.fail(403, 'this channel is not open to app ' || p_app);
    END IF;
    IF coalesce(cardinality(p_users), 0) NOT BETWEEN 1 AND 100 THEN
        PERFORM crosstalk.fail(422, 'users must list 1-100 user ids');
    END IF;
    SELECT u INTO bad FROM unnest(p_users) u
    WHERE crosstalk.user_refusal(u, 'x') IS NOT NULL LIMIT 1;
    IF FOUND THEN
        PERFORM crosstalk.fail(422, 'users: ' || crosstalk.user_refusal(bad, 'x'));
    END IF;
    IF p_by IS NOT NULL AND NOT p_trusted
       AND NOT EXISTS (SELECT 1 FROM crosstalk.channel_members m
                       WHERE m.channel = p_channel AND m.user_id = p_by AND m.role = 'owner')
       AND NOT (NOT p_add AND p_users = ARRAY[p_by]
                AND EXISTS (SELECT 1 FROM crosstalk.channel_members m
                            WHERE m.channel = p_channel AND m.user_id = p_by)) THEN
        PERFORM crosstalk.fail(403, CASE WHEN p_add
            THEN 'only an owner of this channel may add people'
            ELSE 'only an owner of this channel may remove others (anyone may leave)' END);
    END IF;
    IF p_add THEN
        WITH ins AS (
            INSERT INTO crosstalk.channel_members (channel, user_id)
            SELECT p_channel, u FROM (SELECT DISTINCT u FROM unnest(p_users) u) x ORDER BY 1
            ON CONFLICT DO NOTHING RETURNING user_id)
        SELECT array_agg(user_id ORDER BY user_id COLLATE "C") INTO done FROM ins;
        SELECT count(*) INTO n FROM crosstalk.channel_members WHERE channel = p_channel;
        IF n > 1000 THEN
            PERFORM crosstalk.fail(422, 'a private channel has at most 1000 members');
        END IF;
    ELSE
        WITH del AS (
            DELETE FROM crosstalk.channel_members m
            WHERE m.channel = p_channel AND m.user_id = ANY (p_users) RETURNING m.user_id)
        SELECT array_agg(user_id ORDER BY user_id COLLATE "C") INTO done FROM del;
    END IF;
    IF done IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_add THEN
        PERFORM pg_notify('crosstalk', 'r ' || crosstalk.wire(p_channel) || ' ' || crosstalk.wire(u))
        FROM unnest(done) u;
    END IF;
    RETURN crosstalk.event_json(crosstalk.channel_event(
        p_channel, 'member', p_app, p_by, p_by_name,
        jsonb_build_object(CASE WHEN p_add THEN 'added' ELSE 'removed' END, to_jsonb(done))));
END $$;

-- change_members as the HTTP API and the WebSocket answer it: p_users a
-- JSON array; {"channel", "changed": false}, or {"channel", "changed":
-- true, "event"} with the 'member' event.
CREATE OR REPLACE FUNCTION crosstalk.api_change_members(
    p_channel text, p_add boolean, p_users json, p_app text, p_by text, p_by_name text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    e json;
BEGIN
    IF json_typeof(p_users) IS DISTINCT FROM 'array' THEN
        PERFORM crosstalk.fail(422, 'users must list 1-100 user ids');
    END IF;
    e := crosstalk.change_members(p_channel, p_add,
                                  ARRAY(SELECT json_array_elements_text(p_users)),
                                  p_app, p_by, p_by_name);
    IF e IS NULL THEN
        RETURN json_build_object('channel', p_channel, 'changed', false);
    END IF;
    RETURN json_build_object('channel', p_channel, 'changed', true, 'event', e);
END $$;

-- A private channel's members (hub ids, roles), for a member or the app.
CREATE OR REPLACE FUNCTION crosstalk.channel_members_of(p_app text, p_user_id text, p_channel text)
RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT crosstalk.check_read(p_app, p_user_id, p_channel) THEN
        PERFORM crosstalk.fail(404, 'no such channel');
    END IF;
    IF NOT (SELECT private FROM crosstalk.channels WHERE name = p_channel) THEN
        PERFORM crosstalk.fail(409, 'only a private channel has members');
    END IF;
    RETURN (SELECT coalesce(json_agg(json_strip_nulls(json_build_object(
                'id', m.user_id, 'role', m.role, 'name', u.display_name, 'app', u.app))
                ORDER BY m.user_id COLLATE "C"), '[]')
            FROM crosstalk.channel_members m LEFT JOIN crosstalk.users u ON u.id = m.user_id
            WHERE m.channel = p_channel);
END $$;

-- A group conversation started by user p_user of p_app with p_users (2-49
-- others, hub ids of people the hub has seen and the app may find): a
-- private channel "g-<random>" whose starter is its owner. 20 an hour a
-- user, counted like posts (rate_limits).
CREATE OR REPLACE FUNCTION crosstalk.create_group(
    p_app text, p_user text, p_name text, p_users text[], p_title text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    others text[];
    unknown text;
    ch crosstalk.channels;
BEGIN
    SELECT array_agg(DISTINCT u) INTO others FROM unnest(p_users) u WHERE u <> p_user;
    IF coalesce(cardinality(others), 0) NOT BETWEEN 2 AND 49 THEN
        PERFORM crosstalk.fail(422, 'a group is you and 2-49 other people (for one, use a direct channel)');
    END IF;
    SELECT u INTO unknown FROM unnest(others) u
    WHERE NOT EXISTS (SELECT 1 FROM crosstalk.users x
                      WHERE x.id = u AND x.apps && crosstalk.visible_apps(p_app)) LIMIT 1;
    IF FOUND THEN
        PERFORM crosstalk.fail(422, 'users: nobody known as ' || unknown);
    END IF;
    IF crosstalk.rate_take('grp:' || p_app || ':' || p_user, 20, 3600) > 0 THEN
        PERFORM crosstalk.fail(429, 'at most 20 groups an hour: try again later');
    END IF;
    ch := crosstalk.create_channel(
        'g-' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16),
        coalesce(p_title, ''), NULL, true, others, p_user, p_app, p_name);
    RETURN json_build_object('channel', json_build_object(
        'name', ch.name, 'title', ch.title, 'private', true,
        'last_seq', ch.last_seq::text, 'owner', p_user));
END $$;

-- An event about the channel itself, stored in its stream under the
-- channel row's lock like any post (so it has a seq, replays and
-- converges): 'channel' (title, archived, deleted) or 'member' (added,
-- removed). p_app, p_user, p_name: who did it ('' for crosstalkctl).
DROP FUNCTION IF EXISTS crosstalk.channel_event(text, text, jsonb);
CREATE OR REPLACE FUNCTION crosstalk.channel_event(
    p_channel text, p_kind text, p_app text, p_user text, p_name text, p_data jsonb)
RETURNS crosstalk.messages LANGUAGE plpgsql AS $$
DECLARE
    e crosstalk.messages;
BEGIN
    UPDATE crosstalk.channels SET last_seq = last_seq + 1 WHERE name = p_channel
    RETURNING last_seq INTO e.seq;
    INSERT INTO crosstalk.messages (channel, seq, kind, message_id, app, user_id,
                                    display_name, text, data)
    VALUES (p_channel, e.seq, p_kind, 0, coalesce(p_app, ''), coalesce(p_user, ''),
            coalesce(p_name, ''), '', p_data)
    RETURNING * INTO e;
    PERFORM crosstalk.notify_event(e.id, e.channel, e.seq, NULL, crosstalk.event_json(e));
    RETURN e;
END $$;

-- Rename (a new title: the name is the channel's id in apps' code, read
-- markers and URLs, and never changes) and archive or unarchive. NULL: keep.
-- The event, or NULL when nothing changed. 404 for no such channel.
CREATE OR REPLACE FUNCTION crosstalk.update_channel(
    p_name text, p_title text, p_archived boolean, p_by text DEFAULT '')
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    c crosstalk.channels;
    d jsonb := '{}';
BEGIN
    IF char_length(p_title) > 200 OR p_title ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'title must be at most 200 characters without control characters');
    END IF;
    SELECT * INTO c FROM crosstalk.channels WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such channel');
    END IF;
    IF p_title IS NOT NULL AND p_title <> c.title THEN
        d := d || jsonb_build_object('title', p_title);
    END IF;
    IF p_archived IS NOT NULL AND p_archived <> (c.archived_at IS NOT NULL) THEN
        d := d || jsonb_build_object('archived', p_archived);
    END IF;
    IF d = '{}' THEN
        RETURN NULL;
    END IF;
    UPDATE crosstalk.channels
    SET title = coalesce(p_title, title),
        archived_at = CASE WHEN p_archived IS NULL THEN archived_at
                           WHEN p_archived THEN coalesce(archived_at, now()) END
    WHERE name = p_name;
    RETURN crosstalk.event_json(crosstalk.channel_event(p_name, 'channel', p_by, '', '', d));
END $$;

-- update_channel for an app (POST channels/update): only a channel open to
-- it, never a direct one. {"changed": false} or {"changed": true, "event"}.
CREATE OR REPLACE FUNCTION crosstalk.api_update_channel(
    p_name text, p_title text, p_archived boolean, p_app text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    e json;
BEGIN
    IF p_name LIKE 'dm:%' THEN
        PERFORM crosstalk.fail(422, 'a direct channel has no title and is never archived');
    END IF;
    PERFORM crosstalk.check_read(p_app, NULL, p_name);
    e := crosstalk.update_channel(p_name, p_title, p_archived, p_app);
    IF e IS NULL THEN
        RETURN json_build_object('changed', false);
    END IF;
    RETURN json_build_object('changed', true, 'event', e);
END $$;

-- Delete a channel with its whole stream and read markers. Its live
-- subscribers get a last 'channel' event {deleted: true} (it rides in the
-- NOTIFY; the rows are gone with the commit); afterwards it is 404.
CREATE OR REPLACE FUNCTION crosstalk.delete_channel(p_name text, p_by text DEFAULT '')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM 1 FROM crosstalk.channels WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such channel');
    END IF;
    PERFORM crosstalk.channel_event(p_name, 'channel', p_by, '', '', '{"deleted": true}');
    SELECT count(*) INTO n FROM crosstalk.messages WHERE channel = p_name;
    DELETE FROM crosstalk.channels WHERE name = p_name;
    RETURN n;
END $$;

-- --- events ----------------------------------------------------------------

-- The JSON of one stream event, as the HTTP API and the WebSocket protocol
-- send it: ids and seqs as strings, times as ISO-8601 UTC plus *_ms. A
-- message event shows the message's current state. Never NULL: an edit or
-- delete that outlived its message (prune) is shown from its own row.
-- PL/pgSQL, so its plan is kept per connection.
CREATE OR REPLACE FUNCTION crosstalk.event_json(e crosstalk.messages) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t crosstalk.messages;
    quoted json;
BEGIN
    IF e.kind = 'channel' THEN
        RETURN json_build_object(
            'type', 'channel', 'id', e.id::text, 'seq', e.seq::text,
            'channel', e.channel, 'app', e.app, 'changes', e.data,
            'created_at', crosstalk.iso(e.created_at),
            'created_at_ms', crosstalk.ms(e.created_at));
    END IF;
    IF e.kind = 'member' THEN
        RETURN json_strip_nulls(json_build_object(
            'type', 'member', 'id', e.id::text, 'seq', e.seq::text,
            'channel', e.channel, 'app', e.app,
            'user', CASE WHEN e.user_id <> '' THEN
                         json_build_object('id', e.user_id, 'name', e.display_name) END,
            'added', e.data -> 'added', 'removed', e.data -> 'removed',
            'created_at', crosstalk.iso(e.created_at),
            'created_at_ms', crosstalk.ms(e.created_at)));
    END IF;
    IF e.kind = 'message' THEN
        t := e;
    ELSE
        SELECT * INTO t FROM crosstalk.messages m WHERE m.id = e.message_id;
        IF NOT FOUND THEN
            t := e;
            t.id := e.message_id;
            t.client_id := NULL;
            t.reactions := NULL;
            t.files := NULL;
            IF e.kind = 'deleted' THEN
                t.deleted_at := e.created_at;
            ELSIF e.kind = 'edited' THEN
                t.edited_at := e.created_at;
            END IF;
        END IF;
    END IF;
    IF t.reply_to IS NOT NULL THEN
        SELECT json_strip_nulls(json_build_object(
                   'id', q.id::text, 'user', json_build_object('id', q.user_id, 'name', q.display_name),
                   'text', left(q.text, 200),
                   'deleted', CASE WHEN q.deleted_at IS NOT NULL THEN true END))
        INTO quoted FROM crosstalk.messages q WHERE q.id = t.reply_to;
        quoted := coalesce(quoted, json_build_object('id', t.reply_to::text, 'gone', true));
    END IF;
    RETURN json_strip_nulls(json_build_object(
        'type', e.kind,
        'id', t.id::text,
        'seq', e.seq::text,
        'channel', e.channel,
        'app', t.app,
        'user', json_build_object('id', t.user_id, 'name', t.display_name),
        'bot', CASE WHEN t.user_id LIKE 'bot:%' THEN true END,
        'text', t.text,
        'client_id', coalesce(t.client_id, ''),
        'created_at', crosstalk.iso(t.created_at),
        'created_at_ms', crosstalk.ms(t.created_at),
        'edited_at', crosstalk.iso(t.edited_at),
        'edited_at_ms', crosstalk.ms(t.edited_at),
        'deleted', CASE WHEN t.deleted_at IS NOT NULL THEN true END,
        'mentions', CASE WHEN t.deleted_at IS NULL THEN to_json(t.mentions) END,
        'reply_to', quoted,
        'files', CASE WHEN t.deleted_at IS NULL THEN t.files END,
        'reactions', CASE WHEN t.deleted_at IS NULL AND t.reactions <> '[]' THEN t.reactions END,
        'reaction', CASE WHEN e.kind = 'reaction' THEN json_build_object(
            'emoji', e.text, 'on', e.data -> 'on',
            'user', json_build_object('id', e.user_id, 'name', e.display_name)) END));
END $$;

-- The event rides in its NOTIFY when it fits in PostgreSQL's 8000 bytes
-- (kept under 7900): a node that holds the channel's previous seq delivers
-- it from the payload; otherwise it reads the stream by seq. p_event NULL:
-- the short form.
CREATE OR REPLACE FUNCTION crosstalk.notify_event(
    p_id bigint, p_channel text, p_seq bigint, p_exclude text, p_event json)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    head text := 'm ' || p_id || ' ' || crosstalk.wire(p_channel) || ' ' || p_seq;
    payload text;
BEGIN
    IF p_event IS NULL THEN
        PERFORM pg_notify('crosstalk', head);
        RETURN;
    END IF;
    payload := head || ' ' || coalesce(p_exclude, '-') || ' ' || p_event::text;
    PERFORM pg_notify('crosstalk', CASE WHEN octet_length(payload) < 7900
                                        THEN payload ELSE head END);
END $$;

-- Events of p_channel with seq > p_after, oldest first, at most p_limit:
-- the replay and the live fetch both read through this.
CREATE OR REPLACE FUNCTION crosstalk.events_after(p_channel text, p_after bigint, p_limit int)
RETURNS TABLE (seq bigint, event text)
LANGUAGE sql STABLE AS $$
    SELECT m.seq, crosstalk.event_json(m)::text FROM crosstalk.messages m
    WHERE m.channel = p_channel AND m.seq > p_after
    ORDER BY m.seq LIMIT p_limit
$$;

-- History: the p_limit events before p_before, returned oldest first.
CREATE OR REPLACE FUNCTION crosstalk.events_before(p_channel text, p_before bigint, p_limit int)
RETURNS TABLE (seq bigint, event text)
LANGUAGE sql STABLE AS $$
    SELECT x.seq, x.event FROM (
        SELECT m.seq, crosstalk.event_json(m)::text AS event FROM crosstalk.messages m
        WHERE m.channel = p_channel AND m.seq < p_before
        ORDER BY m.seq DESC LIMIT p_limit) x
    ORDER BY x.seq
$$;

-- --- the write path ----------------------------------------------------------

-- What a bot's name may be (POST messages with the app key and "bot"):
-- 1-64 characters without control characters or ':'. The message, or NULL.
CREATE OR REPLACE FUNCTION crosstalk.bot_refusal(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_name IS NULL OR char_length(p_name) NOT BETWEEN 1 AND 64
                     OR p_name ~ '[\u0001-\u001f\u007f-\u009f:]'
                THEN 'bot must be 1-64 characters without ":" or control characters' END
$$;

-- Why a post would be refused: its user, text, client_id, then access;
-- and whether its channel exists. u and c are each worked out once per
-- post (OFFSET 0): flattened into this query, every mention of u.m or of
-- c's columns below would be a copy of that whole expression (regexes,
-- the member probe), evaluated again for each.
CREATE FUNCTION crosstalk.post_refusal(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_bot boolean DEFAULT false,
    p_files boolean DEFAULT false)
RETURNS TABLE (state text, message text, have boolean)
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN u.m IS NOT NULL THEN 'CT422'
                WHEN t.state IS NOT NULL THEN t.state
                WHEN char_length(p_client_id) > 128 THEN 'CT422'
                WHEN c.state IS NULL AND c.archived THEN 'CT409'
                ELSE c.state END,
           CASE WHEN u.m IS NOT NULL THEN u.m
                WHEN t.state IS NOT NULL THEN t.message
                WHEN char_length(p_client_id) > 128
                THEN 'client_id is longer than 128 characters'
                WHEN c.state IS NULL AND c.archived
                THEN 'channel is archived: it is read-only'
                WHEN p_bot AND c.state = 'CT403' AND p_channel LIKE 'dm:%'
                THEN 'a bot posts only to named channels'
                ELSE c.message END,
           u.m IS NULL AND t.state IS NULL
           AND coalesce(char_length(p_client_id) <= 128, true) AND c.have
           AND NOT c.archived
    FROM (SELECT CASE WHEN p_bot THEN crosstalk.bot_refusal(p_display_name)
                      ELSE crosstalk.user_refusal(p_user_id, p_display_name) END AS m
          OFFSET 0) u
    -- a message with files may have no text
    LEFT JOIN LATERAL crosstalk.text_refusal(p_text) t ON NOT (p_files AND p_text = '')
    CROSS JOIN (SELECT * FROM crosstalk.channel_refusal(
                    p_app, CASE WHEN p_bot THEN NULL ELSE p_user_id END, p_channel)
                OFFSET 0) c
$$;

-- post_refusal, raised; else whether the channel exists.
CREATE FUNCTION crosstalk.post_check(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM crosstalk.post_refusal(p_app, p_user_id, p_display_name,
                                                p_channel, p_text, p_client_id);
    PERFORM crosstalk.refuse(r.state, r.message);
    RETURN r.have;
END $$;

-- The channel row's lock orders every writer of the channel: a seq taken
-- under it commits before the next writer can take its own. A DM channel
-- is created here, on its first post.
CREATE OR REPLACE FUNCTION crosstalk.lock_channel(p_channel text, p_exists boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT p_exists THEN
        INSERT INTO crosstalk.channels (name) VALUES (p_channel) ON CONFLICT DO NOTHING;
    END IF;
    PERFORM 1 FROM crosstalk.channels WHERE name = p_channel FOR UPDATE;
END $$;

-- The post itself, for a caller that checked it (post_check) and holds the
-- channel's lock (lock_channel): a repeated client_id returns the earlier
-- message (created false); else the next seq, the row with the
-- exclude_sender mark, its event JSON (made once, for the NOTIFY and the
-- caller) and the NOTIFY.
CREATE OR REPLACE FUNCTION crosstalk.post_locked(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_exclude_hash text,
    OUT msg crosstalk.messages, OUT created boolean, OUT event json)
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    IF p_client_id = '' THEN
        p_client_id := NULL;
    END IF;
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
    msg.id := nextval('crosstalk.messages_id_seq');
    INSERT INTO crosstalk.messages
        (id, channel, seq, kind, message_id, app, user_id, display_name, text,
         client_id, exclude_ref_hash)
    VALUES (msg.id, p_channel, s, 'message', msg.id, p_app, p_user_id,
            p_display_name, p_text, p_client_id, p_exclude_hash)
    RETURNING * INTO msg;
    event := crosstalk.event_json(msg);
    PERFORM crosstalk.notify_event(msg.id, msg.channel, msg.seq, msg.exclude_ref_hash, event);
    created := true;
END $$;

-- post_message for callers that need more than the row: whether this call
-- created it, and the event JSON. No rate limit (apps' own transactions).
CREATE OR REPLACE FUNCTION crosstalk.post_message_x(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_exclude_hash text,
    OUT msg crosstalk.messages, OUT created boolean, OUT event json)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM crosstalk.lock_channel(p_channel, crosstalk.post_check(
        p_app, p_user_id, p_display_name, p_channel, p_text, p_client_id));
    SELECT * INTO r FROM crosstalk.post_locked(p_app, p_user_id, p_display_name,
        p_channel, p_text, p_client_id, p_exclude_hash);
    msg := r.msg;
    created := r.created;
    event := r.event;
END $$;

-- The contract's post: a message committed in the caller's transaction
-- reaches browsers when (and only if) that transaction commits.
CREATE OR REPLACE FUNCTION crosstalk.post_message(
    app text, user_id text, display_name text, channel text, text text,
    client_id text DEFAULT NULL)
RETURNS crosstalk.messages LANGUAGE sql AS $$
    SELECT (crosstalk.post_message_x($1, $2, $3, $4, $5, $6, NULL)).msg
$$;

-- Fixed-window rate limit shared by every process: 0 when allowed, else
-- the seconds until the window reopens.
CREATE OR REPLACE FUNCTION crosstalk.rate_take(p_key text, p_limit int, p_window int)
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

DROP FUNCTION IF EXISTS crosstalk.api_post(text, text, text, text, text, text, text, int, int); -- before 016

DROP FUNCTION IF EXISTS crosstalk.batch_repeats();

-- May a post of p_user_id to p_channel carry the files p_files ("17,18":
-- 1-10 attachment ids)? Each must be this user's upload to this channel
-- that no message took (for a post with client_id p_cid: or that the
-- message of that client_id took) and no earlier post of the batch takes
-- (p_taken). Locks the rows it accepts. (state, message; the files'
-- metadata, in the order given, for the message).
CREATE OR REPLACE FUNCTION crosstalk.files_claim(
    p_channel text, p_user_id text, p_files text, p_taken bigint[], p_cid text)
RETURNS TABLE (state text, message text, meta jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    n int;
    m jsonb;
BEGIN
    IF p_files !~ '^[0-9]{1,18}(,[0-9]{1,18}){0,9}$' THEN
        RETURN QUERY SELECT 'CT422'::text, 'files must be 1-10 attachment ids'::text, NULL::jsonb;
        RETURN;
    END IF;
    ids := string_to_array(p_files, ',')::bigint[];
    IF (SELECT count(DISTINCT x) FROM unnest(ids) x) <> cardinality(ids) OR ids && p_taken THEN
        RETURN QUERY SELECT 'CT422'::text, 'a file can be in one message only'::text, NULL::jsonb;
        RETURN;
    END IF;
    SELECT count(*), jsonb_agg(jsonb_build_object('id', a.id::text, 'name', a.name,
                                                  'type', a.type, 'size', a.size)
                               ORDER BY array_position(ids, a.id))
    INTO n, m
    FROM (SELECT * FROM crosstalk.attachments x WHERE x.id = ANY (ids)
          ORDER BY x.id FOR UPDATE) a
    WHERE a.channel = p_channel AND a.user_id = p_user_id
      AND (a.message_id IS NULL
           OR (p_cid IS NOT NULL AND EXISTS (
                   SELECT 1 FROM crosstalk.messages mm
                   WHERE mm.id = a.message_id AND mm.client_id = p_cid
                     AND mm.user_id = p_user_id)));
    IF n <> cardinality(ids) THEN
        RETURN QUERY SELECT 'CT422'::text,
            'files must be your own uploads to this channel that no message holds'::text, NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::text, m;
END $$;

-- --- attachments -----------------------------------------------------------

-- Start an upload (crosstalk-fcgi, inside the upload's transaction): the
-- uploader must be allowed to publish to p_channel (a DM nobody wrote to yet
-- is created, as its first post would). The new attachment's id.
CREATE OR REPLACE FUNCTION crosstalk.attachment_start(
    p_app text, p_user_id text, p_channel text, p_name text, p_type text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r record;
    id bigint;
BEGIN
    SELECT * INTO r FROM crosstalk.channel_refusal(p_app, p_user_id, p_channel);
    PERFORM crosstalk.refuse(r.state, r.message);
    IF r.archived THEN
        PERFORM crosstalk.fail(409, 'channel is archived: it is read-only');
    END IF;
    IF NOT r.have THEN
        INSERT INTO crosstalk.channels (name) VALUES (p_channel) ON CONFLICT DO NOTHING;
    END IF;
    IF p_name IS NULL OR p_name = '' OR char_length(p_name) > 200 OR p_name ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'a file name is 1-200 characters, no control characters');
    END IF;
    INSERT INTO crosstalk.attachments (channel, app, user_id, name, type)
    VALUES (p_channel, p_app, p_user_id, p_name, p_type) RETURNING attachments.id INTO id;
    RETURN id;
END $$;

-- The upload's end: its size, and the attachment as the API shows it.
CREATE OR REPLACE FUNCTION crosstalk.attachment_finish(p_id bigint, p_size bigint)
RETURNS json LANGUAGE sql AS $$
    UPDATE crosstalk.attachments SET size = p_size WHERE id = p_id
    RETURNING json_build_object('id', id::text, 'name', name, 'type', type,
                                'size', size, 'channel', channel)
$$;

-- A signed link's file, for p_user_id of p_app: its name, type, size and
-- number of chunks, if that user may read its channel now (an upload no
-- message took yet: its uploader only). CT404 gone, CT403 not theirs.
CREATE OR REPLACE FUNCTION crosstalk.attachment_open(p_id bigint, p_app text, p_user_id text)
RETURNS TABLE (name text, type text, size bigint, chunks int)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a crosstalk.attachments;
    r record;
BEGIN
    SELECT * INTO a FROM crosstalk.attachments x WHERE x.id = p_id;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such file (deleted, or pruned with its message)');
    END IF;
    IF a.message_id IS NULL AND a.user_id <> p_user_id THEN
        PERFORM crosstalk.fail(404, 'no such file (deleted, or pruned with its message)');
    END IF;
    SELECT * INTO r FROM crosstalk.channel_refusal(p_app, p_user_id, a.channel);
    PERFORM crosstalk.refuse(CASE WHEN r.state IS NOT NULL THEN 'CT403' END,
                             'this link''s user may not read the channel of the file');
    RETURN QUERY SELECT a.name, a.type, a.size,
        (SELECT count(*)::int FROM crosstalk.attachment_chunks c WHERE c.attachment_id = p_id);
END $$;

-- Group commit (crosstalk-fcgi's posts, crosstalk-wsd's publishes that
-- waited together): one transaction, one WAL flush, and each channel
-- touched once. p_posts: a JSON array of {app, user_id, name, channel, text,
-- client_id, exclude_ref, limit, window, reply_to, bot, files} (limit and
-- window the same for all; files "17,18", attachment ids); instead of user_id and name a post may carry session, the login's
-- ref, resolved here (resolve_session) in the post's own transaction: one
-- statement per HTTP post, not two (CT401 when it is not logged in). One
-- row per post, i = its index (from 0): api_post's (retry_after, event,
-- created), or the SQLSTATE and message that refused it. p_wait: wait for
-- a held channel (up to lock_timeout, then 55P03 for the statement), for a
-- post sent alone after its batch found the channel busy.
--
-- Set-based, without a subtransaction per post: every rule is first asked
-- of every post without raising (post_refusal), so a refused post is only
-- a row of its own and touches nothing, not even a rate-limit count. Then,
-- in lock order: the batch's channel rows at once with SKIP LOCKED (a
-- channel another transaction holds answers 55P03 "busy" at once, for the
-- caller to send that post alone: a batch never waits for an app's lock);
-- the rate-limit rows, by key, each taken once for all its posts; repeated
-- client_ids; new DM channels; one last_seq + n per channel; one INSERT;
-- the NOTIFYs in seq order. The posts of one channel take seqs in
-- arrival order. The daemons send at most 64 posts at once.
--
-- The batch's state lives in arrays indexed by post (1-based), not in a
-- table: a temporary table must be emptied between calls, and both ways
-- cost more than the posts (DELETE leaves dead rows that no vacuum visits;
-- TRUNCATE and ON COMMIT DELETE ROWS invalidate every cached plan that
-- reads it). Lookups in tables that grow fast are LATERAL ... LIMIT 1 or
-- one row per probe, so that a plan made while a table was small (and
-- kept for the connection's life) still probes its index.
DROP FUNCTION IF EXISTS crosstalk.api_post_batch(json); -- its one-argument form, before 009
-- Its statements are planned once per connection (generic plans): planned
-- anew for each call, as the plan cache chose for several of them, they
-- cost a one-post call about a sixth of its time.
CREATE OR REPLACE FUNCTION crosstalk.api_post_batch(p_posts json, p_wait boolean DEFAULT false)
RETURNS TABLE (i int, retry_after int, event json, created boolean,
               err_state text, err_message text)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    np int;
    w interval;
    lim int;
    a_app text[]; a_user text[]; a_name text[]; a_chan text[]; a_text text[];
    a_cid text[]; a_xh text[]; a_rkey text[]; a_state text[]; a_msg text[];
    a_have boolean[]; a_retry int[]; a_id bigint[]; a_seq bigint[];
    a_new boolean[]; a_event json[]; a_dup int[]; a_reply bigint[];
    a_files text[]; a_fmeta jsonb[]; taken bigint[] := '{}';
    any_cid boolean; any_files boolean;
    want text[];
    got text[];
    r record;
BEGIN
    -- the JSON parsed once, each session resolved, each post asked every rule
    SELECT array_agg(x.app ORDER BY x.n), array_agg(u.user_id ORDER BY x.n),
           array_agg(u.name ORDER BY x.n), array_agg(x.channel ORDER BY x.n),
           array_agg(x.text ORDER BY x.n),
           array_agg(nullif(x.client_id, '') ORDER BY x.n),
           array_agg(CASE WHEN x.exclude_ref IS NOT NULL
                          THEN encode(sha256(convert_to(x.exclude_ref, 'UTF8')), 'hex')
                     END ORDER BY x.n),
           array_agg(u.rkey ORDER BY x.n),
           array_agg(CASE WHEN u.out THEN 'CT401' WHEN u.refusal IS NOT NULL THEN 'CT422'
                          ELSE c.state END ORDER BY x.n),
           array_agg(CASE WHEN u.out THEN 'session is not logged in'
                          ELSE coalesce(u.refusal, c.message) END ORDER BY x.n),
           array_agg(c.have AND NOT u.out AND u.refusal IS NULL ORDER BY x.n),
           min(x."limit"), make_interval(secs => min(x."window")),
           count(*)::int, bool_or(nullif(x.client_id, '') IS NOT NULL),
           array_agg(x.reply_to ORDER BY x.n),
           array_agg(nullif(x.files, '') ORDER BY x.n), bool_or(nullif(x.files, '') IS NOT NULL)
    INTO a_app, a_user, a_name, a_chan, a_text, a_cid, a_xh, a_rkey, a_state,
         a_msg, a_have, lim, w, np, any_cid, a_reply, a_files, any_files
    FROM ROWS FROM (json_to_recordset(p_posts) AS (
             app text, user_id text, name text, session text, channel text,
             text text, client_id text, exclude_ref text, "limit" int, "window" int,
             reply_to bigint, bot text, files text))
         WITH ORDINALITY AS x(app, user_id, name, session, channel, text,
                              client_id, exclude_ref, "limit", "window", reply_to, bot, files, n)
    -- LIMIT 1 (a session is one user at most) keeps this a subquery of its
    -- own, whose WHERE is then checked before the resolver runs: pulled
    -- up, it was a join filter, and every post with a user_id paid a call
    LEFT JOIN LATERAL (SELECT rs.user_id, rs.display_name, rs.refusal
                       FROM crosstalk.session_user(x.app, x.session) rs
                       WHERE x.user_id IS NULL AND x.bot IS NULL LIMIT 1) s ON true
    -- a bot (the app's own voice: the key, no login) is bot:<app>:<name>,
    -- an id no user can have (':'), and its posts count against the app
    CROSS JOIN LATERAL (SELECT CASE WHEN x.bot IS NOT NULL THEN 'bot:' || x.app || ':' || x.bot
                                    ELSE coalesce(x.user_id, s.user_id, '') END AS user_id,
                               coalesce(x.bot, x.name, s.display_name, '') AS name,
                               x.bot IS NULL AND x.user_id IS NULL AND s.user_id IS NULL AS out,
                               s.refusal,
                               CASE WHEN x.bot IS NOT NULL THEN 'bot:' || x.app
                                    ELSE 'pub:' || x.app || ':' || coalesce(x.user_id, s.user_id, '')
                               END AS rkey) u
    CROSS JOIN LATERAL crosstalk.post_refusal(x.app, u.user_id, u.name,
        x.channel, x.text, x.client_id, x.bot IS NOT NULL, nullif(x.files, '') IS NOT NULL) c;
    IF np = 0 THEN
        RETURN;
    END IF;
    a_retry := array_fill(0, ARRAY[np]);
    a_new := array_fill(false, ARRAY[np]);
    a_id := array_fill(NULL::bigint, ARRAY[np]);
    a_seq := array_fill(NULL::bigint, ARRAY[np]);
    a_event := array_fill(NULL::json, ARRAY[np]);
    a_dup := array_fill(NULL::int, ARRAY[np]);
    a_fmeta := array_fill(NULL::jsonb, ARRAY[np]);

    -- a reply answers a message of its own channel
    -- (the probe in an IF of its own: in one condition with the tests
    -- before it, every post ran it as a query, reply or not)
    FOR k IN 1 .. np LOOP
        IF a_reply[k] IS NOT NULL AND a_state[k] IS NULL THEN
            IF NOT EXISTS (
                   SELECT 1 FROM crosstalk.messages m
                   WHERE m.id = a_reply[k] AND m.channel = a_chan[k] AND m.kind = 'message') THEN
                a_state[k] := 'CT422';
                a_msg[k] := 'reply_to is not a message of this channel';
            END IF;
        END IF;
    END LOOP;

    -- channel rows: the ones no other transaction holds, without waiting
    want := '{}';
    FOR k IN 1 .. np LOOP
        IF a_state[k] IS NULL AND a_have[k] THEN
            want := want || a_chan[k];
        END IF;
    END LOOP;
    IF cardinality(want) > 0 THEN
        IF p_wait THEN
            SELECT coalesce(array_agg(l.name), '{}') INTO got
            FROM (SELECT d.x FROM (SELECT DISTINCT x FROM unnest(want) x) d ORDER BY d.x COLLATE "C") w
            CROSS JOIN LATERAL (SELECT c.name FROM crosstalk.channels c
                                WHERE c.name = w.x FOR UPDATE) l;
        ELSE
            SELECT coalesce(array_agg(l.name), '{}') INTO got
            FROM (SELECT d.x FROM (SELECT DISTINCT x FROM unnest(want) x) d ORDER BY d.x COLLATE "C") w
            CROSS JOIN LATERAL (SELECT c.name FROM crosstalk.channels c
                                WHERE c.name = w.x FOR UPDATE SKIP LOCKED) l;
        END IF;
        FOR k IN 1 .. np LOOP
            IF a_state[k] IS NULL AND a_have[k] AND NOT (a_chan[k] = ANY (got)) THEN
                a_state[k] := '55P03';
                a_msg[k] := 'channel is busy';
            END IF;
        END LOOP;
    END IF;

    -- files: this user's uploads to this channel that no message took (or,
    -- for a post with a client_id, took for that client_id: a repeat gets
    -- the first post's answer below); locked after the channel rows, as a
    -- delete takes them
    IF any_files THEN
        FOR k IN 1 .. np LOOP
            IF a_files[k] IS NOT NULL AND a_state[k] IS NULL THEN
                SELECT f.state, f.message, f.meta INTO r
                FROM crosstalk.files_claim(a_chan[k], a_user[k], a_files[k], taken, a_cid[k]) f;
                a_state[k] := r.state;
                a_msg[k] := r.message;
                a_fmeta[k] := r.meta;
                IF r.state IS NULL THEN
                    taken := taken || string_to_array(a_files[k], ',')::bigint[];
                END IF;
            END IF;
        END LOOP;
    END IF;

    -- a client_id seen before: that message, or 409 (no rate-limit count)
    IF any_cid THEN
        FOR r IN SELECT u.k, f.m FROM unnest(a_app, a_user, a_cid) WITH ORDINALITY AS u(app, uid, cid, k)
                 CROSS JOIN LATERAL (
                     SELECT m FROM crosstalk.messages m
                     WHERE m.app = u.app AND m.user_id = u.uid AND m.client_id = u.cid
                       AND m.kind = 'message' LIMIT 1) f
                 WHERE u.cid IS NOT NULL AND a_state[u.k] IS NULL LOOP
            IF (r.m).channel <> a_chan[r.k] THEN
                a_state[r.k] := 'CT409';
                a_msg[r.k] := 'client_id was already used in another channel';
            ELSE
                a_id[r.k] := (r.m).id;
                a_seq[r.k] := (r.m).seq;
                a_event[r.k] := crosstalk.event_json(r.m);
            END IF;
        END LOOP;
    END IF;

    -- rate limits: one row a user, taken in key order, counting all of its
    -- posts; those past the limit in arrival order wait retry_after
    FOR r IN
        WITH mine AS MATERIALIZED (
            SELECT u.rkey, u.k,
                   row_number() OVER (PARTITION BY u.rkey ORDER BY u.k) AS o,
                   count(*) OVER (PARTITION BY u.rkey) AS cnt
            FROM unnest(a_rkey) WITH ORDINALITY AS u(rkey, k)
            WHERE a_state[u.k] IS NULL AND a_id[u.k] IS NULL),
        took AS (
            INSERT INTO crosstalk.rate_limits AS rl (key, window_start, count)
            SELECT DISTINCT ON (m.rkey COLLATE "C") m.rkey, now(), m.cnt FROM mine m
            ORDER BY m.rkey COLLATE "C"
            ON CONFLICT (key) DO UPDATE SET
                window_start = CASE WHEN rl.window_start <= now() - w THEN now() ELSE rl.window_start END,
                count = CASE WHEN rl.window_start <= now() - w THEN excluded.count
                             ELSE rl.count + excluded.count END
            RETURNING rl.key, rl.count, rl.window_start)
        SELECT m.k, t.window_start FROM mine m JOIN took t ON t.key = m.rkey
        WHERE t.count - m.cnt + m.o > lim
    LOOP
        a_retry[r.k] := greatest(1, ceil(extract(epoch FROM r.window_start + w - now()))::int);
    END LOOP;

    IF any_cid THEN
        -- again under the rate-limit rows' lock, which every post of the
        -- daemons takes: a post of the same id may have committed meanwhile
        FOR r IN SELECT u.k, f.m FROM unnest(a_app, a_user, a_cid) WITH ORDINALITY AS u(app, uid, cid, k)
                 CROSS JOIN LATERAL (
                     SELECT m FROM crosstalk.messages m
                     WHERE m.app = u.app AND m.user_id = u.uid AND m.client_id = u.cid
                       AND m.kind = 'message' LIMIT 1) f
                 WHERE u.cid IS NOT NULL AND a_state[u.k] IS NULL AND a_retry[u.k] = 0
                   AND a_id[u.k] IS NULL LOOP
            IF (r.m).channel <> a_chan[r.k] THEN
                a_state[r.k] := 'CT409';
                a_msg[r.k] := 'client_id was already used in another channel';
            ELSE
                a_id[r.k] := (r.m).id;
                a_seq[r.k] := (r.m).seq;
                a_event[r.k] := crosstalk.event_json(r.m);
            END IF;
        END LOOP;
        -- a client_id twice in the batch: the later ones get the first's answer
        FOR r IN SELECT f.k, f.first FROM (
                     SELECT u.k, min(u.k) OVER (PARTITION BY u.app, u.uid, u.cid) AS first
                     FROM unnest(a_app, a_user, a_cid) WITH ORDINALITY AS u(app, uid, cid, k)
                     WHERE u.cid IS NOT NULL AND a_state[u.k] IS NULL
                       AND a_retry[u.k] = 0 AND a_id[u.k] IS NULL) f
                 WHERE f.first <> f.k LOOP
            a_dup[r.k] := r.first;
        END LOOP;
    END IF;

    -- a DM's first post creates it
    want := '{}';
    FOR k IN 1 .. np LOOP
        IF a_state[k] IS NULL AND a_retry[k] = 0 AND a_id[k] IS NULL
           AND a_dup[k] IS NULL AND NOT a_have[k] THEN
            want := want || a_chan[k];
        END IF;
    END LOOP;
    IF cardinality(want) > 0 THEN
        INSERT INTO crosstalk.channels (name)
        SELECT DISTINCT x FROM unnest(want) x ORDER BY 1 ON CONFLICT DO NOTHING;
        PERFORM 1
        FROM (SELECT d.x FROM (SELECT DISTINCT x FROM unnest(want) x) d ORDER BY d.x COLLATE "C") w
        CROSS JOIN LATERAL (SELECT c.name FROM crosstalk.channels c
                            WHERE c.name = w.x FOR UPDATE) l;
    END IF;

    -- seqs: each channel once, last_seq + n, then in arrival order
    FOR r IN
        WITH todo AS MATERIALIZED (
            SELECT u.chan, u.k,
                   row_number() OVER (PARTITION BY u.chan ORDER BY u.k) AS o,
                   count(*) OVER (PARTITION BY u.chan) AS cnt
            FROM unnest(a_chan) WITH ORDINALITY AS u(chan, k)
            WHERE a_state[u.k] IS NULL AND a_retry[u.k] = 0 AND a_id[u.k] IS NULL
              AND a_dup[u.k] IS NULL),
        bump AS (
            UPDATE crosstalk.channels ch SET last_seq = ch.last_seq + t.cnt
            FROM (SELECT DISTINCT d.chan, d.cnt FROM todo d) t
            WHERE ch.name = t.chan
            RETURNING ch.name, ch.last_seq - t.cnt AS base)
        SELECT d.k, b.base + d.o AS seq FROM todo d JOIN bump b ON b.name = d.chan
    LOOP
        a_seq[r.k] := r.seq;
        a_id[r.k] := nextval('crosstalk.messages_id_seq');
        a_new[r.k] := true;
    END LOOP;

    -- the messages, their events and NOTIFYs, in seq order per channel
    FOR r IN
        WITH ins AS (
            INSERT INTO crosstalk.messages
                (id, channel, seq, kind, message_id, app, user_id, display_name,
                 text, client_id, exclude_ref_hash, reply_to, files)
            SELECT a_id[u.k], a_chan[u.k], a_seq[u.k], 'message', a_id[u.k],
                   a_app[u.k], a_user[u.k], a_name[u.k], a_text[u.k], a_cid[u.k],
                   a_xh[u.k], a_reply[u.k], a_fmeta[u.k]
            FROM generate_subscripts(a_new, 1) AS u(k) WHERE a_new[u.k]
            RETURNING *)
        SELECT x.k, ins::crosstalk.messages AS m
        FROM ins JOIN unnest(a_id) WITH ORDINALITY AS x(id, k) ON x.id = ins.id
        ORDER BY ins.channel, ins.seq
    LOOP
        a_event[r.k] := crosstalk.event_json(r.m);
        PERFORM crosstalk.notify_event((r.m).id, (r.m).channel, (r.m).seq,
                                       (r.m).exclude_ref_hash, a_event[r.k]);
    END LOOP;

    IF any_files THEN
        UPDATE crosstalk.attachments a SET message_id = a_id[u.k]
        FROM generate_subscripts(a_new, 1) AS u(k)
        CROSS JOIN LATERAL jsonb_array_elements(a_fmeta[u.k]) f
        WHERE a_new[u.k] AND a_fmeta[u.k] IS NOT NULL AND a.id = (f ->> 'id')::bigint;
    END IF;

    FOR k IN 1 .. np LOOP
        IF a_dup[k] IS NOT NULL THEN
            a_id[k] := a_id[a_dup[k]];
            a_seq[k] := a_seq[a_dup[k]];
            a_event[k] := a_event[a_dup[k]];
            a_state[k] := a_state[a_dup[k]];
            a_msg[k] := a_msg[a_dup[k]];
            a_retry[k] := a_retry[a_dup[k]];
        END IF;
    END LOOP;

    RETURN QUERY
    SELECT u.k - 1, a_retry[u.k],
           CASE WHEN a_retry[u.k] = 0 AND a_state[u.k] IS NULL THEN a_event[u.k] END,
           a_new[u.k], a_state[u.k], a_msg[u.k]
    FROM generate_subscripts(a_app, 1) AS u(k) ORDER BY u.k;
END $$;

-- A daemon's new connection runs one group commit before any post waits
-- for it, and takes it back: the batch function's statements are planned
-- and the catalogs it reads are loaded (about 37 ms on a fresh connection,
-- 90-160 ms under load, which the first posts on that connection waited
-- for). A post to a direct channel of two ids of its own, which creates the
-- channel, takes a rate-limit row and notifies; all of it rolled back with
-- the subtransaction, the notification too.
CREATE OR REPLACE FUNCTION crosstalk.warm_up() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM count(*) FROM crosstalk.api_post_batch(json_build_array(json_build_object(
            'app', 'crosstalk-warm-up', 'user_id', 'crosstalk-warm-up-a', 'name', 'warm-up',
            'channel', 'dm:crosstalk-warm-up-a:crosstalk-warm-up-b', 'text', 'warm-up',
            'limit', 1000, 'window', 1)));
        RAISE SQLSTATE 'CT000';
    EXCEPTION WHEN SQLSTATE 'CT000' THEN
        NULL;
    END;
END $$;

-- Publish from a WebSocket when no other publish waits to commit with it:
-- the group commit with one post (one write path for every post),
-- answered as the ack needs it; refusals raised. retry_after > 0: rate
-- limited, nothing stored.
DROP FUNCTION IF EXISTS crosstalk.ws_publish(text, text, text, text, text, text, int, int); -- before 016
DROP FUNCTION IF EXISTS crosstalk.ws_publish(text, text, text, text, text, text, int, int, bigint); -- before 018
CREATE OR REPLACE FUNCTION crosstalk.ws_publish(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_limit int, p_window int, p_reply_to bigint DEFAULT NULL,
    p_files text DEFAULT NULL,
    OUT retry_after int, OUT id bigint, OUT seq bigint, OUT channel text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM crosstalk.api_post_batch(json_build_array(json_build_object(
        'app', p_app, 'user_id', p_user_id, 'name', p_display_name, 'channel', p_channel,
        'text', p_text, 'client_id', p_client_id, 'limit', p_limit, 'window', p_window,
        'reply_to', p_reply_to, 'files', p_files)), true);
    PERFORM crosstalk.refuse(r.err_state, r.err_message);
    retry_after := r.retry_after;
    id := (r.event->>'id')::bigint;
    seq := (r.event->>'seq')::bigint;
    channel := r.event->>'channel';
END $$;

-- Edit or delete message p_id. p_user_id NULL: moderation by the app key,
-- which may delete any message in a channel the app may use but edit only
-- its own app's (an edit keeps the author's name on the words). Otherwise
-- only the author.
CREATE OR REPLACE FUNCTION crosstalk.change_message(
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
    PERFORM crosstalk.check_read(p_app, p_user_id, t.channel);
    IF p_user_id IS NOT NULL AND (t.user_id <> p_user_id) THEN
        PERFORM crosstalk.fail(403, 'only the author may change this message');
    END IF;
    IF p_user_id IS NULL AND p_kind = 'edited' AND t.app <> p_app THEN
        PERFORM crosstalk.fail(403, 'an app key edits only its own app''s messages (it may delete others)');
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
        UPDATE crosstalk.messages SET text = '', files = NULL, deleted_at = clock_timestamp()
        WHERE id = p_id;
        DELETE FROM crosstalk.attachments WHERE message_id = p_id;
    END IF;
    INSERT INTO crosstalk.messages
        (channel, seq, kind, message_id, app, user_id, display_name, text)
    VALUES (t.channel, s, p_kind, p_id, p_app, coalesce(p_user_id, ''),
            coalesce(p_user_id, p_app), CASE WHEN p_kind = 'edited' THEN p_text ELSE '' END)
    RETURNING * INTO ev;
    -- the short form: the event is read back (rare, and its JSON needs
    -- the changed row, which event_json in this statement would not see)
    PERFORM crosstalk.notify_event(ev.id, ev.channel, ev.seq, NULL, NULL);
    RETURN ev;
END $$;

-- messages/edit and messages/delete: change_message, except that an
-- app key alone (moderation) may not touch a direct conversation, which
-- it may not read either. Returns the new event's JSON.
CREATE OR REPLACE FUNCTION crosstalk.api_change(
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

-- --- reactions -------------------------------------------------------------------

-- React to message p_id with p_emoji (p_on) or take it back, as user
-- p_user_id of p_app, who must be able to read the channel. A change is a
-- 'reaction' event with its own seq that shows the message's current
-- state, reactions included (messages.reactions, rewritten here). An emoji
-- is 1-16 characters without blanks or control characters; a message has
-- at most 20 different ones; reacting counts 60 a minute a user. Returns
-- the event's JSON, or NULL when nothing changed (already there, or not).
CREATE OR REPLACE FUNCTION crosstalk.react(
    p_app text, p_user_id text, p_name text, p_id bigint, p_emoji text, p_on boolean)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    t crosstalk.messages;
    ev crosstalk.messages;
    n int;
BEGIN
    IF p_emoji IS NULL OR char_length(p_emoji) NOT BETWEEN 1 AND 16
       OR p_emoji ~ '[[:space:][:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'emoji must be 1-16 characters without blanks or control characters');
    END IF;
    SELECT * INTO t FROM crosstalk.messages WHERE id = p_id AND kind = 'message';
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, 'no such message');
    END IF;
    PERFORM crosstalk.check_read(p_app, p_user_id, t.channel);
    -- lock order: the channel row, then the rate-limit row
    PERFORM crosstalk.lock_channel(t.channel, true);
    IF crosstalk.rate_take('react:' || p_app || ':' || p_user_id, 60, 60) > 0 THEN
        PERFORM crosstalk.fail(429, 'at most 60 reactions a minute');
    END IF;
    SELECT * INTO t FROM crosstalk.messages WHERE id = p_id;
    IF t.deleted_at IS NOT NULL THEN
        PERFORM crosstalk.fail(409, 'message was deleted');
    END IF;
    IF p_on THEN
        IF NOT EXISTS (SELECT 1 FROM crosstalk.reactions r WHERE r.message_id = p_id AND r.emoji = p_emoji)
           AND (SELECT count(DISTINCT r.emoji) FROM crosstalk.reactions r WHERE r.message_id = p_id) >= 20 THEN
            PERFORM crosstalk.fail(422, 'a message has at most 20 different reactions');
        END IF;
        INSERT INTO crosstalk.reactions (message_id, emoji, user_id)
        VALUES (p_id, p_emoji, p_user_id) ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM crosstalk.reactions r
        WHERE r.message_id = p_id AND r.emoji = p_emoji AND r.user_id = p_user_id;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE crosstalk.messages m SET reactions = (
        SELECT coalesce(jsonb_agg(jsonb_build_object('emoji', g.emoji, 'users', g.users)
                                  ORDER BY g.first), '[]')
        FROM (SELECT r.emoji, min(r.created_at) AS first,
                     jsonb_agg(r.user_id ORDER BY r.created_at) AS users
              FROM crosstalk.reactions r WHERE r.message_id = p_id GROUP BY r.emoji) g)
    WHERE m.id = p_id;
    UPDATE crosstalk.channels SET last_seq = last_seq + 1 WHERE name = t.channel
    RETURNING last_seq INTO ev.seq;
    INSERT INTO crosstalk.messages (channel, seq, kind, message_id, app, user_id,
                                    display_name, text, data)
    VALUES (t.channel, ev.seq, 'reaction', p_id, p_app, p_user_id, p_name, p_emoji,
            jsonb_build_object('on', p_on))
    RETURNING * INTO ev;
    -- the short form: event_json must see the row this statement changed
    PERFORM crosstalk.notify_event(ev.id, ev.channel, ev.seq, NULL, NULL);
    RETURN json_build_object('id', ev.id);
END $$;

-- react, answered as the HTTP API and the WebSocket do: {"changed": false}
-- or {"changed": true, "event"} (a statement of its own sees the change).
CREATE OR REPLACE FUNCTION crosstalk.api_react(
    p_app text, p_user_id text, p_name text, p_id bigint, p_emoji text, p_on boolean)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    r json := crosstalk.react(p_app, p_user_id, p_name, p_id, p_emoji, p_on);
BEGIN
    IF r IS NULL THEN
        RETURN json_build_object('changed', false);
    END IF;
    RETURN json_build_object('changed', true, 'event',
        (SELECT crosstalk.event_json(m) FROM crosstalk.messages m WHERE m.id = (r->>'id')::bigint));
END $$;

-- --- reading -------------------------------------------------------------------

-- Events of p_channel with seq > p_after, oldest first, at most p_limit,
-- as {"messages":[event...], "last_seq", "has_more"}. last_seq is the
-- cursor to pass as the next after: the seq of the last event returned,
-- else the channel's last seq. One statement, one snapshot: a seq below
-- last_seq is always committed (seqs are taken under the channel lock).
CREATE OR REPLACE FUNCTION crosstalk.poll(p_app text, p_user_id text, p_channel text,
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

-- Unread messages (by others, not deleted) after the user's read marker,
-- counted up to 10000 so that a huge unread backlog stays cheap.
CREATE OR REPLACE FUNCTION crosstalk.unread_count(p_user_id text, p_channel text) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int FROM (
        SELECT 1 FROM crosstalk.messages m
        WHERE m.channel = p_channel AND m.kind = 'message' AND m.deleted_at IS NULL
          AND m.user_id <> p_user_id
          AND m.seq > coalesce((SELECT r.seq FROM crosstalk.read_markers r
                                WHERE r.user_id = p_user_id AND r.channel = p_channel), 0)
        LIMIT 10000) x
$$;

CREATE OR REPLACE FUNCTION crosstalk.mark_read(p_user_id text, p_channel text, p_seq bigint)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crosstalk.read_markers AS r (user_id, channel, seq)
    VALUES (p_user_id, p_channel, greatest(p_seq, 0))
    ON CONFLICT (user_id, channel) DO UPDATE
        SET seq = greatest(r.seq, excluded.seq), updated_at = now();
    PERFORM pg_notify('crosstalk', 'r ' || crosstalk.wire(p_channel) || ' '
                                   || crosstalk.wire(p_user_id));
    RETURN crosstalk.unread_count(p_user_id, p_channel);
END $$;

-- Channels app p_app (and, when given, user p_user_id) may read.
-- --- mentions --------------------------------------------------------------------

-- The people text p_text (posted by p_user of p_app in p_channel)
-- mentions: after each '@' that starts a word (so a@b.example is no
-- mention), the longest display name or user id of the directory that the
-- text continues with, up to a word boundary, any case. Only people who may
-- read the channel count (a mention never tells anyone of a channel they
-- cannot see); the author does not. Sorted hub ids, or NULL for none.
CREATE OR REPLACE FUNCTION crosstalk.resolve_mentions(
    p_app text, p_user text, p_channel text, p_text text)
RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT array_agg(DISTINCT best.id ORDER BY best.id)
    FROM (SELECT lower(x.part) AS rest,
                 rtrim(split_part(lower(x.part), ' ', 1), '.,;:!?)''"') AS w
          FROM unnest(string_to_array(p_text, '@')) WITH ORDINALITY AS x(part, k)
          CROSS JOIN LATERAL (SELECT (string_to_array(p_text, '@'))[x.k - 1] AS before) b
          WHERE x.k > 1 AND x.part ~ '^[^[:space:]@]'
            AND (b.before = '' OR b.before ~ '[[:space:](\[{<"'',;:]$')
          LIMIT 20) a
    CROSS JOIN LATERAL (
        SELECT u.id FROM crosstalk.users u
        WHERE (lower(u.display_name) ~>=~ a.w
               AND lower(u.display_name) ~<~ (a.w || chr(1114111))
               AND a.rest LIKE replace(replace(replace(lower(u.display_name),
                                   '\', '\\'), '%', '\%'), '_', '\_') || '%'
               AND substr(a.rest, char_length(u.display_name) + 1, 1) !~ '[[:alnum:]_]')
           OR lower(u.id) = a.w
        ORDER BY char_length(u.display_name) DESC LIMIT 1) best
    WHERE best.id <> p_user
      AND EXISTS (SELECT 1 FROM crosstalk.users u
                  CROSS JOIN LATERAL crosstalk.channel_refusal(u.app, u.id, p_channel) r
                  WHERE u.id = best.id AND r.state IS NULL)
$$;

-- The trigger of 015_mentions.sql: fills messages.mentions and tells each
-- person mentioned ('u' notice: crosstalk-wsd sends their connections a
-- "mention" frame; counts come with "unread").
CREATE OR REPLACE FUNCTION crosstalk.mentions_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.mentions := crosstalk.resolve_mentions(NEW.app, NEW.user_id, NEW.channel, NEW.text);
    IF NEW.mentions IS NOT NULL THEN
        PERFORM pg_notify('crosstalk', 'u ' || crosstalk.wire(NEW.channel) || ' '
                          || crosstalk.wire(u) || ' ' || NEW.id)
        FROM unnest(NEW.mentions) u;
    END IF;
    RETURN NEW;
END $$;

-- Unread mentions of p_user_id in p_channel: messages after the read
-- marker that mention the user and are not deleted.
CREATE OR REPLACE FUNCTION crosstalk.mention_count(p_user_id text, p_channel text) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT count(*)::int FROM crosstalk.messages m
    WHERE m.channel = p_channel AND m.mentions @> ARRAY[p_user_id]
      AND m.mentions IS NOT NULL AND m.deleted_at IS NULL
      AND m.seq > coalesce((SELECT r.seq FROM crosstalk.read_markers r
                            WHERE r.user_id = p_user_id AND r.channel = p_channel), 0)
$$;

-- GET mentions: the messages that mention user p_user_id of p_app, newest
-- first, in channels the user may still read; p_cursor (a message id from
-- "next") pages back. {"mentions": [{message event, "unread"}], "next"?}.
CREATE OR REPLACE FUNCTION crosstalk.mentions_of(
    p_app text, p_user_id text, p_cursor text, p_limit int)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    before bigint := 9223372036854775807;
    page json[];
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 50 THEN
        PERFORM crosstalk.fail(422, 'limit must be 1-50');
    END IF;
    IF coalesce(p_cursor, '') <> '' THEN
        IF p_cursor !~ '^[0-9]{1,18}$' THEN
            PERFORM crosstalk.fail(422, 'cursor is not one this server gave');
        END IF;
        before := p_cursor::bigint;
    END IF;
    SELECT array_agg(json_build_object(
               'message', crosstalk.event_json(x),
               'unread', x.seq > coalesce(r.seq, 0)) ORDER BY x.id DESC)
    INTO page
    FROM (SELECT m.* FROM crosstalk.messages m
          WHERE m.mentions @> ARRAY[p_user_id] AND m.mentions IS NOT NULL
            AND m.id < before AND m.deleted_at IS NULL
            AND m.channel IN (SELECT c.name FROM crosstalk.readable_channels(p_app, p_user_id) c)
          ORDER BY m.id DESC LIMIT p_limit + 1) x
    LEFT JOIN crosstalk.read_markers r ON r.user_id = p_user_id AND r.channel = x.channel;
    IF coalesce(cardinality(page), 0) > p_limit THEN
        RETURN json_build_object('mentions', array_to_json(page[1:p_limit]),
                                 'next', (page[p_limit] -> 'message' ->> 'id'));
    END IF;
    RETURN json_build_object('mentions', coalesce(array_to_json(page), '[]'));
END $$;

-- The channels user p_user_id of app p_app may read (p_user_id NULL: the
-- app key alone): named channels open to the app - private ones only to
-- their members (and to the app itself) - and the user's direct channels.
-- The one rule that lists them (channels_for, search_messages);
-- channel_refusal asks the same of one channel.
CREATE OR REPLACE FUNCTION crosstalk.readable_channels(p_app text, p_user_id text)
RETURNS TABLE (name text) LANGUAGE sql STABLE AS $$
    SELECT c.name FROM crosstalk.channels c
    WHERE c.name NOT LIKE 'dm:%' AND (c.apps IS NULL OR p_app = ANY (c.apps))
      AND (NOT c.private OR p_user_id IS NULL)
    UNION ALL
    SELECT c.name FROM crosstalk.channel_members m JOIN crosstalk.channels c ON c.name = m.channel
    WHERE p_user_id IS NOT NULL AND m.user_id = p_user_id
      AND (c.apps IS NULL OR p_app = ANY (c.apps))
    UNION ALL
    SELECT c.name FROM crosstalk.channels c
    WHERE p_user_id IS NOT NULL AND c.name LIKE 'dm:%'
      AND (split_part(c.name, ':', 2) = p_user_id
           OR substr(c.name, 5 + length(split_part(c.name, ':', 2))) = p_user_id)
$$;

DROP FUNCTION IF EXISTS crosstalk.channels_for(text, text); -- before 012: no archived
CREATE FUNCTION crosstalk.channels_for(p_app text, p_user_id text)
RETURNS TABLE (name text, title text, apps text[], last_seq bigint, unread int,
               archived boolean, private boolean, mentions int, read_seq bigint)
LANGUAGE sql STABLE AS $$
    SELECT c.name, c.title, c.apps, c.last_seq,
           CASE WHEN p_user_id IS NULL THEN 0
                ELSE crosstalk.unread_count(p_user_id, c.name) END,
           c.archived_at IS NOT NULL, c.private,
           CASE WHEN p_user_id IS NULL THEN 0
                ELSE crosstalk.mention_count(p_user_id, c.name) END,
           coalesce(m.seq, 0)
    FROM crosstalk.readable_channels(p_app, p_user_id) r
    JOIN crosstalk.channels c ON c.name = r.name
    LEFT JOIN crosstalk.read_markers m ON m.user_id = p_user_id AND m.channel = c.name
    ORDER BY c.name
$$;

-- --- search -------------------------------------------------------------------

-- The text search configuration of messages.tsv (011_search.sql): queries
-- are parsed with the same one.
CREATE OR REPLACE FUNCTION crosstalk.search_config() RETURNS regconfig
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT s.value FROM crosstalk.settings s WHERE s.name = 'search_config'),
                    'simple')::regconfig
$$;

-- Changes the configuration: the column is made anew with it (the whole
-- table is rewritten and the index rebuilt, under an exclusive lock). Run
-- by the schema's owner (crosstalkctl search-config NAME).
CREATE OR REPLACE FUNCTION crosstalk.set_search_config(p_config text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cfg regconfig;
BEGIN
    SELECT c.oid::regconfig INTO cfg FROM pg_ts_config c WHERE c.cfgname = p_config;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(404, format('no text search configuration %s (see \dF in psql)', p_config));
    END IF;
    ALTER TABLE crosstalk.messages DROP COLUMN tsv;
    EXECUTE format($f$ALTER TABLE crosstalk.messages ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        CASE WHEN kind = 'message' AND deleted_at IS NULL
             THEN to_tsvector(%L::regconfig, text) END) STORED$f$, cfg::text);
    CREATE INDEX messages_tsv ON crosstalk.messages USING gin (tsv) WITH (fastupdate = off)
        WHERE tsv IS NOT NULL; -- 020_gin_pending.sql
    INSERT INTO crosstalk.settings (name, value) VALUES ('search_config', cfg::text)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value;
END $$;

-- Messages matching p_q (web search syntax: words, "a phrase", -not, or)
-- in p_channel, or in every channel p_app / p_user_id may read: the best
-- ranked first, p_limit (1-50) at a time. p_cursor: the "next" of the
-- page before. Ranked are the 5,000 newest matches: a word in most
-- messages costs a walk back over the newest ones, not a rank for each of
-- its millions of matches. Each result: the message's event, its rank, and a
-- highlight, the best fragments of its text as [{text, hit}] pieces that a
-- client shows with hits marked (never as HTML).
CREATE OR REPLACE FUNCTION crosstalk.search_messages(
    p_app text, p_user_id text, p_q text, p_channel text, p_cursor text, p_limit int)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    cfg regconfig := crosstalk.search_config();
    q tsquery;
    c_rank real;
    c_id bigint;
    out json;
    next text;
    more boolean;
BEGIN
    IF p_q IS NULL OR btrim(p_q) = '' THEN
        PERFORM crosstalk.fail(422, 'q is required');
    END IF;
    IF char_length(p_q) > 200 OR p_q ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'q must be at most 200 characters without control characters');
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 50 THEN
        PERFORM crosstalk.fail(422, 'limit must be 1-50');
    END IF;
    IF coalesce(p_cursor, '') <> '' THEN
        IF p_cursor !~ '^[0-9.e+-]{1,24}_[0-9]{1,19}$' THEN
            PERFORM crosstalk.fail(422, 'cursor is not one a search answered');
        END IF;
        BEGIN
            c_rank := split_part(p_cursor, '_', 1)::real;
            c_id := split_part(p_cursor, '_', 2)::bigint;
        EXCEPTION WHEN others THEN
            PERFORM crosstalk.fail(422, 'cursor is not one a search answered');
        END;
    END IF;
    IF coalesce(p_channel, '') <> '' AND NOT crosstalk.check_read(p_app, p_user_id, p_channel) THEN
        RETURN json_build_object('results', '[]'::json);
    END IF;
    q := websearch_to_tsquery(cfg, p_q);
    IF numnode(q) = 0 THEN
        PERFORM crosstalk.fail(422, 'q has no words to search for');
    END IF;
    -- planned for these values each time (EXECUTE): how many messages
    -- hold the words decides between the index of words and a walk back
    -- over the newest messages, which a plan made once could not know
    EXECUTE $sql$
    WITH readable AS (
        SELECT $1 AS name WHERE coalesce($1, '') <> ''
        UNION ALL
        SELECT r.name FROM crosstalk.readable_channels($2, $3) r WHERE coalesce($1, '') = ''),
    newest AS (
        SELECT m.id, m.tsv
        FROM crosstalk.messages m
        WHERE m.tsv @@ $4 AND m.tsv IS NOT NULL
          AND m.channel IN (SELECT r.name FROM readable r)
        ORDER BY m.id DESC
        LIMIT 5000),
    hits AS (
        SELECT n.id, ts_rank(n.tsv, $4)::real AS rank FROM newest n),
    page AS (
        SELECT h.id, h.rank FROM hits h
        WHERE $5::bigint IS NULL OR (h.rank, h.id) < ($6::real, $5::bigint)
        ORDER BY h.rank DESC, h.id DESC
        LIMIT $7 + 1),
    numbered AS (
        SELECT p.id, p.rank, row_number() OVER (ORDER BY p.rank DESC, p.id DESC) AS n FROM page p)
    SELECT coalesce(json_agg(json_build_object(
               'message', crosstalk.event_json(m),
               'rank', x.rank,
               'highlight', crosstalk.highlight($8, m.text, $4))
               ORDER BY x.n) FILTER (WHERE x.n <= $7), '[]'::json),
           max(CASE WHEN x.n = $7 THEN x.rank::text || '_' || x.id END),
           coalesce(bool_or(x.n > $7), false)
    FROM numbered x JOIN crosstalk.messages m ON m.id = x.id
    $sql$ INTO out, next, more
    USING p_channel, p_app, p_user_id, q, c_id, c_rank, p_limit, cfg;
    IF NOT more THEN
        RETURN json_build_object('results', out);
    END IF;
    RETURN json_build_object('results', out, 'next', next);
END $$;

-- p_text around its first hit for q, as [{text, hit}] pieces that join to
-- the text as written (ts_headline would drop what its parser takes for
-- markup, such as "<b>"). The parser's tokens (ts_debug) are walked along
-- the text; a hyphenated word or a URL is followed by its parts (the words
-- of "invoice-ready", a URL's host and path), which tile it and lend it
-- their hits. A token is a hit when its lexemes are among those q
-- asks for (querytree: q without its negated part). About 280 characters
-- are kept, from 80 before the first hit; "…" stands for what was cut.
-- Should the walk ever lose its place, the text comes back whole, unmarked.
CREATE OR REPLACE FUNCTION crosstalk.highlight(cfg regconfig, p_text text, q tsquery) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    want text[];
    t record;
    pos int := 1;          -- next character of p_text to account for
    owed int := 0;         -- characters of parts still to come
    toks text[] := '{}';
    hits boolean[] := '{}';
    ats int[] := '{}';
    n int := 0;
    first_at int;
    lo int;
    out json[] := '{}';
    piece text := '';
    piece_hit boolean;
    i int;
BEGIN
    SELECT coalesce(array_agg(replace(m[1], '''''', '''')), '{}') INTO want
    FROM regexp_matches(querytree(q), '''((?:[^'']|'''')*)''', 'g') m;
    FOR t IN SELECT d.alias, d.token, coalesce(d.lexemes && want, false) AS hit
             FROM ts_debug(cfg, p_text) d LOOP
        IF owed > 0 THEN           -- a part of the token before
            owed := owed - char_length(t.token);
            hits[n] := hits[n] OR t.hit;
        ELSIF t.token <> '' AND substr(p_text, pos, char_length(t.token)) = t.token THEN
            n := n + 1;
            toks[n] := t.token;
            hits[n] := t.hit;
            ats[n] := pos - 1;
            pos := pos + char_length(t.token);
            -- these come with their parts after them, which tile them
            IF t.alias IN ('asciihword', 'hword', 'numhword', 'url') THEN
                owed := char_length(t.token);
            END IF;
        ELSE
            pos := -1;
            EXIT;
        END IF;
    END LOOP;
    IF pos <> char_length(p_text) + 1 THEN
        RETURN json_build_array(json_build_object('text', p_text, 'hit', false));
    END IF;
    SELECT min(x.at) INTO first_at FROM unnest(ats, hits) AS x(at, hit) WHERE x.hit;
    lo := greatest(0, coalesce(first_at, 0) - 80);
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN ats[i] + char_length(toks[i]) <= lo;
        IF ats[i] >= lo + 280 THEN
            IF piece <> '' THEN
                out := out || json_build_object('text', piece, 'hit', piece_hit);
                piece := '';
            END IF;
            out := out || json_build_object('text', '…', 'hit', false);
            EXIT;
        END IF;
        IF piece <> '' AND piece_hit IS DISTINCT FROM hits[i] THEN
            out := out || json_build_object('text', piece, 'hit', piece_hit);
            piece := '';
        END IF;
        IF piece = '' AND cardinality(out) = 0 AND ats[i] > 0 THEN
            out := out || json_build_object('text', '…', 'hit', false);
        END IF;
        piece := piece || toks[i];
        piece_hit := hits[i];
    END LOOP;
    IF piece <> '' THEN
        out := out || json_build_object('text', piece, 'hit', piece_hit);
    END IF;
    RETURN array_to_json(out);
END $$;

-- --- the directory -------------------------------------------------------------

-- Remember a user seen at a login or ticket (013_directory.sql): its name
-- and app now, and the avatar and title when the app passed them (NULL
-- keeps what it had). A row seen within the minute with nothing new is
-- left alone: a page view per second does not rewrite it.
CREATE OR REPLACE FUNCTION crosstalk.user_seen(
    p_app text, p_user_id text, p_name text, p_avatar_url text, p_title text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_avatar_url IS NOT NULL AND (char_length(p_avatar_url) > 500
       OR p_avatar_url !~ '^https?://[^[:space:][:cntrl:]"''<>\\]+$') THEN
        PERFORM crosstalk.fail(422, 'avatar_url must be an http(s) URL of at most 500 characters');
    END IF;
    IF char_length(p_title) > 100 OR p_title ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'title must be at most 100 characters without control characters');
    END IF;
    INSERT INTO crosstalk.users AS u (id, app, apps, display_name, avatar_url, title)
    VALUES (p_user_id, p_app, ARRAY[p_app], p_name, nullif(p_avatar_url, ''), nullif(p_title, ''))
    ON CONFLICT (id) DO UPDATE SET
        app = excluded.app,
        apps = CASE WHEN excluded.app = ANY (u.apps) THEN u.apps
                    ELSE u.apps || excluded.app END,
        display_name = excluded.display_name,
        avatar_url = CASE WHEN p_avatar_url IS NULL THEN u.avatar_url ELSE excluded.avatar_url END,
        title = CASE WHEN p_title IS NULL THEN u.title ELSE excluded.title END,
        last_seen = now()
    WHERE u.last_seen < now() - interval '1 minute'
       OR u.app <> excluded.app OR u.display_name <> excluded.display_name
       OR (p_avatar_url IS NOT NULL AND u.avatar_url IS DISTINCT FROM excluded.avatar_url)
       OR (p_title IS NOT NULL AND u.title IS DISTINCT FROM excluded.title);
END $$;

-- The apps whose users a user of p_app may find: its own, and every app it
-- shares a named channel with (all of them while a channel is open to
-- every app). Nobody is found whom no channel could let you meet.
CREATE OR REPLACE FUNCTION crosstalk.visible_apps(p_app text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(a.id), ARRAY[p_app]) FROM crosstalk.apps a
    WHERE a.id = p_app
       OR EXISTS (SELECT 1 FROM crosstalk.channels c
                  WHERE c.name NOT LIKE 'dm:%' AND c.archived_at IS NULL
                    AND (c.apps IS NULL OR (p_app = ANY (c.apps) AND a.id = ANY (c.apps))))
$$;

-- A page of the directory for a user (or the app key) of p_app: users
-- whose name, or a word of it, or whose id (with or without its app/)
-- starts with p_q (any case; ''
-- lists everyone), online first, then by name. p_cursor: where the page
-- starts (the "next" of the page before). {"users": [...], "next"?}.
DROP FUNCTION IF EXISTS crosstalk.search_users(text, text, text, int, int);
CREATE OR REPLACE FUNCTION crosstalk.search_users(
    p_app text, p_q text, p_cursor text, p_limit int)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    q text := lower(coalesce(p_q, ''));
    pat text;
    skip int := 0;
    vis text[] := crosstalk.visible_apps(p_app);
    page json[];
BEGIN
    IF char_length(q) > 100 OR q ~ '[[:cntrl:]]' THEN
        PERFORM crosstalk.fail(422, 'q must be at most 100 characters without control characters');
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 50 THEN
        PERFORM crosstalk.fail(422, 'limit must be 1-50');
    END IF;
    IF p_cursor IS NOT NULL AND p_cursor <> '' THEN
        IF p_cursor !~ '^[0-9]{1,5}$' OR p_cursor::int > 10000 THEN
            PERFORM crosstalk.fail(422, 'cursor is not one this server gave');
        END IF;
        skip := p_cursor::int;
    END IF;
    pat := replace(replace(replace(q, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    SELECT array_agg(json_strip_nulls(json_build_object(
               'app', x.app, 'id', x.id, 'name', x.display_name,
               'avatar_url', x.avatar_url, 'title', x.title, 'online', x.online,
               'last_seen', crosstalk.iso(x.last_seen),
               'last_seen_ms', crosstalk.ms(x.last_seen)))
               ORDER BY x.online DESC, lower(x.display_name), x.id)
    INTO page
    FROM (SELECT u.*, crosstalk.online(u.id) AS online
              FROM crosstalk.users u
              WHERE u.apps && vis
                AND (q = '' OR lower(u.display_name) LIKE pat OR lower(u.id) LIKE pat
                     OR lower(u.display_name) LIKE '% ' || pat
                     OR lower(substr(u.id, position('/' IN u.id) + 1)) LIKE pat)
              ORDER BY online DESC, lower(u.display_name), u.id
              OFFSET skip LIMIT p_limit + 1) x;
    IF coalesce(cardinality(page), 0) > p_limit THEN
        RETURN json_build_object('users', array_to_json(page[1:p_limit]),
                                 'next', (skip + p_limit)::text);
    END IF;
    RETURN json_build_object('users', coalesce(array_to_json(page), '[]'));
END $$;

-- --- webhooks (017_webhooks.sql) ----------------------------------------------

-- Is any hook registered? Asked by every INSERT into messages (the outbox
-- trigger) and by logins and logouts. PL/pgSQL, so that its plan is kept
-- per connection: as a SQL function (017's first version) it could not be
-- inlined (a subquery) and was parsed and planned anew in every
-- transaction that asked.
CREATE OR REPLACE FUNCTION crosstalk.hooks_exist() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM crosstalk.hooks);
END $$;

-- The trigger, once per INSERT statement: each message or member change it
-- added, written to the outbox of every
-- hook that wants its kind and whose app may read the channel (a direct
-- channel: the apps its two people were seen in); and a mention of someone
-- with no open connection to the hooks of that person's app, so that the
-- app can send them an e-mail. In the transaction of the message itself.
CREATE OR REPLACE FUNCTION crosstalk.outbox_on_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r crosstalk.messages;
    ev jsonb;
BEGIN
    IF NOT crosstalk.hooks_exist() THEN
        RETURN NULL;
    END IF;
    FOR r IN SELECT * FROM added a WHERE a.kind IN ('message', 'member')
             ORDER BY a.channel, a.seq LOOP
        ev := crosstalk.event_json(r)::jsonb;
        INSERT INTO crosstalk.outbox (hook_id, event, channel, payload)
        SELECT h.id, r.kind, r.channel,
               jsonb_build_object('type', r.kind, 'app', h.app, 'event', ev)
        FROM crosstalk.hooks h JOIN crosstalk.channels c ON c.name = r.channel
        WHERE r.kind = ANY (h.events)
          AND CASE WHEN c.name LIKE 'dm:%'
                   THEN EXISTS (SELECT 1 FROM crosstalk.users u
                                WHERE u.id = ANY (crosstalk.dm_members(c.name)) AND h.app = ANY (u.apps))
                   ELSE (c.apps IS NULL OR h.app = ANY (c.apps))
                        AND (NOT c.private OR r.kind = 'member' OR EXISTS (
                             SELECT 1 FROM crosstalk.channel_members m JOIN crosstalk.users u ON u.id = m.user_id
                             WHERE m.channel = c.name AND h.app = ANY (u.apps)))
              END;
        IF r.kind = 'message' AND r.mentions IS NOT NULL THEN
            INSERT INTO crosstalk.outbox (hook_id, event, channel, payload)
            SELECT h.id, 'mention', r.channel,
                   jsonb_build_object('type', 'mention', 'app', h.app,
                                      'user', jsonb_build_object('id', u.id, 'name', u.display_name),
                                      'event', ev)
            FROM unnest(r.mentions) AS m(uid)
            JOIN crosstalk.users u ON u.id = m.uid
            JOIN crosstalk.hooks h ON h.app = u.app AND 'mention' = ANY (h.events)
            WHERE NOT crosstalk.online(u.id);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- A login registered or ended, for the hooks of its app that want it.
CREATE OR REPLACE FUNCTION crosstalk.outbox_session(p_app text, p_action text, p_user text, p_name text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO crosstalk.outbox (hook_id, event, payload)
    SELECT h.id, 'session', jsonb_build_object('type', 'session', 'app', p_app, 'action', p_action,
                                               'user', jsonb_build_object('id', p_user, 'name', p_name))
    FROM crosstalk.hooks h WHERE h.app = p_app AND 'session' = ANY (h.events)
$$;

-- Register a hook: its id and the secret that signs its deliveries (shown
-- once by crosstalkctl; kept here to sign).
CREATE OR REPLACE FUNCTION crosstalk.hook_add(p_app text, p_url text, p_events text[],
                                              OUT id bigint, OUT secret text)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM crosstalk.apps a WHERE a.id = p_app) THEN
        PERFORM crosstalk.fail(404, 'no such app');
    END IF;
    IF p_url IS NULL OR p_url !~ '^https?://[^[:space:][:cntrl:]]+$' OR char_length(p_url) > 500 THEN
        PERFORM crosstalk.fail(422, 'url must be an http(s) URL of at most 500 characters');
    END IF;
    IF p_events IS NULL OR cardinality(p_events) = 0
       OR NOT p_events <@ ARRAY['message', 'mention', 'member', 'session'] THEN
        PERFORM crosstalk.fail(422, 'events are some of message, mention, member, session');
    END IF;
    secret := 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    INSERT INTO crosstalk.hooks (app, url, events, secret)
    VALUES (p_app, p_url, (SELECT array_agg(DISTINCT e ORDER BY e) FROM unnest(p_events) e), secret)
    RETURNING hooks.id INTO id;
END $$;

-- A channel hook of p_app for the channels p_pattern names (a name, a
-- prefix ending in *, or * for all): the daemons call it before a user's
-- publish or subscribe there (docs/API.md, channel hooks). One hook a
-- pattern; the most specific pattern of a channel answers for it.
CREATE OR REPLACE FUNCTION crosstalk.channel_hook_add(
    p_app text, p_pattern text, p_url text, p_events text[], p_timeout_ms int,
    p_fail_open boolean, OUT id bigint, OUT secret text)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM crosstalk.apps a WHERE a.id = p_app) THEN
        PERFORM crosstalk.fail(404, 'no such app');
    END IF;
    IF p_pattern IS NULL OR p_pattern !~ '^(\*|[^*[:space:][:cntrl:]]{1,128}\*?)$' THEN
        PERFORM crosstalk.fail(422, 'pattern is a channel name, a prefix ending in *, or *');
    END IF;
    IF p_url IS NULL OR p_url !~ '^https?://[^[:space:][:cntrl:]]+$' OR char_length(p_url) > 500 THEN
        PERFORM crosstalk.fail(422, 'url must be an http(s) URL of at most 500 characters');
    END IF;
    IF p_events IS NULL OR cardinality(p_events) = 0
       OR NOT p_events <@ ARRAY['publish', 'subscribe'] THEN
        PERFORM crosstalk.fail(422, 'events are publish, subscribe or both');
    END IF;
    IF p_timeout_ms IS NULL OR p_timeout_ms NOT BETWEEN 50 AND 30000 THEN
        PERFORM crosstalk.fail(422, 'timeout is 50-30000 ms');
    END IF;
    IF EXISTS (SELECT 1 FROM crosstalk.channel_hooks h WHERE h.pattern = p_pattern) THEN
        PERFORM crosstalk.fail(409, 'a hook for this pattern exists: remove it first');
    END IF;
    secret := 'chsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    INSERT INTO crosstalk.channel_hooks (app, pattern, url, events, secret, timeout_ms, fail_open)
    VALUES (p_app, p_pattern, p_url, (SELECT array_agg(DISTINCT e ORDER BY e) FROM unnest(p_events) e),
            secret, p_timeout_ms, coalesce(p_fail_open, true))
    RETURNING channel_hooks.id INTO id;
END $$;

-- Up to p_limit deliveries that are due, claimed for p_lease seconds (a
-- worker that dies leaves them due again: at least once). Per hook and
-- channel one at a time, oldest first: the order of a channel is kept,
-- retries included. Each claim counts an attempt.
CREATE OR REPLACE FUNCTION crosstalk.outbox_claim(p_limit int, p_lease int)
RETURNS TABLE (id bigint, url text, secret text, event text, body text, attempts int)
LANGUAGE sql AS $$
    WITH due AS (
        SELECT o.id FROM crosstalk.outbox o
        WHERE o.state = 'pending' AND o.next_at <= now()
          AND NOT EXISTS (SELECT 1 FROM crosstalk.outbox e
                          WHERE e.hook_id = o.hook_id AND e.channel = o.channel
                            AND e.state = 'pending' AND e.id < o.id)
        ORDER BY o.id LIMIT p_limit
        FOR UPDATE SKIP LOCKED),
    took AS (
        UPDATE crosstalk.outbox o
        SET next_at = now() + make_interval(secs => p_lease), attempts = o.attempts + 1
        FROM due WHERE o.id = due.id RETURNING o.*)
    SELECT t.id, h.url, h.secret, t.event,
           (t.payload || jsonb_build_object('id', t.id::text, 'created_at', crosstalk.iso(t.created_at)))::text,
           t.attempts
    FROM took t JOIN crosstalk.hooks h ON h.id = t.hook_id
    ORDER BY t.id
$$;

-- The outcome of one delivery: a 2xx delivers it; anything else is tried
-- again after p_retry_ms ([hooks] retry_ms, 2 s) doubled for every attempt
-- before (2, 4, 8 ... s; at most an hour) with 20 % jitter, and parked
-- after p_max attempts or at once on 410 Gone.
DROP FUNCTION IF EXISTS crosstalk.outbox_done(bigint, int, text, int); -- before retry_ms
CREATE OR REPLACE FUNCTION crosstalk.outbox_done(p_id bigint, p_status int, p_error text, p_max int,
                                                 p_retry_ms int DEFAULT 2000)
RETURNS void LANGUAGE sql AS $$
    UPDATE crosstalk.outbox o SET
        state = CASE WHEN p_status BETWEEN 200 AND 299 THEN 'delivered'
                     WHEN p_status = 410 OR o.attempts >= p_max THEN 'parked'
                     ELSE 'pending' END,
        delivered_at = CASE WHEN p_status BETWEEN 200 AND 299 THEN now() END,
        next_at = now() + make_interval(secs => least(3600, p_retry_ms / 1000.0
                                                              * power(2, o.attempts - 1))
                                                * (0.8 + random() * 0.4)),
        last_status = p_status, last_error = left(p_error, 300)
    WHERE o.id = p_id AND o.state = 'pending'
$$;

-- --- sessions and tickets ----------------------------------------------------

DROP FUNCTION IF EXISTS crosstalk.register_session(text, text, text, int); -- before 013
CREATE OR REPLACE FUNCTION crosstalk.register_session(
    app text, user_id text, display_name text, ttl_seconds int DEFAULT 86400,
    avatar_url text DEFAULT NULL, title text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ref text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM crosstalk.apps a WHERE a.id = $1) THEN
        PERFORM crosstalk.fail(404, 'no such app');
    END IF;
    PERFORM crosstalk.check_user($2, $3);
    PERFORM crosstalk.refuse(CASE WHEN h.refusal IS NOT NULL THEN 'CT422' END, h.refusal)
    FROM crosstalk.hub_user($1, $2) h;
    PERFORM crosstalk.check_user(h.user_id, $3) FROM crosstalk.hub_user($1, $2) h;
    IF ttl_seconds IS NULL OR ttl_seconds NOT BETWEEN 60 AND 31 * 86400 THEN
        PERFORM crosstalk.fail(422, 'ttl must be 60..2678400 seconds');
    END IF;
    -- two v4 UUIDs from the server's strong random source: 244 random bits
    ref := 'cs_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
    INSERT INTO crosstalk.sessions (ref_hash, app, user_id, display_name, expires_at, ttl_seconds)
    VALUES (encode(sha256(convert_to(ref, 'UTF8')), 'hex'), $1, $2, $3,
            now() + make_interval(secs => $4), $4);
    PERFORM crosstalk.user_seen($1, h.user_id, $3, $5, $6) FROM crosstalk.hub_user($1, $2) h;
    IF crosstalk.hooks_exist() THEN
        PERFORM crosstalk.outbox_session($1, 'login', h.user_id, $3) FROM crosstalk.hub_user($1, $2) h;
    END IF;
    RETURN ref;
END $$;

-- Slides a live login, as a web framework slides its own sessions on
-- activity: its expiry moves to now() + its ttl (p_ttl, when given, becomes
-- the login's ttl), never earlier than it was. Logged in means what the
-- resolver says (CT401 otherwise). Returns the new expiry and ttl, or NULLs
-- for a ref that only a deployer's resolver knows: the app's own session
-- table keeps that expiry, and the app slides it there.
CREATE OR REPLACE FUNCTION crosstalk.touch_session(
    app text, ref text, p_ttl int DEFAULT NULL, OUT expires timestamptz, OUT ttl int)
LANGUAGE plpgsql AS $$
DECLARE
    h text := encode(sha256(convert_to(coalesce($2, ''), 'UTF8')), 'hex');
BEGIN
    IF p_ttl IS NOT NULL AND p_ttl NOT BETWEEN 60 AND 31 * 86400 THEN
        PERFORM crosstalk.fail(422, 'ttl must be 60..2678400 seconds');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM crosstalk.resolve_session($1, $2)) THEN
        PERFORM crosstalk.fail(401, 'session is not logged in');
    END IF;
    UPDATE crosstalk.sessions s
    SET ttl_seconds = coalesce(p_ttl, s.ttl_seconds),
        expires_at = greatest(s.expires_at,
                              now() + make_interval(secs => coalesce(p_ttl, s.ttl_seconds)))
    WHERE s.ref_hash = h AND s.app = $1 AND s.ended_at IS NULL AND s.expires_at > now()
    RETURNING s.expires_at, s.ttl_seconds INTO expires, ttl;
END $$;

-- Ends a login: its unredeemed tickets go, and every daemon node closes its
-- connections (NOTIFY), whichever resolver is in use. True if a session in
-- crosstalk's own table was live.
CREATE OR REPLACE FUNCTION crosstalk.end_session(app text, ref text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    h text := encode(sha256(convert_to(coalesce($2, ''), 'UTF8')), 'hex');
    n int;
BEGIN
    UPDATE crosstalk.sessions s SET ended_at = now()
    WHERE s.ref_hash = h AND s.app = $1 AND s.ended_at IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 AND crosstalk.hooks_exist() THEN
        PERFORM crosstalk.outbox_session($1, 'logout', u.user_id, s.display_name)
        FROM crosstalk.sessions s CROSS JOIN LATERAL crosstalk.hub_user(s.app, s.user_id) u
        WHERE s.ref_hash = h AND s.app = $1;
    END IF;
    DELETE FROM crosstalk.tickets t WHERE t.ref_hash = h AND t.app = $1;
    PERFORM pg_notify('crosstalk', 'e ' || crosstalk.wire($1) || ' ' || h);
    RETURN n > 0;
END $$;

-- Tickets: the HTTP API generates the random value and the sealed ref.
-- A ticket is asked for by a page in use, so it also slides a live login of
-- crosstalk's own table (as touch_session does), when that gains more than
-- a minute: a page view per second does not rewrite the row each time.
DROP FUNCTION IF EXISTS crosstalk.mint_ticket(text, text, text, text, int); -- before 013
CREATE OR REPLACE FUNCTION crosstalk.mint_ticket(
    p_hash text, p_app text, p_ref text, p_ref_box text, p_ttl int,
    p_avatar_url text DEFAULT NULL, p_title text DEFAULT NULL,
    OUT user_id text, OUT display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    h text := encode(sha256(convert_to(p_ref, 'UTF8')), 'hex');
    why text;
BEGIN
    SELECT r.user_id, r.display_name, r.refusal INTO user_id, display_name, why
    FROM crosstalk.session_user(p_app, p_ref) r;
    IF NOT FOUND THEN
        PERFORM crosstalk.fail(401, 'session is not logged in');
    END IF;
    IF why IS NOT NULL THEN
        PERFORM crosstalk.fail(422, why);
    END IF;
    UPDATE crosstalk.sessions s
    SET expires_at = now() + make_interval(secs => s.ttl_seconds)
    WHERE s.ref_hash = h AND s.app = p_app AND s.ended_at IS NULL
      AND s.expires_at > now()
      AND s.expires_at < now() + make_interval(secs => s.ttl_seconds - 60);
    INSERT INTO crosstalk.tickets (hash, app, user_id, display_name, ref_hash, ref_box, expires_at)
    VALUES (p_hash, p_app, user_id, display_name, h, p_ref_box,
            now() + make_interval(secs => p_ttl));
    PERFORM crosstalk.user_seen(p_app, user_id, display_name, p_avatar_url, p_title);
END $$;

-- Single use: the row is gone whatever the outcome.
CREATE OR REPLACE FUNCTION crosstalk.redeem_ticket(p_hash text)
RETURNS TABLE (app text, user_id text, display_name text, ref_hash text, ref_box text)
LANGUAGE sql AS $$
    WITH t AS (DELETE FROM crosstalk.tickets WHERE hash = p_hash RETURNING *)
    SELECT t.app, t.user_id, t.display_name, t.ref_hash, t.ref_box
    FROM t WHERE t.expires_at > now()
$$;

-- Batched re-check of live logins: of the (app, ref) pairs given, those the
-- resolver no longer returns, named by app and sha256(ref).
CREATE OR REPLACE FUNCTION crosstalk.ended_sessions(p_apps text[], p_refs text[])
RETURNS TABLE (app text, ref_hash text)
LANGUAGE sql AS $$
    SELECT x.app, encode(sha256(convert_to(x.ref, 'UTF8')), 'hex')
    FROM unnest(p_apps, p_refs) AS x(app, ref)
    WHERE NOT EXISTS (SELECT 1 FROM crosstalk.resolve_session(x.app, x.ref))
$$;

-- --- crosstalk-wsd -------------------------------------------------------------

-- Subscribe: may the user read the channel (nothing is created), and the
-- channel's current last seq (0 for a DM nobody wrote to yet).
CREATE OR REPLACE FUNCTION crosstalk.ws_subscribe(p_app text, p_user_id text, p_channel text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT crosstalk.check_read(p_app, p_user_id, p_channel) THEN
        RETURN 0;
    END IF;
    RETURN (SELECT c.last_seq FROM crosstalk.channels c WHERE c.name = p_channel);
END $$;

-- read: access check, then the read marker (mark_read NOTIFYs
-- 'r <channel> <user id>' so every node updates the user's connections).
-- A DM nobody wrote to has nothing to mark.
CREATE OR REPLACE FUNCTION crosstalk.ws_read(p_app text, p_user_id text, p_channel text, p_seq bigint)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF NOT crosstalk.check_read(p_app, p_user_id, p_channel) THEN
        RETURN 0;
    END IF;
    RETURN crosstalk.mark_read(p_user_id, p_channel, p_seq);
END $$;

-- history: access check, then up to p_limit events before p_before.
CREATE OR REPLACE FUNCTION crosstalk.ws_history(p_app text, p_user_id text, p_channel text,
                                                p_before bigint, p_limit int)
RETURNS TABLE (seq bigint, event text) LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM crosstalk.check_read(p_app, p_user_id, p_channel);
    RETURN QUERY SELECT * FROM crosstalk.events_before(p_channel, p_before, p_limit);
END $$;

-- typing reaches the channel's subscribers on every node, never stored.
CREATE OR REPLACE FUNCTION crosstalk.ws_typing(p_channel text, p_user json) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('crosstalk', 't ' || crosstalk.wire(p_channel) || ' ' || p_user::text)
$$;

-- --- presence --------------------------------------------------------------------

-- Users online in a channel across all live nodes.
CREATE OR REPLACE FUNCTION crosstalk.presence_of(p_channel text, p_ttl int DEFAULT 45)
RETURNS TABLE (app text, user_id text, display_name text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (p.app, p.user_id) p.app, p.user_id, p.display_name
    FROM crosstalk.presence p JOIN crosstalk.nodes n USING (node_id)
    WHERE p.channel = p_channel
      AND n.heartbeat_at > now() - make_interval(secs => p_ttl)
    ORDER BY p.app, p.user_id
$$;

-- A node announces itself (and forgets rows a previous run left behind).
CREATE OR REPLACE FUNCTION crosstalk.node_up(p_node text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c text;
BEGIN
    FOR c IN DELETE FROM crosstalk.presence WHERE node_id = p_node RETURNING channel LOOP
        PERFORM pg_notify('crosstalk', 'p ' || crosstalk.wire(c));
    END LOOP;
    INSERT INTO crosstalk.nodes (node_id) VALUES (p_node)
    ON CONFLICT (node_id) DO UPDATE SET started_at = now(), heartbeat_at = now();
END $$;

CREATE OR REPLACE FUNCTION crosstalk.node_heartbeat(p_node text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO crosstalk.nodes (node_id) VALUES (p_node)
    ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()
$$;

-- A node that stops cleanly takes its users with it.
CREATE OR REPLACE FUNCTION crosstalk.node_down(p_node text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c text;
BEGIN
    FOR c IN SELECT DISTINCT channel FROM crosstalk.presence WHERE node_id = p_node LOOP
        PERFORM pg_notify('crosstalk', 'p ' || crosstalk.wire(c));
    END LOOP;
    DELETE FROM crosstalk.nodes WHERE node_id = p_node;
END $$;

-- presence rows for many connections at once, applied in order (a node
-- batches its joins and leaves); one 'p <channel>' per channel touched.
CREATE OR REPLACE FUNCTION crosstalk.presence_apply(
    p_node text, p_conns bigint[], p_channels text[], p_apps text[],
    p_users text[], p_names text[], p_on boolean[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    c text;
BEGIN
    INSERT INTO crosstalk.nodes (node_id) VALUES (p_node) ON CONFLICT DO NOTHING;
    FOR i IN 1 .. coalesce(array_length(p_conns, 1), 0) LOOP
        IF p_on[i] THEN
            INSERT INTO crosstalk.presence (node_id, conn_id, channel, app, user_id, display_name)
            VALUES (p_node, p_conns[i], p_channels[i], p_apps[i], p_users[i], p_names[i])
            ON CONFLICT DO NOTHING;
        ELSE
            DELETE FROM crosstalk.presence
            WHERE node_id = p_node AND conn_id = p_conns[i] AND channel = p_channels[i];
        END IF;
    END LOOP;
    FOR c IN SELECT DISTINCT x FROM unnest(p_channels) x LOOP
        PERFORM pg_notify('crosstalk', 'p ' || crosstalk.wire(c));
    END LOOP;
END $$;

-- One connection's presence in one channel: on = true adds the row, false
-- removes it. Every node watching the channel hears 'p <channel>'.
CREATE OR REPLACE FUNCTION crosstalk.presence_set(
    p_node text, p_conn bigint, p_channel text, p_app text, p_user_id text,
    p_display_name text, p_on boolean) RETURNS void
LANGUAGE sql AS $$
    SELECT crosstalk.presence_apply(p_node, ARRAY[p_conn], ARRAY[p_channel], ARRAY[p_app],
                                    ARRAY[p_user_id], ARRAY[p_display_name], ARRAY[p_on])
$$;

-- --- retention ---------------------------------------------------------------------

-- Messages older than p_days, and expired sessions and tickets. An edit or
-- delete event that outlives its message stays in the stream (seqs stay
-- gapless) and is shown from its own row (event_json).
CREATE OR REPLACE FUNCTION crosstalk.prune(p_days int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF p_days IS NULL OR p_days < 0 THEN
        PERFORM crosstalk.fail(422, 'days must be >= 0');
    END IF;
    DELETE FROM crosstalk.messages WHERE created_at < now() - make_interval(days => p_days);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- a message's files went with it (ON DELETE CASCADE); uploads that no
    -- message took within a day go now
    DELETE FROM crosstalk.attachments
    WHERE message_id IS NULL AND created_at < now() - interval '1 day';
    DELETE FROM crosstalk.sessions WHERE expires_at < now() - interval '1 day'
                                      OR ended_at < now() - interval '1 day';
    DELETE FROM crosstalk.tickets WHERE expires_at < now();
    DELETE FROM crosstalk.rate_limits WHERE window_start < now() - interval '1 day';
    DELETE FROM crosstalk.nodes WHERE heartbeat_at < now() - interval '1 day';
    RETURN n;
END $$;

-- --- least privilege -----------------------------------------------------------------
-- Three kinds of database role touch crosstalk:
--   the owner    runs `crosstalkctl migrate`, owns schema crosstalk and
--                every object in it (and so the SECURITY DEFINER resolver);
--   runtime      crosstalk-fcgi and crosstalk-wsd: owns nothing, may use the
--                schema, execute its functions and read/write the live
--                tables; reads apps (keys, origins) and migrations only;
--   apps' roles  may be given the runtime grants too, to call the SQL
--                functions in their own transactions.
-- `crosstalkctl grant ROLE` (as the owner) calls grant_runtime(), which
-- records the role; every later `migrate` grants again, so objects added by
-- later migrations reach the recorded roles. `crosstalkctl check` reports
-- what privilege_report() finds missing or in excess.

-- What a runtime role may do with each table of the schema. A table not
-- listed here (added by a later migration) gets SELECT/INSERT/UPDATE/DELETE;
-- list it to narrow that. NULL privileges: none at all.
CREATE OR REPLACE FUNCTION crosstalk.runtime_table_privileges()
RETURNS TABLE (tbl name, privileges text[])
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH narrowed (tbl, privileges) AS (VALUES
        ('apps'::name,      ARRAY['SELECT']),
        ('migrations',      ARRAY['SELECT']),
        ('code',            ARRAY['SELECT']),
        ('runtime_roles',   NULL::text[]),
        ('sessions',        ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('channels',        ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('messages',        ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('read_markers',    ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('settings',        ARRAY['SELECT']))
    SELECT c.relname,
           CASE WHEN n.tbl IS NULL THEN ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']
                ELSE n.privileges END
    FROM pg_class c
    JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'crosstalk'
    LEFT JOIN narrowed n ON n.tbl = c.relname
    WHERE c.relkind IN ('r', 'p')
    ORDER BY c.relname
$$;

-- Grant p_role exactly the runtime privileges (and take back any other
-- table privilege it had). Run by the owner; records p_role.
CREATE OR REPLACE FUNCTION crosstalk.grant_runtime(p_role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
    f record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        RAISE EXCEPTION USING ERRCODE = 'CT404',
            MESSAGE = format('role %I does not exist (CREATE ROLE %I LOGIN first)', p_role, p_role);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'crosstalk'
               AND nspowner = (SELECT oid FROM pg_roles WHERE rolname = p_role)) THEN
        RAISE EXCEPTION USING ERRCODE = 'CT422',
            MESSAGE = format('role %I owns schema crosstalk: the daemons need a role of their own', p_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA crosstalk TO %I', p_role);
    EXECUTE format('REVOKE CREATE ON SCHEMA crosstalk FROM %I', p_role);
    FOR r IN SELECT * FROM crosstalk.runtime_table_privileges() LOOP
        EXECUTE format('REVOKE ALL ON TABLE crosstalk.%I FROM %I', r.tbl, p_role);
        IF r.privileges IS NOT NULL THEN
            EXECUTE format('GRANT %s ON TABLE crosstalk.%I TO %I',
                           array_to_string(r.privileges, ', '), r.tbl, p_role);
        END IF;
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA crosstalk TO %I', p_role);
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'crosstalk'
             WHERE p.proname <> 'grant_runtime' LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.sig, p_role);
    END LOOP;
    INSERT INTO crosstalk.runtime_roles (role) VALUES (p_role)
    ON CONFLICT (role) DO UPDATE SET granted_at = now();
END $$;
REVOKE ALL ON FUNCTION crosstalk.grant_runtime(name) FROM PUBLIC;

-- What p_role lacks for the runtime, and what it holds beyond it:
-- (problem 'missing' | 'excess', object, privilege). No rows: as it should be.
CREATE OR REPLACE FUNCTION crosstalk.privilege_report(p_role name)
RETURNS TABLE (problem text, object text, privilege text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT 'missing', 'schema crosstalk', 'USAGE'
    WHERE NOT has_schema_privilege(p_role, 'crosstalk', 'USAGE')
    UNION ALL
    SELECT 'missing', 'table crosstalk.' || t.tbl, p.priv
    FROM crosstalk.runtime_table_privileges() t, unnest(t.privileges) p(priv)
    WHERE NOT has_table_privilege(p_role, ('crosstalk.' || quote_ident(t.tbl))::regclass, p.priv)
    UNION ALL
    SELECT 'missing', 'sequence crosstalk.' || c.relname, 'USAGE'
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'crosstalk'
    WHERE c.relkind = 'S'
      AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(p_role, c.oid, 'USAGE') END
    UNION ALL
    SELECT 'missing', 'function ' || p.oid::regprocedure::text, 'EXECUTE'
    FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'crosstalk'
    WHERE p.proname <> 'grant_runtime' AND NOT has_function_privilege(p_role, p.oid, 'EXECUTE')
    UNION ALL
    SELECT 'excess', 'role ' || quote_ident(p_role), 'SUPERUSER'
    FROM pg_roles WHERE rolname = p_role AND rolsuper
    UNION ALL
    SELECT 'excess', 'schema crosstalk', 'CREATE'
    WHERE has_schema_privilege(p_role, 'crosstalk', 'CREATE')
    UNION ALL
    SELECT 'excess', 'table crosstalk.' || t.tbl, p.priv
    FROM crosstalk.runtime_table_privileges() t,
         unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
    WHERE NOT (p.priv = ANY (coalesce(t.privileges, '{}')))
      AND has_table_privilege(p_role, ('crosstalk.' || quote_ident(t.tbl))::regclass, p.priv)
      AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role AND rolsuper)
    UNION ALL
    SELECT 'excess', 'owns ' || c.relname, 'OWNER'
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'crosstalk'
    WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = p_role)
      AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
$$;
