#!/usr/bin/python3
"""test_api.py - every endpoint of the HTTP API through nginx, each error
code, and the issue's "done when": app1 posts as its user, app2's user
polls it; restricted and DM channels refuse outsiders; an ended session's
ticket requests are 401."""
import hashlib
import json

from ct import ENV, T, api, sql, sql1, uniq
from hx import call, expect, key, last_seq, new_channel, new_session, post, shape


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


# --- health ---------------------------------------------------------------
for m in ("GET", "POST"):
    r = expect("health " + m, api(m, "health", key=""), 200)
    T.eq(r.json.get("database"), "up", "health says database up")
r = expect("health gzip asked", api("GET", "health", key="",
                                    headers={"Accept-Encoding": "gzip"}), 200)

# --- sessions -------------------------------------------------------------
# form with cfhttp's upper-case names
ua = uniq("ua")
r = expect("sessions form", api("POST", "sessions", form={
    "USER_ID": ua, "DISPLAY_NAME": "Ada A", "TTL": "3600"}), 200)
ref_a = r.json["session"]
T.ok(ref_a.startswith("cs_") and len(ref_a) >= 40, "session ref looks random")
T.eq(r.json["user"], {"app": "app1", "id": ua, "name": "Ada A"}, "session user")
T.ok(r.json["expires_at"].endswith("Z") and isinstance(r.json["expires_at_ms"], int),
     "expires_at ISO + ms")
T.eq(sql1("SELECT count(*) FROM crosstalk.sessions WHERE ref_hash = :'v1'", sha(ref_a)),
     "1", "session stored by hash only")
T.eq(sql1("SELECT count(*) FROM crosstalk.sessions WHERE ref_hash = :'v1'", ref_a),
     "0", "session ref not stored in clear")
# JSON the way ColdFusion serialises it: BOM, // prefix, upper keys, 5.0
ub = uniq("ub")
raw = b"\xef\xbb\xbf//" + json.dumps({"USER_ID": ub, "displayName": "Bo B",
                                      "Ttl": 3600.0}).encode()
r = expect("sessions JSON with BOM and //", api("POST", "sessions", key=key("app2"),
                                                  raw=raw, content_type="application/json"), 200)
ref_b = r.json["session"]
T.eq(r.json["user"], {"app": "app2", "id": ub, "name": "Bo B"}, "app2 session user")
# text/plain JSON (cfhttp type=body without a Content-Type)
r = expect("sessions text/plain JSON", api("POST", "sessions", raw=json.dumps(
    {"user-id": uniq("ut"), "ttl": "7200"}).encode(), content_type="text/plain"), 200)
T.eq(r.json["ttl"], 7200, "ttl as string")
T.eq(r.json["user"]["name"], r.json["user"]["id"], "display_name defaults to user_id")
expect("sessions bad ttl", api("POST", "sessions", form={"user_id": "x", "ttl": "5"}),
       422, "invalid")
expect("sessions no key", api("POST", "sessions", key="", form={"user_id": "x"}),
       401, "unauthorized")
expect("sessions wrong secret", api("POST", "sessions", key="app1.nottherightsecret",
                                    form={"user_id": "x"}), 401, "unauthorized")
expect("sessions unknown app", api("POST", "sessions", key="nosuchapp.abc",
                                   form={"user_id": "x"}), 401, "unauthorized")
expect("sessions GET", api("GET", "sessions"), 405, "method_not_allowed")

# --- tickets --------------------------------------------------------------
r = expect("tickets", api("POST", "tickets", session=ref_a), 200)
t = r.json.get("ticket", "")
T.ok(t.startswith("ctt_") and len(t) >= 30, "ticket looks random", t)
T.eq(r.json.get("expires_in"), 60, "ticket expires_in")
T.eq(r.json.get("ws_url"), ENV["CROSSTALK_WS"], "ticket ws_url from config")
T.eq(r.json.get("widget_url"), ENV["CROSSTALK_WIDGET"], "ticket widget_url")
T.eq(r.json.get("user"), {"app": "app1", "id": ua, "name": "Ada A"}, "ticket user")
T.eq(sql1("SELECT count(*) FROM crosstalk.tickets WHERE hash = :'v1' AND user_id = :'v2'",
          sha(t), ua), "1", "ticket stored as its hash")
