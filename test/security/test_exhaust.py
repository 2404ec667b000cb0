#!/usr/bin/python3
"""test_exhaust.py - resource abuse and exposure: 2,000 unauthenticated
WebSocket sockets held open from many addresses (the daemon stays
responsive for an authenticated client and closes them after
auth_timeout), and from one address no more than [wsd] unauth_per_addr of
them (the rest refused with 429 at the handshake), floods past every
rate limit (publish 20 per 10 s per user over HTTP and WebSocket, shared
between crosstalk-fcgi and crosstalk-wsd; typing 1 per s), and the daemons
listening only on their configured addresses (/proc/net/tcp and tcp6,
IPv6 included). Every case runs through sx.Suite: its answer, and the
database unchanged (or changed by exactly what the limit lets through)."""
import asyncio
import base64
import os
import re
import resource
import time

import ct
import sx
from ct import ENV, T, api, session, sql1, uniq

S = sx.Suite()
WS_PORT = sx.port_of(ENV["CROSSTALK_WS"])
HTTP_PORT = sx.port_of(ENV["CROSSTALK_HTTP"])
N_IDLE = int(os.environ.get("CT_IDLE_SOCKETS", "2000"))


def conf_value(section, key, default):
    sec = None
    for line in open(ENV["CROSSTALK_DAEMON_CONFIG"]):
        m = re.match(r"^\[(\w+)\]", line)
        if m:
            sec = m.group(1)
        m = re.match(r"^(\w+)\s*=\s*(\S+)", line)
        if m and sec == section and m.group(1) == key:
            return int(m.group(2))
    return default


AUTH_TIMEOUT = conf_value("limits", "auth_timeout", 10)
PER_ADDR = conf_value("wsd", "unauth_per_addr", 64)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = min(hard, max(soft, N_IDLE * 2 + 200))
resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

chan = uniq("ex")
T.eq(api("POST", "channels/create", form={"name": chan}).status, 200, "setup: channel")


# --- 2,000 unauthenticated sockets ------------------------------------------

