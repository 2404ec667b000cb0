#!/usr/bin/python3
"""soak_mix.py SECONDS - the churning half of scripts/soak.sh: short
WebSocket sessions (login, auth, subscribe with replay, publish, typing,
presence, history, ping, close) and HTTP long-polls and posts, for SECONDS.
Prints one line of counts every 60 s and a final "mix:" line; exits non-zero
when more than 1 % of operations failed."""
import asyncio
import sys
import threading
import time

import ct
from ct import api, session, ticket, ws_events, ws_open, ws_send, ws_until

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 600
end = time.time() + secs
counts = {"ws_sessions": 0, "ws_events": 0, "http_polls": 0, "http_posts": 0,
          "errors": 0}
lock = threading.Lock()
last_err = []


def bump(k, n=1):
    with lock:
        counts[k] += n


def err(what):
    bump("errors")
    if len(last_err) < 20:
        last_err.append(what)


async def ws_round(i):
    ref, user = session("app1" if i % 2 == 0 else "app2")
    t = ticket(ref, "app1" if i % 2 == 0 else "app2")
    ws = await ws_open(ct.ENV["APP1_ORIGIN" if i % 2 == 0 else "APP2_ORIGIN"])
    try:
        await ws_send(ws, type="auth", ticket=t)
        await ws_until(ws, lambda e: e.get("type") == "welcome", 10)
        ch = "soak%d" % (i % 20)
        await ws_send(ws, type="subscribe", channel=ch, after="-20")
        evs = await ws_until(ws, lambda e: e.get("type") in ("subscribed", "error"), 10)
        if evs[-1].get("type") != "subscribed":
            err("subscribe %r" % evs[-1])
        await ws_send(ws, type="publish", channel=ch, text="mix %d" % i,
                      client_id="mix-%s-%d" % (user, i))
        await ws_until(ws, lambda e: e.get("type") in ("ack", "error"), 10)
        await ws_send(ws, type="typing", channel=ch)
        await ws_send(ws, type="presence", channel=ch, ref="p")
        await ws_until(ws, lambda e: e.get("type") == "presence", 10)
        await ws_send(ws, type="history", channel=ch, limit=20)
        await ws_until(ws, lambda e: e.get("type") == "history", 10)
        await ws_send(ws, type="ping")
        got = await ws_until(ws, lambda e: e.get("type") == "pong", 10)
        bump("ws_events", len(got) + len(evs))
        bump("ws_sessions")
    finally:
        await ws.close()


async def ws_loop():
    i = 0
    while time.time() < end:
        try:
            await asyncio.wait_for(ws_round(i), 30)
        except Exception as e:  # counted, the soak goes on
            err("ws %r" % e)
        i += 1
        await asyncio.sleep(0.2)


def http_loop(k):
    ref, user = session("app1")
    n = 0
    after = {}
    while time.time() < end:
        ch = "soak%d" % ((k + n) % 20)
        try:
            r = api("GET", "messages/poll", session=ref,
                    query={"channel": ch, "after": after.get(ch, "0"), "limit": "50",
                           "wait": "2"}, timeout=30)
            if r.status == 200:
                after[ch] = r.json["last_seq"]
                bump("http_polls")
            else:
                err("poll %r" % r)
            if n % 5 == 0:
                r = api("POST", "messages", session=ref,
                        json_body={"channel": ch, "text": "http mix %d" % n,
                                   "client_id": "hm-%s-%d" % (user, n)})
                if r.status in (200, 201):
                    bump("http_posts")
                else:
                    err("post %r" % r)
        except Exception as e:
            err("http %r" % e)
        n += 1
        time.sleep(0.1)


def reporter():
    t0 = time.time()
    while time.time() < end:
        time.sleep(min(60, max(0.1, end - time.time())))
        with lock:
            print("t=%ds %s" % (time.time() - t0, counts), flush=True)


threads = [threading.Thread(target=http_loop, args=(k,), daemon=True) for k in range(4)]
threads.append(threading.Thread(target=reporter, daemon=True))
for t in threads:
    t.start()
asyncio.run(ws_loop())
for t in threads:
    t.join(timeout=40)
total = sum(v for k, v in counts.items() if k != "errors" and k != "ws_events")
print("mix: %s" % counts, flush=True)
for e in last_err:
    print("error:", e[:300])
sys.exit(1 if counts["errors"] > max(1, total // 100) else 0)
