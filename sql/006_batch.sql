-- 006_batch.sql - group commit for HTTP posts, and a cheaper event JSON.
--
-- Every durable post costs one commit (a WAL flush), and the channel row
-- lock makes the posts of one channel commit one after the other. So
-- crosstalk-fcgi sends the posts that arrive while another batch is
-- committing as one call of api_post_batch: one transaction, one flush, the
-- same rules for each post as crosstalk.api_post.

-- iso() and ms() were declared IMMUTABLE, but to_char() and extract() on a
-- timestamptz are only STABLE, and PostgreSQL never inlines a SQL function
-- whose body is less immutable than its label: each call was planned anew,
-- four per event. STABLE is the truth, and lets them inline.
ALTER FUNCTION crosstalk.iso(timestamptz) STABLE;
ALTER FUNCTION crosstalk.ms(timestamptz) STABLE;

-- event_json in PL/pgSQL: a LANGUAGE sql function that is not inlined is
-- planned again at every call from PL/pgSQL; here the plan is kept per
-- connection. Same output as 002's version: the message's current state.
CREATE OR REPLACE FUNCTION crosstalk.event_json(e crosstalk.messages) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t crosstalk.messages;
BEGIN
    SELECT * INTO t FROM crosstalk.messages m WHERE m.id = e.message_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN json_strip_nulls(json_build_object(
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
        'deleted', CASE WHEN t.deleted_at IS NOT NULL THEN true END));
END $$;

-- p_posts: a JSON array of {app, user_id, name, channel, text, client_id,
-- exclude_ref, limit, window}. One row per post, i = its index (from 0):
-- api_post's (retry_after, event, created), or the SQLSTATE and message of
-- the error that refused it. Each post runs in its own subtransaction, so a
-- refused post leaves no trace (not even a rate-limit count) and does not
-- undo the others. Posts are taken in channel order (arrival order within
-- a channel), so two batches lock channel rows in the same order.
-- crosstalk-fcgi sends at most 32 posts at once: PostgreSQL keeps 64
-- subtransaction ids per transaction in shared memory before it spills.
CREATE FUNCTION crosstalk.api_post_batch(p_posts json)
RETURNS TABLE (i int, retry_after int, event json, created boolean,
               err_state text, err_message text)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT (x.n - 1)::int AS n, x.v
             FROM json_array_elements(p_posts) WITH ORDINALITY AS x(v, n)
             ORDER BY x.v->>'channel', x.n
    LOOP
        i := p.n;
        retry_after := 0;
        event := NULL;
        created := false;
        err_state := NULL;
        err_message := NULL;
        BEGIN
            SELECT a.retry_after, a.event, a.created
            INTO retry_after, event, created
            FROM crosstalk.api_post(p.v->>'app', p.v->>'user_id', p.v->>'name',
                                    p.v->>'channel', p.v->>'text', p.v->>'client_id',
                                    p.v->>'exclude_ref', (p.v->>'limit')::int,
                                    (p.v->>'window')::int) a;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE,
                                    err_message = MESSAGE_TEXT;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
