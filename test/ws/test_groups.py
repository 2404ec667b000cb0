"""Group commit of WebSocket publishes (wsd/pgq.c groups): when publishes
from many connections wait behind busy database connections, they are sent
as one crosstalk.api_post_batch call. Each publish must
still get its own answer: an ack in its connection's send order, or its own
error (not_found, too_large, rate_limited), and a refused publish must
leave nothing behind. The daemon's metrics must show that groups formed."""
import urllib.request

from wsh import *

N_CONNS = 24
GOOD = 8        # good publishes per connection
LIMIT = 20      # [limits] publish_count (window 10 s)


def metric(name):
    with urllib.request.urlopen(ENV["CROSSTALK_WSD"] + "/metrics", timeout=10) as r:
        body = r.read().decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else -1


async def main():
    ch = new_channel("grp")
    conns = [await login("app1") for _ in range(N_CONNS)]
    greedy, ug, _ = await login("app1")
    before = metric("crosstalk_wsd_write_groups_total")
    T.ok(before >= 0, "wsd exposes crosstalk_wsd_write_groups_total")

    # every connection sends its whole burst at once; connection k's bad
    # publishes sit between its good ones
    plan = {}  # ws -> [(ref, expected code or "ack")]
    for k, (ws, u, _) in enumerate(conns):
        exp = []
        for j in range(GOOD):
            ref = "g%d-%d" % (k, j)
            await ws_send(ws, type="publish", channel=ch, text="m %d %d" % (k, j),
                          client_id="c-%s-%d" % (u, j), ref=ref)
            exp.append((ref, "ack"))
            if j == 2 and k % 3 == 0:
                await ws_send(ws, type="publish", channel="nope-" + ch, text="x", ref="nf%d" % k)
                exp.append(("nf%d" % k, "not_found"))
            if j == 5 and k % 3 == 1:
                await ws_send(ws, type="publish", channel=ch, text="y" * 4001, ref="tl%d" % k)
                exp.append(("tl%d" % k, "too_large"))
        plan[ws] = exp
    exp = []
    for j in range(LIMIT + 6):
        await ws_send(greedy, type="publish", channel=ch, text="greedy %d" % j, ref="r%d" % j)
        exp.append(("r%d" % j, None))
    plan[greedy] = exp

    wrong, orders = [], []
    greedy_codes = []
    for ws, exp in plan.items():
        refs = {r for r, _ in exp}
        got = await collect(ws, lambda evs: sum(1 for e in evs if e.get("ref") in refs) >= len(exp),
                            timeout=60)
        answers = [e for e in got if e.get("ref") in refs and e.get("type") in ("ack", "error")]
        if ws is greedy:
            greedy_codes = [e.get("code", "ack") if e["type"] == "error" else "ack" for e in answers]
            continue
        want = {r: c for r, c in exp}
        for e in answers:
            code = "ack" if e["type"] == "ack" else e.get("code")
            if want.get(e["ref"]) != code:
                wrong.append((e["ref"], code, e.get("message")))
        if len(answers) != len(exp):
            wrong.append(("answers", len(answers), len(exp)))
        seqs = [int(e["seq"]) for e in answers if e["type"] == "ack"]
        if seqs != sorted(seqs):
            orders.append(seqs)
    T.eq(wrong, [], "every publish got its own answer")
    T.eq(orders, [], "each connection's acks follow its send order")
    T.eq((greedy_codes.count("ack"), greedy_codes.count("rate_limited")), (LIMIT, 6),
         "the greedy user: %d stored, the rest rate_limited" % LIMIT)

    rows = sql("SELECT seq, text FROM crosstalk.messages WHERE channel = :'v1' ORDER BY seq", ch)
    T.eq([int(s) for s, _ in rows], list(range(1, len(rows) + 1)), "seqs without a gap")
    T.eq(len(rows), N_CONNS * GOOD + LIMIT, "stored: the good publishes, nothing refused")
    T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE text = :'v1'", "y" * 4001), "0",
         "the too-long text was not stored")
    T.eq(int(sql1("SELECT count FROM crosstalk.rate_limits WHERE key = :'v1'",
                  "pub:app1:" + conns[0][1]) or 0), GOOD,
         "refused publishes left no rate-limit count")
    after = metric("crosstalk_wsd_write_groups_total")
    print("publish groups during the run: %d" % (after - before), flush=True)
    T.ok(after > before, "publishes were committed in groups", "%d -> %d" % (before, after))
    for ws, _, _ in conns:
        await ws.close()
    await greedy.close()


run(main())
