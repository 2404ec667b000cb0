"""A node that crashes (SIGKILL: no goodbye) stops counting in presence once
its heartbeat is older than presence_ttl: watchers on the other nodes get
`leave`. Runs two extra nodes with presence_ttl = 5 on the shared database."""
import os
import re
import signal
import socket
import subprocess
import urllib.request

from wsh import *


def start(name):
    p, port, _, _ = start_node(name, tail="\n[limits]\npresence_ttl = 5\n")
    return p, port


async def on(port, app):
    ref, u = session(app)
    w = await ws_open(ENV["APP1_ORIGIN" if app == "app1" else "APP2_ORIGIN"],
                      url="ws://127.0.0.1:%d/ws" % port)
    await ws_send(w, type="auth", ticket=ticket(ref, app))
    await ws_until(w, lambda e: e["type"] == "welcome")
    return w, u


async def main():
    c, pc = start("crash-c-" + uniq(""))
    d, pd = start("crash-d-" + uniq(""))
    try:
        T.ok(wait_until(lambda: health(pc) == 200 and health(pd) == 200, 10), "two nodes up")
        wc, uc = await on(pc, "app1")
        wd, ud = await on(pd, "app2")
        # a direct channel of the two: on the shared stack, other tests'
        # widgets subscribe to every open channel they can see
        ch = "dm:%s:%s" % tuple(sorted([uc, ud]))
        await subscribe(wc, ch)
        await subscribe(wd, ch)
        await ws_send(wc, type="presence", channel=ch)
        ids = set()

        def seen(e):
            if e["type"] == "presence":
                ids.update(u["id"] for u in e["users"])
            elif e["type"] == "join":
                ids.add(e["user"]["id"])
            return ids >= {uc, ud}
        await ws_until(wc, seen, 5)
        T.eq(sorted(ids), sorted([uc, ud]), "presence across both nodes")
        d.send_signal(signal.SIGKILL)
        d.wait()
        t0 = time.time()
        # only ud is in ch besides us; a leave of anyone else, or of another
        # channel, would be a daemon bug: keep them to report
        got = await ws_until(wc, lambda e: e["type"] == "leave" and e["user"]["id"] == ud, 10)
        dt = time.time() - t0
        stray = [e for e in got if e["type"] in ("join", "leave") and
                 (e.get("channel") != ch or e["user"]["id"] not in (uc, ud))]
        T.eq(stray, [], "no presence events of other channels or users")
        T.eq(got[-1].get("channel"), ch, "the crashed node's user leaves this channel")
        T.ok(dt < 5 + 2.5, "within presence_ttl plus a heartbeat (%.1fs)" % dt)
        await ws_send(wc, type="presence", channel=ch)
        p = (await ws_until(wc, lambda e: e["type"] == "presence"))[-1]
        T.eq([u["id"] for u in p["users"]], [uc], "presence without the crashed node")
        await wc.close()
    finally:
        for p in (c, d):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


run(main())
