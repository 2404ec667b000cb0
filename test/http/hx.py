"""hx.py - helpers shared by the HTTP API tests (test/http).

shape(r) checks what every reply must look like: JSON with "ok",
Content-Length, no chunking or compression, lower-case keys, no nulls.
"""
import json
import re

from ct import ENV, T, api, sql1, uniq

KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _walk(v, path, bad):
    if v is None:
        bad.append("null at " + path)
    elif isinstance(v, dict):
        for k, x in v.items():
            if not KEY_RE.match(k):
                bad.append("key %r at %s" % (k, path))
            _walk(x, path + "." + k, bad)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _walk(x, "%s[%d]" % (path, i), bad)


def shape(r, what):
    """Check the reply's shape; returns r for chaining."""
    h = {k.lower(): v for k, v in r.headers.items()}
    bad = []
    if r.json is None or not isinstance(r.json, dict):
        bad.append("not a JSON object: %r" % r.raw[:200])
    else:
        if "ok" not in r.json:
            bad.append("no ok")
        elif r.json["ok"] != (r.status < 400):
            bad.append("ok=%r with %d" % (r.json["ok"], r.status))
        if r.status >= 400:
            err = r.json.get("error") or {}
            if not isinstance(err.get("code"), str) or \
                    not isinstance(err.get("message"), str):
                bad.append("error without code/message")
        _walk(r.json, "$", bad)
    if "content-length" not in h:
        bad.append("no Content-Length")
    elif int(h["content-length"]) != len(r.raw):
        bad.append("Content-Length %s != %d" % (h["content-length"], len(r.raw)))
    if "chunked" in h.get("transfer-encoding", ""):
        bad.append("chunked")
    if h.get("content-encoding"):
        bad.append("Content-Encoding " + h["content-encoding"])
    if not h.get("content-type", "").startswith("application/json"):
        bad.append("Content-Type %r" % h.get("content-type"))
    if r.status in (204, 301, 302, 500):
        bad.append("status %d" % r.status)
    T.ok(not bad, "reply shape: " + what, "; ".join(bad) + " %r" % r)
    return r


def call(what, method, path, **kw):
    """api() plus the shape check."""
    return shape(api(method, path, **kw), what)


def expect(what, r, status, code=None):
    """Status (and error code) of a reply, shape included."""
    shape(r, what)
    ok = T.eq(r.status, status, what + " status")
    if code is not None and r.json:
        T.eq((r.json.get("error") or {}).get("code"), code, what + " code")
    if not ok:
        print("   reply:", r.raw[:300])
    return r


def key(app):
    return ENV["APP1_KEY" if app == "app1" else "APP2_KEY"]


def new_session(app="app1", user=None, name=None):
    user = user or uniq("u")
    r = api("POST", "sessions", key=key(app),
            form={"user_id": user, "display_name": name or user.title(),
                  "ttl": "3600"})
    if r.status != 200:
        raise RuntimeError("sessions: %r" % r)
    return r.json["session"], user


def post(ref, channel, text, app="app1", **extra):
    body = {"channel": channel, "text": text}
    body.update(extra)
    return api("POST", "messages", key=key(app), session=ref, json_body=body)


def new_channel(apps=None, prefix="c"):
    name = uniq(prefix)
    form = {"name": name, "title": "T " + name}
    if apps:
        form["apps"] = ",".join(apps)
    r = api("POST", "channels/create", form=form)
    if r.status != 200:
        raise RuntimeError("channels/create: %r" % r)
    return name


def last_seq(channel):
    return int(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'",
                    channel) or 0)


def dumps(v):
    return json.dumps(v)


def metric(name):
    """A counter from crosstalk-fcgi's metrics, -1 when it is missing."""
    r = api("GET", "metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw.decode(), re.M)
    return int(m.group(1)) if m else -1