r = expect("tickets session as field", api("POST", "tickets", form={"session": ref_a}), 200)
expect("tickets no session", api("POST", "tickets"), 401, "unauthorized")
expect("tickets bogus session", api("POST", "tickets", session="cs_bogus"), 401,
       "unauthorized")
expect("tickets other app's session", api("POST", "tickets", key=key("app2"), session=ref_a),
       401, "unauthorized")

# --- messages: app1 posts as its user, app2's user polls it ---------------
before = last_seq("general")
cid = uniq("cid")
r = expect("post", post(ref_a, "general", "hello from app1", client_id=cid), 201)
m = r.json.get("message", {})
T.eq(m.get("type"), "message", "message type")
T.eq(m.get("text"), "hello from app1", "message text")
T.eq(m.get("user"), {"id": ua, "name": "Ada A"}, "message user")
T.eq(m.get("app"), "app1", "message app")
T.eq(m.get("client_id"), cid, "message client_id")
T.ok(isinstance(m.get("id"), str) and isinstance(m.get("seq"), str), "ids as strings")
T.eq(int(m.get("seq", 0)), before + 1, "seq is the next one")
T.ok(m.get("created_at", "").endswith("Z") and isinstance(m.get("created_at_ms"), int),
     "created_at ISO + ms")
r = expect("post again same client_id", post(ref_a, "general", "hello again", client_id=cid), 200)
T.eq(r.json["message"]["id"], m["id"], "idempotent: same message")
T.eq(last_seq("general"), before + 1, "idempotent: nothing new stored")
expect("client_id in another channel", post(ref_a, "random", "x", client_id=cid), 409, "conflict")

r = expect("app2 user polls", api("GET", "messages/poll", key=key("app2"), session=ref_b,
                                  query={"channel": "general", "after": before}), 200)
T.eq([e["id"] for e in r.json["messages"]], [m["id"]], "app2 sees app1's message")
T.eq(r.json["last_seq"], m["seq"], "poll last_seq")
T.eq(r.json["has_more"], False, "poll has_more")
r = expect("poll POST JSON", api("POST", "messages/poll", key=key("app2"),
                                 json_body={"CHANNEL": "general", "AFTER": float(before)}), 200)
T.eq(len(r.json["messages"]), 1, "poll by POST with 5.0-style after")

# exclude_sender: recorded for the WebSocket daemon
r = expect("post exclude_sender", post(ref_a, "general", "not echoed", exclude_sender="YES"), 201)
T.eq(sql1("SELECT exclude_ref_hash FROM crosstalk.messages WHERE id = :'v1'",
          r.json["message"]["id"]), sha(ref_a), "exclude_sender stores the login's ref hash")
r = expect("post no exclude", post(ref_a, "general", "echoed", exclude_sender=False), 201)
T.eq(sql1("SELECT coalesce(exclude_ref_hash, 'none') FROM crosstalk.messages WHERE id = :'v1'",
          r.json["message"]["id"]), "none", "no mark without exclude_sender")

# limit and has_more
ch = new_channel()
for i in range(5):
    post(ref_a, ch, "m%d" % i)
r = expect("poll limit", api("GET", "messages/poll", query={"channel": ch, "limit": "2"}), 200)
T.eq([e["seq"] for e in r.json["messages"]], ["1", "2"], "limit 2")
T.eq((r.json["last_seq"], r.json["has_more"]), ("2", True), "has_more with limit")
r = expect("poll rest", api("GET", "messages/poll", query={"channel": ch, "after": "2",
                                                           "limit": 1000}), 200)
T.eq([e["seq"] for e in r.json["messages"]], ["3", "4", "5"], "limit above max is capped")
r = expect("poll empty", api("GET", "messages/poll", query={"channel": ch, "after": 5}), 200)
T.eq((r.json["messages"], r.json["last_seq"], r.json["has_more"]), ([], "5", False),
     "empty poll keeps the cursor")

