#!/usr/bin/python3
"""test_directory.py - GET users and the WebSocket "users" request: every
user the hub has seen (a registered login, a minted ticket), online or not,
found by a prefix of the name, of a word of it, or of the id; the avatar
and title the app passed; online from presence; pages by cursor without
repeats; scoped to the apps the caller shares a channel with; each bad
parameter a 422 that changes nothing."""
import asyncio
import os
import subprocess

from ct import ENV, T, api, sql, sql1, ticket, uniq, ws_open, ws_send, ws_until
from hx import expect, key

tag = uniq("dq")  # a prefix nobody else uses


def users(q=None, app="app1", ref=None, **extra):
    query = dict(extra)
    if q is not None:
        query["q"] = q
    return api("GET", "users", key=key(app), session=ref, query=query)


def register(user, name, app="app1", **extra):
    form = {"user_id": user, "display_name": name, "ttl": "3600"}
    form.update(extra)
    r = api("POST", "sessions", key=key(app), form=form)
    expect("register " + user, r, 200)
    return r.json["session"]


ref_a = register(tag + "-ann", "Ann %sfoo" % tag, avatar_url="https://img.example/ann.png",
                 title="Support lead")
ref_b = register(tag + "-bob", "%sbar Bob" % tag, app="app2")
for i in range(3):
    register("%s-p%d" % (tag, i), "%s Page %d" % (tag, i))

r = expect("inside a word", users(tag[1:] + "foo"), 200)
T.eq([u["id"] for u in r.json["users"]], [], "only a prefix of a word or the id matches")
r = expect("by a word of the name", users(tag.upper() + "FOO"), 200)
T.eq([(u["id"], u["name"], u["app"], u.get("avatar_url"), u.get("title"), u["online"])
      for u in r.json["users"]],
     [(tag + "-ann", "Ann %sfoo" % tag, "app1", "https://img.example/ann.png", "Support lead", False)],
     "a word of the name, any case; avatar, title, offline")
T.ok(abs(r.json["users"][0]["last_seen_ms"] - int(sql1("SELECT crosstalk.ms(now())"))) < 60000,
     "last_seen is now")
r = expect("by name start, another app's user", users(tag + "bar"), 200)
T.eq([u["id"] for u in r.json["users"]], [tag + "-bob"], "app2's user is found from app1")
r = expect("by id prefix", users(tag + "-p"), 200)
T.eq([u["id"] for u in r.json["users"]], ["%s-p%d" % (tag, i) for i in range(3)], "by id, by name order")

# pages
seen, cursor, pages = [], None, 0
while pages < 10:
    extra = {"limit": "2"}
    if cursor:
        extra["cursor"] = cursor
    r = expect("page %d" % pages, users(tag, **extra), 200)
    seen += [u["id"] for u in r.json["users"]]
    pages += 1
    cursor = r.json.get("next")
    if not cursor:
        break
T.eq(pages, 3, "5 users in pages of 2")
T.eq(sorted(seen), sorted([tag + "-ann", tag + "-bob"] + ["%s-p%d" % (tag, i) for i in range(3)]),
     "every user once")
T.eq(len(seen), len(set(seen)), "no repeats")

