#!/usr/bin/python3
"""test_webhooks.py - webhooks from the outbox, against a real local HTTP
receiver that fails, hangs and recovers ([hooks] timeout = 2 s here).

Events are written in the transaction that made them (a message, a member
change, a login, a mention of someone offline); every one reaches the
receiver at least once, signed (HMAC-SHA256 of timestamp "." body with the
hook's secret), with the same X-Crosstalk-Id on every retry; duplicates
only where an attempt failed or timed out; in order per channel; a hook
that keeps failing is parked after max_attempts and `crosstalkctl hook
retry` brings its events back."""
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import threading
import time

from ct import ENV, T, api, free_port, sql, sql1, uniq
from hx import expect, key, new_session, post

CTL = os.path.join(os.environ["CT_BIN"], "ctl", "crosstalkctl")


def ctl(*args):
    return subprocess.run([CTL, "--config", ENV["CROSSTALK_CONFIG"]] + list(args),
                          capture_output=True, text=True, timeout=60)


lock = threading.Lock()
got = []            # (path, headers, body, status answered)
arrived = {}        # path -> when each request came (time.time())
plan = {"/a": ["500", "hang"], "/b": []}  # per path: how the next requests are answered
failing = {"/b": True}


class Receiver(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            arrived.setdefault(self.path, []).append(time.time())
            todo = plan.get(self.path, [])
            how = todo.pop(0) if todo else ("500" if failing.get(self.path) else "200")
        status = 500 if how == "500" else 200
        with lock:  # a hang is recorded as it starts (the retry may be in before it ends)
            got.append((self.path, dict(self.headers), body, status if how != "hang" else 0))
        if how == "hang":
            time.sleep(4)  # past the 2-s timeout: the hub gives up and retries
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass


port = free_port()
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % port

r = ctl("hook", "add", "app1", base + "/a", "--events", "message,mention,member,session")
T.ok(r.returncode == 0 and "secret whsec_" in r.stdout, "hook add prints the secret once", r.stdout + r.stderr)
hook_a = r.stdout.split()[1]
secret = r.stdout.split("secret ")[1].split()[0]
T.eq(sql1("SELECT count(*) FROM crosstalk.hooks WHERE id = :'v1' AND secret = :'v2'", hook_a, secret), "1",
     "stored for signing")
for bad, why in [(["hook", "add", "app1", "ftp://x"], "url must be"),
                 (["hook", "add", "app1", base, "--events", "message,gossip"], "events are"),
                 (["hook", "add", "nope", base], "no such app")]:
    r = ctl(*bad)
    T.ok(r.returncode != 0 and why in r.stderr, "refused: " + " ".join(bad), r.stderr)

# what happens: a login, messages, a member change, a mention of someone offline
ref_a, alice = new_session("app1", name="Alice")
ref_b, bob = new_session("app1", name="Bob Offline")
ch = uniq("h")
expect("a private channel", api("POST", "channels/create", key=key("app1"), json_body={
    "name": ch, "private": True, "members": [alice, bob]}), 200)
texts = ["one", "two", "three @Bob Offline", "four", "five"]
for t in texts:
    expect("post " + t, post(ref_a, ch, t), 201)
rolled = uniq("zz")
sql("BEGIN; SELECT crosstalk.post_message('app1', 'x', 'X', 'general', :'v1'); ROLLBACK;", rolled)

want = int(sql1("SELECT count(*) FROM crosstalk.outbox WHERE hook_id = :'v1'", hook_a))
T.ok(want >= 9, "the outbox has the events (%d): 1+ logins, 1 member, 5 messages, 1 mention" % want)
T.eq(sql1("SELECT count(*) FROM crosstalk.outbox WHERE payload::text LIKE '%%' || :'v1' || '%%'", rolled), "0",
     "a rolled-back message has no event")


def delivered():
    return sql1("SELECT count(*) FROM crosstalk.outbox WHERE hook_id = :'v1' AND state = 'delivered'", hook_a)


end = time.time() + 60
while time.time() < end and delivered() != str(want):
    time.sleep(0.5)
T.eq(delivered(), str(want), "every event delivered despite a 500 and a hang")

with lock:
    mine = [g for g in got if g[0] == "/a"]
ok_ids = set()
bad_sig = []
for path, h, body, status in mine:
    ts, sig = h.get("X-Crosstalk-Timestamp", ""), h.get("X-Crosstalk-Signature", "")
    expect_sig = "v1=" + hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig, expect_sig):
        bad_sig.append(h.get("X-Crosstalk-Id"))
    if status == 200:
        ok_ids.add(h["X-Crosstalk-Id"])
