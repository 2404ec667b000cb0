#!/usr/bin/python3
"""test_identity.py - whose user ids are whose, and channels that change.

An app whose ids are its own (namespace "own", the default for a new app)
has its users known to the hub as "<app>/<id>": its user 42 is not the
family's user 42 and can neither read nor post in that 42's direct
channels, over HTTP or the WebSocket. A family app's ids cannot contain
"/" (it would pass for another app's qualified id). `crosstalkctl app set`
changes origins, name and namespace. `crosstalkctl channel rename |
archive | unarchive | delete`: each change is a 'channel' event in the
stream (seq, poll, live on the WebSocket); an archived channel is read-only;
a deleted one is 404 everywhere."""
import asyncio
import os
import subprocess

from ct import ENV, T, api, sql1, ticket, uniq, ws_open, ws_send, ws_until
from hx import expect, key, new_channel, new_session, post

CTL = os.path.join(os.environ["CT_BIN"], "ctl", "crosstalkctl")


def ctl(*args):
    return subprocess.run([CTL, "--config", ENV["CROSSTALK_CONFIG"]] + list(args),
                          capture_output=True, text=True, timeout=60)


def poll(app_key, ref, channel, after=0):
    return api("GET", "messages/poll", key=app_key, session=ref,
               query={"channel": channel, "after": str(after)})


def register(app_key, user, name=None):
    return api("POST", "sessions", key=app_key,
               form={"user_id": user, "display_name": name or user, "ttl": "3600"})


# --- an app with ids of its own ----------------------------------------------
app3 = uniq("own")
r = ctl("app", "add", app3, "--origin", "http://127.0.0.1:9")
T.ok(r.returncode == 0, "app add without --namespace", r.stderr)
key3 = r.stdout.strip()
T.eq(sql1("SELECT namespace FROM crosstalk.apps WHERE id = :'v1'", app3), "own",
     "a new app's ids are its own unless told otherwise")
T.eq(sql1("SELECT namespace FROM crosstalk.apps WHERE id = 'app1'"), "family",
     "the demo's sister apps share one namespace")

n = uniq("n")  # the same raw id in two namespaces
r = expect("family user", register(key("app1"), n, "Family"), 200)
ref_f, id_f = r.json["session"], r.json["user"]["id"]
T.eq(id_f, n, "a family app's user is its id as given")
r = expect("own user", register(key3, n, "Own"), 200)
ref_o, id_o = r.json["session"], r.json["user"]["id"]
T.eq(id_o, app3 + "/" + n, "an own-namespace user is qualified by its app")

ref_b, bob = new_session("app1", name="Bob")
dm_fb = "dm:" + ":".join(sorted([n, bob]))
secret = uniq("zs")
expect("family user writes to bob", post(ref_f, dm_fb, "for bob only " + secret), 201)
expect("the other app's same id cannot read that DM",
       poll(key3, ref_o, dm_fb), 403, "forbidden")
expect("nor post in it", api("POST", "messages", key=key3, session=ref_o,
                              json_body={"channel": dm_fb, "text": "hi"}), 403, "forbidden")
r = expect("search does not find it for the other app's user",
           api("GET", "messages/search", key=key3, session=ref_o, query={"q": secret}), 200)
T.eq(r.json["results"], [], "no hits from the other person's DM")

dm_ob = "dm:" + ":".join(sorted([id_o, bob]))
r = expect("the own user DMs bob by its hub id", api(
    "POST", "messages", key=key3, session=ref_o,
    json_body={"channel": dm_ob, "text": "from app3"}), 201)
T.eq(r.json["message"]["user"]["id"], id_o, "the event names the qualified id")
T.eq(r.json["message"]["app"], app3, "and the app")
r = expect("bob reads it", poll(key("app1"), ref_b, dm_ob), 200)
T.eq([e["text"] for e in r.json["messages"]], ["from app3"], "bob sees the message")
expect("the family's same raw id does not", poll(key("app1"), ref_f, dm_ob), 403, "forbidden")

