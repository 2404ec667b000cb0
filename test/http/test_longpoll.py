#!/usr/bin/python3
"""test_longpoll.py - messages/poll with wait: it returns as soon as a
message commits (woken by NOTIFY), times out with an empty list, and many
more waiting polls than crosstalk-fcgi has threads and database
connections all wake on one post while other requests still get through
(a waiting poll holds neither). Timing is printed; only generous bounds
are asserted."""
import select
import socket
import statistics
import threading
import time
import urllib.parse

from ct import ENV, T, api, wait_until
from hx import expect, key, metric, new_channel, new_session, post

ref, user = new_session()
ch = new_channel()


def poll_in_thread(out, channel, after, wait, **kw):
    def run():
        t0 = time.monotonic()
        r = api("GET", "messages/poll", query={"channel": channel, "after": after,
                                               "wait": wait}, timeout=60, **kw)
        out.append((r, time.monotonic(), time.monotonic() - t0))
    th = threading.Thread(target=run)
    th.start()
    return th


# 1. wake latency: post while a poll waits
lat = []
for i in range(8):
    after = i
    got = []
    th = poll_in_thread(got, ch, after, 20, key=key("app2"))
    time.sleep(0.3)  # let the poll reach its wait
    r = post(ref, ch, "wake %d" % i)
    t_commit = time.monotonic()  # the post's 201 comes after the commit
    th.join(30)
    T.ok(got, "poll %d returned" % i)
    if not got:
        continue
    pr, t_back, took = got[0]
    expect("woken poll %d" % i, pr, 200)
    T.eq([m["text"] for m in pr.json["messages"]], ["wake %d" % i], "woken poll got the message")
    T.eq(pr.json.get("waited"), True, "waited flag")
    T.ok(took < 10, "poll returned long before its 20 s wait", "%.2f s" % took)
    lat.append(max(0.0, t_back - t_commit) * 1000)
if lat:
    print("long-poll wake after the post's reply: median %.1f ms, max %.1f ms (n=%d)"
          % (statistics.median(lat), max(lat), len(lat)), flush=True)

# 2. nothing comes: answers after wait with an empty list and the cursor
t0 = time.monotonic()
r = expect("poll timeout", api("GET", "messages/poll", query={
    "channel": ch, "after": 8, "wait": "1.0"}), 200)
took = time.monotonic() - t0
T.eq((r.json["messages"], r.json["last_seq"], r.json.get("waited")), ([], "8", True),
     "timed-out poll is empty")
T.ok(0.9 <= took < 6, "waited about 1 s", "%.2f s" % took)

# 3. a poll that has something answers at once even with wait
t0 = time.monotonic()
r = expect("poll with backlog", api("GET", "messages/poll", query={
    "channel": ch, "after": 0, "wait": 20}), 200)
T.ok(len(r.json["messages"]) == 8 and time.monotonic() - t0 < 5, "backlog answers at once")

# 4. 40 waiting polls (the stack's crosstalk-fcgi has 8 worker threads and
# 8 database connections): all wake on one post, share one look at the
# database, and ordinary requests are served while they wait
ch2 = new_channel()
outs = []
threads = []
for i in range(40):
    threads.append(poll_in_thread(outs, ch2, 0, 20))
time.sleep(1.0)
t0 = time.monotonic()
h = api("GET", "health", key="")
T.eq(h.status, 200, "health answers while 40 polls wait")
# (>=: another test's poll may wait on the same stack)
T.ok(h.json.get("waiting_polls", 0) >= 40, "all 40 wait at once, on 8 threads",
     "%s waiting" % h.json.get("waiting_polls"))
r = expect("channels while 40 polls wait", api("GET", "channels"), 200)
T.ok(time.monotonic() - t0 < 5, "other requests are not starved",
     "%.2f s" % (time.monotonic() - t0))
shared0 = metric("crosstalk_fcgi_polls_shared_total")
post(ref, ch2, "to all waiters")
for th in threads:
    th.join(30)
shared = metric("crosstalk_fcgi_polls_shared_total") - shared0
print("polls answered with a shared look: %d of 40" % shared, flush=True)
T.ok(shared0 >= 0 and shared >= 1, "woken polls share one database look",
     "%d shared" % shared)
T.eq(len(outs), 40, "all 40 polls returned")
T.eq(sum(1 for r, _, _ in outs if r.status == 200 and len(r.json["messages"]) == 1), 40,
     "all 40 got the message")