T.eq(bad_sig, [], "every delivery is signed with the hook's secret")
T.eq(len(ok_ids), want, "each event answered 200 once at least")
ids = [h["X-Crosstalk-Id"] for _, h, _, _ in mine]
dups = {i for i in ids if ids.count(i) > 1}
failed = {h["X-Crosstalk-Id"] for _, h, _, s in mine if s != 200}
T.ok(dups <= failed, "duplicates only where an attempt failed or timed out", (dups, failed))
T.ok(len(failed) >= 2, "the 500 and the hang happened", failed)

msgs = [json.loads(b) for _, h, b, s in mine if s == 200 and h.get("X-Crosstalk-Event") == "message"]
first = []
for m in msgs:
    if m["event"]["channel"] == ch and m["event"]["text"] not in first:
        first.append(m["event"]["text"])
T.eq(first, texts, "a channel's messages arrive in order, retries included")
kinds = {h.get("X-Crosstalk-Event") for _, h, _, s in mine if s == 200}
T.ok({"message", "member", "session", "mention"} <= kinds, "every kind of event", kinds)
mention = [json.loads(b) for _, h, b, s in mine if s == 200 and h.get("X-Crosstalk-Event") == "mention"]
T.ok(any(x["user"]["id"] == bob and x["event"]["text"] == "three @Bob Offline" for x in mention),
     "bob, offline, is the one the mention event names")
T.ok(all(json.loads(b)["app"] == "app1" and json.loads(b)["id"] == h["X-Crosstalk-Id"]
         for _, h, b, s in mine), "the body names the app and its id")

# a hook that keeps failing is parked, then retried by hand
r = ctl("hook", "add", "app1", base + "/b", "--events", "session")
hook_b = r.stdout.split()[1]
new_session("app1", name="Carol")
end = time.time() + 40
while time.time() < end and sql1("SELECT count(*) FROM crosstalk.outbox WHERE hook_id = :'v1' AND state = 'parked'", hook_b) != "1":
    time.sleep(0.5)
T.eq(sql1("SELECT attempts FROM crosstalk.outbox WHERE hook_id = :'v1'", hook_b), "4", "parked after max_attempts (4)")
# [hooks] retry_ms = 200 here: the retries wait 200, 400, 800 ms (+-20 %),
# never less; the default (2,000) would have taken 11 s at least
with lock:
    at = list(arrived.get("/b", []))
gaps = [b - a for a, b in zip(at, at[1:])]
T.eq(len(at), 4, "4 attempts reached the receiver")
T.ok(len(gaps) == 3 and all(g >= 0.8 * 0.2 * 2 ** k - 0.02 for k, g in enumerate(gaps)),
     "each retry waited retry_ms, doubled for each attempt before it", gaps)
T.ok(len(at) == 4 and at[-1] - at[0] < 10, "the retries took retry_ms's waits, not the default's",
     at[-1] - at[0] if at else None)
r = ctl("hook", "list")
T.ok(any(l.split("\t")[0] == hook_b and l.split("\t")[5] == "1" for l in r.stdout.splitlines()),
     "hook list shows it parked", r.stdout)
r = ctl("hook", "log", hook_b)
T.ok("\tparked\t4\t500\t" in r.stdout, "hook log shows the attempts and the last status", r.stdout)
failing["/b"] = False
r = ctl("hook", "retry", hook_b)
T.ok(r.stdout.startswith("1 parked"), "hook retry", r.stdout)
end = time.time() + 20
while time.time() < end and sql1("SELECT state FROM crosstalk.outbox WHERE hook_id = :'v1'", hook_b) != "delivered":
    time.sleep(0.5)
