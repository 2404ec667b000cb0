"""Handshake and limits: Origin check, ticket reuse, auth timeout, login
end (HTTP and SQL), frame size 1009, invalid UTF-8 1007, publish flood
(rate_limited, then 1008), the bound address, and the HTTP side (widget CSP,
/widget/config, static files, no traversal, health)."""
import http.client as httpclient
import urllib.parse

from websockets.frames import Opcode

from wsh import *


def port():
    return int(urllib.parse.urlparse(ENV["CROSSTALK_WS"]).port)


def get(path):
    c = httpclient.HTTPConnection("127.0.0.1", port(), timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


async def main():
    # an unauthenticated socket is closed after auth_timeout (10 s)
    idle = await ws_open()
    t0 = time.time()

    # Origin
    try:
        w = await ws_open(origin="http://evil.example")
        T.ok(False, "foreign origin refused")
        await w.close()
    except websockets.exceptions.InvalidStatusCode as e:
        T.eq(e.status_code, 403, "foreign origin refused with 403")
    for o in (ENV["APP2_ORIGIN"], ENV["CROSSTALK_WSD"]):
        w = await ws_open(origin=o)
        T.ok(w.open, "origin %s accepted" % o)
        await w.close()

    # tickets: single use; garbage; a first frame that is not auth
    ref, uid = session("app1")
    t = ticket(ref)
    w = await ws_open()
    await ws_send(w, type="auth", ticket=t)
    ev = (await ws_until(w, lambda e: True))[0]
    T.eq(ev.get("type"), "welcome", "first use of a ticket")
    w2 = await ws_open()
    await ws_send(w2, type="auth", ticket=t)
    T.eq(await close_code(w2), 4001, "a reused ticket is refused with 4001")
    w3 = await ws_open()
    await ws_send(w3, type="auth", ticket="ctt_nonsense")
    T.eq(await close_code(w3), 4001, "a bad ticket: 4001")
    w4 = await ws_open()
    await ws_send(w4, type="subscribe", channel="general")
    T.eq(await close_code(w4), 4001, "a first frame other than auth: 4001")
    w5 = await ws_open(url=ENV["CROSSTALK_WS"] + "?ticket=" + ticket(ref))
    ev = (await ws_until(w5, lambda e: True))[0]
    T.eq(ev.get("type"), "welcome", "ticket in the query string")

    # sessions/end over HTTP closes that login's sockets within 1 s
    await subscribe(w, "general")
    t1 = time.time()
    r = api("POST", "sessions/end", session=ref)
    T.ok(r.status == 200, "sessions/end", r)
    T.eq(await close_code(w, 3), 4001, "sessions/end closes the socket with 4001")
    T.eq(await close_code(w5, 3), 4001, "... and every socket of that login")
    T.ok(time.time() - t1 < 1.5, "within a second (%.2fs)" % (time.time() - t1))
    # end_session from SQL (an app's own transaction)
    ws6, u6, ref6 = await login("app2")
    sql("SELECT crosstalk.end_session('app2', :'v1')", ref6)
    T.eq(await close_code(ws6, 3), 4001, "end_session() in SQL closes the socket")
    other, _, _ = await login("app1")

    # frame too big: 1009; invalid UTF-8: 1007
    w7, _, _ = await login("app1")
    await w7.send(json.dumps({"type": "publish", "channel": "general", "text": "x" * 70000}))
    T.eq(await close_code(w7), 1009, "a frame over 64 KiB closes with 1009")
    w8, _, _ = await login("app1")
    await w8.write_frame(True, Opcode.TEXT, b'{"type":"ping","x":"\xff\xfe"}')
    T.eq(await close_code(w8), 1007, "invalid UTF-8 closes with 1007")

    # publish flood: 20 per 10 s, then rate_limited with retry_after, then 1008
    ch = new_channel("flood")
    w9, u9, _ = await login("app1")
    for i in range(60):
        try:
            await ws_send(w9, type="publish", channel=ch, text="flood %d" % i)
        except websockets.exceptions.ConnectionClosed:
            break
    evs = []
    code = None
    try:
        while True:
            evs += await ws_events(w9, 5)
    except websockets.exceptions.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else 1006
    except asyncio.TimeoutError:
        pass
    acks = [e for e in evs if e["type"] == "ack"]
    lim = [e for e in evs if e.get("code") == "rate_limited"]
    T.eq(len(acks), 20, "20 publishes accepted")
    T.ok(lim and all(e.get("retry_after", 0) >= 1 for e in lim), "then rate_limited with retry_after")
    T.eq(code, 1008, "sustained flooding closes with 1008")
    T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1'", ch), "20", "20 stored")
    # the HTTP API shares the limit
    refh, _ = session("app1", u9)
    r = api("POST", "messages", session=refh, json_body={"channel": ch, "text": "over http"})
    T.eq(r.status, 429, "the limit is shared with the HTTP API")

    # the other connection was not disturbed
    await ws_send(other, type="ping")
    T.eq((await ws_until(other, lambda e: e["type"] == "pong"))[-1]["type"], "pong", "others unaffected")

    # listen only where configured
    p = port()
    rows4 = [l.split() for l in open("/proc/net/tcp").read().splitlines()[1:]]
    rows6 = [l.split() for l in open("/proc/net/tcp6").read().splitlines()[1:]]
    lis4 = [r[1] for r in rows4 if r[3] == "0A" and int(r[1].split(":")[1], 16) == p]
    lis6 = [r[1] for r in rows6 if r[3] == "0A" and int(r[1].split(":")[1], 16) == p]
    T.eq((lis4, lis6), (["0100007F:%04X" % p], []), "bound to 127.0.0.1 only, not [::]")

    # HTTP side
    st, h, body = get("/widget?channel=general")
    T.eq(st, 200, "/widget")
    T.ok(h.get("content-type", "").startswith("text/html"), "widget content type", h)
    csp = h.get("content-security-policy", "")
    T.ok("frame-ancestors" in csp and ENV["APP1_ORIGIN"] in csp and ENV["APP2_ORIGIN"] in csp,
         "CSP frame-ancestors lists the app origins", csp)
    st, h, body = get("/widget/config")
    cfg = json.loads(body)
    T.ok(st == 200 and ENV["APP1_ORIGIN"] in cfg["origins"] and ENV["APP2_ORIGIN"] in cfg["origins"],
         "/widget/config lists the registered origins", body)
    T.eq(cfg.get("ws_url"), ENV["CROSSTALK_WS"], "/widget/config ws_url")
    st, h, body = get("/crosstalk.js")
    T.ok(st == 200 and h.get("content-type", "").startswith("text/javascript"), "JS content type", h)
    T.ok("max-age" in h.get("cache-control", ""), "JS caching header", h)
    for bad in ("/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt", "/.git/config",
                "//etc/passwd", "/widget.html/../../README.md"):
        st, h, body = get(bad)
        T.ok(st in (400, 403, 404) and b"cmake_minimum" not in body and b"[core]" not in body,
             "no traversal: %s -> %d" % (bad, st))
    st, h, body = get("/health")
    j = json.loads(body)
    T.ok(st == 200 and j["ok"] and j["database"]["listen"] and "notify_queue_usage" in j, "health", body)

    # the idle socket from the start
    code = await close_code(idle, max(0.5, 12 - (time.time() - t0)))
    T.eq(code, 4001, "no auth within auth_timeout: closed with 4001")
    T.ok(9 <= time.time() - t0 <= 13, "after about 10 s (%.1f)" % (time.time() - t0))


run(main())
