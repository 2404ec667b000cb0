"""sx.py - the security suite's table runner. A case is a name, what it
does and the answer it must get; the runner takes a snapshot of every
table the daemons write before and after, and the database must not have
changed (or, for a case that is meant to store something, the case's own
check says what changed). Every case prints nothing unless it fails; the
end prints "CASES tried=N refused=N" and T's "N passed, N failed"."""
import asyncio
import hashlib
import json
import socket
import time
import urllib.parse

import ct
from ct import ENV, T

SNAPSHOT = """
SELECT (SELECT count(*) || ':' || coalesce(max(id), 0) FROM crosstalk.messages),
       (SELECT md5(coalesce(string_agg(id || ':' || kind || ':' || app || ':' || user_id || ':' ||
                    text || ':' || coalesce(edited_at::text, '') ||
                    coalesce(deleted_at::text, ''), ',' ORDER BY id), ''))
        FROM crosstalk.messages),
       (SELECT md5(coalesce(string_agg(name || ':' || last_seq || ':' || title || ':' ||
                    coalesce(apps::text, '*'), ',' ORDER BY name), ''))
        FROM crosstalk.channels),
       (SELECT md5(coalesce(string_agg(ref_hash || ':' || coalesce(ended_at::text, '') ||
                    ':' || expires_at, ',' ORDER BY ref_hash), '')) FROM crosstalk.sessions),
       (SELECT md5(coalesce(string_agg(hash, ',' ORDER BY hash), '')) FROM crosstalk.tickets),
       (SELECT md5(coalesce(string_agg(user_id || ':' || channel || ':' || seq, ','
                    ORDER BY user_id, channel), '')) FROM crosstalk.read_markers),
       (SELECT md5(coalesce(string_agg(key || ':' || count, ',' ORDER BY key), ''))
        FROM crosstalk.rate_limits),
       (SELECT md5(coalesce(string_agg(id || ':' || key_hash || ':' || origins::text, ','
                    ORDER BY id), '')) FROM crosstalk.apps)
"""
NAMES = ("messages", "message rows", "channels", "sessions", "tickets", "read markers",
         "rate limits", "apps")


def snapshot():
    return ct.sql(SNAPSHOT)[0]


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


LOOP = asyncio.new_event_loop()


def run(v):
    return LOOP.run_until_complete(v) if asyncio.iscoroutine(v) else v


class Suite:
    def __init__(self):
        self.tried = 0
        self.refused = 0
        self.failed = []

    def case(self, name, want, fn, prep=None, changes=None, refusal=None):
        """want: the answer fn(ctx) must return. changes(before, after):
        for a case meant to store something, checks what changed.
        refusal: counts as a refused input (default: when changes is None)."""
        if refusal is None:
            refusal = changes is None
        self.tried += 1
        try:
            ctx = run(prep()) if prep else None
        except Exception as e:
            T.ok(False, name + ": setup", repr(e))
            self.failed.append(name)
            return
        before = snapshot()
        try:
            got = run(fn(ctx))
        except Exception as e:
            got = "exception %r" % e
        ok = T.eq(got, want, name)
        after = snapshot()
        if changes is None:
            diff = [NAMES[i] for i in range(len(before)) if before[i] != after[i]]
            ok = T.eq(diff, [], name + ": database unchanged") and ok
            if ok:
                self.refused += 1
        else:
            ok = changes(before, after) and ok
            if ok and refusal:
                self.refused += 1
        if not ok:
            self.failed.append(name)

    def done(self):
        print("CASES tried=%d refused=%d failed=%d" % (self.tried, self.refused,
                                                     len(self.failed)), flush=True)
        for n in self.failed:
            print("FAILED CASE: %s" % n, flush=True)


# --- HTTP -------------------------------------------------------------------

def answer(r):
    """(status, error code) of an API reply; a non-JSON body is shown."""
    if r.json is None or not isinstance(r.json, dict):
        return (r.status, "non-JSON body %r" % r.raw[:40])
    ctype = {k.lower(): v for k, v in r.headers.items()}.get("content-type", "")
    if not ctype.startswith("application/json"):
        return (r.status, "Content-Type %s" % ctype)
    if r.status >= 400:
        if r.json.get("ok") is not False:
            return (r.status, "ok is not false")
        return (r.status, (r.json.get("error") or {}).get("code"))
    return (r.status, "ok")


def api_case(**kw):
    method = kw.pop("method", "POST")
    path = kw.pop("path")
    return lambda ctx: answer(ct.api(method, path, **kw))


def port_of(url):
    return urllib.parse.urlparse(url).port


def raw_http(port, request, timeout=5.0):
    """Send raw bytes, return (status, body) of the answer (no client-side
    normalisation of the path)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                clen = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if clen and len(body) >= int(clen[0].split(b":")[1]):
                    break
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
        return status, data.partition(b"\r\n\r\n")[2]
    finally:
        s.close()


# --- WebSocket ---------------------------------------------------------------

async def ws_first(ws, timeout=5.0):
    """The first error event, or the close code: ("error", code) /
    ("close", code) / ("event", type) for anything else."""
    import websockets
    try:
        end = time.time() + timeout
        while True:
            evs = await ct.ws_events(ws, max(0.1, end - time.time()))
            for e in evs:
                if e.get("type") == "error":
                    return ("error", e.get("code"))
                if e.get("type") in ("ack", "subscribed", "history", "presence",
                                     "welcome", "pong"):
                    return ("event", e.get("type"))
    except websockets.ConnectionClosed:
        return ("close", ws.close_code)
    except asyncio.TimeoutError:
        return ("timeout", None)


async def ws_closed(ws, timeout=5.0):
    import websockets
    try:
        end = time.time() + timeout
        while time.time() < end:
            await asyncio.wait_for(ws.recv(), max(0.1, end - time.time()))
        return ("open", None)
    except websockets.ConnectionClosed:
        return ("close", ws.close_code)
    except asyncio.TimeoutError:
        return ("open", None)


async def login(app="app1", ref=None):
    """An authenticated connection (made in a case's prep)."""
    if ref is None:
        ref, _ = ct.session(app)
    t = ct.ticket(ref, app)
    ws = await ct.ws_open(ENV["APP1_ORIGIN" if app == "app1" else "APP2_ORIGIN"])
    await ct.ws_send(ws, type="auth", ticket=t)
    evs = await ct.ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), 10)
    if evs[-1].get("type") != "welcome":
        raise RuntimeError("login: %r" % evs[-1])
    return ws


def ws_frame_case(frame, app="app1", ref=None, expect_close=False):
    """prep: a fresh authenticated connection; fn: send frame (str/bytes
    or a dict), return the first error or the close."""
    async def prep():
        return await login(app, ref)

    async def fn(ws):
        try:
            if isinstance(frame, dict):
                await ws.send(json.dumps(frame))
            else:
                await ws.send(frame)
            return await (ws_closed(ws) if expect_close else ws_first(ws))
        finally:
            await ws.close()
    return prep, fn
