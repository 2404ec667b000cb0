"""PostgreSQL restarts mid-stream (pg_ctl restart -m fast): client sockets
stay open, the daemon reconnects (LISTEN first, then catch up), and live
subscribers get every committed message exactly once, in order. Also the
batched resolve_session re-check closes a login ended without a NOTIFY.
Keepalive: with ping_interval 1 s and idle_timeout 3 s, a client that
answers pings stays, a silent raw socket is dropped.
Starts its own stack (CT_EXTRA_CONF: session_recheck = 2, ping 1, idle 3)."""
import os
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
src = os.environ.get("CT_SRC", os.path.join(here, "..", ".."))
state = os.path.join(os.environ["CT_BIN"], "ws-pgrestart-stack")
env = dict(os.environ, CT_EXTRA_CONF="[limits]\nsession_recheck = 2\nping_interval = 1\nidle_timeout = 3\n")
up = subprocess.run([os.path.join(src, "scripts", "stack.sh"), "up", state, os.environ["CT_BIN"]], env=env)
if up.returncode != 0:
    print("FAIL: stack did not start")
    sys.exit(1)
os.environ["CT_STATE"] = state

from wsh import *  # noqa: E402  (ENV comes from CT_STATE)


def restart_pg():
    pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    cmd = ["/usr/lib/postgresql/%s/bin/pg_ctl" % pgbin, "-D", ENV["PGDATA"], "-m", "fast", "-w",
           "-l", os.path.join(os.path.dirname(ENV["PGDATA"]), "pg.log"), "restart"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True)


async def main():
    ch = new_channel("restart")
    a, ua, ra = await login("app1")
    b, ub, rb = await login("app2")
    await subscribe(a, ch)
    await subscribe(b, ch)
    stop = threading.Event()
    ok_posts = []
    failed = [0]

    def writer():
        i = 0
        while not stop.is_set() and i < 400:
            i += 1
            try:
                ok_posts.append(int(post_sql(ch, "w%d" % i)[1]))
            except Exception:
                failed[0] += 1
                time.sleep(0.05)
    th = threading.Thread(target=writer)
    th.start()
    seen = {"a": [], "b": []}

    async def reader(name, ws):
        while not stop.is_set():
            try:
                for e in await ws_events(ws, 0.5):
                    if e.get("type") == "message" and e.get("channel") == ch:
                        seen[name].append(int(e["seq"]))
            except asyncio.TimeoutError:
                pass

    async def committed(n, secs=30):  # until the writer has n posts in
        end = time.time() + secs
        while len(ok_posts) < n and time.time() < end:
            await asyncio.sleep(0.05)
    readers = asyncio.gather(reader("a", a), reader("b", b))
    # posts before, during and after the restart: counted, not timed (a
    # loaded machine posts fewer in a given time)
    await committed(12)
    r = await asyncio.get_running_loop().run_in_executor(None, restart_pg)
    T.ok(r.returncode == 0, "pg_ctl restart -m fast", r.stderr)
    await committed(len(ok_posts) + 12)
    stop.set()
    th.join()
    await readers
    total = int(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch))
    for name, ws in (("a", a), ("b", b)):
        if len(seen[name]) < total:
            more = await collect(ws, lambda g: len(seen[name]) + len(msgs(g, ch)) >= total, 10)
            seen[name] += [int(e["seq"]) for e in msgs(more, ch)]
    T.ok(failed[0] > 0, "some posts failed while PostgreSQL was down (%d)" % failed[0])
    T.ok(total > 20 and len(ok_posts) == total, "posts committed around the restart: %d" % total)
    for name in ("a", "b"):
        T.ok(seen[name] == list(range(1, total + 1)),
             "subscriber %s got all %d committed messages exactly once, in order" % (name, total),
             "got %d: %r..." % (len(seen[name]), [x for i, x in enumerate(seen[name]) if x != i + 1][:5]))
    T.ok(wait_until(lambda: http("GET", ENV["CROSSTALK_WSD"] + "/health").status == 200, 5), "health 200 again")
    await ws_send(a, type="publish", channel=ch, text="after restart", client_id="ar")
    ack = (await ws_until(a, lambda e: e["type"] in ("ack", "error"), 10))[-1]
    T.eq((ack["type"], ack.get("seq")), ("ack", str(total + 1)), "publishing works again")
    m = (await ws_until(b, lambda e: e["type"] == "message", 5))[-1]
    T.eq(m["text"], "after restart", "and is delivered")

    # a login that ends without a NOTIFY is found by the re-check
    sql("UPDATE crosstalk.sessions SET ended_at = now() "
        "WHERE ref_hash = encode(sha256(convert_to(:'v1', 'UTF8')), 'hex')", rb)
    t0 = time.time()
    T.eq(await close_code(b, 6), 4001, "resolve_session re-check closes an ended login")
    T.ok(time.time() - t0 < 4, "within session_recheck (2 s) + 1 (%.1fs)" % (time.time() - t0))

    # keepalive: a WebSocket that never answers pings is dropped
    import socket as so
    port = int(ENV["CROSSTALK_WS"].rsplit(":", 1)[1].split("/")[0])
    def silent():  # in a thread: the event loop must keep answering pings
        raw = so.create_connection(("127.0.0.1", port))
        raw.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Protocol: crosstalk.v1\r\n\r\n")
        raw.settimeout(8)
        data = b""
        try:
            while True:
                x = raw.recv(4096)
                if not x:
                    break
                data += x
        except (so.timeout, ConnectionResetError):
            pass
        raw.close()
        return data
    t0 = time.time()
    data = await asyncio.get_running_loop().run_in_executor(None, silent)
    T.ok(data.startswith(b"HTTP/1.1 101"), "raw socket upgraded")
    T.ok(b"\x89" in data[data.find(b"\r\n\r\n"):], "the daemon pinged it")
    T.ok(time.time() - t0 < 7.5, "a silent socket is closed (%.1fs)" % (time.time() - t0))
    await asyncio.sleep(3.5)  # a (pong-answering) client survives idle_timeout
    await ws_send(a, type="ping")
    T.eq((await ws_until(a, lambda e: e["type"] == "pong"))[-1]["type"], "pong",
         "a client that answers pings outlives idle_timeout")
    await a.close()


def down():
    d = subprocess.run([os.path.join(src, "test", "fixtures", "stack-down.sh"), state, os.environ["CT_BIN"]])
    return d.returncode


try:
    asyncio.run(main())
except Exception as e:
    import traceback
    traceback.print_exc()
    T.ok(False, "test raised %r" % e)
finally:
    T.ok(down() == 0, "stack stopped cleanly, no sanitizer reports")
T.done()
