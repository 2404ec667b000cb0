"""One connection's publishes, sent without waiting for acks (wsd/pgq.c
flows): they commit in the order sent, consecutive ones together in one
transaction (crosstalk.api_post_batch) rather than one after the other,
and an edit sent behind them waits for them. Checked: every channel's rows
in send order, the acks in send order, groups formed from this connection
alone, and the edit applied after the publishes before it."""
import urllib.request

from wsh import *

N = 18          # publishes over three channels in turn (the limit is 20 per 10 s)


def metric(name):
    with urllib.request.urlopen(ENV["CROSSTALK_WSD"] + "/metrics", timeout=10) as r:
        body = r.read().decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else -1


async def main():
    chans = [new_channel("pipe") for _ in range(3)]
    ws, user, _ = await login("app1")
    first = "first " + chans[0]
    await ws_send(ws, type="publish", channel=chans[0], text=first, ref="p-first")
    got = await collect(ws, lambda evs: any(e.get("ref") == "p-first" for e in evs), timeout=20)
    ack = [e for e in got if e.get("ref") == "p-first"][0]
    T.eq(ack.get("type"), "ack", "the first publish is acked")

    before = metric("crosstalk_wsd_write_groups_total")
    refs = []
    for j in range(N):
        ref = "p%d" % j
        await ws_send(ws, type="publish", channel=chans[j % 3], text="pipe %d" % j,
                      client_id="pc-%d" % j, ref=ref)
        refs.append(ref)
        if j == N // 2:  # an edit of the first message, amid the publishes
            await ws_send(ws, type="edit", id=ack["id"], text="edited", ref="e")
            refs.append("e")
    want = set(refs)
    got = await collect(ws, lambda evs: sum(1 for e in evs if e.get("ref") in want) >= len(want),
                        timeout=60)
    answers = [e for e in got if e.get("ref") in want]
    T.eq([e.get("type") for e in answers], ["ack"] * len(refs), "every write acked")
    T.eq([e.get("ref") for e in answers], refs, "acks in send order")
    after = metric("crosstalk_wsd_write_groups_total")
    T.ok(after > before, "one connection's publishes shared transactions",
         "groups %d -> %d" % (before, after))

    for c, ch in enumerate(chans):
        texts = [t for _, t in sql("SELECT seq, text FROM crosstalk.messages "
                                   "WHERE channel = :'v1' AND kind = 'message' ORDER BY seq", ch)]
        sent = ["pipe %d" % j for j in range(N) if j % 3 == c]
        if c == 0:
            sent = ["edited"] + sent
        T.eq(texts, sent, "channel %d holds its publishes in send order" % c)
    # the edit is the stream event after the publishes sent before it
    rows = sql("SELECT seq, kind, coalesce(text, '') FROM crosstalk.messages "
               "WHERE channel = :'v1' ORDER BY seq", chans[0])
    kinds = [k for _, k, _ in rows]
    n_before = len([j for j in range(N // 2 + 1) if j % 3 == 0])
    T.eq(kinds.index("edited"), 1 + n_before,
         "the edit follows the %d publishes sent before it in its channel" % n_before)
    await ws.close()


run(main())
