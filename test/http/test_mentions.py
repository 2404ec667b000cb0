#!/usr/bin/python3
"""test_mentions.py - @mentions are resolved by the hub when a message is
stored: by display name (the longest that fits, any case) or user id, after
an '@' that starts a word (an e-mail address mentions nobody), only people
who may read the channel, never the author, never what a client claims.
Each mention counts until the user's read marker passes it (GET unread,
GET channels), GET mentions lists them newest first, and the user's open
connections get a "mention" frame."""
import asyncio

from ct import ENV, T, api, sql1, ticket, uniq, ws_open, ws_send, ws_until
from hx import expect, key, new_channel, new_session, post

tag = uniq("mx")
ref_a, alice = new_session("app1", name="Alice %s" % tag)
ref_b, bob = new_session("app1", name="Bob Builder%s" % tag)
ref_c, carol = new_session("app2", name="Carol Chen%s" % tag)
ref_d, dave = new_session("app1", name="Dave %s" % tag)
ch = new_channel()


def mentions_of(ref, app="app1", **q):
    return api("GET", "mentions", key=key(app), session=ref, query=q)


async def main():
    wc = await ws_open(ENV["APP2_ORIGIN"])
    await ws_send(wc, type="auth", ticket=ticket(ref_c, "app2"))
    await ws_until(wc, lambda e: e.get("type") == "welcome")

    text = "hi @carol chen%s, and @Bob Builder%s: mail x@%s.example or @%s; @Alice %s" % (
        tag, tag, tag, dave, tag)
    r = expect("a post with mentions", post(ref_a, ch, text, mentions=[alice]), 201)
    m = r.json["message"]
    T.eq(m.get("mentions"), sorted([carol, bob, dave]),
         "names (any case), an id; not the e-mail address, not the author, not what the client sent")
    evs = await ws_until(wc, lambda e: e.get("type") == "mention")
    T.eq((evs[-1]["channel"], evs[-1]["message"]["id"], evs[-1]["message"]["text"]), (ch, m["id"], text),
         "carol's connection gets a mention frame with the message")
    await wc.close()
    return m

m = asyncio.run(main())

r = expect("carol's unread", api("GET", "unread", key=key("app2"), session=ref_c), 200)
row = [c for c in r.json["channels"] if c["channel"] == ch]
T.eq([(x["unread"], x["mentions"]) for x in row], [(1, 1)], "one unread, one mention")
T.ok(r.json["mentions"] >= 1, "and in the total")
r = expect("carol's channels", api("GET", "channels", key=key("app2"), session=ref_c), 200)
T.eq([c["mentions"] for c in r.json["channels"] if c["name"] == ch], [1], "GET channels counts it too")
r = expect("carol's mentions", mentions_of(ref_c, "app2"), 200)
T.eq([(x["message"]["id"], x["unread"]) for x in r.json["mentions"]][:1], [(m["id"], True)],
     "GET mentions lists it, unread")
expect("carol reads", api("POST", "messages/read", key=key("app2"), session=ref_c,
                          json_body={"channel": ch, "seq": m["seq"]}), 200)
r = expect("after reading", api("GET", "unread", key=key("app2"), session=ref_c), 200)
T.eq([c for c in r.json["channels"] if c["channel"] == ch], [], "no unread mention left")
r = expect("carol's mentions after", mentions_of(ref_c, "app2"), 200)
T.eq(r.json["mentions"][0]["unread"], False, "listed as read")

# only people who may read the channel
priv = uniq("p")
expect("a private channel", api("POST", "channels/create", key=key("app1"), json_body={
    "name": priv, "private": True, "members": [alice, bob]}), 200)
r = expect("mention an outsider", post(ref_a, priv, "@Carol Chen%s look @Bob Builder%s" % (tag, tag)), 201)
T.eq(r.json["message"].get("mentions"), [bob], "carol cannot read it: not mentioned")
dm = "dm:" + ":".join(sorted([alice, dave]))
r = expect("a DM", post(ref_a, dm, "@bob builder%s?" % tag), 201)
T.eq(r.json["message"].get("mentions"), None, "nobody outside a DM is mentioned in it")
r = expect("no mention", post(ref_a, ch, "write to carol@chen%s.example" % tag), 201)
T.eq(r.json["message"].get("mentions"), None, "an e-mail address is no mention")
r = expect("a longer name wins", post(ref_a, ch, "(@carol chen%s)" % tag), 201)
T.eq(r.json["message"].get("mentions"), [carol], "after a parenthesis, before one")

# paging and deletes
ids = []
for i in range(3):
    r = expect("mention %d" % i, post(ref_a, ch, "ping %d @Dave %s" % (i, tag)), 201)
    ids.append(r.json["message"]["id"])
r = expect("page 1", mentions_of(ref_d, limit="2"), 200)
T.eq([x["message"]["id"] for x in r.json["mentions"]], ids[::-1][:2], "newest first")
r2 = expect("page 2", mentions_of(ref_d, limit="2", cursor=r.json["next"]), 200)
T.eq([x["message"]["id"] for x in r2.json["mentions"]][:2], [ids[0], m["id"]], "the rest, in order")
expect("delete one", api("POST", "messages/delete", key=key("app1"), session=ref_a,
                         json_body={"id": ids[2]}), 200)
r = expect("after the delete", mentions_of(ref_d, limit="50"), 200)
T.ok(ids[2] not in [x["message"]["id"] for x in r.json["mentions"]], "a deleted message mentions nobody")
r = expect("dave's unread", api("GET", "unread", key=key("app1"), session=ref_d), 200)
T.eq([c["mentions"] for c in r.json["channels"] if c["channel"] == ch], [3], "the deleted one is not counted")
for what, q in [("limit 0", {"limit": "0"}), ("limit 51", {"limit": "51"}), ("a bad cursor", {"cursor": "x"})]:
    expect(what, mentions_of(ref_d, **q), 422, "invalid")
expect("without a session", api("GET", "mentions", key=key("app1")), 401, "unauthorized")
T.done()
