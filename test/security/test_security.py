#!/usr/bin/python3
"""test_security.py - bad input across the HTTP API (through nginx), the
daemon's HTTP files and the WebSocket protocol, as one table: malformed,
oversized and deeply nested JSON, invalid UTF-8, NUL, wrong types, unknown
fields, SQL injection (stored verbatim and harmless), huge headers, path
traversal, missing/wrong/expired/reused keys and tickets, another app's
restricted channel and someone else's DM, foreign Origins. Each case checks
the answer (status + code, error event or close code) and that the database
did not change (sx.Suite). Floods, 2,000 idle sockets and bound addresses
are in test_exhaust.py."""
import json
import os
import subprocess

import ct
import sx
from ct import ENV, T, api, session, sql, sql1, ticket, uniq

S = sx.Suite()
K1, K2 = ENV["APP1_KEY"], ENV["APP2_KEY"]
J = "application/json"
F = "application/x-www-form-urlencoded"

# --- setup: everything the cases need, written before any snapshot --------
ref1, u1 = session("app1")
ref3, u3 = session("app1")
ref2, u2 = session("app2")
chan = uniq("sec")
T.eq(api("POST", "channels/create", form={"name": chan, "title": "sec"}).status, 200,
     "setup: channel")
r = api("POST", "messages", session=ref1, json_body={"channel": chan, "text": "mine"})
mine = r.json["message"]["id"]
dm_other = "dm:%s:%s" % tuple(sorted(["zz-" + uniq("a"), "zz-" + uniq("b")]))
dm_mine = "dm:%s:%s" % tuple(sorted([u1, u3]))
refE, _ = session("app1")
tE = ticket(refE)  # minted before the login ended
api("POST", "sessions/end", form={"session": refE})
refX, _ = session("app1")
sql("UPDATE crosstalk.sessions SET expires_at = now() - interval '1 minute' "
    "WHERE ref_hash = :'v1'", sx.sha(refX))
tX = ticket(ref1)
sql("UPDATE crosstalk.tickets SET expires_at = now() - interval '1 second' "
    "WHERE hash = :'v1'", sx.sha(tX))
tU = ticket(ref1)
ctl = [os.path.join(ENV["CROSSTALK_BIN"], "ctl", "crosstalkctl"), "--config",
       ENV["CROSSTALK_CONFIG"]]
app3 = uniq("sx")
k3_old = subprocess.run(ctl + ["app", "add", app3, "--origin", "http://127.0.0.1:9"],
                        capture_output=True, text=True, check=True).stdout.strip()
k3_new = subprocess.run(ctl + ["app", "rotate-key", app3], capture_output=True, text=True,
                        check=True).stdout.strip()
T.ok(k3_new and k3_new != k3_old, "setup: key rotated")
app4 = uniq("sy")
k4 = subprocess.run(ctl + ["app", "add", app4, "--origin", "http://127.0.0.1:10"],
                    capture_output=True, text=True, check=True).stdout.strip()
subprocess.run(ctl + ["app", "remove", app4], capture_output=True, check=True)


async def use_ticket(t):
    ws = await ct.ws_open()
    await ct.ws_send(ws, type="auth", ticket=t)
    evs = await ct.ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), 10)
    await ws.close()
    return evs[-1].get("type")


T.eq(sx.run(use_ticket(tU)), "welcome", "setup: ticket used once")

post = {"channel": chan, "text": "x"}

# --- HTTP API: keys and sessions ------------------------------------------
S.case("http: no API key", (401, "unauthorized"),
       sx.api_case(path="messages", key="", session=ref1, json_body=post))
S.case("http: wrong secret", (401, "unauthorized"),
       sx.api_case(path="messages", key="app1.0123456789abcdef0123456789abcdef",
                   session=ref1, json_body=post))
S.case("http: the old key after rotate-key", (401, "unauthorized"),
       sx.api_case(path="sessions", key=k3_old, json_body={"user_id": "r1"}))
S.case("http: the key of a removed app", (401, "unauthorized"),
       sx.api_case(path="sessions", key=k4, json_body={"user_id": "r1"}))
S.case("http: API key with SQL injection", (401, "unauthorized"),
       sx.api_case(path="messages", key="app1' OR '1'='1", session=ref1, json_body=post))
S.case("http: Basic instead of Bearer", (401, "unauthorized"),
       sx.api_case(path="messages", key="", headers={"Authorization": "Basic YXBwMTp4"},
                   session=ref1, json_body=post))