# errors on post
expect("post restricted by app2", post(ref_b, "app1-only", "x", app="app2"), 403, "forbidden")
expect("post no such channel", post(ref_a, uniq("nochan"), "x"), 404, "not_found")
expect("post text too long", post(ref_a, "general", "x" * 4001), 413, "too_large")
r = expect("post 4000 characters (multibyte)", post(ref_a, "general", "\u00e9" * 4000), 201)
expect("post empty text", post(ref_a, "general", ""), 422, "invalid")
expect("post no session", api("POST", "messages", form={"channel": "general", "text": "x"}),
       401, "unauthorized")

# rate limit: publish_count (20) per publish_window per user
rref, ruser = new_session()
codes = [post(rref, "random", "r%d" % i).status for i in range(20)]
T.eq(codes, [201] * 20, "20 posts allowed")
r = expect("21st post", post(rref, "random", "too many"), 429, "rate_limited")
ra = {k.lower(): v for k, v in r.headers.items()}.get("retry-after", "")
T.ok(ra.isdigit() and 1 <= int(ra) <= 10, "Retry-After header", repr(ra))
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE user_id = :'v1'", ruser), "20",
     "the refused post stored nothing")

# --- restricted and DM channels refuse outsiders --------------------------
expect("poll restricted app2", api("GET", "messages/poll", key=key("app2"),
                                   query={"channel": "app1-only"}), 403, "forbidden")
expect("poll restricted app1", api("GET", "messages/poll", query={"channel": "app1-only"}), 200)
ref_c, uc = new_session("app2")
dm = "dm:%s:%s" % tuple(sorted([ua, ub]))
r = expect("DM post by member (app1)", post(ref_a, dm, "psst"), 201)
dm_msg = r.json["message"]
r = expect("DM poll by other member (app2)", api("GET", "messages/poll", key=key("app2"),
                                                 session=ref_b, query={"channel": dm}), 200)
T.eq([e["text"] for e in r.json["messages"]], ["psst"], "DM member reads it")
expect("DM poll by outsider", api("GET", "messages/poll", key=key("app2"), session=ref_c,
                                  query={"channel": dm}), 403, "forbidden")
expect("DM post by outsider", post(ref_c, dm, "let me in", app="app2"), 403, "forbidden")
expect("DM poll with key only", api("GET", "messages/poll", query={"channel": dm}), 403,
       "forbidden")
expect("DM presence outsider", api("GET", "presence", key=key("app2"), session=ref_c,
                                   query={"channel": dm}), 403, "forbidden")
r = expect("DM nobody wrote to", api("GET", "messages/poll", session=ref_a, query={
    "channel": "dm:%s:zzzz" % ua}), 200)
T.eq((r.json["messages"], r.json["last_seq"]), ([], "0"), "unwritten DM is empty")
T.eq(sql1("SELECT count(*) FROM crosstalk.channels WHERE name = :'v1'", "dm:%s:zzzz" % ua),
     "0", "reading a DM creates nothing")

# --- edit / delete ---------------------------------------------------------
r = post(ref_a, "general", "typo")
mid = r.json["message"]["id"]
r = expect("edit by author", api("POST", "messages/edit", session=ref_a,
                                 form={"id": mid, "text": "fixed"}), 200)
ev = r.json.get("event", {})
T.eq((ev.get("type"), ev.get("id"), ev.get("text")), ("edited", mid, "fixed"), "edited event")
T.ok("edited_at" in ev and "edited_at_ms" in ev, "edited_at present")
expect("edit by other user", api("POST", "messages/edit", key=key("app2"), session=ref_b,
                                 form={"id": mid, "text": "hijack"}), 403, "forbidden")
r = expect("delete by moderation (key only)", api("POST", "messages/delete",
                                                  json_body={"ID": float(mid)}), 200)
