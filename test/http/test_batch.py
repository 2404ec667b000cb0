#!/usr/bin/python3
"""test_batch.py - group commit of HTTP posts (fcgi/batch.c and
crosstalk.api_post_batch). Posts that commit together must each get the
answer they would get alone: a refused post (404, 403, 413, 409, 429) is
refused with its own status and leaves nothing behind, not even a
rate-limit count, and does not undo the posts it was batched with.

First api_post_batch is called directly (deterministic), then 16 threads
post a mix of good and bad posts at once through nginx; the fcgi metrics
must show that posts were in fact committed in groups."""
import json
import threading
import time

from ct import T, sql, sql1
from hx import expect, metric, new_channel, new_session, post

LIMIT = 20  # [limits] publish_count, the stack's default (window 10 s)


def rate_count(app, user):
    v = sql1("SELECT count FROM crosstalk.rate_limits WHERE key = :'v1'",
             "pub:%s:%s" % (app, user))
    return int(v or 0)


# --- the SQL function alone -------------------------------------------------
cha, chb = new_channel(), new_channel()
closed = new_channel(apps=["app2"])
_, u1 = new_session()


def item(channel, text, **kw):
    d = {"app": "app1", "user_id": u1, "name": "U1", "channel": channel,
         "text": text, "limit": LIMIT, "window": 10}
    d.update(kw)
    return d


batch = [item(chb, "b1"), item(cha, "a1"), item("no-such-" + cha, "x"),
         item(closed, "x"), item(chb, "b2", client_id="cid-" + chb),
         item(cha, "y" * 4001), item(chb, "b2 again", client_id="cid-" + chb)]
rows = sql("SELECT i, retry_after, event, created, err_state, err_message "
           "FROM crosstalk.api_post_batch(:'v1'::json) ORDER BY i", json.dumps(batch))
T.eq([int(r[0]) for r in rows], list(range(len(batch))), "one row per post, by index")
by = {int(r[0]): r for r in rows}
T.eq([by[i][4] for i in (2, 3, 5)], ["CT404", "CT403", "CT413"],
     "refused posts carry their own SQLSTATE")
T.ok(all(by[i][4] in ("", None) for i in (0, 1, 4, 6)), "the others were not refused",
     str([by[i][4:] for i in (0, 1, 4, 6)]))
ev = {i: json.loads(by[i][2]) for i in (0, 1, 4, 6)}
T.eq([ev[0]["seq"], ev[4]["seq"]], ["1", "2"], "arrival order kept within a channel")
T.eq(ev[1]["seq"], "1", "the other channel has its own seqs")
T.eq(ev[6]["id"], ev[4]["id"], "a repeated client_id returns the first message")
T.eq([by[4][3], by[6][3]], ["t", "f"], "created only the first time")
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel IN (:'v1', :'v2')",
          cha, chb), "3", "three messages stored, nothing of the refused ones")
T.eq(rate_count("app1", u1), 4, "rate-limit count: only the posts that went through")
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1'", closed), "0",
     "nothing in the closed channel")

# --- through nginx, concurrently --------------------------------------------
ch = new_channel()
other = new_channel()
closed2 = new_channel(apps=["app2"])
used = new_channel()
good = [new_session() for _ in range(8)]          # 8 users, 12 posts each
greedy_ref, greedy = new_session()                # 30 posts: 10 over the limit
mixed_ref, mixed = new_session()                  # refused posts between good ones
r = post(mixed_ref, used, "first", client_id="dup-" + used)
expect("a client_id used once", r, 201)

before = metric("crosstalk_fcgi_post_batches_total")
T.ok(before >= 0, "fcgi metrics list crosstalk_fcgi_post_batches_total")
jobs = []  # (ref, channel, text, extra, expected status, tag)
for ref, u in good:
    jobs += [(ref, ch, "g %s %d" % (u, k), {"client_id": "g-%s-%d" % (u, k)}, 201, "good")
             for k in range(12)]
jobs += [(greedy_ref, other, "greedy %d" % k, {}, None, "greedy") for k in range(30)]
for k in range(6):
    jobs += [(mixed_ref, ch, "m %d" % k, {}, 201, "mixed-good"),
             (mixed_ref, "nope-" + ch, "x", {}, 404, "404"),
             (mixed_ref, closed2, "x", {}, 403, "403"),
             (mixed_ref, ch, "z" * 4001, {}, 413, "413"),
             (mixed_ref, ch, "again", {"client_id": "dup-" + used}, 409, "409")]
results = [None] * len(jobs)
deadline = time.monotonic() + 120


def worker(t):
    for i in range(t, len(jobs), 16):
        if time.monotonic() > deadline:
            return
        ref, channel, text, extra, _, _ = jobs[i]
        results[i] = post(ref, channel, text, **extra)


threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
for th in threads:
    th.start()
for th in threads:
    th.join(150)
T.ok(all(r is not None for r in results), "every post answered")
wrong = []
for (ref, channel, text, extra, want, tag), r in zip(jobs, results):
    if r is None or want is None:
        continue
    if r.status != want:
        wrong.append("%s: %d %s" % (tag, r.status, r.raw[:120]))
T.eq(wrong, [], "every post got its own answer")
greedy_st = [r.status for (j, r) in zip(jobs, results) if j[5] == "greedy" and r]
T.eq((greedy_st.count(201), greedy_st.count(429)), (LIMIT, 30 - LIMIT),
     "the greedy user: %d stored, the rest 429" % LIMIT)
T.ok(all("Retry-After" in {k.title(): v for k, v in r.headers.items()}
         for (j, r) in zip(jobs, results) if j[5] == "greedy" and r and r.status == 429),
     "every 429 carries Retry-After")
stored = sql("SELECT text, seq FROM crosstalk.messages WHERE channel = :'v1' ORDER BY seq", ch)
T.eq(len(stored), 8 * 12 + 6, "posts stored: all the good ones, none of the refused")
T.eq([int(s) for _, s in stored], list(range(1, len(stored) + 1)), "seqs without a gap")
T.eq(sorted(t for t, _ in stored),
     sorted([j[2] for j in jobs if j[5] in ("good", "mixed-good")]),
     "each good post stored exactly once")
T.eq(rate_count("app1", mixed), 1 + 6, "refused posts left no rate-limit count")
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1'", closed2), "0",
     "nothing in the closed channel")
after = metric("crosstalk_fcgi_post_batches_total")
batched = metric("crosstalk_fcgi_posts_batched_total")
print("group commits during the run: %d (posts in them, all time: %d)" % (after - before, batched),
      flush=True)
T.ok(after > before, "concurrent posts were committed in groups",
     "batches %d -> %d" % (before, after))

T.done()