S.case("http: no session", (401, "unauthorized"),
       sx.api_case(path="messages", json_body=post))
S.case("http: session ref with SQL injection", (401, "unauthorized"),
       sx.api_case(path="tickets", session="' OR 1=1 --"))
S.case("http: ended session posts", (401, "unauthorized"),
       sx.api_case(path="messages", session=refE, json_body=post))
S.case("http: expired session asks a ticket", (401, "unauthorized"),
       sx.api_case(path="tickets", session=refX))
S.case("http: app2's key with app1's session", (401, "unauthorized"),
       sx.api_case(path="tickets", key=K2, session=ref1))
S.case("http: 6 KB session header", (401, "unauthorized"),
       sx.api_case(path="messages", session="s" * 6000, json_body=post))
S.case("http: 20 KB header (over nginx's buffers)", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, json_body=post,
                   headers={"X-Pad": "a" * 20000}))
S.case("http: 200 extra headers", (401, "unauthorized"),
       sx.api_case(path="messages", key="", json_body=post,
                   headers={"X-H%d" % i: "v" * 20 for i in range(200)}))

# --- HTTP API: bodies ------------------------------------------------------
S.case("http: malformed JSON", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, raw=b'{"channel": "x", "text": ',
                   content_type=J))
S.case("http: JSON nested 20,000 deep", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, raw=b"[" * 20000 + b"]" * 20000,
                   content_type=J))
S.case("http: text nested 500 deep", (422, "invalid"),
       sx.api_case(path="messages", session=ref1, content_type=J,
                   raw=b'{"channel":"%s","text":' % chan.encode() + b"[" * 500 + b"]" * 500 + b"}"))
S.case("http: 70 KB JSON body", (413, "too_large"),
       sx.api_case(path="messages", session=ref1, json_body={"channel": chan, "text": "a" * 70000}))
S.case("http: 300 KB body (nginx's cap)", (413, "too_large"),
       sx.api_case(path="messages", session=ref1, raw=b"a" * 300000, content_type=F))
S.case("http: text of 4,001 characters", (413, "too_large"),
       sx.api_case(path="messages", session=ref1, json_body={"channel": chan, "text": "é" * 4001}))
S.case("http: invalid UTF-8 in JSON", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=J,
                   raw=b'{"channel":"%s","text":"\xff\xfe"}' % chan.encode()))
S.case("http: overlong UTF-8 in JSON", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=J,
                   raw=b'{"channel":"%s","text":"\xc0\xaf"}' % chan.encode()))
S.case("http: lone surrogate escape", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=J,
                   raw=b'{"channel":"%s","text":"\\ud800"}' % chan.encode()))
S.case("http: invalid UTF-8 in a form", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=F,
                   raw=b"channel=%s&text=%%c3%%28" % chan.encode()))
S.case("http: NUL escaped in JSON text", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=J,
                   raw=b'{"channel":"%s","text":"a\\u0000b"}' % chan.encode()))
S.case("http: NUL in a form", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=F,
                   raw=b"channel=%s&text=a%%00b" % chan.encode()))
S.case("http: NUL in the query", (400, "bad_request"),
       sx.api_case(method="GET", path="messages/poll", session=ref1,
                   query={"channel": chan + "\x00x"}))
S.case("http: NUL in a JSON key", (400, "bad_request"),
       sx.api_case(path="messages", session=ref1, content_type=J,
                   raw=b'{"chan\\u0000nel":"%s","text":"x"}' % chan.encode()))
S.case("http: text as an array", (422, "invalid"),
       sx.api_case(path="messages", session=ref1, json_body={"channel": chan, "text": ["x"]}))
S.case("http: channel as an object", (422, "invalid"),
       sx.api_case(path="messages", session=ref1, json_body={"channel": {"a": 1}, "text": "x"}))
S.case("http: after as an object", (422, "invalid"),
       sx.api_case(path="messages/poll", session=ref1, json_body={"channel": chan, "after": {}}))
S.case("http: ttl as a list", (422, "invalid"),
       sx.api_case(path="sessions", json_body={"user_id": "t1", "ttl": [1]}))
S.case("http: multipart body", (415, "unsupported_media_type"),
       sx.api_case(path="messages", session=ref1, raw=b"--b\r\n\r\nx\r\n--b--",
                   content_type="multipart/form-data; boundary=b"))
S.case("http: PUT messages", (405, "method_not_allowed"),
       sx.api_case(method="PUT", path="messages", session=ref1, json_body=post))