r = expect("a ticket for the own user", api("POST", "tickets", key=key3, session=ref_o), 200)
T.eq(r.json["user"]["id"], id_o, "the ticket's user is the qualified id")

# ids a namespace cannot have
r = expect("'/' in a family id", register(key("app1"), "a/b"), 422, "invalid")
T.ok('"/"' in r.json["error"]["message"], "the message says why", r.json["error"]["message"])
r = expect("an own id too long once qualified", register(key3, "x" * (128 - len(app3))), 422, "invalid")
T.ok("at most %d" % (127 - len(app3)) in r.json["error"]["message"], "names the limit",
     r.json["error"]["message"])
expect("the longest own id", register(key3, "x" * (127 - len(app3))), 200)

# a deployer's resolver that answers an id the namespace refuses: 422 on use
sql1("INSERT INTO crosstalk.sessions (ref_hash, app, user_id, display_name, expires_at) "
     "VALUES (encode(sha256(convert_to('cs_slash_ref', 'UTF8')), 'hex'), 'app1', 'x/y', 'X', "
     "now() + interval '1 hour') RETURNING 1")
expect("a resolved id with '/' in a family app: post", api(
    "POST", "messages", key=key("app1"), session="cs_slash_ref",
    json_body={"channel": "general", "text": "x"}), 422, "invalid")
expect("and ticket", api("POST", "tickets", key=key("app1"), session="cs_slash_ref"), 422, "invalid")
expect("and poll", poll(key("app1"), "cs_slash_ref", "general"), 422, "invalid")

# app set
r = ctl("app", "set", app3, "--name", "Third app", "--origin", "http://127.0.0.1:10",
        "--origin", "http://127.0.0.1:11")
T.ok(r.returncode == 0, "app set name and origins", r.stderr)
T.eq(sql1("SELECT name || ' ' || array_to_string(origins, ' ') FROM crosstalk.apps WHERE id = :'v1'", app3),
     "Third app http://127.0.0.1:10 http://127.0.0.1:11", "stored")
r = ctl("app", "set", app3, "--namespace", "family")
T.ok(r.returncode == 0 and "IS user 42" in r.stderr, "app set to family warns loudly", r.stderr)
r = expect("after the switch", register(key3, n), 200)
T.eq(r.json["user"]["id"], n, "the app's ids are the family's now")
r = ctl("app", "list")
T.ok("%s\tfamily\thttp://127.0.0.1:10 http://127.0.0.1:11" % app3 in r.stdout, "app list shows it", r.stdout)
for bad, why in [(["app", "set", app3], "give --origin"),
                 (["app", "set", app3, "--namespace", "mine"], "family or own"),
                 (["app", "set", "no-such-app", "--name", "x"], "no such app"),
                 (["app", "set", app3, "--origin", "ftp://x"], "not an origin")]:
    r = ctl(*bad)
    T.ok(r.returncode != 0 and why in r.stderr, "refused: " + " ".join(bad), r.stderr)
ctl("app", "remove", app3)

# --- channels that change ----------------------------------------------------
ch = new_channel()
ref_a, alice = new_session("app1", name="Alice")
expect("a first post", post(ref_a, ch, "before"), 201)