T.eq((r.json["event"]["type"], r.json["event"].get("deleted")), ("deleted", True),
     "deleted event")
expect("edit deleted", api("POST", "messages/edit", session=ref_a,
                           form={"id": mid, "text": "again"}), 409, "conflict")
expect("delete no such message", api("POST", "messages/delete", form={"id": "999999999"}),
       404, "not_found")
expect("moderate a DM", api("POST", "messages/delete", form={"id": dm_msg["id"]}), 403,
       "forbidden")
r = api("GET", "messages/poll", query={"channel": "general", "after": int(ev["seq"]) - 1})
T.eq([e["type"] for e in r.json["messages"]], ["edited", "deleted"],
     "edit and delete are events in the stream")
T.eq(r.json["messages"][1].get("text"), "", "deleted event carries no text")

# --- channels, create, unread, read, presence ------------------------------
r = expect("channels app2 no session", api("GET", "channels", key=key("app2")), 200)
names = [c["name"] for c in r.json["channels"]]
T.ok("general" in names and "app1-only" not in names, "app2 does not list app1-only", names)
T.ok(all("unread" not in c for c in r.json["channels"]), "no unread without a session")
r = expect("channels app1 with session", api("POST", "channels", session=ref_a), 200)
byname = {c["name"]: c for c in r.json["channels"]}
T.ok("app1-only" in byname and dm in byname, "app1 user lists app1-only and the DM")
T.eq((byname["app1-only"]["open"], byname["app1-only"]["apps"]), (False, ["app1"]),
     "restricted channel apps")
T.ok(isinstance(byname["general"].get("unread"), int), "unread with a session")
T.eq((byname[dm]["direct"], byname[dm]["open"]), (True, False), "a DM is direct, not open")
T.ok(isinstance(byname["general"]["last_seq"], str), "last_seq as string")

name = uniq("cr")
r = expect("channels/create", api("POST", "channels/create", json_body={
    "Name": name, "TITLE": "Team", "apps": ["app2"]}), 200)
T.eq(r.json["channel"], {"name": name, "title": "Team", "apps": ["app2"], "open": False,
                         "private": False, "direct": False, "last_seq": "0"}, "created channel")
expect("channels/create again", api("POST", "channels/create", form={"name": name}), 409,
       "conflict")
expect("created restricted to app2: app1 refused", post(ref_a, name, "x"), 403, "forbidden")
expect("created restricted to app2: app2 may", post(ref_b, name, "x", app="app2"), 201)
expect("channels/create bad name", api("POST", "channels/create", form={"name": "Bad Name"}),
       422, "invalid")

rref, ruser = new_session("app2")
r = expect("unread", api("GET", "unread", key=key("app2"), session=rref), 200)
T.ok(isinstance(r.json["total"], int) and r.json["total"] > 0, "unread total", r.json)
g = [c for c in r.json["channels"] if c["channel"] == "general"]
T.ok(g and g[0]["unread"] > 0, "general unread")
top = last_seq("general")
r = expect("messages/read", api("POST", "messages/read", key=key("app2"), session=rref,
                                form={"channel": "general", "seq": top}), 200)
T.eq(r.json["unread"], 0, "read marker clears unread")
r = api("GET", "unread", key=key("app2"), session=rref)
T.ok(all(c["channel"] != "general" for c in r.json["channels"]), "general read")
expect("unread no session", api("GET", "unread"), 401, "unauthorized")

node = uniq("node")
sql("INSERT INTO crosstalk.nodes (node_id) VALUES (:'v1');"
    "INSERT INTO crosstalk.presence (node_id, conn_id, channel, app, user_id, display_name)"
    " VALUES (:'v1', 1, 'random', 'app2', :'v2', 'Pres Ence'),"
    "        (:'v1', 2, 'random', 'app2', :'v2', 'Pres Ence')", node, "presuser")
r = expect("presence", api("GET", "presence", query={"channel": "random"}), 200)
T.ok({"app": "app2", "id": "presuser", "name": "Pres Ence"} in r.json["users"],
     "presence lists the user", r.json)
