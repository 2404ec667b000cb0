"""Two crosstalk-wsd nodes on one database act as one hub: each delivers
the other's messages, presence spans both, sessions/end reaches both.
Also SIGHUP (a bad file keeps the old config) and SIGTERM (clients get
1001, the node's users leave)."""
import os
import re
import signal
import socket
import subprocess
import urllib.request

from wsh import *


async def main():
    state = ENV["CROSSTALK_STATE"]
    node, port, conf, good = start_node("node-b")
    try:
        T.ok(wait_until(lambda: health(port) == 200, 10), "node B is up")
        url_b = "ws://127.0.0.1:%d/ws" % port
        ch = new_channel("nodes")
        a, ua, ra = await login("app1")
        ref, ub = session("app2")
        b = await ws_open(ENV["APP2_ORIGIN"], url=url_b)
        await ws_send(b, type="auth", ticket=ticket(ref, "app2"))
        w = (await ws_until(b, lambda e: True))[0]
        T.eq((w.get("type"), w.get("node")), ("welcome", "node-b"), "welcome from node B")
        await subscribe(a, ch)
        await subscribe(b, ch)
        await ws_send(a, type="publish", channel=ch, text="from A")
        m = (await ws_until(b, lambda e: e["type"] == "message"))[-1]
        T.eq((m["text"], m["seq"]), ("from A", "1"), "node B's subscriber gets node A's message")
        await ws_send(b, type="publish", channel=ch, text="from B")
        got = await ws_until(a, lambda e: e["type"] == "message" and e["text"] == "from B")
        T.eq([e["seq"] for e in msgs(got)], ["1", "2"], "node A's subscriber gets node B's message")
        await ws_send(b, type="typing", channel=ch)
        t = (await ws_until(a, lambda e: e["type"] == "typing"))[-1]
        T.eq(t["user"]["id"], ub, "typing crosses nodes")

        # rows are written in batches (0.1 s): the answer, or a join right
        # after it, shows the other node's user
        await ws_send(a, type="presence", channel=ch)
        ids = set()

        def seen(e):
            if e["type"] == "presence":
                ids.update(u["id"] for u in e["users"])
            elif e["type"] == "join":
                ids.add(e["user"]["id"])
            return ids >= {ua, ub}
        try:
            await ws_until(a, seen, 3)
        except asyncio.TimeoutError:
            pass
        # widgets of other tests on the shared stack subscribe to every open
        # channel they see: count only this test's users
        T.eq(sorted(ids & {ua, ub}), sorted([ua, ub]), "presence spans both nodes")
        n = sql1("SELECT count(DISTINCT node_id) FROM crosstalk.presence WHERE channel = :'v1' "
                 "AND user_id IN (:'v2', :'v3')", ch, ua, ub)
        T.eq(n, "2", "presence rows from two nodes")

        # a member removed is unsubscribed on the node it is connected to
        pch = "p" + ch
        r = api("POST", "channels/create", key=ENV["APP1_KEY"],
                json_body={"name": pch, "private": True, "members": [ua, ub]})
        T.eq(r.status, 200, "a private channel of both")
        await subscribe(b, pch)
        r = api("POST", "channels/members/remove", key=ENV["APP1_KEY"],
                json_body={"channel": pch, "users": [ub]})
        T.eq(r.status, 200, "B's user removed through node A's database")
        evs = await ws_until(b, lambda e: e["type"] == "unsubscribed" and e.get("channel") == pch)
        T.eq(evs[-1].get("reason"), "removed", "node B ends the removed member's subscription")

        # SIGHUP with a broken file: keeps running on the old config
        open(conf, "w").write(good + "\n[wsd]\nqueue_max = banana\n")
        node.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        T.eq(health(port), 200, "a bad reload keeps the node running")
        await ws_send(b, type="ping")
        T.eq((await ws_until(b, lambda e: e["type"] == "pong"))[-1]["type"], "pong", "and its clients")
        T.ok("reload failed" in open(os.path.join(state, "wsd-node-b.log")).read(), "the bad reload is logged")
        open(conf, "w").write(good.replace("[limits]\n", "[limits]\ntyping_per_s = 5\n", 1)
                              if "[limits]\n" in good else good + "\n[limits]\ntyping_per_s = 5\n")
        node.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        T.ok("config reloaded" in open(os.path.join(state, "wsd-node-b.log")).read(), "a good reload applies")

        # sessions/end reaches node B
        b2 = await ws_open(ENV["APP2_ORIGIN"], url=url_b)
        ref2, u2 = session("app2")
        await ws_send(b2, type="auth", ticket=ticket(ref2, "app2"))
        await ws_until(b2, lambda e: e["type"] == "welcome")
        r = api("POST", "sessions/end", key=ENV["APP2_KEY"], session=ref2)
        T.ok(r.status == 200, "sessions/end", r)
        T.eq(await close_code(b2, 3), 4001, "sessions/end closes a socket on node B")

        # SIGTERM: 1001 to clients, exit 0, its users leave presence
        node.send_signal(signal.SIGTERM)
        T.eq(await close_code(b, 5), 1001, "SIGTERM closes clients with 1001")
        T.eq(node.wait(10), 0, "node B exits 0")
        lv = (await ws_until(a, lambda e: e["type"] == "leave" and e["user"]["id"] == ub, 5))[-1]
        T.eq(lv["channel"], ch, "node B's user leaves presence")
        await a.close()
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


run(main())
