#!/usr/bin/python3
"""test_members.py - private channels and groups, enforced on every path.

A private channel is open to its members only: posting, polling, long-polls
already waiting, history, search, presence and subscriptions all refuse
anyone else, over HTTP and the WebSocket. Apps manage members with the key
(channels/members/add|remove, channels/members); every change is a 'member'
event with a seq. A member removed while connected gets that event, then
"unsubscribed" (reason "removed"), and nothing of the channel after it.
Users start groups (2-49 others) and their owners add people; anyone may
leave; no one else changes a member list."""
import asyncio
import json
import threading

from ct import ENV, T, api, sql1, ticket, uniq, ws_open, ws_send, ws_until, ws_events
from hx import expect, key, new_session, post

K1 = key("app1")
ref_a, alice = new_session("app1", name="Alice")
ref_b, bob = new_session("app1", name="Bob")
ref_c, carol = new_session("app2", name="Carol")
ref_d, dave = new_session("app1", name="Dave")
word = uniq("zm")


def poll(ref, ch, app="app1", **q):
    q.update(channel=ch)
    return api("GET", "messages/poll", key=key(app), session=ref, query=q)


def members(ch, ref=None, app="app1"):
    return api("GET", "channels/members", key=key(app), session=ref, query={"channel": ch})


def change(ch, what, users, ref=None, app="app1"):
    return api("POST", "channels/members/" + what, key=key(app), session=ref,
               json_body={"channel": ch, "users": users})


# --- an app's private channel -------------------------------------------------
ch = uniq("p")
r = expect("create private", api("POST", "channels/create", key=K1, json_body={
    "name": ch, "title": "Secret", "private": True, "members": [alice, bob]}), 200)
T.eq((r.json["channel"]["private"], r.json["channel"]["open"], r.json["channel"]["last_seq"]),
     (True, False, "1"), "private, not open, its first event is the member list")
r = expect("alice polls", poll(ref_a, ch), 200)
ev = r.json["messages"][0]
T.eq((ev["type"], ev["seq"], sorted(ev["added"]), "user" in ev), ("member", "1", sorted([alice, bob]), False),
     "a member event: added, by the app (no user)")
expect("alice posts", post(ref_a, ch, "hello %s members" % word), 201)
expect("carol (not a member) cannot post", post(ref_c, ch, "x", app="app2"), 403, "forbidden")
expect("nor poll", poll(ref_c, ch, app="app2"), 403, "forbidden")
expect("nor see presence", api("GET", "presence", key=key("app2"), session=ref_c,
                               query={"channel": ch}), 403, "forbidden")
expect("nor list members", members(ch, ref_c, "app2"), 403, "forbidden")
r = expect("carol searches", api("GET", "messages/search", key=key("app2"), session=ref_c,
                                 query={"q": word}), 200)
T.eq(r.json["results"], [], "search finds nothing of it for carol")
r = expect("alice searches", api("GET", "messages/search", key=K1, session=ref_a, query={"q": word}), 200)
T.eq(len(r.json["results"]), 1, "and finds it for alice")
r = expect("carol's channels", api("GET", "channels", key=key("app2"), session=ref_c), 200)
T.ok(ch not in [c["name"] for c in r.json["channels"]], "not listed for carol")
r = expect("alice's channels", api("GET", "channels", key=K1, session=ref_a), 200)
T.eq([c.get("private") for c in r.json["channels"] if c["name"] == ch], [True], "listed for alice, private")
r = expect("members by the key", members(ch), 200)
T.eq(sorted(m["id"] for m in r.json["members"]), sorted([alice, bob]), "alice and bob")
T.eq({m["id"]: m.get("name") for m in r.json["members"]}[alice], "Alice", "with their names")
expect("members by a member", members(ch, ref_b), 200)

