#!/usr/bin/python3
"""test_pg_restart.py - `pg_ctl restart -m fast` in the middle of a
5,000-message stream. 3 publishers post over HTTP (nginx -> crosstalk-fcgi)
with client_ids and retry a failed post with the same client_id; 3 HTTP
pollers long-poll messages/poll from their last seq and 2 WebSocket
subscribers resume with after=<last seq> if their connection drops.
Asserts for every reader: seqs 1..5,000 exactly once and in order; every
post finally answered 201 (or 200: a retry of a post that had committed
gets the same message); each publisher's order kept;
the database holds exactly 5,000 messages. (test/ws covers the WebSocket
side in depth; this is the HTTP pollers' half and the combined count.)"""
import asyncio
import os
import sys
import threading
import time

import websockets

import ct
import fx
from ct import T, api, session, ticket, ws_events, ws_open, ws_send, ws_until

N = int(os.environ.get("CT_FAULT_MESSAGES", "5000"))
PUBS = 3
POLLERS = 3
WS_SUBS = 2
RESTART_AT = N * 3 // 10
DEADLINE = 180

stack = fx.Stack("pg_restart", extra_conf="[limits]\npublish_count = 1000000\n",
                 env={"CT_HTTP_WORKERS": "12"})
stack.up()
try:
    chan = "pgrestart"
    r = api("POST", "channels/create", form={"name": chan, "title": "restart"})
    T.eq(r.status, 200, "channel created")
    t_end = time.time() + DEADLINE
    lock = threading.Lock()
    state = {"posted": 0, "restarted_at": None, "restart_s": None,
             "failed_posts": 0, "failed_polls": 0}
    pubs = {}

    def publisher(i, ref):
        msgs = ["p%d-%05d" % (i, k) for k in range(i, N, PUBS)]
        res = {}
        codes = {}
        for cid in msgs:
            while time.time() < t_end:
                try:
                    r = api("POST", "messages", session=ref, timeout=30,
                            json_body={"channel": chan, "text": cid, "client_id": cid})
                except Exception as e:  # connection refused/reset: retry
                    r = None
                if r is not None and r.status in (200, 201) and r.json:
                    res[cid] = int(r.json["message"]["seq"])
                    codes.setdefault(r.status, 0)
                    codes[r.status] += 1
                    with lock:
                        state["posted"] += 1
                    break
                with lock:
                    state["failed_posts"] += 1
                if r is not None and (r.json is None or r.json.get("ok") is not False):
                    codes.setdefault("bad", []).append(r.raw[:200])
                time.sleep(0.05)
        pubs[i] = (msgs, res, codes)

    polls = []

    def poller(chk, ref):
        while chk.last < N and time.time() < t_end:
            try:
                r = api("GET", "messages/poll", session=ref, timeout=40,
                        query={"channel": chan, "after": chk.last, "limit": 200, "wait": 5})
            except Exception:
                r = None
            if r is None or r.status != 200:
                with lock:
                    state["failed_polls"] += 1
                chk.reconnects += 1
                time.sleep(0.05)
                continue
            for e in r.json["messages"]:
                chk.add(e)

    def restarter():
        while state["posted"] < RESTART_AT and time.time() < t_end:
            time.sleep(0.005)
        state["restarted_at"] = state["posted"]
        t0 = time.time()
        out = stack.pg_restart()
        state["restart_s"] = time.time() - t0
        state["restart_rc"] = out.returncode
        print("pg_ctl restart -m fast after %d posts: rc %d in %.2f s %s" % (
            state["restarted_at"], out.returncode, state["restart_s"],
            out.stderr.strip()), flush=True)

    async def ws_subscriber(chk, ref):
        while chk.last < N and time.time() < t_end:
            try:
                t = await asyncio.to_thread(ticket, ref)
                ws = await ws_open()
                await ws_send(ws, type="auth", ticket=t)
                evs = await ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), 10)
                if evs[-1].get("type") != "welcome":
                    raise RuntimeError(evs[-1])
                await ws_send(ws, type="subscribe", channel=chan, after=str(chk.last))
                while chk.last < N:
                    for e in await ws_events(ws, 20):
                        chk.add(e)
                await ws.close()
            except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError,
                    RuntimeError):
                chk.reconnects += 1
                await asyncio.sleep(0.1)

    async def ws_all(chks, refs):
        await asyncio.gather(*(ws_subscriber(c, r) for c, r in zip(chks, refs)))

    ws_chks = [fx.StreamCheck("WebSocket subscriber %d" % k) for k in range(WS_SUBS)]
    ws_refs = [session()[0] for _ in range(WS_SUBS)]
    poll_chks = [fx.StreamCheck("HTTP poller %d" % k) for k in range(POLLERS)]
    threads = [threading.Thread(target=poller, args=(c, session()[0]), daemon=True)
               for c in poll_chks]
    ws_thread = threading.Thread(target=lambda: asyncio.run(ws_all(ws_chks, ws_refs)),
                                 daemon=True)
    for t in threads:
        t.start()
    ws_thread.start()
    time.sleep(0.5)
    refs = [session()[0] for _ in range(PUBS)]
    t0 = time.time()
    pthreads = [threading.Thread(target=publisher, args=(i, refs[i]), daemon=True)
                for i in range(PUBS)]
    rthread = threading.Thread(target=restarter, daemon=True)
    for t in pthreads + [rthread]:
        t.start()
    for t in pthreads + [rthread] + threads + [ws_thread]:
        t.join(max(1, t_end - time.time()))
    took = time.time() - t0

    T.ok(state["restarted_at"] is not None and 0 < state["restarted_at"] < N,
         "the database restarted mid-stream", "after %r posts" % state["restarted_at"])
    T.eq(state.get("restart_rc"), 0, "pg_ctl restart succeeded")
    cids = set()
    for i in range(PUBS):
        msgs, res, codes = pubs.get(i, ([], {}, {}))
        cids |= set(msgs)
        T.eq(len(res), len(msgs), "publisher %d: every post answered 200/201" % i)
        T.eq(codes.get("bad", []), [], "publisher %d: failures were JSON errors" % i)
        seqs = [res[c] for c in msgs if c in res]
        T.ok(all(a < b for a, b in zip(seqs, seqs[1:])),
             "publisher %d: its messages keep their order" % i)
    lost = dup = 0
    for chk in poll_chks + ws_chks:
        l, d = chk.report(T, N, cids)
        lost += l
        dup += d
    rows = ct.sql("SELECT count(*), count(DISTINCT client_id), coalesce(min(seq), 0), "
                  "coalesce(max(seq), 0) FROM crosstalk.messages WHERE channel = :'v1'", chan)
    T.eq(rows[0], [str(N), str(N), "1", str(N)], "database: N messages, seqs 1..N, no duplicate")
    T.ok(fx.http_ok(ct.ENV["CROSSTALK_HTTP"] + "/health"), "HTTP health is 200 again")
    T.ok(fx.http_ok(ct.ENV["CROSSTALK_WSD"] + "/health"), "daemon health is 200 again")
    fx.figure("pg_restart", messages=N, http_publishers=PUBS, http_pollers=POLLERS,
              ws_subscribers=WS_SUBS, restarted_after_posts=state["restarted_at"],
              restart_s="%.2f" % (state["restart_s"] or 0),
              failed_posts_retried=state["failed_posts"],
              failed_polls_retried=state["failed_polls"],
              ws_reconnects=sum(c.reconnects for c in ws_chks),
              lost=lost, duplicated=dup, seconds="%.1f" % took)
finally:
    stack.down()
T.done()
