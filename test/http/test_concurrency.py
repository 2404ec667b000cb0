#!/usr/bin/python3
"""test_concurrency.py - 8 connections post 500 messages at once into one
channel through nginx -> crosstalk-fcgi -> post_message(): seqs come out
1..500 without a gap, and a poller following with after=last_seq sees
every seq exactly once, in order, never skipping one."""
import threading
import time

from ct import T, api, sql
from hx import new_channel, new_session, post

N, CONNS, USERS_PER_CONN = 500, 8, 4  # 16 posts per user: under the rate limit
ch = new_channel()
sessions = [[new_session()[0] for _ in range(USERS_PER_CONN)] for _ in range(CONNS)]
statuses = []
lock = threading.Lock()
done_posting = threading.Event()
deadline = time.monotonic() + 120


def poster(c):
    mine = [i for i in range(N) if i % CONNS == c]
    for k, i in enumerate(mine):
        if time.monotonic() > deadline:
            break
        r = post(sessions[c][k % USERS_PER_CONN], ch, "msg %d" % i, client_id="cc-%s-%d" % (ch, i))
        with lock:
            statuses.append(r.status)


seen = []
skips = []


def poller():
    after = 0
    while time.monotonic() < deadline and len(seen) < N:
        r = api("GET", "messages/poll", query={"channel": ch, "after": after, "limit": 37,
                                               "wait": 2}, timeout=30)
        if r.status != 200:
            skips.append("status %d" % r.status)
            break
        for m in r.json["messages"]:
            s = int(m["seq"])
            if s != after + 1:
                skips.append("after %d got %d" % (after, s))
            after = s
            seen.append(s)
        if not r.json["messages"] and done_posting.is_set() and len(seen) < N:
            # nothing new and nothing more coming: stop
            if int(r.json["last_seq"]) <= after:
                break


t0 = time.monotonic()
pt = threading.Thread(target=poller)
pt.start()
threads = [threading.Thread(target=poster, args=(c,)) for c in range(CONNS)]
for th in threads:
    th.start()
for th in threads:
    th.join(150)
took = time.monotonic() - t0
done_posting.set()
pt.join(60)

T.eq(len(statuses), N, "every post answered")
T.ok(statuses.count(201) == N, "every post 201", str({s: statuses.count(s) for s in set(statuses)}))
print("%d posts over %d connections in %.2f s (%.0f posts/s through nginx)"
      % (len(statuses), CONNS, took, len(statuses) / took), flush=True)
rows = sql("SELECT seq FROM crosstalk.messages WHERE channel = :'v1' ORDER BY seq", ch)
seqs = [int(r[0]) for r in rows]
T.eq(seqs, list(range(1, N + 1)), "seqs are 1..%d without a gap" % N)
T.eq(sql("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch)[0][0], str(N),
     "channel last_seq")
T.eq(skips, [], "the poller never skipped a seq")
T.eq(seen, list(range(1, N + 1)), "the poller saw every seq once, in order")

T.done()