S.case("http: SQL injection as channel", (422, "invalid"),
       sx.api_case(path="messages", session=ref1,
                   json_body={"channel": "general'; DROP TABLE crosstalk.messages; --",
                              "text": "x"}))
S.case("http: SQL injection in the poll channel", (422, "invalid"),
       sx.api_case(method="GET", path="messages/poll", session=ref1,
                   query={"channel": "x' UNION SELECT * FROM crosstalk.apps --"}))
S.case("http: SQL injection as after", (422, "invalid"),
       sx.api_case(method="GET", path="messages/poll", session=ref1,
                   query={"channel": chan, "after": "1; DELETE FROM crosstalk.messages"}))

# --- HTTP API: other apps' and users' channels -----------------------------
S.case("http: app2's user polls app1-only", (403, "forbidden"),
       sx.api_case(method="GET", path="messages/poll", key=K2, session=ref2,
                   query={"channel": "app1-only"}))
S.case("http: app2's key polls app1-only", (403, "forbidden"),
       sx.api_case(method="GET", path="messages/poll", key=K2, query={"channel": "app1-only"}))
S.case("http: app2's user posts to app1-only", (403, "forbidden"),
       sx.api_case(path="messages", key=K2, session=ref2,
                   json_body={"channel": "app1-only", "text": "x"}))
S.case("http: someone else's DM, poll", (403, "forbidden"),
       sx.api_case(method="GET", path="messages/poll", session=ref1, query={"channel": dm_other}))
S.case("http: someone else's DM, post", (403, "forbidden"),
       sx.api_case(path="messages", session=ref1, json_body={"channel": dm_other, "text": "x"}))
S.case("http: a DM read with the app key alone", (403, "forbidden"),
       sx.api_case(method="GET", path="messages/poll", query={"channel": dm_mine}))
S.case("http: app2's user edits app1's message", (403, "forbidden"),
       sx.api_case(path="messages/edit", key=K2, session=ref2, json_body={"id": mine, "text": "x"}))
S.case("http: another user of the same app edits it", (403, "forbidden"),
       sx.api_case(path="messages/edit", session=ref3, json_body={"id": mine, "text": "x"}))


def stored_once(text, user, app):
    def check(before, after):
        ok = T.eq(int(after[0].split(":")[0]) - int(before[0].split(":")[0]), 1,
                  "exactly one message stored")
        row = sql("SELECT text, user_id, app FROM crosstalk.messages WHERE text = :'v1'", text)
        ok = T.eq(row, [[text, user, app]], "stored verbatim as the session's own user") and ok
        ok = T.eq(sql1("SELECT count(*) FROM pg_tables WHERE schemaname = 'crosstalk'"),
                  TABLES, "every table still there") and ok
        return ok
    return check


TABLES = sql1("SELECT count(*) FROM pg_tables WHERE schemaname = 'crosstalk'")
inj = "'); DROP TABLE crosstalk.messages; -- %s \" \\ ; SELECT pg_sleep(10);" % uniq("i")
S.case("http: SQL injection as text is stored verbatim", (201, "ok"),
       sx.api_case(path="messages", session=ref1, json_body={"channel": chan, "text": inj}),
       changes=stored_once(inj, u1, "app1"))
mass = "unknown fields " + uniq("m")
S.case("http: unknown fields cannot set user or app", (201, "ok"),
       sx.api_case(path="messages", session=ref1,
                   json_body={"channel": chan, "text": mass, "user_id": "admin", "app": "app2",
                              "display_name": "Admin", "id": "1", "seq": "1", "bogus": [1]}),
       changes=stored_once(mass, u1, "app1"))

# --- the daemon's HTTP files: path traversal -------------------------------
WSD = sx.port_of(ENV["CROSSTALK_WSD"])
LEAKS = (b"root:", b"[database]", b"conninfo", b"cmake_minimum", b"#include", b"[core]")


def traversal(path):
    def fn(ctx):
        st, body = sx.raw_http(WSD, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                               b"Connection: close\r\n\r\n")
        leaked = [l for l in LEAKS if l in body]
        # 0: lws hung up without an answer (a NUL or an over-long URI)
        return "refused" if st in (0, 400, 403, 404, 414) and not leaked else (st, body[:60])
    return fn