# --- membership enforced live ---------------------------------------------------
async def live():
    wb = await ws_open(ENV["APP1_ORIGIN"])
    await ws_send(wb, type="auth", ticket=ticket(ref_b))
    await ws_until(wb, lambda e: e.get("type") == "welcome")
    await ws_send(wb, type="subscribe", channel=ch, after=0)
    await ws_until(wb, lambda e: e.get("type") == "subscribed")
    await ws_send(wb, type="presence", channel=ch, ref="pr")
    await ws_until(wb, lambda e: e.get("type") == "presence")
    wc = await ws_open(ENV["APP2_ORIGIN"])
    await ws_send(wc, type="auth", ticket=ticket(ref_c, "app2"))
    await ws_until(wc, lambda e: e.get("type") == "welcome")
    await ws_send(wc, type="subscribe", channel=ch, after=0, ref="s1")
    evs = await ws_until(wc, lambda e: e.get("ref") == "s1")
    T.eq((evs[-1]["type"], evs[-1].get("code")), ("error", "forbidden"), "carol cannot subscribe")
    await ws_send(wc, type="history", channel=ch, ref="h1")
    evs = await ws_until(wc, lambda e: e.get("ref") == "h1")
    T.eq(evs[-1].get("code"), "forbidden", "nor read history")
    await ws_send(wc, type="presence", channel=ch, ref="p1")
    evs = await ws_until(wc, lambda e: e.get("ref") == "p1")
    T.eq(evs[-1].get("code"), "forbidden", "nor watch presence")

    # carol added by the app: she learns of the channel and may subscribe
    expect("add carol", change(ch, "add", [carol]), 200)
    evs = await ws_until(wc, lambda e: e.get("type") == "unread" and e.get("channel") == ch)
    T.ok(True, "carol's connection hears of the channel")
    await ws_send(wc, type="subscribe", channel=ch, after=0, ref="s2")
    evs = await ws_until(wc, lambda e: e.get("ref") == "s2" or e.get("type") == "subscribed")
    T.eq(evs[-1]["type"], "subscribed", "carol may subscribe now")
    evs = await ws_until(wb, lambda e: e.get("type") == "member")
    T.eq(evs[-1].get("added"), [carol], "bob sees carol added, live")

    # bob removed while connected
    r = expect("remove bob", change(ch, "remove", [bob]), 200)
    T.eq(r.json["event"]["removed"], [bob], "the answer is the event")
    evs = await ws_until(wb, lambda e: e.get("type") == "unsubscribed")
    T.ok(any(e.get("type") == "member" and e.get("removed") == [bob] for e in evs),
         "bob gets the event that removed him", repr(evs))
    T.eq(evs[-1].get("reason"), "removed", "then is unsubscribed, reason removed")
    expect("carol posts", post(ref_c, ch, "after bob left", app="app2"), 201)
    await ws_send(wb, type="publish", channel=ch, text="still here?", ref="pb")
    evs = await ws_until(wb, lambda e: e.get("ref") == "pb")
    T.eq(evs[-1].get("code"), "forbidden", "bob's publish is refused")
    leaked = [e for e in evs if e.get("channel") == ch and e.get("type") in ("message", "presence")]
    T.eq(leaked, [], "bob got nothing of the channel after his removal")
    await ws_send(wb, type="subscribe", channel=ch, after=0, ref="s3")
    evs = await ws_until(wb, lambda e: e.get("ref") == "s3")
    T.eq(evs[-1].get("code"), "forbidden", "nor may he subscribe again")
    await wb.close()
    await wc.close()

asyncio.run(live())
expect("bob's poll", poll(ref_b, ch), 403, "forbidden")

# a long-poll waiting when its user is removed answers 403, not the next events
result = {}


