"""Events that ride in their NOTIFY (sql/functions.sql, notify_event): a subscriber gets
a short event straight from the notification (the daemon's
crosstalk_wsd_events_inline_total moves), an event too big for a
notification (8,000 bytes of text) through the fetch by seq, and a burst
committed in one transaction in seq order, each exactly once. It runs a
node of its own, where nothing else subscribes, so the node's counters are
this test's alone."""
import urllib.request

from wsh import *


PORT = None  # the private node's


def metric(name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % PORT, timeout=10) as r:
        body = r.read().decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else -1


def payload_sizes(channel):
    """octet_length of the NOTIFY payload each event of channel would send."""
    return [int(v[0]) for v in sql(
        "SELECT octet_length('m ' || m.id || ' ' || m.channel || ' ' || m.seq || ' - ' "
        "|| crosstalk.event_json(m)::text) FROM crosstalk.messages m "
        "WHERE m.channel = :'v1' ORDER BY m.seq", channel)]


async def main():
    global PORT
    node, PORT, _, _ = start_node("inline")
    try:
        T.ok(wait_until(lambda: health(PORT) == 200, 10), "a node of its own is up")
        await on_node()
    finally:
        node.terminate()
        node.wait(10)


async def on_node():
    ch = new_channel("inl")
    ref, _ = session("app1")
    a = await ws_open(url="ws://127.0.0.1:%d/ws" % PORT)
    await ws_send(a, type="auth", ticket=ticket(ref, "app1"))
    w = (await ws_until(a, lambda e: e.get("type") in ("welcome", "error")))[-1]
    T.eq((w.get("type"), w.get("node")), ("welcome", "inline"), "welcome from that node")
    await subscribe(a, ch)

    in0 = metric("crosstalk_wsd_events_inline_total")
    ev0 = metric("crosstalk_wsd_events_in_total")
    post_sql(ch, "short one")
    got = msgs(await collect(a, lambda evs: len(msgs(evs, ch)) >= 1, 10), ch)
    T.eq([m["text"] for m in got], ["short one"], "a short event arrives")
    in1 = metric("crosstalk_wsd_events_inline_total")
    T.eq(in1 - in0, 1, "... from its notification, without a fetch")

    big = "\u00e9" * 4000  # 4,000 characters, 8,000 bytes: over the NOTIFY limit
    post_sql(ch, big)
    got = msgs(await collect(a, lambda evs: len(msgs(evs, ch)) >= 1, 10), ch)
    T.ok(len(got) == 1 and got[0]["text"] == big and got[0]["seq"] == "2",
         "an 8,000-byte text arrives whole, seq 2")
    T.eq(metric("crosstalk_wsd_events_inline_total") - in1, 0,
         "... not from the notification (it carried the short form)")
    T.eq(metric("crosstalk_wsd_events_in_total") - ev0, 2, "both taken in once")
    sizes = payload_sizes(ch)
    T.ok(sizes[0] < 7900 <= sizes[1], "the payload sizes straddle the limit", str(sizes))

    # a burst in one transaction: consecutive seqs, each once, in order
    sql("SELECT count(crosstalk.post_message('app1', 'sqluser', 'Sql', :'v1', 'b' || g)) "
        "FROM generate_series(1, 50) g", ch)
    got = msgs(await collect(a, lambda evs: len(msgs(evs, ch)) >= 50, 15), ch)
    T.eq([m["seq"] for m in got], [str(s) for s in range(3, 53)],
         "50 events of one commit, once each, in seq order")
    await a.close()


run(main())
