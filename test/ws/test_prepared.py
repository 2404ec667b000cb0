"""crosstalk-wsd prepares its statements once per query connection
(wsd/pgprep.c) and sends them by name: subscriptions, replays, publishes
and typing keep working through the prepared forms, and a prepared form
made stale by a migration (a function now returns another type: 0A000,
"cached plan must not change result type") costs no request: it is sent
again as text, and the change is seen at once. On a stack of its own: it
replaces crosstalk.ws_typing."""
import urllib.request

from wsh import *


def metric(name):
    with urllib.request.urlopen(ENV["CROSSTALK_WSD"] + "/metrics", timeout=10) as r:
        body = r.read().decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else -1


def settled(name, quiet=1.5, timeout=20):
    """The metric's value once it has not moved for `quiet` seconds."""
    last, since, end = metric(name), time.time(), time.time() + timeout
    while time.time() < end:
        time.sleep(0.1)
        now = metric(name)
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            break
    return last


async def round_trip(a, b, ch, n, tag):
    for i in range(n):
        await ws_send(a, type="publish", channel=ch, text="%s %d" % (tag, i), ref="%s%d" % (tag, i))
    acks = await collect(a, lambda evs: sum(1 for e in evs if e.get("type") == "ack") >= n, 10)
    got = await collect(b, lambda evs: len(msgs(evs, ch)) >= n, 10)
    return (sum(1 for e in acks if e.get("type") == "ack"),
            [e["text"] for e in msgs(got, ch)])


async def typing_seen(a, b, ch):
    await ws_send(a, type="typing", channel=ch, ref="ty")
    got = await collect(b, lambda evs: any(e.get("type") == "typing" for e in evs), 5)
    mine = await collect(a, lambda evs: any(e.get("ref") == "ty" for e in evs), 0.5)
    return (any(e.get("type") == "typing" for e in got),
            [e for e in mine if e.get("type") == "error"])


async def main():
    name = "crosstalk_wsd_statements_prepared_total"
    T.eq(metric(name) >= 0, True, "wsd exposes %s" % name)
    ch = new_channel("prep")
    post_sql(ch, "stored before")
    a, ua, _ = await login("app1")
    b, ub, _ = await login("app2")
    replay, sub = await subscribe(b, ch)
    T.eq([e["text"] for e in replay], ["stored before"], "the first replay (as text)")
    await subscribe(a, ch)
    acks, texts = await round_trip(a, b, ch, 3, "one")
    T.eq((acks, texts), (3, ["one 0", "one 1", "one 2"]), "publishes before anything is prepared")
    seen, errs = await typing_seen(a, b, ch)
    T.eq((seen, errs), (True, []), "typing before anything is prepared")

    # idle connections prepare what they have sent
    prepared = settled(name)
    T.ok(prepared >= 4, "statements prepared while idle (%d)" % prepared)

    # the same traffic again, now by name
    c, uc, _ = await login("app1")
    replay, sub = await subscribe(c, ch)
    T.eq([e["text"] for e in replay], ["stored before", "one 0", "one 1", "one 2"],
         "a replay through the prepared statement")
    acks, texts = await round_trip(a, b, ch, 3, "two")
    T.eq((acks, texts), (3, ["two 0", "two 1", "two 2"]), "publishes through the prepared statements")
    await asyncio.sleep(1.1)  # typing: once a second
    seen, errs = await typing_seen(a, b, ch)
    T.eq((seen, errs), (True, []), "typing through the prepared statement")

    # a migration changes what ws_typing returns: every prepared form of
    # "SELECT crosstalk.ws_typing($1, $2)" is stale now
    sql("""BEGIN;
DROP FUNCTION crosstalk.ws_typing(text, json);
CREATE FUNCTION crosstalk.ws_typing(p_channel text, p_user json) RETURNS text
LANGUAGE sql AS $$
    SELECT 'sent' FROM (SELECT pg_notify('crosstalk', 't ' || crosstalk.wire(p_channel) || ' ' || p_user::text)) x
$$;
GRANT EXECUTE ON FUNCTION crosstalk.ws_typing(text, json) TO %s;
COMMIT;""" % ENV["CROSSTALK_RUNTIME_ROLE"])
    for i in range(3):  # whichever connection takes it, it is stale there
        await asyncio.sleep(1.1)
        seen, errs = await typing_seen(a, b, ch)
        T.eq((seen, errs), (True, []), "typing after its function changed its type (%d)" % i)
    acks, texts = await round_trip(a, b, ch, 2, "three")
    T.eq((acks, texts), (2, ["three 0", "three 1"]), "publishes after the change")
    for ws in (a, b, c):
        await ws.close()


run(main())