def waiting():
    result["r"] = poll(ref_c, ch, app="app2", after=str(int(sql1(
        "SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch))), wait="10")


t = threading.Thread(target=waiting)
t.start()
import time
time.sleep(1.0)
expect("remove carol", change(ch, "remove", [carol]), 200)
t.join(15)
T.eq(result["r"].status, 403, "the waiting long-poll of a removed member is refused")

# the same when members of the same app wait beside him with the same cursor:
# the one look their wake-up shares must not answer him with what they read
ch_s = uniq("p")
stay = [new_session("app1", name="Stay %d" % i) for i in range(5)]
ref_x, xavier = new_session("app1", name="Xavier")
expect("create private (shared wake-up)", api("POST", "channels/create", key=K1, json_body={
    "name": ch_s, "title": "Shared", "private": True,
    "members": [u for _, u in stay] + [xavier]}), 200)
after_s = str(int(sql1("SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'", ch_s)))
answers = {}


def waiting_as(ref):
    answers[ref] = poll(ref, ch_s, after=after_s, wait="10")


threads = [threading.Thread(target=waiting_as, args=(ref,)) for ref, _ in stay + [(ref_x, xavier)]]
for t in threads:
    t.start()
time.sleep(1.0)
expect("remove xavier", change(ch_s, "remove", [xavier]), 200)
for t in threads:
    t.join(15)
T.eq(answers[ref_x].status, 403, "a removed member's poll is refused though members woke with it")
T.eq([answers[ref].status for ref, _ in stay], [200] * 5, "the members who stay get the event")
T.ok(all(answers[ref].json["messages"][0].get("removed") == [xavier] for ref, _ in stay),
     "which says who was removed")

# who may change members
expect("a member (not owner) adds someone", change(ch, "add", [dave], ref_a), 403, "forbidden")
expect("a member leaves", change(ch, "remove", [alice], ref_a), 200)
expect("and then cannot read", poll(ref_a, ch), 403, "forbidden")
r = expect("removing someone not there", change(ch, "remove", [dave]), 200)
T.eq((r.json.get("changed"), r.json.get("event")), (False, None), "changes nothing: no event")
expect("members of a public channel", change("general", "add", [dave]), 409, "conflict")
expect("members at creation of a public channel", api("POST", "channels/create", key=K1, json_body={
    "name": uniq("p"), "members": [alice]}), 422, "invalid")
expect("a bad user id", change(ch, "add", ["a:b"]), 422, "invalid")
expect("no users", change(ch, "add", []), 422, "invalid")
T.eq(sql1("SELECT string_agg(kind, ',' ORDER BY seq) FROM crosstalk.messages WHERE channel = :'v1'", ch),
     "member,message,member,member,message,member,member", "every change has its seq in the stream")

# --- groups started by users -------------------------------------------------------
async def groups():
    wa = await ws_open(ENV["APP1_ORIGIN"])
    await ws_send(wa, type="auth", ticket=ticket(ref_a))
    await ws_until(wa, lambda e: e.get("type") == "welcome")
    wd = await ws_open(ENV["APP1_ORIGIN"])
    await ws_send(wd, type="auth", ticket=ticket(ref_d))
    await ws_until(wd, lambda e: e.get("type") == "welcome")
    await ws_send(wa, type="group", users=[bob, carol], title="Lunch", ref="g1")
    evs = await ws_until(wa, lambda e: e.get("ref") == "g1")
    g = evs[-1]
    T.eq((g["type"], g["channel"]["title"], g["channel"]["owner"], g["channel"]["private"]),
         ("group", "Lunch", alice, True), "alice starts a group")
    name = g["channel"]["name"]
    r = expect("members", members(name, ref_c, "app2"), 200)
    T.eq(sorted((m["id"], m["role"]) for m in r.json["members"]),
         sorted([(alice, "owner"), (bob, "member"), (carol, "member")]), "alice owns it, bob and carol are in")
    expect("dave cannot read it", poll(ref_d, name), 403, "forbidden")
    await ws_send(wd, type="add_members", channel=name, users=[dave], ref="x1")
    evs = await ws_until(wd, lambda e: e.get("ref") == "x1")
    T.eq(evs[-1].get("code"), "forbidden", "an outsider cannot add himself")
    await ws_send(wa, type="add_members", channel=name, users=[dave], ref="a1")
    evs = await ws_until(wa, lambda e: e.get("ref") == "a1")
    T.eq((evs[-1]["type"], evs[-1]["event"]["added"]), ("members_changed", [dave]), "the owner adds dave")
    evs = await ws_until(wd, lambda e: e.get("type") == "unread" and e.get("channel") == name)
    T.ok(True, "dave hears of the group")
    expect("dave reads it now", poll(ref_d, name), 200)
    await ws_send(wd, type="members", channel=name, ref="m1")
    evs = await ws_until(wd, lambda e: e.get("ref") == "m1")
    T.eq(len(evs[-1]["members"]), 4, "dave lists its 4 members")
    await ws_send(wd, type="remove_members", channel=name, users=[bob], ref="r1")
    evs = await ws_until(wd, lambda e: e.get("ref") == "r1")
    T.eq(evs[-1].get("code"), "forbidden", "a member cannot remove another")
    await ws_send(wd, type="remove_members", channel=name, users=[dave], ref="r2")
    evs = await ws_until(wd, lambda e: e.get("ref") == "r2")
    T.eq(evs[-1]["type"], "members_changed", "but may leave")
    for bad, code, why in [({"users": [bob]}, "invalid", "one other person"),
                           ({"users": [bob, uniq("ghost")]}, "invalid", "someone the hub never saw"),
                           ({"users": "bob"}, "invalid", "users not an array"),
                           ({"users": [bob, carol], "title": "x" * 201}, "invalid", "a title too long")]:
        await ws_send(wa, type="group", ref="b", **bad)
        evs = await ws_until(wa, lambda e: e.get("ref") == "b")
        T.eq((evs[-1]["type"], evs[-1].get("code")), ("error", code), "group refused: " + why)
    await wa.close()
    await wd.close()

asyncio.run(groups())

# --- crosstalkctl --------------------------------------------------------------------
import os
import subprocess


def ctl(*args):
    return subprocess.run([os.path.join(os.environ["CT_BIN"], "ctl", "crosstalkctl"), "--config",
                           ENV["CROSSTALK_CONFIG"]] + list(args), capture_output=True, text=True, timeout=60)


pc = uniq("p")
r = ctl("channel", "add", pc, "--private", "--members", "%s,%s" % (alice, bob))
T.ok(r.returncode == 0, "channel add --private --members", r.stderr)
T.eq(ctl("channel", "members", pc).stdout.split("\n")[:2],
     ["%s\tmember" % x for x in sorted([alice, bob])], "channel members lists them")
T.eq(ctl("channel", "members-remove", pc, bob).stdout.strip(), "changed " + pc, "members-remove")
expect("bob removed by crosstalkctl", poll(ref_b, pc), 403, "forbidden")
T.eq(ctl("channel", "members-add", pc, bob).stdout.strip(), "changed " + pc, "members-add")
expect("and back", poll(ref_b, pc), 200)
r = ctl("channel", "add", uniq("p"), "--members", alice)
T.ok(r.returncode != 0 and "--private" in r.stderr, "--members needs --private", r.stderr)
T.done()
