#!/usr/bin/python3
"""replay.py - send every recording in clients/cfml/recordings/ to the real
API through nginx, byte for byte as cfhttp sends it, and check each answer.

A recording is a raw HTTP request preceded by '#' lines (format in
clients/cfml/recordings/README.md). The directives in those lines say what
the answer must be (@expect, @check) and what to keep from it for later
recordings (@save). Recordings run in file-name order; each run uses its own
users, channel and client ids, so a replay never collides with another
test or with an earlier replay against the same database.

Every answer is also checked against the contract's output rules: JSON with
"ok", a Content-Length that matches, no chunking or compression, no nulls,
lower-case snake_case keys, ids and seqs as strings, and for errors the
status that belongs to the code.
"""
import glob
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

import ct
from ct import ENV, T

SRC = os.environ.get("CT_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
RECORDINGS = os.path.join(SRC, "clients", "cfml", "recordings")

STATUS_OF = {
    "bad_request": 400, "unauthorized": 401, "forbidden": 403,
    "not_found": 404, "method_not_allowed": 405, "conflict": 409,
    "too_large": 413, "unsupported_media_type": 415, "invalid": 422,
    "rate_limited": 429, "unavailable": 503,
}
ID_KEYS = {"id", "seq", "last_seq"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class Recording:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.directives = []  # (name, rest)
        self.client = None
        text = open(path, encoding="utf-8").read()
        lines = text.split("\n")
        i = 0
        while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
            m = re.match(r"#\s*@(\S+)\s*(.*)$", lines[i])
            if m:
                self.directives.append((m.group(1), m.group(2).strip()))
            i += 1
        if i >= len(lines):
            raise ValueError("%s: no request line" % self.name)
        self.request_line = lines[i]
        i += 1
        self.headers = []
        while i < len(lines) and lines[i] != "":
            k, _, v = lines[i].partition(":")
            self.headers.append((k.strip(), v.strip()))
            i += 1
        body = "\n".join(lines[i + 1:]) if i < len(lines) else ""
        # the file's own last newline is formatting, not body
        self.body = body[:-1] if body.endswith("\n") else body

    def get(self, name):
        return [rest for n, rest in self.directives if n == name]


def acf_urlencode(s):
    """ColdFusion's URLEncodedFormat: every byte but [A-Za-z0-9] escaped."""
    return "".join(c if c.isascii() and c.isalnum() else
                   "".join("%%%02X" % b for b in c.encode("utf-8"))
                   for c in s)


def fill(text, vars_):
    def sub(m):
        expr = m.group(1)
        name, _, filt = expr.partition("|")
        if name.startswith("REPEAT:"):
            _, ch, n = name.split(":")
            return ch * int(n)
        if name not in vars_:
            raise KeyError("no value for {{%s}}" % name)
        v = str(vars_[name])
        if filt == "url":
            return acf_urlencode(v)
        if filt == "json":
            return json.dumps(v)[1:-1]
        if filt:
            raise KeyError("unknown filter |%s" % filt)
        return v
    return re.sub(r"\{\{([^}]+)\}\}", sub, text)


def body_bytes(rec, vars_):
    """The body's bytes: placeholders filled, each {{FILE:path}} replaced by
    the bytes of that file under recordings/, and with @crlf every line
    (the last one too) ended by CRLF, as multipart/form-data has them."""
    crlf = bool(rec.get("crlf"))
    pieces = re.split(r"\{\{FILE:([^}]+)\}\}", rec.body + ("\n" if crlf else ""))
    out = b""
    for n, piece in enumerate(pieces):
        if n % 2:
            if os.path.isabs(piece) or ".." in piece.split("/"):
                raise ValueError("{{FILE:%s}}: not a file under recordings/" % piece)
            with open(os.path.join(RECORDINGS, piece), "rb") as f:
                out += f.read()
        else:
            text = fill(piece, vars_)
            out += (text.replace("\n", "\r\n") if crlf else text).encode("utf-8")
    return out


def send(rec, vars_):
    """The request exactly as recorded (placeholders filled): same header
    names, order and case, same body bytes. Returns (status, headers, raw)."""
    method, target, _version = fill(rec.request_line, vars_).split(" ", 2)
    body = body_bytes(rec, vars_)
    vars_ = dict(vars_, LENGTH=len(body))
    u = urllib.parse.urlsplit(ENV["CROSSTALK_HTTP"])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=40)
    conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for k, v in rec.headers:
        conn.putheader(k, fill(v, vars_))
    conn.endheaders(body if body else None)
    r = conn.getresponse()
    raw = r.read()
    headers = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, headers, raw


def path_get(obj, path):
    """A value by its path: keys and list indexes between dots; in a list,
    key=value is the first element whose key has that value (as text)."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, list) and "=" in part:
            k, _, want = part.partition("=")
            cur = next((x for x in cur if isinstance(x, dict) and k in x
                        and as_text(x[k]) == want), None)
            if cur is None:
                raise KeyError(path)
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                raise KeyError(path)
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def is_type(v, t):
    return {
        "str": lambda: isinstance(v, str),
        "nonempty": lambda: isinstance(v, str) and v != "",
        "id": lambda: isinstance(v, str) and v.isdigit(),
        "int": lambda: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda: isinstance(v, bool),
        "list": lambda: isinstance(v, list),
        "object": lambda: isinstance(v, dict),
        "time": lambda: isinstance(v, str) and bool(TIME_RE.match(v)),
    }[t]()


def as_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def check_output_rules(what, status, headers, raw, doc):
    """The contract's rules for every body, success or error."""
    T.ok(headers.get("content-type", "").startswith("application/json"),
         what + ": content type", headers.get("content-type"))
    T.eq(headers.get("content-length"), str(len(raw)), what + ": Content-Length")
    T.ok("transfer-encoding" not in headers, what + ": not chunked")
    T.ok("content-encoding" not in headers, what + ": not compressed")
    if not T.ok(isinstance(doc, dict) and isinstance(doc.get("ok"), bool),
                what + ": JSON object with ok", raw[:200]):
        return
    bad = []

    def walk(v, where, key):
        if v is None:
            bad.append("null at " + where)
        elif isinstance(v, dict):
            for k, x in v.items():
                if not KEY_RE.match(k):
                    bad.append("key %r at %s" % (k, where))
                walk(x, where + "." + k, k)
        elif isinstance(v, list):
            for n, x in enumerate(v):
                walk(x, "%s.%d" % (where, n), key)
        elif key in ID_KEYS and not isinstance(v, str):
            bad.append("%s is %r, not a string" % (where, v))
    walk(doc, "$", None)
    T.ok(not bad, what + ": no nulls, snake_case keys, ids as strings", bad[:5])
    if doc.get("ok") is False:
        err = doc.get("error")
        if T.ok(isinstance(err, dict) and isinstance(err.get("code"), str)
                and isinstance(err.get("message"), str),
                what + ": error {code, message}", raw[:200]):
            T.eq(status, STATUS_OF.get(err["code"]), what + ": status of " + err["code"])
    else:
        T.ok(200 <= status < 300, what + ": ok:true only with 2xx", status)


def run_checks(rec, status, headers, raw, doc, vars_, elapsed):
    what = rec.name
    for exp in rec.get("expect"):
        parts = exp.split()
        T.eq(status, int(parts[0]), what + ": status")
        if len(parts) > 1:
            T.eq(doc.get("ok") if isinstance(doc, dict) else None, False, what + ": ok false")
            code = path_get(doc, "error.code") if isinstance(doc, dict) and "error" in doc else None
            T.eq(code, parts[1], what + ": error code")
        elif isinstance(doc, dict):
            T.eq(doc.get("ok"), True, what + ": ok true")
    for hdr in rec.get("header"):
        name, _, want = hdr.partition(" ")
        got = headers.get(name.lower())
        if want.strip() == "present":
            T.ok(got is not None, "%s: header %s" % (what, name))
        else:
            T.eq(got, fill(want.strip(), vars_), "%s: header %s" % (what, name))
    for took in rec.get("took"):
        lo, _, hi = took.partition("..")
        T.ok(float(lo) <= elapsed <= float(hi), what + ": took %s s" % took, "%.2f s" % elapsed)
    for chk in rec.get("check"):
        m = re.match(r"(\S+)\s+(==|!=|is|len>=|len)\s*(.*)$", chk)
        if not m:
            T.ok(False, what + ": unreadable @check " + chk)
            continue
        path, op, want = fill(m.group(1), vars_), m.group(2), fill(m.group(3).strip(), vars_)
        try:
            got = path_get(doc, path)
        except KeyError:
            T.ok(op == "is" and want == "absent", "%s: %s present" % (what, path), raw[:300])
            continue
        label = "%s: %s %s %s" % (what, path, op, want)
        if op == "==":
            T.eq(as_text(got), want, label)
        elif op == "!=":
            T.ok(as_text(got) != want, label, "got %r" % got)
        elif op == "is":
            T.ok(want != "absent" and is_type(got, want), label, "got %r" % (got,))
        elif op == "len":
            T.ok(isinstance(got, list) and len(got) == int(want), label, "got %r" % (got,))
        else:
            T.ok(isinstance(got, list) and len(got) >= int(want), label, "got %r" % (got,))
    for save in rec.get("save"):
        name, _, path = [x.strip() for x in save.partition("=")]
        try:
            v = path_get(doc, path)
        except KeyError:
            T.ok(False, "%s: @save %s: no %s" % (what, name, path))
            continue
        vars_[name] = v
        if isinstance(v, str) and v.isdigit():
            vars_[name + "_PREV"] = str(int(v) - 1)


def replay(rec, vars_):
    repeat = rec.get("repeat-until")
    tries = 1
    if repeat:
        want, limit = repeat[0].split()
        tries = int(limit)
    for n in range(tries):
        t0 = time.time()
        status, headers, raw = send(rec, vars_)
        elapsed = time.time() - t0
        if not repeat or status == int(want) or n == tries - 1:
            break
        if not (200 <= status < 300):
            break  # anything but success before the wanted status is a failure
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError:
        doc = None
    check_output_rules(rec.name, status, headers, raw, doc)
    run_checks(rec, status, headers, raw, doc, vars_, elapsed)
    if os.environ.get("CT_VERBOSE"):
        print("%s -> %d %s" % (rec.name, status, raw[:200]))


def main():
    files = sorted(glob.glob(os.path.join(RECORDINGS, "*.http")))
    T.ok(len(files) >= 7, "recordings present", RECORDINGS)
    u = urllib.parse.urlsplit(ENV["CROSSTALK_HTTP"])
    run = ct.uniq("r")
    vars_ = {
        "HOST": u.netloc,
        "BASE": u.path.rstrip("/"),
        "APP1_KEY": ENV["APP1_KEY"],
        "APP2_KEY": ENV["APP2_KEY"],
        "RUN": run,
        "USER": "u" + run + "a",
        "USER2": "u" + run + "b",
        "USER3": "u" + run + "c",
        "CHANNEL": "cf-" + run,
        "CLIENT_ID": "cf-" + run + "-1",
        "WIDGET": ENV.get("CROSSTALK_WIDGET", ""),
        "WS": ENV.get("CROSSTALK_WS", ""),
    }
    methods = set()
    for path in files:
        rec = Recording(path)
        for c in rec.get("client"):
            methods.add(c.split()[0])
        try:
            replay(rec, vars_)
        except (KeyError, ValueError, OSError) as e:
            T.ok(False, rec.name + ": replay", repr(e))
    # every public method of the client that calls the API (itself, or
    # through Hooks.cfc) has a recording
    cfc = open(os.path.join(SRC, "clients", "cfml", "models", "Crosstalk.cfc"),
               encoding="utf-8").read()
    want = {m.group(1) for m in re.finditer(
        r'<cffunction name="(\w+)" access="public"(?:(?!</cffunction>).)*?'
        r'(?:send\("|<cfreturn variables\.hooks\.\w+\()', cfc, re.S)} - {"send"}
    T.ok(len(want) >= 10, "client methods found in Crosstalk.cfc", sorted(want))
    T.ok(want <= methods, "a recording for every client method", sorted(want - methods))
    # what the replay did is in the database: both apps' messages, one channel
    rows = ct.sql("SELECT app, user_id, text FROM crosstalk.messages "
                  "WHERE channel = :'v1' AND kind = 'message' ORDER BY seq",
                  vars_["CHANNEL"])
    T.ok([r[0] for r in rows[:2]] == ["app1", "app2"],
         "stored: app1's then app2's message in the replay's channel", rows[:3])
    T.done()


if __name__ == "__main__":
    main()