# online: a connected user subscribed somewhere
async def online():
    ws = await ws_open(ENV["APP1_ORIGIN"])
    await ws_send(ws, type="auth", ticket=ticket(ref_a))
    await ws_until(ws, lambda e: e.get("type") == "welcome")
    await ws_send(ws, type="subscribe", channel="general", after=0)
    await ws_until(ws, lambda e: e.get("type") == "subscribed")
    ok = False
    for _ in range(50):
        r = users(tag + "foo", ref=ref_b, app="app2")
        if r.json["users"] and r.json["users"][0]["online"]:
            ok = True
            break
        await asyncio.sleep(0.1)
    T.ok(ok, "a connected user is online", repr(r.json))
    # the same over the WebSocket
    await ws_send(ws, type="users", q=tag, limit=2, ref="u1")
    evs = await ws_until(ws, lambda e: e.get("ref") == "u1")
    T.eq(evs[-1]["type"], "users", "a users answer")
    T.eq(evs[-1]["users"][0]["id"], tag + "-ann", "online first")
    T.eq((len(evs[-1]["users"]), evs[-1].get("next")), (2, "2"), "a page of 2 with next")
    await ws_send(ws, type="users", q=tag, cursor="4", ref="u2")
    evs = await ws_until(ws, lambda e: e.get("ref") == "u2")
    T.eq((len(evs[-1]["users"]), evs[-1].get("next")), (1, None), "the last page")
    for bad, ref in [({"limit": 0}, "b1"), ({"limit": 51}, "b2"), ({"q": 5}, "b3"),
                     ({"cursor": "x" * 17}, "b4"), ({"cursor": "abc"}, "b5"),
                     ({"q": "x" * 101}, "b6")]:
        await ws_send(ws, type="users", ref=ref, **bad)
        evs = await ws_until(ws, lambda e: e.get("ref") == ref)
        T.eq((evs[-1]["type"], evs[-1].get("code")), ("error", "invalid"), "refused: %r" % bad)
    await ws.close()

asyncio.run(online())

# an app's own ids are listed qualified
own = uniq("own")
subprocess.run([os.path.join(os.environ["CT_BIN"], "ctl", "crosstalkctl"), "--config",
                ENV["CROSSTALK_CONFIG"], "app", "add", own], capture_output=True, check=True)
sql("SELECT crosstalk.register_session(:'v1', :'v2', 'Own Person', 3600)", own, tag + "-own")
r = expect("an own-namespace user", users(tag + "-own"), 200)
T.eq([(u["id"], u["app"]) for u in r.json["users"]], [("%s/%s-own" % (own, tag), own)],
     "its hub id is qualified")

# scope: with no channel open to every app, an app sees only the apps it shares a channel with
scoped = sql1("BEGIN; UPDATE crosstalk.channels SET archived_at = now() "
              "WHERE apps IS NULL AND name NOT LIKE 'dm:%' AND archived_at IS NULL; "
              "SELECT crosstalk.search_users('app2', :'v1', NULL, 50)::text; ROLLBACK", tag)
T.ok(scoped and tag + "-bob" in scoped and tag + "-ann" not in scoped,
     "app2 shares no channel with app1 then: it finds only its own", scoped)

for what, q, status in [("q too long", {"q": "x" * 101}, 422), ("limit 0", {"limit": "0"}, 422),
                        ("limit 51", {"limit": "51"}, 422), ("a cursor not ours", {"cursor": "-1"}, 422),
                        ("a cursor too far", {"cursor": "99999"}, 422)]:
    r = expect(what, users(**q), status, "invalid")
for what, extra in [("avatar javascript:", {"avatar_url": "javascript:alert(1)"}),
                    ("avatar with a quote", {"avatar_url": "https://x.example/\"onerror"}),
                    ("avatar too long", {"avatar_url": "https://x.example/" + "a" * 500}),
                    ("title with a control", {"title": "a\x07b"}),
                    ("title too long", {"title": "t" * 101})]:
    form = {"user_id": uniq("bad"), "display_name": "Bad", "ttl": "3600"}
    form.update(extra)
    r = expect(what, api("POST", "sessions", key=key("app1"), form=form), 422, "invalid")
    T.eq(sql1("SELECT count(*) FROM crosstalk.users WHERE id = :'v1'", form["user_id"]), "0",
         what + ": nothing stored")
r = expect("a ticket with a title", api("POST", "tickets", key=key("app1"), session=ref_a,
                                         form={"title": "Team lead"}), 200)
T.eq(sql1("SELECT title || ' ' || avatar_url FROM crosstalk.users WHERE id = :'v1'", tag + "-ann"),
     "Team lead https://img.example/ann.png", "a ticket updates the title, keeps the avatar")
T.done()
