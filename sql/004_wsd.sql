-- 004_wsd.sql - what crosstalk-wsd asks of the database in one round trip
-- each: publish with the shared rate limit, subscribe checks, stream reads,
-- batched login re-checks, node heartbeats and presence rows.

-- Publish from a WebSocket: the shared per-user rate limit (the same key the
-- HTTP API uses), then post_message_ex, in one statement. retry_after > 0:
-- rate limited, nothing stored.
CREATE FUNCTION crosstalk.ws_publish(
    p_app text, p_user_id text, p_display_name text, p_channel text,
    p_text text, p_client_id text, p_limit int, p_window int,
    OUT retry_after int, OUT id bigint, OUT seq bigint, OUT channel text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    retry_after := crosstalk.rate_take('pub:' || p_app || ':' || p_user_id,
                                       p_limit, p_window);
    IF retry_after > 0 THEN
        RETURN;
    END IF;
    r := crosstalk.post_message_ex(p_app, p_user_id, p_display_name, p_channel,
                                   p_text, p_client_id);
    id := (r.msg).id;
    seq := (r.msg).seq;
    channel := (r.msg).channel;
END $$;

-- Subscribe: access check (creates a DM channel on first use), then the
-- channel's current last seq.
CREATE FUNCTION crosstalk.ws_subscribe(p_app text, p_user_id text, p_channel text)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crosstalk.check_access(p_app, p_user_id, p_channel);
    RETURN (SELECT c.last_seq FROM crosstalk.channels c WHERE c.name = p_channel);
END $$;

-- Stream events of one channel with seq > p_after, oldest first, at most
-- p_limit: the replay and the live fetch both read through this.
CREATE FUNCTION crosstalk.events_after(p_channel text, p_after bigint, p_limit int)
RETURNS TABLE (seq bigint, event text)
LANGUAGE sql STABLE AS $$
    SELECT m.seq, crosstalk.event_json(m)::text FROM crosstalk.messages m
    WHERE m.channel = p_channel AND m.seq > p_after
    ORDER BY m.seq LIMIT p_limit
$$;

-- History: the p_limit events before p_before, returned oldest first.
CREATE FUNCTION crosstalk.events_before(p_channel text, p_before bigint, p_limit int)
RETURNS TABLE (seq bigint, event text)
LANGUAGE sql STABLE AS $$
    SELECT x.seq, x.event FROM (
        SELECT m.seq, crosstalk.event_json(m)::text AS event FROM crosstalk.messages m
        WHERE m.channel = p_channel AND m.seq < p_before
        ORDER BY m.seq DESC LIMIT p_limit) x
    ORDER BY x.seq
$$;

-- Batched re-check of live logins: of the (app, ref) pairs given, those the
-- resolver no longer returns, named by app and sha256(ref).
CREATE FUNCTION crosstalk.ended_sessions(p_apps text[], p_refs text[])
RETURNS TABLE (app text, ref_hash text)
LANGUAGE sql AS $$
    SELECT x.app, encode(sha256(convert_to(x.ref, 'UTF8')), 'hex')
    FROM unnest(p_apps, p_refs) AS x(app, ref)
    WHERE NOT EXISTS (SELECT 1 FROM crosstalk.resolve_session(x.app, x.ref))
$$;

-- A node announces itself (and forgets rows a previous run left behind).
CREATE FUNCTION crosstalk.node_up(p_node text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c text;
BEGIN
    FOR c IN DELETE FROM crosstalk.presence WHERE node_id = p_node RETURNING channel LOOP
        PERFORM pg_notify('crosstalk', 'p ' || c);
    END LOOP;
    INSERT INTO crosstalk.nodes (node_id) VALUES (p_node)
    ON CONFLICT (node_id) DO UPDATE SET started_at = now(), heartbeat_at = now();
END $$;

CREATE FUNCTION crosstalk.node_heartbeat(p_node text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO crosstalk.nodes (node_id) VALUES (p_node)
    ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()
$$;

-- A node that stops cleanly takes its users with it.
CREATE FUNCTION crosstalk.node_down(p_node text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c text;
BEGIN
    FOR c IN SELECT DISTINCT channel FROM crosstalk.presence WHERE node_id = p_node LOOP
        PERFORM pg_notify('crosstalk', 'p ' || c);
    END LOOP;
    DELETE FROM crosstalk.nodes WHERE node_id = p_node;
END $$;

-- One connection's presence in one channel: on = true adds the row, false
-- removes it. Every node watching the channel hears 'p <channel>'.
CREATE FUNCTION crosstalk.presence_set(
    p_node text, p_conn bigint, p_channel text, p_app text, p_user_id text,
    p_display_name text, p_on boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_on THEN
        INSERT INTO crosstalk.nodes (node_id) VALUES (p_node) ON CONFLICT DO NOTHING;
        INSERT INTO crosstalk.presence (node_id, conn_id, channel, app, user_id, display_name)
        VALUES (p_node, p_conn, p_channel, p_app, p_user_id, p_display_name)
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM crosstalk.presence
        WHERE node_id = p_node AND conn_id = p_conn AND channel = p_channel;
    END IF;
    PERFORM pg_notify('crosstalk', 'p ' || p_channel);
END $$;

-- read: access check, then the read marker (mark_read NOTIFYs
-- 'r <channel> <user id>' so every node updates the user's connections).
CREATE FUNCTION crosstalk.ws_read(p_app text, p_user_id text, p_channel text, p_seq bigint)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crosstalk.check_access(p_app, p_user_id, p_channel);
    RETURN crosstalk.mark_read(p_user_id, p_channel, p_seq);
END $$;

-- history: access check, then up to p_limit events before p_before.
CREATE FUNCTION crosstalk.ws_history(p_app text, p_user_id text, p_channel text,
                                     p_before bigint, p_limit int)
RETURNS TABLE (seq bigint, event text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crosstalk.check_access(p_app, p_user_id, p_channel);
    RETURN QUERY SELECT * FROM crosstalk.events_before(p_channel, p_before, p_limit);
END $$;

-- typing reaches the channel's subscribers on every node, never stored:
-- NOTIFY 't <channel> <user json>'.
CREATE FUNCTION crosstalk.ws_typing(p_channel text, p_user json) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('crosstalk', 't ' || p_channel || ' ' || p_user::text)
$$;

-- presence_set for many rows at once, applied in order (a node batches its
-- joins and leaves); one 'p <channel>' per channel touched.
CREATE FUNCTION crosstalk.presence_apply(
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
        PERFORM pg_notify('crosstalk', 'p ' || c);
    END LOOP;
END $$;