for p in (b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
          b"/js/../../CMakeLists.txt", b"/..%2f..%2f..%2fetc%2fpasswd", b"//etc/passwd",
          b"/.git/config", b"/widget.html%00.js", b"/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
          b"/....//....//etc/passwd", b"/..\\..\\..\\etc\\passwd", b"/web/../wsd/main.c",
          b"/" + b"a/" * 3000 + b"x.js", b"/crosstalk.js/../../../etc/passwd",
          b"/%252e%252e/%252e%252e/etc/passwd"):
    S.case("wsd files: GET %s" % p[:50].decode("latin-1"), "refused", traversal(p))
T.eq(sx.raw_http(WSD, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0], 200,
     "the daemon answers /health after the traversal attempts")

# --- WebSocket handshake: Origin ------------------------------------------


def origin_case(origin):
    async def fn(ctx):
        import websockets
        try:
            ws = await ct.ws_open(origin=origin)
        except websockets.InvalidStatusCode as e:
            return ("refused", e.status_code)
        except Exception as e:
            return ("refused", repr(e)[:40])
        await ws.close()
        return ("accepted", None)
    return fn


for o in ("http://evil.example", "null", ENV["APP1_ORIGIN"] + ".evil.example",
          "http://127.0.0.1:1", ENV["APP1_ORIGIN"].replace("http:", "https:"),
          ENV["APP1_ORIGIN"] + "/", "HTTP://EVIL.EXAMPLE"):
    S.case("ws: handshake with Origin %s" % o, ("refused", 403), origin_case(o))

# --- WebSocket: authentication ---------------------------------------------


def auth_case(frame):
    async def prep():
        return await ct.ws_open()

    async def fn(ws):
        try:
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
            return await sx.ws_first(ws, 10)
        finally:
            await ws.close()
    return prep, fn


def only_ticket_gone(t):
    # presenting a ticket consumes it, even an expired one: that row goes,
    # nothing else changes
    def check(before, after):
        diff = [sx.NAMES[i] for i in range(len(before)) if before[i] != after[i]]
        return (T.ok(diff in ([], ["tickets"]), "only the tickets table changed", repr(diff)) and
                T.eq(sql1("SELECT count(*) FROM crosstalk.tickets WHERE hash = :'v1'", sx.sha(t)),
                     "0", "the expired ticket is gone"))
    return check


for name, frame in (("no ticket", {"type": "auth"}),
                    ("wrong ticket", {"type": "auth", "ticket": "ctt_" + "0" * 43}),
                    ("reused ticket", {"type": "auth", "ticket": tU}),
                    ("expired ticket", {"type": "auth", "ticket": tX}),
                    ("ticket of an ended login", {"type": "auth", "ticket": tE}),
                    ("a session ref as ticket", {"type": "auth", "ticket": ref1}),
                    ("ticket as a number", {"type": "auth", "ticket": 12345}),
                    ("60 KB ticket", {"type": "auth", "ticket": "t" * 60000}),
                    ("SQL injection as ticket", {"type": "auth", "ticket": "' OR 1=1 --"}),
                    ("first frame not auth", {"type": "subscribe", "channel": chan}),
                    ("first frame not JSON", "hello")):
    prep, fn = auth_case(frame)
    S.case("ws: auth with %s" % name, ("close", 4001), fn, prep=prep,
           changes=only_ticket_gone(tX) if name == "expired ticket" else None, refusal=True)

