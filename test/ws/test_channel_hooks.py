"""Channel hooks (ColdFusion's ChannelListener): before a user's publish or
subscribe on a hooked channel is accepted, the hub asks the hook over HTTP.
A local receiver here allows, denies (with a message), rewrites, hangs past
the timeout and fails; each call is signed. Checked over WebSocket and
HTTP: denied publishes store nothing and say why, rewrites are what is
stored, a hanging hook holds up neither the daemon's loop nor other
connections (their answers come before the hook's timeout ends), fail open
and fail closed do what they say, a connection's publishes keep their
order while a hook answers slowly, bots are not asked, and the hooks are
managed with the app key and crosstalkctl."""
import hashlib
import hmac
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wsh import *

P = uniq("hk")           # this test's channels all start with it
calls = []               # (event, body, signature ok)
lock = threading.Lock()
secrets = {}             # hook id -> secret
slow_first = {"armed": False}


class Hook(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ts = self.headers.get("X-Crosstalk-Timestamp", "")
        sig = self.headers.get("X-Crosstalk-Signature", "")
        ok = any(hmac.compare_digest(sig, "v1=" + hmac.new(s.encode(), ts.encode() + b"." + raw,
                                                           hashlib.sha256).hexdigest())
                 for s in list(secrets.values()))
        body = json.loads(raw)
        with lock:
            calls.append((self.headers.get("X-Crosstalk-Event"), body, ok))
        ch, text = body["channel"], body.get("text", "")
        if ch.endswith("-hang") or ch.endswith("-hangc"):
            time.sleep(3)
        if ch.endswith("-broken"):
            return self.answer(500, {"oops": True})
        if ch.endswith("-garbage"):
            return self.answer(200, "not json")
        if body["type"] == "subscribe":
            if body["user"]["name"] == "Mallory":
                return self.answer(200, {"allow": False, "message": "Mallory may not listen here"})
            return self.answer(200, {"allow": True})
        if slow_first["armed"] and text == "first":
            slow_first["armed"] = False
            time.sleep(0.4)
        if "http" in text:
            return self.answer(200, {"allow": False, "message": "no links in " + ch})
        if "darn" in text:
            return self.answer(200, {"allow": True, "text": text.replace("darn", "d**n")})
        if text == "too long please":
            return self.answer(200, {"allow": True, "text": "x" * 5000})
        return self.answer(200, {"allow": True})

    def answer(self, status, obj):
        b = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        try:
            self.wfile.write(b)
        except BrokenPipeError:  # the hub gave up at its timeout: expected
            pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
URL = "http://127.0.0.1:%d/hook" % srv.server_address[1]


def make(name):
    sql("INSERT INTO crosstalk.channels (name, title) VALUES (:'v1', :'v1')", name)
    return name


def add_hook(pattern, **extra):
    form = {"pattern": pattern, "url": URL}
    form.update(extra)
    r = api("POST", "channel_hooks/add", form=form)
    T.eq(r.status, 200, "channel_hooks/add %s: %r" % (pattern, r.raw[:200]))
    secrets[r.json["hook"]["id"]] = r.json["secret"]
    return r.json


def stored(channel):
    return [t for (t,) in sql("SELECT text FROM crosstalk.messages WHERE channel = :'v1' "
                              "AND kind = 'message' ORDER BY seq", channel)]


async def answer(ws, ref, timeout=8):
    got = await ws_until(ws, lambda e: e.get("ref") == ref or
                         (e.get("type") == "ack" and e.get("client_id") == ref), timeout)
    return got[-1]


async def main():
    # --- registration -----------------------------------------------------
    h = add_hook(P + "*", timeout_ms="1000")
    T.eq((h["hook"]["pattern"], h["hook"]["events"], h["hook"]["fail"], h["hook"]["timeout_ms"]),
         (P + "*", ["publish", "subscribe"], "open", 1000), "a hook for a prefix, both events")
    T.ok(h["secret"].startswith("chsec_"), "its secret, once")
    add_hook(P + "-c*", timeout_ms="1000", fail="closed", events="publish")
    r = api("POST", "channel_hooks/add", form={"pattern": P + "*", "url": URL})
    T.eq(r.status, 409, "one hook a pattern")
    for bad in ({"pattern": "a b", "url": URL}, {"pattern": P + "x", "url": "ftp://x"},
                {"pattern": P + "y", "url": URL, "events": "message"},
                {"pattern": P + "z", "url": URL, "timeout_ms": "10"},
                {"pattern": P + "w", "url": URL, "fail": "maybe"}):
        T.eq(api("POST", "channel_hooks/add", form=bad).status, 422, "refused: %r" % bad)
    r = api("GET", "channel_hooks")
    T.eq(sorted(x["pattern"] for x in r.json["hooks"] if x["pattern"].startswith(P)),
         [P + "*", P + "-c*"], "GET channel_hooks lists them (no secrets)")
    T.ok(all("secret" not in x for x in r.json["hooks"]), "never the secret")
    r = api("GET", "channel_hooks", key=ENV["APP2_KEY"])
    T.ok(all(not x["pattern"].startswith(P) for x in r.json["hooks"]), "an app sees its own")

    ok_ch, hang, hangc, broken, garbage, probe = (make(P + s) for s in (
        "-ok", "-hang", "-c-hangc", "-c-broken", "-garbage", "-probe"))
    plain = new_channel("nohook")

    ws, uid, _ = await login("app1", name="Ann")
    # the daemons read the list every 5 s: wait until the hook is asked
    deadline = time.time() + 15
    while time.time() < deadline:
        await ws_send(ws, type="publish", channel=probe, text="see http://x", client_id=uniq("p"), ref="probe")
        a = await answer(ws, "probe")
        if a.get("type") == "error":
            break
        await asyncio.sleep(0.5)
    T.eq((a.get("type"), a.get("code"), a.get("message")), ("error", "forbidden", "no links in " + probe),
         "a denied publish is refused with the hook's message")

    # --- publish: allow, deny, rewrite -------------------------------------
    calls.clear()
    await ws_send(ws, type="publish", channel=ok_ch, text="hello", client_id="p1")
    T.eq((await answer(ws, "p1")).get("type"), "ack", "allowed")
    await ws_send(ws, type="publish", channel=ok_ch, text="darn it", client_id="p2")
    T.eq((await answer(ws, "p2")).get("type"), "ack", "rewritten, then stored")
    await ws_send(ws, type="publish", channel=ok_ch, text="too long please", client_id="p3", ref="p3")
    a = await answer(ws, "p3")
    T.eq(a.get("type"), "ack", "a rewrite that is no valid message: the hook failed, fail open: the original")
    T.eq(stored(ok_ch), ["hello", "d**n it", "too long please"], "what is stored: denied nothing, the rewrite")
    with lock:
        pubs = [c for c in calls if c[0] == "publish"]
    T.ok(pubs and all(c[2] for c in pubs), "every call is signed (X-Crosstalk-Signature)")
    T.eq([(c[1]["type"], c[1]["channel"], c[1]["user"]["id"], c[1]["user"]["name"], c[1]["app"])
          for c in pubs][:1], [("publish", ok_ch, uid, "Ann", "app1")], "the hook hears who and where")

    # --- subscribe ---------------------------------------------------------
    mws, _, _ = await login("app1", name="Mallory")
    await ws_send(mws, type="subscribe", channel=ok_ch, ref="s1")
    a = await answer(mws, "s1")
    T.eq((a.get("type"), a.get("message")), ("error", "Mallory may not listen here"), "a subscribe refused")
    evs, sub = await subscribe(ws, ok_ch)
    T.eq(sub.get("type"), "subscribed", "others subscribe")
    await ws_send(mws, type="subscribe", channel=plain, ref="s2")
    T.eq((await answer(mws, "s2")).get("type"), "subscribed", "an unhooked channel is not asked")

    # --- a hanging hook blocks nobody; fail open / closed ------------------
    other, _, _ = await login("app1", name="Olga")
    t0 = time.time()
    await ws_send(ws, type="publish", channel=hang, text="wait for it", client_id="h1")
    await ws_send(other, type="publish", channel=plain, text="meanwhile", client_id="o1")
    a_other = await answer(other, "o1")
    t_other = time.time() - t0
    a_hang = await answer(ws, "h1")
    t_hang = time.time() - t0
    T.eq(a_other.get("type"), "ack", "another connection's publish")
    T.ok(t_other < t_hang, "answered while the hook still hung (%.2f s < %.2f s)" % (t_other, t_hang))
    T.eq(a_hang.get("type"), "ack", "past the 1-s timeout, fail open: posted")
    await ws_send(ws, type="publish", channel=hangc, text="closed", client_id="h2", ref="h2")
    a = await answer(ws, "h2")
    T.eq((a.get("type"), a.get("code")), ("error", "unavailable"), "fail closed: refused as unavailable")
    await ws_send(ws, type="publish", channel=broken, text="x", client_id="b1", ref="b1")
    a = await answer(ws, "b1")
    T.eq((a.get("type"), a.get("code")), ("error", "unavailable"), "a 500, fail closed")
    T.ok("500" in a.get("message", ""), "says what the hook did: %r" % a.get("message"))
    await ws_send(ws, type="publish", channel=garbage, text="x", client_id="g1", ref="g1")
    T.eq((await answer(ws, "g1")).get("type"), "ack", "an answer that is not JSON, fail open: posted")
    T.eq(stored(hangc) + stored(broken), [], "fail closed stored nothing")

    # --- order: a slow first answer does not let the second overtake -------
    slow_first["armed"] = True
    await ws_send(ws, type="publish", channel=ok_ch, text="first", client_id="o-1")
    await ws_send(ws, type="publish", channel=ok_ch, text="second", client_id="o-2")
    await ws_send(ws, type="publish", channel=plain, text="third", client_id="o-3")
    acks = [e for e in await ws_until(ws, lambda e: e.get("client_id") == "o-3", 10)
            if e.get("type") == "ack"]
    T.eq([a["client_id"] for a in acks], ["o-1", "o-2", "o-3"], "acks in the order sent")
    T.eq(stored(ok_ch)[-2:], ["first", "second"], "stored in that order")

    # --- HTTP posts: the same hook; bots are not asked ----------------------
    ref, _ = session("app1", None, "Hal")
    deadline = time.time() + 15  # crosstalk-fcgi reads the list every 5 s too
    while time.time() < deadline:
        r = api("POST", "messages", session=ref, json_body={"channel": probe, "text": "see https://x"})
        if r.status != 201:
            break
        time.sleep(0.5)
    r = api("POST", "messages", session=ref, json_body={"channel": ok_ch, "text": "see https://x"})
    T.eq((r.status, r.json["error"]["code"], r.json["error"]["message"]),
         (403, "forbidden", "no links in " + ok_ch), "an HTTP post denied")
    T.eq(stored(ok_ch)[-1], "second", "and not stored")
    r = api("POST", "messages", session=ref, json_body={"channel": ok_ch, "text": "darn HTTP"})
    T.eq((r.status, r.json["message"]["text"]), (201, "d**n HTTP"), "an HTTP post rewritten")
    r = api("POST", "messages", session=ref, json_body={"channel": hangc, "text": "x"})
    T.eq(r.status, 503, "an HTTP post, fail closed")
    r = api("POST", "messages", json_body={"channel": ok_ch, "text": "bot says http://x", "bot": "Shipping"})
    T.eq(r.status, 201, "a bot's post is not asked")

    # --- metrics and removal -------------------------------------------------
    with urllib.request.urlopen(ENV["CROSSTALK_WSD"] + "/metrics", timeout=10) as m:
        text = m.read().decode()
    T.ok(re.search(r'crosstalk_wsd_channel_hook_calls_total\{verdict="deny"\} [1-9]', text) is not None,
         "wsd counts hook calls by verdict")
    out = subprocess.run([os.path.join(ENV["CROSSTALK_BIN"], "ctl", "crosstalkctl"), "--config",
                          ENV["CROSSTALK_CONFIG"], "channel-hook", "list"], capture_output=True, text=True)
    T.ok(P + "-c*" in out.stdout and "closed" in out.stdout, "crosstalkctl channel-hook list")
    ctl = [os.path.join(ENV["CROSSTALK_BIN"], "ctl", "crosstalkctl"), "--config", ENV["CROSSTALK_CONFIG"]]
    out = subprocess.run(ctl + ["channel-hook", "add", "app1", P + "-cli*", URL, "--events",
                                "subscribe, publish", "--timeout", "500", "--fail", "closed"],
                         capture_output=True, text=True)
    T.ok(out.returncode == 0 and out.stdout.startswith("channel hook "), "crosstalkctl channel-hook add, "
         "a list typed with blanks: %r" % (out.stdout + out.stderr))
    row = [l.split("\t") for l in subprocess.run(ctl + ["channel-hook", "list"], capture_output=True,
                                                   text=True).stdout.splitlines() if P + "-cli*" in l]
    T.eq([r[4:] for r in row], [["publish,subscribe", "500", "closed"]], "listed as given")
    out = subprocess.run(ctl + ["channel-hook", "remove", row[0][0] if row else "0"], capture_output=True, text=True)
    T.eq(out.returncode, 0, "crosstalkctl channel-hook remove")
    for x in api("GET", "channel_hooks").json["hooks"]:
        if x["pattern"].startswith(P):
            r = api("POST", "channel_hooks/remove", form={"id": x["id"]})
            T.eq(r.json.get("removed"), True, "removed " + x["pattern"])
    deadline = time.time() + 15
    while time.time() < deadline:
        await ws_send(ws, type="publish", channel=ok_ch, text="http://free", client_id=uniq("f"), ref="f")
        if (await answer(ws, "f")).get("type") == "ack":
            break
        await asyncio.sleep(0.5)
    T.ok(time.time() < deadline, "once removed, nothing is asked")
    for c in (ws, mws, other):
        await c.close()


run(main())
srv.shutdown()
T.done()
