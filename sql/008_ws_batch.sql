-- 008_ws_batch.sql - group commit for WebSocket publishes.

-- WebSocket publishes that wait together commit together, as HTTP posts do
-- (api_post_batch in 006): crosstalk-wsd sends the publishes queued behind
-- a busy database connection as one call. p_pubs: a JSON array of {app,
-- user_id, name, channel, text, client_id, limit, window}; one row per
-- publish, i = its index: ws_publish's answer or the error that refused it,
-- each in its own subtransaction, taken in channel order.
CREATE FUNCTION crosstalk.ws_publish_batch(p_pubs json)
RETURNS TABLE (i int, retry_after int, id bigint, seq bigint, channel text,
               err_state text, err_message text)
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT (x.n - 1)::int AS n, x.v
             FROM json_array_elements(p_pubs) WITH ORDINALITY AS x(v, n)
             ORDER BY x.v->>'channel', x.n
    LOOP
        i := p.n;
        retry_after := NULL;
        id := NULL;
        seq := NULL;
        channel := NULL;
        err_state := NULL;
        err_message := NULL;
        BEGIN
            SELECT w.retry_after, w.id, w.seq, w.channel
            INTO retry_after, id, seq, channel
            FROM crosstalk.ws_publish(p.v->>'app', p.v->>'user_id', p.v->>'name',
                                      p.v->>'channel', p.v->>'text', p.v->>'client_id',
                                      (p.v->>'limit')::int, (p.v->>'window')::int) w;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE,
                                    err_message = MESSAGE_TEXT;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
