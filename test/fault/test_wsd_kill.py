#!/usr/bin/python3
"""test_wsd_kill.py - kill -9 of a crosstalk-wsd node during a 5,000-message
stream from 3 publishers. Node A (the stack's) and node B (a second
crosstalk-wsd on another port, same database) both serve the channel. The
3 publishers and 3 subscribers sit on A, one more subscriber on B. When A
is killed mid-stream every client of A reconnects to B: subscribers resume
with after=<last seq seen>, publishers resend what was not acked with the
same client_id. Asserts: every subscriber sees seqs 1..5,000 exactly once
and in order, every publish is acked once, each publisher's messages keep
their order, and the database holds exactly 5,000 messages."""
import asyncio
import os
import signal
import sys
import time
from collections import deque

import websockets

import ct
import fx
from ct import T, api, session, ticket, ws_events, ws_open, ws_send, ws_until

N = int(os.environ.get("CT_FAULT_MESSAGES", "5000"))
PUBS = 3
WINDOW = 32
KILL_AT = N * 3 // 10
DEADLINE = 150

stack = fx.Stack("wsd_kill", extra_conf="[limits]\npublish_count = 1000000\n")
stack.up()
try:
    port_a = int(ct.ENV["CROSSTALK_WS"].rsplit(":", 1)[1].split("/")[0])
    port_b = ct.free_port()
    stack.start_wsd("wsd_b", port_b)
    url_a, url_b = fx.ws_url(port_a), fx.ws_url(port_b)
    r = api("POST", "channels/create", form={"name": "kill9", "title": "kill -9"})
    T.eq(r.status, 200, "channel created")
    chan = "kill9"
    state = {"acked": 0, "killed_at": None, "kill_t": None}
    t_end = time.time() + DEADLINE

    async def connect(url, ref):
        t = await asyncio.to_thread(ticket, ref)
        ws = await ws_open(url=url)
        await ws_send(ws, type="auth", ticket=t)
        evs = await ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), 10)
        if evs[-1].get("type") != "welcome":
            raise RuntimeError("auth: %r" % evs[-1])
        return ws

    async def publisher(i, ref, out):
        msgs = ["p%d-%05d" % (i, k) for k in range(i, N, PUBS)]
        acked = {}
        inflight = deque()
        nxt = 0
        url = url_a
        reconnects = 0
        errors = []
        while len(acked) < len(msgs) and time.time() < t_end:
            try:
                ws = await connect(url, ref)
                for cid in list(inflight):  # resend: same client_id
                    await ws_send(ws, type="publish", channel=chan, text=cid, client_id=cid)
                while len(acked) < len(msgs):
                    while len(inflight) < WINDOW and nxt < len(msgs):
                        cid = msgs[nxt]
                        nxt += 1
                        inflight.append(cid)
                        await ws_send(ws, type="publish", channel=chan, text=cid, client_id=cid)
                    for e in await ws_events(ws, 10):
                        if e.get("type") == "ack":
                            cid = e.get("client_id")
                            if cid in acked:
                                errors.append("second ack for %s" % cid)
                            acked[cid] = int(e["seq"])
                            if cid in inflight:
                                inflight.remove(cid)
                            state["acked"] += 1
                        elif e.get("type") == "error":
                            errors.append(e)
            except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError,
                    RuntimeError) as e:
                if url == url_a and state["killed_at"] is None:
                    errors.append("publisher %d lost A before the kill: %r" % (i, e))
                url = url_b
                reconnects += 1
                await asyncio.sleep(0.05)
        out[i] = (msgs, acked, reconnects, errors)

    async def subscriber(chk, url, ref, fallback):
        while chk.last < N and time.time() < t_end:
            try:
                ws = await connect(url, ref)
                await ws_send(ws, type="subscribe", channel=chan, after=str(chk.last))
                while chk.last < N:
                    for e in await ws_events(ws, 15):
                        if e.get("type") == "error":
                            print("subscriber %s error %r" % (chk.name, e))
                        chk.add(e)
                await ws.close()
            except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError,
                    RuntimeError):
                chk.reconnects += 1
                url = fallback
                await asyncio.sleep(0.05)

    async def killer():
        pid = stack.pid("wsd")
        while state["acked"] < KILL_AT and time.time() < t_end:
            await asyncio.sleep(0.005)
        state["killed_at"] = state["acked"]
        state["kill_t"] = time.time()
        os.kill(pid, signal.SIGKILL)
        print("killed node A (pid %d) after %d acks" % (pid, state["acked"]), flush=True)

    async def main():
        subs = []
        tasks = []
        for k in range(4):
            ref, _ = session()
            chk = fx.StreamCheck("subscriber %d on %s" % (k, "A" if k < 3 else "B"))
            subs.append(chk)
            tasks.append(asyncio.create_task(
                subscriber(chk, url_a if k < 3 else url_b, ref, url_b)))
        await asyncio.sleep(0.5)  # subscribed before the stream starts
        pubs = {}
        refs = [session()[0] for _ in range(PUBS)]
        t0 = time.time()
        ptasks = [asyncio.create_task(publisher(i, refs[i], pubs)) for i in range(PUBS)]
        ktask = asyncio.create_task(killer())
        await asyncio.gather(*ptasks)
        await ktask
        await asyncio.wait_for(asyncio.gather(*tasks), max(1, t_end - time.time()))
        return subs, pubs, time.time() - t0

    subs, pubs, took = asyncio.run(main())

    T.ok(state["killed_at"] is not None and 0 < state["killed_at"] < N,
         "node A was killed mid-stream", "at %r acks" % state["killed_at"])
    T.ok(not fx.alive(stack.pid("wsd")), "node A is gone")
    cids = set()
    for i in range(PUBS):
        msgs, acked, reconnects, errors = pubs[i]
        cids |= set(msgs)
        T.eq(len(acked), len(msgs), "publisher %d: every message acked" % i)
        T.eq(errors, [], "publisher %d: no error frames or double acks" % i)
        seqs = [acked[c] for c in msgs if c in acked]
        bad = [(msgs[k], seqs[k], msgs[k + 1], seqs[k + 1]) for k in range(len(seqs) - 1)
               if seqs[k] >= seqs[k + 1]]
        T.ok(not bad, "publisher %d: its messages keep their order" % i,
             "%d inversions, first: %r" % (len(bad), bad[:3]))
        T.ok(reconnects >= 1, "publisher %d reconnected to node B" % i)
    lost = dup = 0
    for chk in subs:
        l, d = chk.report(T, N, cids)
        lost += l
        dup += d
    T.ok(all(c.reconnects >= 1 for c in subs[:3]),
         "the subscribers of node A reconnected to node B")
    T.eq(subs[3].reconnects, 0, "the subscriber on node B was not disturbed")
    rows = ct.sql("SELECT count(*), count(DISTINCT client_id), coalesce(min(seq), 0), "
                  "coalesce(max(seq), 0) FROM crosstalk.messages WHERE channel = 'kill9'")
    T.eq(rows[0], [str(N), str(N), "1", str(N)], "database: N messages, seqs 1..N, no duplicate")
    T.eq(ct.sql1("SELECT last_seq FROM crosstalk.channels WHERE name = 'kill9'"), str(N),
         "channel last_seq")
    fx.figure("wsd_kill9", messages=N, publishers=PUBS, subscribers=len(subs),
              killed_after_acks=state["killed_at"], lost=lost, duplicated=dup,
              seconds="%.1f" % took)
finally:
    stack.down()
T.done()