T.ok(all(took < 15 for _, _, took in outs), "none waited for its timeout")

# 4b. a burst: 400 polls sent at once, many more than crosstalk-fcgi has
# workers (8), reach it while the workers are busy with their first looks:
# the connections wait in its listen queue ([http] backlog), none is
# refused by the web server (502). Those past [http] max_waiters (256)
# answer at once with "waited": false; all the others wake on the post.
ch3 = new_channel()
u = urllib.parse.urlparse(ENV["CROSSTALK_HTTP"])
req = ("GET %s/messages/poll?channel=%s&after=0&wait=20 HTTP/1.1\r\nHost: %s\r\n"
       "Authorization: Bearer %s\r\nConnection: close\r\n\r\n"
       % (u.path, ch3, u.netloc, key("app1"))).encode()
socks = [socket.create_connection((u.hostname, u.port), timeout=30) for _ in range(400)]
for s in socks:
    s.sendall(req)


def settled():
    early = len(select.select(socks, [], [], 0)[0])
    return early + api("GET", "health", key="").json.get("waiting_polls", 0) >= 400


T.ok(wait_until(settled, timeout=20), "every poll of the burst waits or was answered")
post(ref, ch3, "to the burst")
answers = []
for s in socks:
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    s.close()
    head = data.split(b"\r\n", 1)[0].split()
    answers.append((int(head[1]) if len(head) > 1 else 0,
                    b"to the burst" in data, b'"waited":false' in data))
T.eq(sorted(set(a[0] for a in answers)), [200], "no poll of the burst was refused")
T.ok(all(got or not_waited for _, got, not_waited in answers),
     "each got the message, or answered at once past max_waiters")
T.ok(sum(1 for _, got, _ in answers if got) >= 200, "most of them waited and woke",
     "%d" % sum(1 for _, got, _ in answers if got))

# 4c. polls whose clients leave (a cfhttp timeout shorter than wait) give
# their places back at once, not when their wait ends
ch4 = new_channel()
base = api("GET", "health", key="").json["waiting_polls"]
req4 = req.replace(("channel=%s" % ch3).encode(), ("channel=%s" % ch4).encode())
socks = [socket.create_connection((u.hostname, u.port), timeout=30) for _ in range(30)]
for s in socks:
    s.sendall(req4)
T.ok(wait_until(lambda: api("GET", "health", key="").json["waiting_polls"] >= base + 30,
                timeout=10), "30 polls wait")
for s in socks:
    s.close()
t0 = time.monotonic()
# (within 10 s, half their 20-s wait: freed when they left, not at the end)
T.ok(wait_until(lambda: api("GET", "health", key="").json["waiting_polls"] <= base, timeout=10),
     "their places are free once their clients left, long before their wait ends",
     "%.2f s" % (time.monotonic() - t0))
# (their count as 499 is exact in test_spawn, on a responder of its own:
# here the shared stack's count includes other tests' polls)

# 4d. ... and so do polls whose clients leave at once, while their workers
# are still looking or handing them over to the answerer (which may see the
# client gone before the hand-over has finished)
for rnd in range(3):
    socks = [socket.create_connection((u.hostname, u.port), timeout=30) for _ in range(40)]
    for s in socks:
        s.sendall(req4)
    for i, s in enumerate(socks):
        if i % 2:
            time.sleep(0.001)
        s.close()
T.ok(wait_until(lambda: api("GET", "health", key="").json["waiting_polls"] <= base, timeout=10),
     "polls whose clients left at once give their places back too")

# 5. a DM long-poll wakes too, and access is checked before waiting
ref_b, ub = new_session("app2")
dm = "dm:%s:%s" % tuple(sorted([user, ub]))
post(ref, dm, "first")
got = []
th = poll_in_thread(got, dm, 1, 20, key=key("app2"), session=ref_b)
time.sleep(0.3)
post(ref, dm, "second")
th.join(30)
T.ok(got and [m["text"] for m in got[0][0].json["messages"]] == ["second"], "DM long-poll")
t0 = time.monotonic()
expect("forbidden long-poll answers at once", api("GET", "messages/poll", key=key("app2"),
                                                  query={"channel": "app1-only", "wait": 20}),
       403, "forbidden")
T.ok(time.monotonic() - t0 < 5, "no waiting before a 403")

T.done()