def source(i):
    """The i-th attacker address: 127.0.1.x, 127.0.2.x ... (all loopback),
    never 127.0.0.1, where the victim connects from."""
    return "127.0.%d.%d" % (1 + i // 250, 1 + i % 250)


async def handshake(subprotocol=True, src="127.0.0.1", status=b" 101 "):
    r, w = await asyncio.open_connection("127.0.0.1", WS_PORT, local_addr=(src, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Origin: %s\r\n%s\r\n" % (WS_PORT, key, ENV["APP1_ORIGIN"],
                                     "Sec-WebSocket-Protocol: crosstalk.v1\r\n"
                                     if subprotocol else ""))
    w.write(req.encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20)
    if status not in head.split(b"\r\n", 1)[0]:
        w.close()
        raise RuntimeError("handshake: %r" % head[:80])
    return r, w


async def wait_closed(r, deadline):
    """True once the server hangs up (EOF) before the deadline."""
    try:
        while True:
            left = deadline - time.time()
            if left <= 0:
                return False
            if not await asyncio.wait_for(r.read(4096), left):
                return True
    except asyncio.TimeoutError:
        return False
    except ConnectionError:  # reset by the daemon: closed too
        return True


async def open_many(n, subprotocol=True, spread=True):
    """n sockets, at most PER_ADDR from each attacker address (spread), or
    all from one."""
    socks, failed = [], 0
    for start in range(0, n, 200):
        res = await asyncio.gather(*(handshake(subprotocol,
                                               source((start + i) // PER_ADDR if spread else 0))
                                     for i in range(min(200, n - start))),
                                   return_exceptions=True)
        for x in res:
            if isinstance(x, Exception):
                failed += 1
            else:
                socks.append(x)
    return socks, failed


async def idle_prep():
    return await sx.login("app1")


async def idle_case(ws):
    t0 = time.time()
    socks, failed = await open_many(N_IDLE)
    opened_s = time.time() - t0
    # while they are held: an authenticated client is served at once
    t1 = time.time()
    await ct.ws_send(ws, type="subscribe", channel=chan, after="0")
    await ct.ws_until(ws, lambda e: e.get("type") == "subscribed", 5)
    await ct.ws_send(ws, type="ping")
    await ct.ws_until(ws, lambda e: e.get("type") == "pong", 5)
    served_ms = (time.time() - t1) * 1000
    health = sx.raw_http(WS_PORT, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0]
    # then every one of them is closed after auth_timeout
    deadline = t0 + AUTH_TIMEOUT + opened_s + 6
    closed = await asyncio.gather(*(wait_closed(r, deadline) for r, w in socks))
    closed_s = time.time() - t0
    for r, w in socks:
        w.close()
    await ws.close()
    print("idle sockets: %d open (%d failed) in %.1f s; client served in %.0f ms; "
          "%d closed by the daemon %.1f s after the first opened" % (
              len(socks), failed, opened_s, served_ms, sum(closed), closed_s), flush=True)
    sx_fig["idle"] = (len(socks), served_ms, sum(closed), closed_s)
    return (len(socks), failed, served_ms < 2000, health, sum(closed))


sx_fig = {}
S.case("2,000 unauthenticated sockets: held, others served, closed after auth_timeout",
       (N_IDLE, 0, True, 200, N_IDLE), idle_case, prep=idle_prep)


async def one_addr_case(ws):
    """From one address: PER_ADDR held, every one more refused with 429 at
    the handshake (no ticket lookup), while another address is served; the
    address is let in again once its sockets are gone."""
    socks, failed = await open_many(PER_ADDR + 50, spread=False)
    try:
        over = await handshake(src=source(0), status=b" 429 ")
        over[1].close()
        refused = True
    except Exception:
        refused = False
    await ct.ws_send(ws, type="ping")
    await ct.ws_until(ws, lambda e: e.get("type") == "pong", 5)
    for r, w in socks:
        w.close()
    await asyncio.sleep(0.5)
    again = await handshake(src=source(0))
    again[1].close()
    await ws.close()
    return (len(socks), failed, refused)


S.case("one address: unauth_per_addr sockets held, the rest refused with 429, others served",
       (PER_ADDR, 50, True), one_addr_case, prep=idle_prep)


async def noproto_case(ctx):
    socks, failed = await open_many(20, subprotocol=False)
    t0 = time.time()
    closed = await asyncio.gather(*(wait_closed(r, t0 + AUTH_TIMEOUT + 5) for r, w in socks))
    for r, w in socks:
        w.close()
    return (len(socks) + failed, sum(closed) + failed)


S.case("WebSocket without the crosstalk.v1 subprotocol: refused or closed after auth_timeout",
       (20, 20), noproto_case)

# --- floods past the rate limits ---------------------------------------------


def msgs_delta(n):
    def check(before, after):
        d = int(after[0].split(":")[0]) - int(before[0].split(":")[0])
        diff = [sx.NAMES[i] for i in range(len(before)) if before[i] != after[i]]
        return (T.eq(d, n, "exactly %d messages stored" % n) and
                T.ok(set(diff) <= {"messages", "message rows", "channels", "rate limits"},
                     "nothing else changed", repr(diff)))
    return check


def http_flood(ctx):
    ref = ctx
    codes, retry = [], []
    for i in range(25):
        r = api("POST", "messages", session=ref, json_body={"channel": chan, "text": "f%d" % i})
        codes.append(r.status)
        if r.status == 429:
            retry.append({k.lower(): v for k, v in r.headers.items()}.get("retry-after"))
            code = (r.json or {}).get("error", {}).get("code")
            if code != "rate_limited":
                return ("429 code", code)
    return (codes.count(201), codes.count(429), all(x and int(x) >= 1 for x in retry))


S.case("HTTP publish flood: 25 posts in a burst", (20, 5, True), http_flood,
       prep=lambda: session()[0], changes=msgs_delta(20), refusal=True)


async def shared_prep():
    ref, _ = session()
    return ref, await sx.login("app1", ref)


async def shared_flood(ctx):
    ref, ws = ctx
    n201 = sum(1 for i in range(10) if api("POST", "messages", session=ref, json_body={
        "channel": chan, "text": "h%d" % i}).status == 201)
    for i in range(15):
        await ct.ws_send(ws, type="publish", channel=chan, text="w%d" % i, client_id=uniq("c"))
    acks = limited = 0
    try:
        while acks + limited < 15:
            for e in await ct.ws_events(ws, 5):
                if e.get("type") == "ack":
                    acks += 1
                elif e.get("type") == "error" and e.get("code") == "rate_limited" and \
                        e.get("retry_after", 0) >= 1:
                    limited += 1
                elif e.get("type") == "error":
                    return ("error", e)
    finally:
        await ws.close()
    return (n201, acks, limited)


S.case("publish limit shared by HTTP and WebSocket: 10 posts, then 15 publishes",
       (10, 10, 5), shared_flood, prep=shared_prep, changes=msgs_delta(20), refusal=True)


async def ws_flood(ws):
    for i in range(60):
        await ct.ws_send(ws, type="publish", channel=chan, text="z%d" % i, client_id=uniq("c"))
    acks = 0
    code = None
    try:
        end = time.time() + 10
        while time.time() < end:
            for e in await ct.ws_events(ws, 5):
                acks += e.get("type") == "ack"
    except Exception:
        code = ws.close_code
    return (acks, code)


S.case("WebSocket publish flood: 60 publishes, closed with 1008", (20, 1008), ws_flood,
       prep=lambda: sx.login("app1"), changes=msgs_delta(20), refusal=True)


async def typing_prep():
    a = await sx.login("app1")
    b = await sx.login("app1")
    for ws in (a, b):
        await ct.ws_send(ws, type="subscribe", channel=chan, after="-1")
        await ct.ws_until(ws, lambda e: e.get("type") == "subscribed", 5)
    return a, b


async def typing_flood(ctx):
    a, b = ctx
    for _ in range(3):
        await ct.ws_send(a, type="typing", channel=chan)
    errs = []
    try:
        while True:
            for e in await ct.ws_events(a, 1.0):
                if e.get("type") == "error":
                    errs.append(e.get("code"))
    except asyncio.TimeoutError:
        pass
    seen = 0
    try:
        while True:
            for e in await ct.ws_events(b, 1.0):
                seen += e.get("type") == "typing"
    except asyncio.TimeoutError:
        pass
    await a.close()
    await b.close()
    return (errs, seen)


S.case("typing flood: 3 in a burst, 1 per s passes", (["rate_limited", "rate_limited"], 1),
       typing_flood, prep=typing_prep)

# --- listening only where configured ----------------------------------------


def listeners(pid):
    """{(family, 'addr:port')} of the LISTEN TCP sockets a process holds."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    out = set()
    for fam in ("tcp", "tcp6"):
        for line in open("/proc/net/" + fam).read().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:
                addr, port = f[1].split(":")
                if fam == "tcp":
                    a = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    a = "[%s]" % addr
                out.add("%s %s:%d" % (fam, a, int(port, 16)))
    return out


def children(pid):
    try:
        return [int(x) for x in open("/proc/%d/task/%d/children" % (pid, pid)).read().split()]
    except OSError:
        return []


pids = {}
for line in open(os.path.join(ENV["CROSSTALK_STATE"], "pids")):
    name, pid = line.split()
    pids[name] = int(pid)
pg_pid = int(open(os.path.join(ENV["PGDATA"], "postmaster.pid")).readline())


def bound(name, pid_list):
    def fn(ctx):
        got = set()
        for p in pid_list:
            got |= listeners(p)
        return sorted(got)
    return fn


wsd_pids = [pids["wsd"]] + children(pids["wsd"])
S.case("crosstalk-wsd listens on 127.0.0.1:%d only" % WS_PORT,
       ["tcp 127.0.0.1:%d" % WS_PORT], bound("wsd", wsd_pids))
S.case("crosstalk-fcgi holds no TCP listener (unix socket configured)", [],
       bound("fcgi", [pids["fcgi"]]))
S.case("nginx listens on 127.0.0.1:%d only" % HTTP_PORT, ["tcp 127.0.0.1:%d" % HTTP_PORT],
       bound("nginx", [pids["nginx"]] + children(pids["nginx"])))
S.case("PostgreSQL listens on 127.0.0.1 only", ["tcp 127.0.0.1:%s" % ENV["PGPORT"]],
       bound("postgres", [pg_pid]))

if "idle" in sx_fig:
    n, ms, closed, secs = sx_fig["idle"]
    print("FIGURE idle_sockets held=%d client_served_ms=%.0f closed=%d closed_by_s=%.1f "
          "auth_timeout=%d" % (n, ms, closed, secs, AUTH_TIMEOUT), flush=True)
T.eq(sx.raw_http(WS_PORT, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0],
     200, "the daemon is healthy after every case")
S.done()
T.done()
