#!/usr/bin/python3
"""test_reactions.py - replies and reactions.

A reply names a message of its own channel (reply_to) and every event of
it shows that message quoted. A reaction (react/unreact, HTTP and
WebSocket) is a 'reaction' event with its own seq that shows the message's
whole current state, reactions included, so replaying converges as for
edits; the message's own event (history, polls) shows the current
reactions too. Only readers react; bad emoji, deleted or unknown messages
and the 21st kind of reaction are refused with nothing stored."""
import asyncio

from ct import ENV, T, api, sql1, ticket, uniq, ws_open, ws_send, ws_until
from hx import expect, key, new_channel, new_session, post

ref_a, alice = new_session("app1", name="Alice")
ref_b, bob = new_session("app1", name="Bob")
ref_c, carol = new_session("app2", name="Carol")
ch = new_channel()
other = new_channel()
only1 = new_channel(apps=["app1"])


def react(ref, mid, emoji, on=True, app="app1"):
    return api("POST", "messages/react" if on else "messages/unreact", key=key(app), session=ref,
               json_body={"id": mid, "emoji": emoji})


m1 = expect("the first message", post(ref_a, ch, "lunch at noon?"), 201).json["message"]
r = expect("a reply", post(ref_b, ch, "yes!", reply_to=m1["id"]), 201)
q = r.json["message"]["reply_to"]
T.eq((q["id"], q["user"]["id"], q["text"]), (m1["id"], alice, "lunch at noon?"), "the reply quotes the message")
o1 = expect("elsewhere", post(ref_a, other, "another room"), 201).json["message"]
for what, val in [("a message of another channel", o1["id"]), ("no such message", "999999999999"),
                  ("not a number", "abc"), ("zero", "0")]:
    expect("reply_to " + what, post(ref_b, ch, "x", reply_to=val), 422, "invalid")

# reactions
r = expect("bob reacts", react(ref_b, m1["id"], "👍"), 200)
ev = r.json["event"]
T.eq((r.json["changed"], ev["type"], ev["id"], ev["text"]), (True, "reaction", m1["id"], "lunch at noon?"),
     "a reaction event shows the message")
T.eq(ev["reactions"], [{"emoji": "👍", "users": [bob]}], "with its reactions")
T.eq(ev["reaction"], {"emoji": "👍", "on": True, "user": {"id": bob, "name": "Bob"}}, "and what changed")
r = expect("again", react(ref_b, m1["id"], "👍"), 200)
T.eq((r.json["changed"], "event" in r.json), (False, False), "the same reaction twice changes nothing")
expect("alice too", react(ref_a, m1["id"], "👍"), 200)
r = expect("carol, another emoji", react(ref_c, m1["id"], "🎉", app="app2"), 200)
T.eq(r.json["event"]["reactions"], [{"emoji": "👍", "users": [bob, alice]}, {"emoji": "🎉", "users": [carol]}],
     "grouped by emoji, in order of first use")
r = expect("bob takes his back", react(ref_b, m1["id"], "👍", on=False), 200)
T.eq(r.json["event"]["reactions"], [{"emoji": "👍", "users": [alice]}, {"emoji": "🎉", "users": [carol]}],
     "unreact")
T.eq(r.json["event"]["reaction"]["on"], False, "the event says it was taken back")
r = expect("unreact what is not there", react(ref_b, m1["id"], "👍", on=False), 200)
T.eq(r.json["changed"], False, "changes nothing")
expect("edit keeps reactions", api("POST", "messages/edit", key=key("app1"), session=ref_a,
                                   json_body={"id": m1["id"], "text": "lunch at one?"}), 200)
r = expect("poll", api("GET", "messages/poll", key=key("app1"), session=ref_a, query={"channel": ch}), 200)
evs = r.json["messages"]
T.eq([e["type"] for e in evs], ["message", "message", "reaction", "reaction", "reaction", "reaction", "edited"],
     "every change is in the stream")
T.eq([int(e["seq"]) for e in evs], list(range(1, 8)), "gapless")
first = evs[0]
T.eq((first["text"], first["reactions"]), ("lunch at one?", [{"emoji": "👍", "users": [alice]},
                                                           {"emoji": "🎉", "users": [carol]}]),
     "the message's own event shows its current state: replay converges")

# who and what may react
m2 = expect("app1 only", post(ref_a, only1, "team only"), 201).json["message"]
expect("carol cannot read it", react(ref_c, m2["id"], "👍", app="app2"), 403, "forbidden")
for what, emoji in [("a blank", "a b"), ("too long", "x" * 17), ("empty", ""), ("a control", "\u0007")]:
    r = expect("emoji " + what, react(ref_a, m1["id"], emoji), 422, "invalid")
expect("no such message", react(ref_a, "999999999999", "👍"), 404, "not_found")
dead = expect("to delete", post(ref_a, ch, "gone soon"), 201).json["message"]
expect("delete it", api("POST", "messages/delete", key=key("app1"), session=ref_a, json_body={"id": dead["id"]}), 200)
expect("react to a deleted message", react(ref_a, dead["id"], "👍"), 409, "conflict")
many = expect("many", post(ref_a, ch, "pick one"), 201).json["message"]
for i in range(20):
    expect("kind %d" % i, react(ref_a, many["id"], "e%d" % i), 200)
expect("the 21st kind", react(ref_b, many["id"], "e20"), 422, "invalid")
T.eq(sql1("SELECT count(*) FROM crosstalk.reactions WHERE message_id = :'v1'", many["id"]), "20",
     "nothing stored for the refused one")


async def live():
    ws = await ws_open(ENV["APP1_ORIGIN"])
    await ws_send(ws, type="auth", ticket=ticket(ref_b))
    await ws_until(ws, lambda e: e.get("type") == "welcome")
    await ws_send(ws, type="subscribe", channel=ch,
                  after=sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch))
    await ws_until(ws, lambda e: e.get("type") == "subscribed")
    await ws_send(ws, type="react", id=m1["id"], emoji="🍕", ref="r1")
    evs = await ws_until(ws, lambda e: e.get("ref") == "r1")
    T.eq((evs[-1]["type"], evs[-1]["changed"]), ("reacted", True), "react over the WebSocket")
    # the live event may come before the answer or after it
    live_evs = [e for e in evs if e.get("type") == "reaction"]
    if not live_evs:
        live_evs = [e for e in await ws_until(ws, lambda e: e.get("type") == "reaction")
                    if e.get("type") == "reaction"]
    T.eq(live_evs[-1]["reactions"][-1], {"emoji": "🍕", "users": [bob]}, "and the live event")
    await ws_send(ws, type="publish", channel=ch, text="replying live", reply_to=m1["id"], ref="p1")
    evs = await ws_until(ws, lambda e: e.get("type") == "message" and e.get("text") == "replying live")
    T.eq(evs[-1]["reply_to"]["id"], m1["id"], "publish with reply_to")
    await ws_send(ws, type="publish", channel=ch, text="bad", reply_to=o1["id"], ref="p2")
    evs = await ws_until(ws, lambda e: e.get("ref") == "p2" and e.get("type") == "error")
    T.eq(evs[-1]["code"], "invalid", "a reply to another channel's message is refused")
    await ws_send(ws, type="react", id=m1["id"], ref="r2")
    evs = await ws_until(ws, lambda e: e.get("ref") == "r2")
    T.eq(evs[-1].get("code"), "invalid", "react without an emoji")
    await ws.close()

asyncio.run(live())
T.done()
