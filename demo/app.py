#!/usr/bin/python3
"""DEMO STAND-IN, NOT PRODUCT CODE.

A pretend "sister app" that behaves the way a ColdFusion app using crosstalk
would: a login page with demo users; at login its server registers the chat
session over HTTP (POST /api/v1/sessions with the app's API key); its pages
mint a ticket server-side (POST /api/v1/tickets) and embed the chat widget
with crosstalk-embed.js; one page uses crosstalk.js directly through the
<cfwebsocket>-style loader; one page shows window.msgHook. Run with
--unregistered it plays an app whose origin crosstalk does not know.

Debian's python3 standard library only. Listens on 127.0.0.1.

  demo/app.py --app app1 --port 8081 --env var/demo.env
  demo/app.py --unregistered --port 8083 --env var/demo.env
"""
import argparse
import hashlib
import hmac
import html
import http.cookies
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

APPS = {
    "app1": {"title": "Northwind Orders", "color": "#2456c7",
             "users": [("alice", "Alice Adams"), ("bob", "Bob Brown")]},
    "app2": {"title": "Southwind Billing", "color": "#1f7a4d",
             "users": [("carol", "Carol Chen"), ("dave", "Dave Diaz"),
                       ("alice", "Alice Adams")]},
}


def read_env(path):
    env = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k] = v
    for k in ("CROSSTALK_HTTP", "CROSSTALK_WSD", "APP1_KEY", "APP2_KEY", "APP2_HOOK_SECRET"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    return env


def esc(s):
    return html.escape(str(s), quote=True)


class Api:
    """The calls a ColdFusion app would make with cfhttp."""

    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, path, body=None, session=None):
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.base + "/" + path, data=data, method="POST")
        req.add_header("Authorization", "Bearer " + self.key)
        req.add_header("Content-Type", "application/json")
        if session:
            req.add_header("X-Crosstalk-Session", session)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read().decode() or "{}")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read().decode() or "{}")
            except ValueError:
                return e.code, {"ok": False}
        except (urllib.error.URLError, OSError) as e:
            return 503, {"ok": False, "error": {"code": "unavailable", "message": str(e)}}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0; background: #f3f4f7; color: #1d2330; }}
header {{ background: {color}; color: #fff; padding: 10px 16px; display: flex; gap: 12px;
  align-items: center; flex-wrap: wrap; }}
