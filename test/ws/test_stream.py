"""The stream: resume with after=last gets exactly the missed events in
order; a long replay (several batches) switches to live without loss or
duplicates while messages keep committing; messages from crosstalk-fcgi and
from plain SQL transactions arrive, rolled-back ones never do."""
import threading

from wsh import *


def seqs(evs, ch):
    return [int(e["seq"]) for e in evs if e.get("channel") == ch and "seq" in e
            and e.get("type") in ("message", "edited", "deleted")]


async def main():
    ch = new_channel("stream")
    a, ua, ra = await login("app1")
    await subscribe(a, ch)
    for i in range(5):
        post_sql(ch, "m%d" % i)
    got = await collect(a, lambda g: len(seqs(g, ch)) >= 5, 5)
    T.eq(seqs(got, ch), [1, 2, 3, 4, 5], "live events in order")
    last = max(seqs(got, ch))
    await a.close()

    for i in range(3):
        post_sql(ch, "missed%d" % i)
    a, _, _ = await login("app1", ua)
    replayed, sub = await subscribe(a, ch, after=str(last))
    T.eq([int(e["seq"]) for e in replayed], [6, 7, 8], "resume with after=last gets exactly the missed events")
    T.eq([e["text"] for e in replayed], ["missed0", "missed1", "missed2"], "missed texts")
    T.eq(sub["last_seq"], "8", "subscribed.last_seq")
    post_sql(ch, "live again")
    got = await collect(a, lambda g: len(seqs(g, ch)) >= 1, 5)
    T.eq(seqs(got, ch), [9], "live after resume, nothing doubled")

    replayed, sub = await subscribe(a, ch, after=-3)
    T.eq([int(e["seq"]) for e in replayed], [7, 8, 9], "after=-3: only the last 3")
    replayed, sub = await subscribe(a, ch, after=100)
    T.eq((replayed, sub["type"]), ([], "subscribed"), "after beyond the end: nothing replayed")

    # a long replay (replay_batch is 500) racing live commits
    big = new_channel("big")
    sql("SELECT count(crosstalk.post_message('app1', 'bulk', 'Bulk', :'v1', 'bulk ' || g)) "
        "FROM generate_series(1, 1600) g", big)
    stop = threading.Event()
    posted = []

    def writer():
        for i in range(60):
            if stop.is_set():
                break
            posted.append(post_sql(big, "racing %d" % i))
    th = threading.Thread(target=writer)
    b, ub, rb = await login("app2")
    th.start()
    await ws_send(b, type="subscribe", channel=big, after="0")
    frames = 0
    evs = []
    end = time.time() + 30
    while time.time() < end:
        f = await ws_events(b, 10)
        frames += 1
        evs += f
        if any(e.get("type") == "subscribed" for e in f):
            break
    th.join()
    total = int(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", big))
    evs += await collect(b, lambda g: (seqs(evs, big) + seqs(g, big))[-1:] == [total], 10)
    s = seqs(evs, big)
    T.eq(total, 1660, "all racing messages committed")
    T.ok(s == list(range(1, total + 1)), "replay then live: every seq exactly once, in order",
         "got %d events, first dups/gaps near %r" % (len(s), [x for i, x in enumerate(s) if x != i + 1][:5]))
    T.ok(frames < 400, "replay batches share frames (%d frames for %d events)" % (frames, len(s)))
    sub = [e for e in evs if e.get("type") == "subscribed"]
    T.ok(sub and int(sub[0]["last_seq"]) >= 1600, "subscribed after the stored events", sub)

    # sources: crosstalk-fcgi, SQL transactions, a rollback
    src = new_channel("src")
    await subscribe(b, src)
    ref, uh = session("app1")
    r = api("POST", "messages", session=ref, json_body={"channel": src, "text": "via http"})
    T.ok(r.status == 201, "HTTP publish", r)
    sql("BEGIN; SELECT crosstalk.post_message('app1', 'tx', 'Tx', :'v1', 'in tx 1'); "
        "SELECT crosstalk.post_message('app1', 'tx', 'Tx', :'v1', 'in tx 2'); COMMIT;", src)
    sql("BEGIN; SELECT crosstalk.post_message('app1', 'tx', 'Tx', :'v1', 'rolled back'); ROLLBACK;", src)
    post_sql(src, "after rollback")
    got = await collect(b, lambda g: len(msgs(g, src)) >= 4, 5)
    got += await collect(b, lambda g: False, 0.5)
    T.eq([e["text"] for e in msgs(got, src)], ["via http", "in tx 1", "in tx 2", "after rollback"],
         "HTTP and SQL-transaction messages arrive; the rolled-back one never does")
    T.eq(seqs(got, src), [1, 2, 3, 4], "the rollback left no gap")
    await a.close()
    await b.close()


run(main())
