#!/usr/bin/python3
"""test_notify_queue.py - a crosstalk-wsd node frozen with SIGSTOP while
publishing goes on. Its LISTEN backend stops advancing once the socket to
the frozen node is full, so PostgreSQL's NOTIFY queue grows with every post
(8 GiB; a full queue makes every notifying commit fail). This test:
- freezes node A, fills its socket with filler notifications (kind "z",
  ignored by every reader) until its backend waits on ClientWrite;
- posts over HTTP (timed: the rate this machine sustains) and in bulk
  through crosstalk.post_message(), and measures the queue bytes per post
  from pg_notification_queue_usage() (usage x 8 GiB);
- checks that posts keep succeeding, that GET /api/v1/health and a healthy
  node's /health report notify_queue_usage, and extrapolates how long the
  hub keeps accepting posts at a stated rate (nothing near 8 GiB is filled);
- kills the frozen node (the operator's remedy) and checks that PostgreSQL
  frees the queue once that listener's connection is gone."""
import os
import signal
import threading
import time

import ct
import fx
from ct import T, api, session

QUEUE_BYTES = 8 * 1024 ** 3  # PostgreSQL 15: 1,048,576 pages of 8 KiB
BULK = int(os.environ.get("CT_FAULT_NOTIFY_BULK", "10000"))
HTTP_POSTS = 600
STATED_RATE = 1000  # posts/s

stack = fx.Stack("notify_queue", extra_conf="[limits]\npublish_count = 1000000\n")
stack.up()
try:
    port_b = ct.free_port()
    stack.start_wsd("wsd_b", port_b)
    health_b = "http://127.0.0.1:%d/health" % port_b

    def usage():
        return float(ct.sql1("SELECT pg_notification_queue_usage()"))

    a = stack.pid("wsd")
    os.kill(a, signal.SIGSTOP)
    try:
        ct.sql("SELECT count(pg_notify('crosstalk', 'z ' || g || ' ' || repeat('x', 7000)))"
               " FROM generate_series(1, 2000) g")
        blocked = ct.wait_until(lambda: ct.sql1(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            "'crosstalk-wsd-listen' AND wait_event = 'ClientWrite'") == "1", timeout=10)
        T.ok(blocked, "the frozen node's LISTEN backend is stuck writing to it")
        u0 = usage()

        # HTTP posts at this machine's pace, 3 publishers
        refs = [session()[0] for _ in range(3)]
        fails = []

        def pub(ref, k):
            for i in range(HTTP_POSTS // 3):
                r = api("POST", "messages", session=ref,
                        json_body={"channel": "general", "text": "q %d %d" % (k, i)})
                if r.status != 201:
                    fails.append(r)

        t0 = time.time()
        th = [threading.Thread(target=pub, args=(refs[k], k)) for k in range(3)]
        for t in th:
            t.start()
        for t in th:
            t.join(120)
        http_rate = HTTP_POSTS / (time.time() - t0)
        T.eq(fails[:3], [], "posts keep succeeding while a node is frozen")
        # the same post_message() in bulk, for a precise size per post
        ct.sql("SELECT count(crosstalk.post_message('app1', 'bulk', 'Bulk', 'general',"
               " 'bulk ' || g)) FROM generate_series(1, :'v1'::int) g", str(BULK))
        u1 = usage()
        posts = HTTP_POSTS + BULK
        per_post = (u1 - u0) * QUEUE_BYTES / posts
        T.ok(u1 > u0, "the NOTIFY queue grows while a node is frozen", "%g -> %g" % (u0, u1))
        # the event's JSON rides in its notification (sql/functions.sql, notify_event)
        T.ok(100 <= per_post <= 8192, "queue bytes per post is plausible", "%.1f" % per_post)
        capacity = QUEUE_BYTES / per_post if per_post > 0 else 0
        print("queue usage %.6f -> %.6f after %d posts: %.1f bytes per post; "
              "the 8 GiB queue holds %.0f posts" % (u0, u1, posts, per_post, capacity),
              flush=True)

        # health reports it: the HTTP API and a healthy node
        h = api("GET", "health", key="")
        T.eq(h.status, 200, "GET /api/v1/health")
        hu = (h.json or {}).get("notify_queue_usage", -1)
        T.ok(hu >= u0 and hu > 0, "/api/v1/health reports notify_queue_usage", repr(h))
        bu = ct.wait_until(lambda: (ct.http("GET", health_b).json or {}).get(
            "notify_queue_usage", 0) > 0, timeout=8, step=0.25)
        T.ok(bu, "a healthy node's /health reports notify_queue_usage",
             repr(ct.http("GET", health_b)))
    finally:
        # the operator's remedy: the stuck node goes (kill, restart); SIGKILL
        # ends a stopped process too, and a SIGCONT after it could find the
        # pid already reaped
        os.kill(a, signal.SIGKILL)
    T.ok(fx.wait_dead(a), "the frozen node is gone")
    gone = ct.wait_until(lambda: ct.sql1(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
        "'crosstalk-wsd-listen'") == "1", timeout=10)
    T.ok(gone, "its LISTEN connection is gone (only node B's remains)")
    # the tail advances when a notifying backend crosses a few pages
    t0 = time.time()

    def freed():
        ct.sql("SELECT count(pg_notify('ct_probe', 'p ' || g)) FROM generate_series(1, 500) g")
        return usage() < max(u1 * 0.02, 2e-6)
    T.ok(ct.wait_until(freed, timeout=15, step=0.2), "the queue is freed after the kill",
         "usage %g" % usage())
    free_s = time.time() - t0
    u2 = usage()
    r = api("POST", "messages", session=session()[0],
            json_body={"channel": "general", "text": "after"})
    T.eq(r.status, 201, "posting goes on after the kill")
    hours_stated = capacity / STATED_RATE / 3600 if capacity else 0
    hours_http = capacity / http_rate / 3600 if capacity and http_rate else 0
    print("at %d posts/s the queue fills in %.1f h; at this machine's measured HTTP rate "
          "(%.0f posts/s) in %.1f h" % (STATED_RATE, hours_stated, http_rate, hours_http))
    fx.figure("notify_queue", bytes_per_post="%.1f" % per_post,
              capacity_posts="%.0f" % capacity, stated_rate=STATED_RATE,
              hours_at_stated_rate="%.1f" % hours_stated,
              measured_http_rate="%.0f" % http_rate,
              hours_at_measured_rate="%.1f" % hours_http,
              usage_before="%.6f" % u0, usage_frozen="%.6f" % u1,
              usage_after_kill="%.6f" % u2, freed_in_s="%.1f" % free_s)
finally:
    stack.down()
T.done()