T.eq(r.json["count"], len(r.json["users"]), "presence count")
T.eq(len([u for u in r.json["users"] if u["id"] == "presuser"]), 1, "one entry per user")
sql("DELETE FROM crosstalk.nodes WHERE node_id = :'v1'", node)
expect("presence restricted", api("GET", "presence", key=key("app2"),
                                  query={"channel": "app1-only"}), 403, "forbidden")
expect("presence no channel", api("GET", "presence"), 422, "invalid")
expect("presence unknown channel", api("GET", "presence", query={"channel": uniq("n")}), 404,
       "not_found")

# --- sessions/end: an ended session's ticket requests are 401 ---------------
eref, euser = new_session()
expect("ticket before end", api("POST", "tickets", session=eref), 200)
r = expect("sessions/end", api("POST", "sessions/end", form={"session": eref}), 200)
T.eq(r.json.get("ended"), True, "ended")
expect("ticket after end", api("POST", "tickets", session=eref), 401, "unauthorized")
expect("post after end", post(eref, "general", "ghost"), 401, "unauthorized")
expect("poll with ended session", api("GET", "messages/poll", session=eref,
                                      query={"channel": "general"}), 401, "unauthorized")
T.eq(sql1("SELECT count(*) FROM crosstalk.tickets t JOIN crosstalk.sessions s "
          "ON s.ref_hash = t.ref_hash WHERE s.user_id = :'v1'", euser), "0",
     "end deleted the login's tickets")
r = expect("sessions/end again (header)", api("POST", "sessions/end", session=eref), 200)
T.eq(r.json.get("ended"), False, "second end: ended false")
expect("sessions/end without session", api("POST", "sessions/end"), 422, "invalid")

# --- generic errors -------------------------------------------------------
r = expect("GET messages", api("GET", "messages"), 405, "method_not_allowed")
T.eq({k.lower(): v for k, v in r.headers.items()}.get("allow"), "POST", "Allow: POST")
r = expect("PUT channels", api("PUT", "channels", raw=b""), 405, "method_not_allowed")
T.eq({k.lower(): v for k, v in r.headers.items()}.get("allow"), "GET, POST",
     "Allow: GET, POST")
expect("unknown endpoint", api("GET", "nope"), 404, "not_found")
expect("bad JSON", api("POST", "messages", session=ref_a, raw=b"{nope",
                       content_type="application/json"), 400, "bad_request")
expect("multipart", api("POST", "messages", session=ref_a, raw=b"--x\r\n",
                        content_type="multipart/form-data; boundary=x"), 415,
       "unsupported_media_type")
expect("body over body_max", api("POST", "messages", session=ref_a,
                                 raw=b"a" * 70000, content_type="text/plain"), 413, "too_large")
expect("body over nginx's cap", api("POST", "messages", session=ref_a,
                                    raw=b"a" * 200000, content_type="text/plain"), 413,
       "too_large")

# /api/v1 without the slash: JSON 404, not nginx's 301 redirect
from ct import http as raw_http
r = expect("/api/v1 without slash", raw_http("GET", ENV["CROSSTALK_HTTP"]), 404, "not_found")
# urllib follows redirects: the message tells whose 404 this is
T.eq(r.json["error"]["message"], "the API lives under /api/v1/", "answered, not redirected")

# --- metrics (not part of the JSON API: Prometheus text, loopback only) ---
r = api("GET", "metrics", key="")
T.eq(r.status, 200, "metrics from 127.0.0.1")
T.ok(r.headers.get("Content-Type", "").startswith("text/plain"), "metrics text")
text = r.raw.decode()
T.ok('crosstalk_fcgi_requests_total{endpoint="messages",status="201"}' in text,
     "metrics count posts", text[:500])
T.ok("crosstalk_fcgi_listener_up 1" in text, "metrics: listener up")
T.ok("crosstalk_fcgi_request_seconds_count" in text, "metrics: answer-time histogram")
expect("metrics POST", api("POST", "metrics", key=""), 405, "method_not_allowed")

T.done()