async def live_rename():
    ref, _ = new_session("app1")
    ws = await ws_open(ENV["APP1_ORIGIN"])
    await ws_send(ws, type="auth", ticket=ticket(ref))
    await ws_until(ws, lambda e: e.get("type") == "welcome")
    await ws_send(ws, type="subscribe", channel=ch, after=1)
    await ws_until(ws, lambda e: e.get("type") == "subscribed")
    r = ctl("channel", "rename", ch, "A new title")
    T.ok(r.returncode == 0, "channel rename", r.stderr)
    evs = await ws_until(ws, lambda e: e.get("type") == "channel")
    T.eq(evs[-1].get("changes"), {"title": "A new title"}, "a live subscriber gets the change")
    T.eq(evs[-1].get("seq"), "2", "with the channel's next seq")
    r = ctl("channel", "archive", ch)
    T.ok(r.returncode == 0, "channel archive", r.stderr)
    evs = await ws_until(ws, lambda e: e.get("type") == "channel")
    T.eq(evs[-1].get("changes"), {"archived": True}, "archiving is live too")
    await ws_send(ws, type="publish", channel=ch, text="late", ref="p1")
    evs = await ws_until(ws, lambda e: e.get("ref") == "p1")
    T.eq((evs[-1].get("type"), evs[-1].get("code")), ("error", "conflict"),
         "a publish to an archived channel is refused")
    await ws.close()

asyncio.run(live_rename())
r = expect("poll after", poll(key("app1"), ref_a, ch, 1), 200)
T.eq([(e["type"], e.get("changes")) for e in r.json["messages"]],
     [("channel", {"title": "A new title"}), ("channel", {"archived": True})],
     "the changes are in the stream, in order")
r = expect("post to an archived channel", post(ref_a, ch, "nope"), 409, "conflict")
T.ok("archived" in r.json["error"]["message"], "says archived", r.json["error"]["message"])
r = expect("channels", api("GET", "channels", key=key("app1"), session=ref_a), 200)
row = [c for c in r.json["channels"] if c["name"] == ch][0]
T.eq((row["title"], row["archived"]), ("A new title", True), "the list shows title and archived")
T.eq(ctl("channel", "archive", ch).stdout.strip(), "unchanged " + ch, "archiving twice changes nothing")
T.eq(ctl("channel", "unarchive", ch).returncode, 0, "unarchive")
expect("post after unarchive", post(ref_a, ch, "after"), 201)
T.eq(int(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch)), 5,
     "gapless: 1 post, 3 changes, 1 post")

# the same over the API with the key
r = expect("channels/update", api("POST", "channels/update", key=key("app1"),
                                  json_body={"channel": ch, "title": "By the app", "archived": True}), 200)
T.eq((r.json["changed"], r.json["event"]["changes"]), (True, {"title": "By the app", "archived": True}),
     "rename and archive in one event")
r = expect("again", api("POST", "channels/update", key=key("app1"), json_body={"channel": ch, "archived": True}), 200)
T.eq(r.json["changed"], False, "nothing changed: no event")
expect("unarchive", api("POST", "channels/update", key=key("app1"), json_body={"channel": ch, "archived": False}), 200)
only2 = new_channel(apps=["app2"])
expect("a channel not open to the app", api("POST", "channels/update", key=key("app1"),
                                            json_body={"channel": only2, "title": "x"}), 403, "forbidden")
expect("a DM", api("POST", "channels/update", key=key("app1"), json_body={"channel": "dm:a:b", "title": "x"}),
       422, "invalid")
expect("a title with a control", api("POST", "channels/update", key=key("app1"),
                                     json_body={"channel": ch, "title": "a\u0001"}), 422, "invalid")

r = ctl("channel", "delete", ch)
T.ok(r.returncode != 0 and "--yes" in r.stderr, "delete asks for --yes", r.stderr)
r = ctl("channel", "delete", ch, "--yes")
T.ok(r.returncode == 0 and "(8 events)" in r.stdout, "deleted with its events", r.stdout + r.stderr)
expect("a deleted channel", poll(key("app1"), ref_a, ch), 404, "not_found")
expect("posting to it", post(ref_a, ch, "x"), 404, "not_found")
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1'", ch), "0", "no rows left")
for bad, why in [(["channel", "rename", "no-such", "x"], "no such channel"),
                 (["channel", "archive", "no-such"], "no such channel"),
                 (["channel", "rename", "general", "bad\ttitle"], "title must be")]:
    r = ctl(*bad)
    T.ok(r.returncode != 0 and why in r.stderr, "refused: " + " ".join(bad), r.stderr)
T.done()