# --- WebSocket: frames after auth ------------------------------------------
WS_CASES = [
    ("malformed JSON", '{"type": "publish", ', ("error", "bad_request")),
    ("a JSON array", '[{"type":"ping"}]', ("error", "bad_request")),
    ("no type", {"channel": chan}, ("error", "bad_request")),
    ("unknown type", {"type": "drop_table", "channel": chan}, ("error", "bad_request")),
    ("type as a number", {"type": 7}, ("error", "bad_request")),
    ("JSON nested 10,000 deep", "[" * 10000 + "]" * 10000, ("error", "bad_request")),
    ("duplicate keys", '{"type":"publish","type":"ping"}', ("error", "bad_request")),
    ("auth again after welcome", {"type": "auth", "ticket": tU}, ("error", "bad_request")),
    # the JSON parser refuses \u0000 (as the HTTP API's 400 does)
    ("NUL in text", {"type": "publish", "channel": chan, "text": "a\u0000b"},
     ("error", "bad_request")),
    ("text as a number", {"type": "publish", "channel": chan, "text": 42}, ("error", "invalid")),
    ("text as an object", {"type": "publish", "channel": chan, "text": {"a": 1}}, ("error", "invalid")),
    ("empty text", {"type": "publish", "channel": chan, "text": ""}, ("error", "invalid")),
    ("text of 4,001 characters", {"type": "publish", "channel": chan, "text": "é" * 4001},
     ("error", "too_large")),
    ("channel with capitals", {"type": "publish", "channel": "General", "text": "x"},
     ("error", "invalid")),
    ("SQL injection as channel", {"type": "subscribe",
                                  "channel": "general'; DELETE FROM crosstalk.messages; --"},
     ("error", "invalid")),
    ("unknown channel", {"type": "publish", "channel": uniq("nochan"), "text": "x"},
     ("error", "not_found")),
    ("after not a seq", {"type": "subscribe", "channel": chan, "after": "1 OR 1=1"},
     ("error", "invalid")),
    ("client_id of 129 characters", {"type": "publish", "channel": chan, "text": "x",
                                     "client_id": "c" * 129}, ("error", "invalid")),
    ("edit id not a number", {"type": "edit", "id": "abc", "text": "x"}, ("error", "invalid")),
    ("delete an unknown id", {"type": "delete", "id": "987654321"}, ("error", "not_found")),
    ("read with a negative seq", {"type": "read", "channel": chan, "seq": -5}, ("error", "invalid")),
    ("history limit 500", {"type": "history", "channel": chan, "limit": 500}, ("error", "invalid")),
    ("someone else's DM, subscribe", {"type": "subscribe", "channel": dm_other},
     ("error", "forbidden")),
    ("someone else's DM, publish", {"type": "publish", "channel": dm_other, "text": "x"},
     ("error", "forbidden")),
    ("someone else's DM, history", {"type": "history", "channel": dm_other},
     ("error", "forbidden")),
    ("another user's message, edit", {"type": "edit", "id": mine, "text": "x"},
     ("error", "forbidden")),
]
for name, frame, want in WS_CASES:
    prep, fn = sx.ws_frame_case(frame, "app1", ref3)
    S.case("ws: " + name, want, fn, prep=prep)
for name, frame in (("subscribe", {"type": "subscribe", "channel": "app1-only"}),
                    ("publish", {"type": "publish", "channel": "app1-only", "text": "x"}),
                    ("history", {"type": "history", "channel": "app1-only"}),
                    ("presence", {"type": "presence", "channel": "app1-only"}),
                    ("read", {"type": "read", "channel": "app1-only", "seq": 1})):
    prep, fn = sx.ws_frame_case(frame, "app2", ref2)
    S.case("ws: app2's user, %s on app1-only" % name, ("error", "forbidden"), fn, prep=prep)
prep, fn = sx.ws_frame_case("x" * (65536 + 10), "app1", ref3, expect_close=True)
S.case("ws: a frame over 64 KiB", ("close", 1009), fn, prep=prep)
prep_u, _ = sx.ws_frame_case("", "app1", ref3)


async def bad_utf8(ws):
    # a text frame whose payload is not UTF-8 (the client library would
    # refuse to send one): write the frame by hand
    import websockets.frames as wf
    try:
        await ws.write_frame(True, wf.Opcode.TEXT, b'{"type":"ping","x":"\xff\xfe"}')
        return await sx.ws_closed(ws)
    finally:
        await ws.close()


S.case("ws: invalid UTF-8 in a text frame", ("close", 1007), bad_utf8, prep=prep_u)

inj_ws = "ws '; DROP TABLE crosstalk.channels; -- %s" % uniq("i")
prep, fn = sx.ws_frame_case({"type": "publish", "channel": chan, "text": inj_ws,
                             "client_id": uniq("c")}, "app1", ref1)
S.case("ws: SQL injection as text is stored verbatim", ("event", "ack"), fn, prep=prep,
       changes=stored_once(inj_ws, u1, "app1"))
mass_ws = "ws unknown fields " + uniq("m")
prep, fn = sx.ws_frame_case({"type": "publish", "channel": chan, "text": mass_ws,
                             "user": {"id": "admin", "name": "Admin"}, "app": "app2",
                             "user_id": "admin", "seq": "1"}, "app1", ref1)
S.case("ws: unknown fields cannot set user or app", ("event", "ack"), fn, prep=prep,
       changes=stored_once(mass_ws, u1, "app1"))

T.eq(sx.raw_http(WSD, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0], 200,
     "the daemon is healthy after every case")
T.eq(api("GET", "health", key="").status, 200, "the API is healthy after every case")
T.ok(S.tried >= 60, "at least 60 cases", str(S.tried))
# the extra app was only for the rotated key: leave the shared stack as found
subprocess.run(ctl + ["app", "remove", app3], capture_output=True)
S.done()
T.done()