header h1 {{ font-size: 18px; margin: 0; }}
header nav a, header button {{ color: #fff; margin-right: 10px; }}
header form {{ display: inline; }} header button {{ background: none; border: 1px solid #fff;
  border-radius: 4px; cursor: pointer; }}
.demo {{ background: #fff3cd; color: #664d03; font-size: 12px; padding: 4px 16px; }}
main {{ padding: 16px; display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }}
.card {{ background: #fff; border-radius: 8px; padding: 12px 14px; box-shadow: 0 1px 3px rgba(0,0,0,.1); }}
#chat {{ width: 420px; max-width: 100%; }}
.badge {{ background: #d7263d; color: #fff; border-radius: 10px; padding: 0 7px; font-weight: 700; }}
#log {{ font: 12px/1.4 ui-monospace, monospace; max-height: 260px; overflow: auto; width: 340px;
  white-space: pre-wrap; }}
#toast {{ position: fixed; right: 16px; bottom: 16px; background: #1d2330; color: #fff;
  padding: 10px 14px; border-radius: 8px; max-width: 300px; }}
label {{ display: block; margin: 6px 0; }}
</style></head><body>
<header><h1>{title}</h1>{nav}</header>
<div class="demo">Demo stand-in for a ColdFusion sister app ({origin}), not product code.</div>
<main>{body}</main>
</body></html>"""


def make_handler(cfg):
    sessions = {}
    received = []  # webhooks delivered to this app, newest first
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        server_version = "demo-app"

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (cfg["name"], fmt % args))

        # --- plumbing ---
        def send(self, status, body, ctype="text/html; charset=utf-8", headers=None):
            raw = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def redirect(self, where, headers=None):
            h = {"Location": where}
            h.update(headers or {})
            self.send(303, "", headers=h)

        def form(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(n, 65536)).decode("utf-8", "replace")
            return {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}

        def login(self):
            c = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
            sid = c["demo_sid"].value if "demo_sid" in c else None
            with lock:
                return sid, sessions.get(sid)

        def page(self, body, nav=True, status=200):
            sid, who = self.login()
            navhtml = ""
            if nav and who:
                navhtml = (
                    '<nav><a href="/chat">Chat</a><a href="/hook">msgHook</a>'
                    '<a href="/cfws">crosstalk.js</a><a href="/webhooks">Webhooks</a></nav>'
                    '<span>Signed in as <b>%s</b> <span id="unread" class="badge" hidden></span></span>'
                    '<form method="post" action="/logout"><button>Log out</button></form>'
                    % esc(who["name"]))
            self.send(status, PAGE.format(title=esc(cfg["title"]), color=cfg["color"],
                                          nav=navhtml, body=body, origin=esc(cfg["origin"])))

        def ticket(self, who):
            st, j = cfg["api"].call("tickets", session=who["ref"])
            if st != 200 or "ticket" not in j:
                return None, j
            return j["ticket"], j

        # --- routes ---
        def do_GET(self):
            u = urllib.parse.urlsplit(self.path)
            q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
            if cfg["unregistered"]:
                return self.unregistered(u.path, q)
            sid, who = self.login()
            if u.path == "/health":
                return self.send(200, "ok", "text/plain")
            if u.path == "/" or u.path == "/login":
                if who:
                    return self.redirect("/chat")
                return self.login_page()
            if not who:
                return self.redirect("/")
            channel = q.get("channel", "general")
            if u.path == "/chat":
                return self.chat_page(who, channel, hook=False)
            if u.path == "/hook":
                return self.chat_page(who, channel, hook=True)
            if u.path == "/cfws":
                return self.cfws_page(who, channel)
            if u.path == "/webhooks":
                return self.webhooks_page(who)
            self.send(404, "not found", "text/plain")

        # --- webhooks: what a CFML endpoint does with X-Crosstalk-Signature ---
        def webhook(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(n, 1 << 20))
            ts = self.headers.get("X-Crosstalk-Timestamp", "")
            secret = cfg.get("hook_secret", "")
            want = "v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
            good = bool(secret) and hmac.compare_digest(want, self.headers.get("X-Crosstalk-Signature", ""))
            try:
                fresh = abs(int(ts) - int(time.time())) < 300
            except ValueError:
                fresh = False
            if not (good and fresh):
                return self.send(401, "bad signature", "text/plain")
            with lock:
                received.insert(0, {"id": self.headers.get("X-Crosstalk-Id"),
                                    "event": self.headers.get("X-Crosstalk-Event"),
                                    "body": body.decode("utf-8", "replace")})
                del received[50:]
            self.send(200, "ok", "text/plain")

        def webhooks_page(self, who):
            with lock:
                rows = list(received)
            items = "".join("<li><b>%s</b> #%s delivered to %s: <code>%s</code></li>"
                            % (esc(r["event"]), esc(r["id"]), esc(cfg["name"]), esc(r["body"][:200]))
                            for r in rows) or "<li>Nothing yet: write in the chat.</li>"
            self.page("<div class=\"card\"><h2>Webhooks delivered to %s</h2><ul id=\"hooks\">%s</ul>"
                      "<p>Each one's signature was checked (HMAC-SHA256).</p></div>"
                      % (esc(cfg["name"]), items))

        def do_POST(self):
            u = urllib.parse.urlsplit(self.path)
            if cfg["unregistered"]:
                return self.send(404, "not found", "text/plain")
            if u.path == "/login":
                return self.do_login()
            if u.path == "/webhook":
                return self.webhook()
            sid, who = self.login()
            if u.path == "/logout":
                if who:
                    cfg["api"].call("sessions/end", {"session": who["ref"]})
                    with lock:
                        sessions.pop(sid, None)
                return self.redirect("/", {"Set-Cookie": "demo_sid=; Max-Age=0; Path=/"})
            if u.path == "/ticket":
                # what a CFML page would do: mint for the logged-in user,
                # only for a script of this origin (custom header)
                if not who or self.headers.get("X-Requested-With") != "crosstalk":
                    return self.send(401, '{"ok":false}', "application/json")
                t, j = self.ticket(who)
                if not t:
                    return self.send(502, json.dumps({"ok": False, "error": j.get("error")}),
                                     "application/json")
                return self.send(200, json.dumps({"ok": True, "ticket": t}), "application/json")
            self.send(404, "not found", "text/plain")

        def do_login(self):
            f = self.form()
            user = (f.get("user_id") or "").strip().lower()
            name = (f.get("display_name") or "").strip()
            for uid, uname in cfg["users"]:
                if uid == user and not name:
                    name = uname
            if not user or len(user) > 64 or not all(c.isalnum() or c in "_-." for c in user):
                return self.login_page("Pick a user.")
            st, j = cfg["api"].call("sessions", {"user_id": user, "display_name": name or user,
                                                 "ttl": 8 * 3600})
            if st != 200 or "session" not in j:
                return self.login_page("crosstalk refused the login: %s" % json.dumps(j))
            sid = secrets.token_urlsafe(24)
            with lock:
                sessions[sid] = {"user": user, "name": name or user, "ref": j["session"]}
            nxt = f.get("next") or "/chat"
            if not nxt.startswith("/") or nxt.startswith("//"):
                nxt = "/chat"
            self.redirect(nxt, {"Set-Cookie": "demo_sid=%s; HttpOnly; SameSite=Lax; Path=/" % sid})

        # --- pages ---
        def login_page(self, error=""):
            opts = "".join('<option value="%s">%s (%s)</option>' % (esc(u), esc(n), esc(u))
                           for u, n in cfg["users"])
            body = """<div class="card"><h2>Log in</h2>
<p>Demo users: %s. No passwords: this is a stand-in.</p>
%s
<form method="post" action="/login">
<label>User <select name="user_id" id="user_id">%s</select></label>
<button type="submit">Log in</button>
</form></div>""" % (", ".join(esc(u) for u, _ in cfg["users"]),
                    '<p role="alert">%s</p>' % esc(error) if error else "", opts)
            self.page(body, nav=False)

        def chat_page(self, who, channel, hook):
            t, j = self.ticket(who)
            if not t:
                return self.page('<p role="alert">Could not get a chat ticket: %s</p>'
                                 % esc(json.dumps(j)))
            hook_js = ""
            if hook:
                hook_js = """
<div class="card"><h2>msgHook</h2><p>This page defines <code>window.msgHook(text)</code>;
the embed calls it for every new message from someone else.</p><ol id="hooked"></ol></div>
<div id="toast" hidden></div>
<script>
window.hookCalls = [];
window.msgHook = function (text) {
  window.hookCalls.push(text);
  var li = document.createElement('li'); li.textContent = text;
  document.getElementById('hooked').appendChild(li);
  var t = document.getElementById('toast'); t.textContent = 'New message: ' + text;
  t.hidden = false; clearTimeout(window.toastTimer);
  window.toastTimer = setTimeout(function () { t.hidden = true; }, 4000);
};
</script>"""
            body = """<div class="card" id="chat" aria-label="Chat"></div>
<div class="card"><h2>Events the page received</h2><div id="log" aria-live="off"></div></div>
%s
<script>
window.ctEvents = [];
['crosstalk:ready','crosstalk:auth-required','crosstalk:authenticated','crosstalk:connection',
 'crosstalk:message','crosstalk:mention','crosstalk:unread','crosstalk:presence','crosstalk:resize','crosstalk:error']
.forEach(function (type) {
  document.addEventListener(type, function (e) {
    window.ctEvents.push(e.detail);
    var line = document.createElement('div');
    var d = e.detail || {};
    line.textContent = type + ' ' + JSON.stringify(d).slice(0, 160);
    var log = document.getElementById('log'); log.appendChild(line); log.scrollTop = log.scrollHeight;
    if (type === 'crosstalk:unread') {
      var b = document.getElementById('unread');
      if (b) { b.textContent = d.total ? d.total + ' unread' : ''; b.hidden = !d.total; }
    }
  });
});
</script>
<script src="%s/crosstalk-embed.js" data-target="#chat" data-channel="%s"
        data-ticket="%s" data-ticket-url="/ticket" data-max-height="560"></script>
""" % (hook_js, esc(cfg["wsd"]), esc(channel), esc(t))
            self.page(body)

        def cfws_page(self, who, channel):
            t, j = self.ticket(who)
            if not t:
                return self.page('<p role="alert">Could not get a chat ticket: %s</p>'
                                 % esc(json.dumps(j)))
            body = """<div class="card" style="width:420px;max-width:100%%">
<h2>Own UI on crosstalk.js</h2>
<p>This page was written for <code>&lt;cfwebsocket&gt;</code>; one line changed (the script tag below).</p>
<p>Connection: <b id="state">connecting</b></p>
<ol id="msgs" aria-live="polite"></ol>
<form id="f"><label for="text">Message to #%s</label>
<input id="text" autocomplete="off" style="width:70%%"> <button>Publish</button></form>
</div>
<script>
function onOpen() { document.getElementById('state').textContent = 'open'; }
function onClose() { document.getElementById('state').textContent = 'closed'; }
function onError(e) { console.log('chat error', e.msg); }
window.received = [];
function msgHandler(m) {
  if (m.type !== 'data' || m.event !== 'message') return;
  window.received.push(m.data);
  var li = document.createElement('li');
  li.textContent = m.publishername + ': ' + m.data;
  document.getElementById('msgs').appendChild(li);
}
</script>
<script src="%s/crosstalk.js" data-name="mysocket" data-on-message="msgHandler"
        data-on-open="onOpen" data-on-close="onClose" data-on-error="onError"
        data-subscribe-to="%s" data-ticket="%s" data-ticket-url="/ticket"></script>
<script>
document.getElementById('f').addEventListener('submit', function (e) {
  e.preventDefault();
  var i = document.getElementById('text');
  if (i.value) mysocket.publish('%s', i.value);
  i.value = '';
});
</script>""" % (esc(channel), esc(cfg["wsd"]), esc(channel), esc(t), esc(channel))
            self.page(body)

        def unregistered(self, path, q):
            if path == "/health":
                return self.send(200, "ok", "text/plain")
            channel = q.get("channel", "general")
            widget = "%s/widget?channel=%s" % (cfg["wsd"], urllib.parse.quote(channel))
            body = """<div class="card" style="max-width:560px">
<h2>An origin crosstalk does not know</h2>
<p>This page (%s) is not a registered app origin. The widget below is refused by the
browser (CSP <code>frame-ancestors</code>), and a widget this page opens in a window
ignores its <code>postMessage</code> commands.</p>
<iframe id="framed" title="Chat (refused)" src="%s" style="width:100%%;height:260px;border:1px dashed #999"></iframe>
<p><button id="open">Open the widget in a window and try to drive it</button></p>
<ol id="got"></ol>
</div>
<script>
window.gotMessages = [];
window.addEventListener('message', function (e) {
  window.gotMessages.push({origin: e.origin, data: e.data});
  var li = document.createElement('li'); li.textContent = e.origin + ' ' + JSON.stringify(e.data);
  document.getElementById('got').appendChild(li);
});
window.tryDrive = function (ticket) {
  var w = window.open(%s, 'ctwidget', 'width=420,height=520');
  window.driven = w;
  var n = 0, t = setInterval(function () {
    if (++n > 20) { clearInterval(t); return; }
    try {
      w.postMessage({type: 'crosstalk:auth', ticket: ticket || 'stolen'}, '*');
      w.postMessage({type: 'crosstalk:open-channel', channel: 'random'}, '*');
    } catch (e) {}
  }, 250);
  return true;
};
document.getElementById('open').addEventListener('click', function () { window.tryDrive(); });
</script>""" % (esc(cfg["origin"]), esc(widget), json.dumps(widget).replace("<", "\\u003c"))
            self.send(200, PAGE.format(title="Unregistered site", color="#7a1f1f", nav="",
                                       body=body, origin=esc(cfg["origin"])))

    return H


def main():
    ap = argparse.ArgumentParser(description="crosstalk demo stand-in app (not product code)")
    ap.add_argument("--app", default="app1", choices=sorted(APPS))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--env", default="var/demo.env")
    ap.add_argument("--unregistered", action="store_true")
    a = ap.parse_args()
    env = read_env(a.env)
    origin = "http://127.0.0.1:%d" % a.port
    if a.unregistered:
        cfg = {"name": "app3", "title": "Unregistered site", "color": "#7a1f1f",
               "users": [], "api": None, "unregistered": True}
    else:
        spec = APPS[a.app]
        key = env.get(a.app.upper() + "_KEY")
        if not key or not env.get("CROSSTALK_HTTP"):
            sys.exit("demo app: no %s_KEY / CROSSTALK_HTTP in %s" % (a.app.upper(), a.env))
        cfg = {"name": a.app, "title": spec["title"], "color": spec["color"],
               "users": spec["users"], "api": Api(env["CROSSTALK_HTTP"], key),
               "unregistered": False}
    cfg["origin"] = origin
    cfg["hook_secret"] = env.get(cfg["name"].upper() + "_HOOK_SECRET", "")
    cfg["wsd"] = env.get("CROSSTALK_WSD", "http://127.0.0.1:8888").rstrip("/")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(cfg))
    srv.daemon_threads = True
    sys.stderr.write("%s: %s\n" % (cfg["name"], origin))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
