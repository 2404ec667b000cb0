"""[wsd] workers = 2: two worker processes share the port (SO_REUSEPORT),
the kernel spreads connections over them, a message reaches subscribers of
both, and SIGTERM to the supervisor stops everything with 1001."""
import os
import re
import signal
import socket
import subprocess
import urllib.request

from wsh import *


async def main():
    state = ENV["CROSSTALK_STATE"]
    sup, port, conf, _ = start_node("pool", "workers = 2\n")
    try:
        T.ok(wait_until(lambda: health(port) == 200, 10), "workers are up")
        time.sleep(0.5)
        rows = [l.split() for l in open("/proc/net/tcp").read().splitlines()[1:]]
        lis = [r for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]
        T.eq(len(lis), 2, "two listening sockets share the port")
        ch = new_channel("workers")
        url = "ws://127.0.0.1:%d/ws" % port
        clients, nodes = [], set()
        for i in range(12):
            ref, u = session("app1")
            w = await ws_open(url=url)
            await ws_send(w, type="auth", ticket=ticket(ref))
            ev = (await ws_until(w, lambda e: True))[0]
            nodes.add(ev.get("node"))
            await subscribe(w, ch)
            clients.append(w)
        T.eq(nodes, {"pool-0", "pool-1"}, "connections spread over both workers")
        await ws_send(clients[0], type="publish", channel=ch, text="to all")
        n = 0
        for w in clients:
            m = (await ws_until(w, lambda e: e["type"] == "message"))[-1]
            n += m["text"] == "to all"
        T.eq(n, 12, "every subscriber on both workers gets the message")
        sup.send_signal(signal.SIGTERM)
        codes = [await close_code(w, 5) for w in clients]
        T.eq(set(codes), {1001}, "SIGTERM: 1001 on every worker's connections")
        T.eq(sup.wait(10), 0, "supervisor exits 0")
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()


run(main())