T.eq(sql1("SELECT state FROM crosstalk.outbox WHERE hook_id = :'v1'", hook_b), "delivered",
     "and the receiver, recovered, gets it")
T.ok(ctl("hook", "remove", hook_b).returncode == 0, "hook remove")
T.eq(sql1("SELECT count(*) FROM crosstalk.outbox WHERE hook_id = :'v1'", hook_b), "0", "with its outbox")

# the same over the API, with the app key
r = expect("hooks/add", api("POST", "hooks/add", key=key("app2"),
                            json_body={"url": base + "/c", "events": ["mention", "session"]}), 200)
T.ok(r.json["secret"].startswith("whsec_") and r.json["hook"]["events"] == ["mention", "session"],
     "the answer carries the secret, once", r.json)
hid = r.json["hook"]["id"]
r = expect("hooks", api("GET", "hooks", key=key("app2")), 200)
T.eq([(h["id"], h["url"]) for h in r.json["hooks"]], [(hid, base + "/c")], "an app lists its own hooks")
T.ok("secret" not in json.dumps(r.json), "never the secret again")
r = expect("another app's hooks", api("GET", "hooks", key=key("app1")), 200)
T.ok(hid not in [h["id"] for h in r.json["hooks"]], "not app2's")
expect("a bad url", api("POST", "hooks/add", key=key("app2"), json_body={"url": "file:///etc/passwd"}),
       422, "invalid")
expect("an unknown event", api("POST", "hooks/add", key=key("app2"),
                               json_body={"url": base, "events": ["everything"]}), 422, "invalid")
r = expect("app1 removes app2's hook", api("POST", "hooks/remove", key=key("app1"), json_body={"id": hid}), 200)
T.eq(r.json["removed"], False, "it cannot")
r = expect("app2 removes it", api("POST", "hooks/remove", key=key("app2"), json_body={"id": hid}), 200)
T.eq(r.json["removed"], True, "removed")

# the demo's app2 receives its webhooks and checks each signature
dport = free_port()
r = ctl("hook", "add", "app2", "http://127.0.0.1:%d/webhook" % dport, "--events", "message")
envf = os.path.join(os.environ["CT_STATE"], "demo-hook.env")
with open(os.path.join(os.environ["CT_STATE"], "env")) as f, open(envf, "w") as out:
    out.write(f.read() + "\nAPP2_HOOK_SECRET=%s\n" % r.stdout.split("secret ")[1].split()[0])
demo = subprocess.Popen(["/usr/bin/python3", os.path.join(os.environ["CT_SRC"], "demo", "app.py"),
                         "--app", "app2", "--port", str(dport), "--env", envf],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    import urllib.request
    import http.cookiejar
    jar = http.cookiejar.CookieJar()
    web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    end = time.time() + 10
    while time.time() < end:
        try:
            web.open("http://127.0.0.1:%d/health" % dport, timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    web.open("http://127.0.0.1:%d/login" % dport, data=b"user_id=carol", timeout=10)
    word = uniq("w")
    expect("a message for the demo", post(ref_a, "general", "hello %s" % word), 201)
    page = ""
    end = time.time() + 20
    while time.time() < end and word not in page:
        page = web.open("http://127.0.0.1:%d/webhooks" % dport, timeout=10).read().decode()
        time.sleep(0.5)
    T.ok(word in page and "delivered to app2" in page, "the demo's app2 page shows the delivery", page[-400:])
    req = urllib.request.Request("http://127.0.0.1:%d/webhook" % dport, data=b"{}", method="POST",
                                 headers={"X-Crosstalk-Signature": "v1=00", "X-Crosstalk-Timestamp": "1"})
    try:
        web.open(req, timeout=5)
        T.ok(False, "a forged webhook is refused")
    except urllib.error.HTTPError as e:
        T.eq(e.code, 401, "a forged webhook is refused")
finally:
    demo.terminate()
    demo.wait(10)
srv.shutdown()
T.done()
