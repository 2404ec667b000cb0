"""ct.py - shared helpers for crosstalk's Python tests (Debian's python3).

Tests run against the stack described by $CT_STATE/env (scripts/stack.sh).
Every test counts its checks with T and ends with T.done(), which prints
"N passed, N failed" and exits non-zero on any failure.
"""
import asyncio
import glob
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


def load_env(state=None):
    state = state or os.environ.get("CT_STATE")
    env = {}
    with open(os.path.join(state, "env")) as f:
        for line in f:
            line = line.strip()
            if line and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


# the shared stack's, when it is up; a test with a stack of its own fills
# ENV itself (test/fault/fx.py)
ENV = (load_env() if os.environ.get("CT_STATE") and
       os.path.exists(os.path.join(os.environ["CT_STATE"], "env")) else {})


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s %s" % (what, detail), flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got %r want %r" % (got, want))

    def done(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        if self.passed == 0 and self.failed == 0:
            print("no checks ran", flush=True)
            sys.exit(1)
        sys.exit(1 if self.failed else 0)


T = Checks()


def uniq(prefix="t"):
    """A name unique to this run: users and channels never collide."""
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


def http(method, url, body=None, headers=None, timeout=40):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, dict(e.headers), e.read())


def api(method, path, key=None, session=None, json_body=None, form=None,
        query=None, headers=None, raw=None, content_type=None, timeout=40):
    """Call the HTTP API through nginx. key: an API key (default app1's)."""
    url = ENV["CROSSTALK_HTTP"] + "/" + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    h = dict(headers or {})
    if key is None:
        key = ENV["APP1_KEY"]
    if key:
        h["Authorization"] = "Bearer " + key
    if session:
        h["X-Crosstalk-Session"] = session
    body = raw
    if json_body is not None:
        body = json.dumps(json_body).encode()
        h.setdefault("Content-Type", "application/json")
    elif form is not None:
        body = urllib.parse.urlencode(form).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if content_type:
        h["Content-Type"] = content_type
    return http(method, url, body, h, timeout)


def _psql():
    """The newest PostgreSQL's own psql, as scripts/stack.sh picks its
    PostgreSQL: /usr/bin/psql is Debian's pg_wrapper, a Perl script whose
    start costs the tests more than most of their queries."""
    def version(d):
        return [int(x) if x.isdigit() else 0 for x in os.path.basename(d).split(".")]
    dirs = sorted((d for d in glob.glob("/usr/lib/postgresql/*")
                   if os.access(os.path.join(d, "bin", "psql"), os.X_OK)), key=version)
    return os.path.join(dirs[-1], "bin", "psql") if dirs else "psql"


PSQL = _psql()


def sql(query, *args):
    """Run SQL as the stack's superuser; returns rows of strings.
    Args are passed as psql variables :'v1', :'v2', ... (quoted safely)."""
    cmd = [PSQL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
           "-h", ENV["PGHOST"], "-p", ENV["PGPORT"], "-U", ENV["PGUSER"],
           "-d", ENV["PGDATABASE"]]
    for i, a in enumerate(args, 1):
        cmd += ["-v", "v%d=%s" % (i, a)]
    out = subprocess.run(cmd, input=query, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("psql: %s" % out.stderr.strip())
    return [l.split("\t") for l in out.stdout.splitlines() if l != ""]


def sql1(query, *args):
    rows = sql(query, *args)
    return rows[0][0] if rows else None


def session(app="app1", user=None, name=None, key=None):
    """Register a login over HTTP; returns (ref, user_id)."""
    user = user or uniq("u")
    key = key or ENV["APP1_KEY" if app == "app1" else "APP2_KEY"]
    r = api("POST", "sessions", key=key,
            json_body={"user_id": user, "display_name": name or user.title(),
                       "ttl": 3600})
    if r.status != 200 or not r.json or "session" not in r.json:
        raise RuntimeError("sessions: %r" % r)
    return r.json["session"], user


def ticket(ref, app="app1"):
    key = ENV["APP1_KEY" if app == "app1" else "APP2_KEY"]
    r = api("POST", "tickets", key=key, session=ref)
    if r.status != 200:
        raise RuntimeError("tickets: %r" % r)
    return r.json["ticket"]


FREE_PORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                         "scripts", "free-port.py")


def free_port():
    """A port free on 127.0.0.1 right now (for a daemon a test starts),
    picked as scripts/stack.sh picks its own: below the kernel's ephemeral
    range, so that no outgoing connection of a test running beside this
    one takes it before the daemon binds it."""
    out = subprocess.run([sys.executable, FREE_PORT, "0", "0"], capture_output=True,
                         text=True, check=True)
    return int(out.stdout)


def wait_until(pred, timeout=5.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# --- WebSocket (python3-websockets 10.x, asyncio) -------------------------

async def ws_open(origin=None, subprotocol="crosstalk.v1", url=None):
    import websockets
    return await websockets.connect(
        url or ENV["CROSSTALK_WS"],
        subprotocols=[subprotocol] if subprotocol else None,
        origin=origin or ENV.get("APP1_ORIGIN"),
        max_size=None, ping_interval=None)


async def ws_send(ws, **obj):
    await ws.send(json.dumps(obj))


async def ws_events(ws, timeout=5.0):
    """Read one frame; return the list of objects it carries (first the
    ones ws_until left over from a frame it stopped in the middle of)."""
    pending = getattr(ws, "_ct_pending", None)
    if pending:
        ws._ct_pending = []
        return pending
    frame = await asyncio.wait_for(ws.recv(), timeout)
    return [json.loads(l) for l in frame.split("\n") if l.strip()]


async def ws_until(ws, pred, timeout=5.0):
    """Collect events until pred(event) is true; returns all collected."""
    got = []
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            raise asyncio.TimeoutError("waited for event; got %r" % got[-5:])
        evs = await ws_events(ws, left)
        for i, ev in enumerate(evs):
            got.append(ev)
            if pred(ev):
                # a frame may carry more events: keep them for the next read
                ws._ct_pending = evs[i + 1:]
                return got


async def ws_login(app="app1", user=None, name=None, origin=None):
    """Session + ticket + connect + auth; returns (ws, user_id, welcome)."""
    ref, user = session(app, user, name)
    t = ticket(ref, app)
    ws = await ws_open(origin or ENV["APP1_ORIGIN" if app == "app1" else "APP2_ORIGIN"])
    await ws_send(ws, type="auth", ticket=t)
    evs = await ws_until(ws, lambda e: e.get("type") in ("welcome", "error"))
    return ws, user, evs[-1], ref
