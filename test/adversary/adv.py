"""adv.py - what the adversary tests share: a private stack (fx.Stack), the
victim who must not notice the attacker, the daemons' pids and memory.

Every measured figure is printed as "FIGURE name k=v ..." (fx.figure);
docs/RELIABILITY.md quotes them. Bounds in the checks are generous (a
2-core machine running the attack and the victim): they catch a stall or a
crash, never a slowdown."""
import asyncio
import json
import os
import signal
import time

import ct
import fx
from ct import T

VICTIM_MS = 3000  # a victim's login or round trip, at worst, under attack


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def pids_kept(stack, before, what):
    """The daemons still run under the pids they had before the attack."""
    now = stack.pids()
    for name in ("wsd", "fcgi"):
        T.eq(now.get(name), before.get(name), "%s: %s kept its pid" % (what, name))
        T.ok(fx.alive(now.get(name, -1)), "%s: %s is alive" % (what, name))


async def login(app="app1", user=None, url=None, origin=None, timeout=10, ref=None):
    """(ws, user id, ms from ticket to welcome); raises without a welcome.
    ref: log in with this session instead of a new one."""
    if not ref:
        ref, user = ct.session(app, user)
    t = ct.ticket(ref, app)
    t0 = time.time()
    ws = await ct.ws_open(origin or ct.ENV["APP1_ORIGIN" if app == "app1" else "APP2_ORIGIN"],
                          url=url)
    await ct.ws_send(ws, type="auth", ticket=t)
    evs = await ct.ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), timeout)
    if evs[-1].get("type") != "welcome":
        raise RuntimeError("no welcome: %r" % evs[-1])
    return ws, user, (time.time() - t0) * 1000


async def victim(what, channel, url=None, app="app1", quiet=False):
    """A user who logs in, subscribes, publishes and gets the ack and the
    message back, and an HTTP post that reaches them: each within
    VICTIM_MS. Returns the slowest step in ms, -1 when a step failed.
    quiet: return it without checking."""
    worst = 0
    step = "login"
    try:
        ws, user, ms = await login(app, url=url)
        worst = ms
        step = "subscribe"
        t0 = time.time()
        await ct.ws_send(ws, type="subscribe", channel=channel, after="-1")
        await ct.ws_until(ws, lambda e: e.get("type") in ("subscribed", "error")
                          and e.get("channel", channel) == channel, 10)
        worst = max(worst, (time.time() - t0) * 1000)
        step = "publish"
        cid = ct.uniq("v")
        t0 = time.time()
        await ct.ws_send(ws, type="publish", channel=channel, text="victim " + cid,
                         client_id=cid)
        # the ack and the message may come in either order
        seen = set()

        def both(e):
            if e.get("client_id") == cid and e.get("type") in ("ack", "message", "error"):
                seen.add(e["type"])
            return {"ack", "message"} <= seen or "error" in seen
        await ct.ws_until(ws, both, 10)
        if "error" in seen:
            raise RuntimeError("publish refused")
        worst = max(worst, (time.time() - t0) * 1000)
        step = "HTTP post"
        ref, _ = ct.session(app)
        hcid = ct.uniq("h")
        t0 = time.time()
        r = ct.api("POST", "messages", session=ref,
                   key=ct.ENV["APP1_KEY" if app == "app1" else "APP2_KEY"],
                   json_body={"channel": channel, "text": "http " + hcid, "client_id": hcid})
        if r.status not in (200, 201):
            raise RuntimeError("HTTP post: %r" % r)
        await ct.ws_until(ws, lambda e: e.get("type") == "message" and e.get("client_id") == hcid, 10)
        worst = max(worst, (time.time() - t0) * 1000)
        await ws.close()
    except Exception as e:
        if quiet:
            return -1
        T.ok(False, "%s: the victim is served" % what, "%s: %r" % (step, e))
        try:
            m = ct.http("GET", (url.replace("ws://", "http://").rsplit("/", 1)[0] if url
                                else ct.ENV["CROSSTALK_WSD"]) + "/metrics").raw.decode()
            print("\n".join(l for l in m.splitlines() if not l.startswith("#") and
                            ("notif" in l or "events" in l or "queue" in l or "deliver" in l)),
                  flush=True)
        except Exception:
            pass
        return -1
    if not quiet:
        T.ok(worst < VICTIM_MS, "%s: the victim is served within %d ms" % (what, VICTIM_MS),
             "slowest step %.0f ms" % worst)
    return worst


async def drain(ws, seconds):
    """Read what comes for a while; returns the events (never raises)."""
    got = []
    end = time.time() + seconds
    try:
        while time.time() < end:
            got += await ct.ws_events(ws, end - time.time())
    except Exception:
        pass
    return got


