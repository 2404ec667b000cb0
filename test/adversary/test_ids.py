"""User ids with blanks, quotes, upper case and other scripts, on a database
with a real collation (ICU en-US, where "alice" sorts before "Bob").

For direct channels between such users: the name both sides compute
(code point order, as C, SQL COLLATE "C" and crosstalk.js do) is accepted,
messages arrive live over WebSocket, a long-poll on the channel wakes up,
typing and read markers reach the other side. And a user id built to forge
a notification ("bob 5 - {x") cannot make a node skip another channel's
message: every NOTIFY field is escaped (core/notice.h)."""
import asyncio
import json
import threading
import time

import adv
import ct
import fx
from ct import T

IDS = ["Bob Smith", "alice", "Bob", "O'Brien \"Q\" x", "Zoë", "用户 七", "😀 grin", "bob 5 - {x"]


def dm(a, b):
    # code point order (Python compares str by code point)
    return "dm:%s:%s" % tuple(sorted([a, b]))


def long_poll(ref, channel, after, out):
    t0 = time.time()
    r = ct.api("GET", "messages/poll", session=ref, key=ct.ENV["APP2_KEY"],
               query={"channel": channel, "after": after, "wait": 10})
    out.append((r, time.time() - t0))


async def pair(a, b):
    """a and b talk in their DM: live, long-poll, typing, read markers."""
    ch = dm(a, b)
    what = "DM %r" % ch
    wa, _, _ = await adv.login("app1", user=a)
    wb, _, _ = await adv.login("app2", user=b)
    for ws in (wa, wb):
        await ct.ws_send(ws, type="subscribe", channel=ch, after="0")
        evs = await ct.ws_until(ws, lambda e: e.get("type") in ("subscribed", "error"), 10)
        if not T.eq(evs[-1].get("type"), "subscribed", "%s: subscribed" % what):
            print(evs[-1])
            return
    # a long-poll by b, woken by a's publish
    ref_b, _ = ct.session("app2", b)
    polled = []
    th = threading.Thread(target=long_poll, args=(ref_b, ch, 0, polled))
    th.start()
    await asyncio.sleep(0.5)
    await ct.ws_send(wa, type="publish", channel=ch, text="hi from %s" % a, client_id=ct.uniq("c"))
    acks = await ct.ws_until(wa, lambda e: e.get("type") in ("ack", "error"), 10)
    T.eq(acks[-1].get("type"), "ack", "%s: the publish is acked" % what, )
    if acks[-1].get("type") != "ack":
        print(acks[-1], flush=True)
    got = await ct.ws_until(wb, lambda e: e.get("type") == "message", 10)
    T.eq(got[-1].get("text"), "hi from %s" % a, "%s: delivered live" % what)
    th.join(15)
    r, took = polled[0] if polled else (None, 99)
    T.ok(r is not None and r.status == 200 and len(r.json["messages"]) == 1 and took < 5,
         "%s: the long-poll woke up" % what, "%r after %.1f s" % (r, took))
    # typing
    await ct.ws_send(wa, type="typing", channel=ch)
    t = await ct.ws_until(wb, lambda e: e.get("type") == "typing", 10)
    T.eq(t[-1]["user"]["id"], a, "%s: typing reaches the other side" % what)
    # read marker: b reads, b's other connection hears its unread count
    wb2, _, _ = await adv.login("app2", user=b)
    await ct.ws_send(wb, type="read", channel=ch, seq=1)
    u = await ct.ws_until(wb2, lambda e: e.get("type") == "unread" and e.get("channel") == ch, 10)
    T.eq(u[-1]["count"], 0, "%s: the read marker reaches the user's other connection" % what)
    for ws in (wa, wb, wb2):
        await ws.close()


async def forged():
    """A victim DM dm:alice:bob gets every seq although a user named
    'bob 5 - {x' posts into dm:alice:bob 5 - {x meanwhile."""
    victim_ch = dm("alice", "bob")
    wv, _, _ = await adv.login("app1", user="alice")
    await ct.ws_send(wv, type="subscribe", channel=victim_ch, after="0")
    await ct.ws_until(wv, lambda e: e.get("type") == "subscribed", 10)
    ref_bob, _ = ct.session("app1", "bob")
    ref_x, _ = ct.session("app1", "bob 5 - {x")
    for i in range(1, 5):
        ct.api("POST", "messages", session=ref_bob, json_body={"channel": victim_ch, "text": "v%d" % i})
    for i in range(8):  # the forger's DM reaches seqs beyond 5
        r = ct.api("POST", "messages", session=ref_x,
                   json_body={"channel": dm("alice", "bob 5 - {x"), "text": "f%d" % i})
        T.ok(r.status in (200, 201), "the forger may post in its own DM", repr(r))
    for i in range(5, 8):
        ct.api("POST", "messages", session=ref_bob, json_body={"channel": victim_ch, "text": "v%d" % i})
    got = []
    end = time.time() + 10
    while time.time() < end and len([e for e in got if e.get("channel") == victim_ch
                                     and e.get("type") == "message"]) < 7:
        try:
            got += await ct.ws_events(wv, end - time.time())
        except asyncio.TimeoutError:
            break
    seqs = [int(e["seq"]) for e in got if e.get("type") == "message" and e.get("channel") == victim_ch]
    T.eq(seqs, list(range(1, 8)), "the victim's DM lost no seq to the forged id")
    await wv.close()


async def main(st):
    pids = st.pids()
    T.eq(ct.sql1("SELECT datlocprovider::text || ':' || coalesce(daticulocale, '') FROM pg_database "
                 "WHERE datname = current_database()"), "i:en-US", "the database collates with ICU en-US")
    T.eq(ct.sql1("SELECT 'Bob' >= 'alice'"), "t", "and its collation puts alice before Bob")
    # the name both sides compute is accepted
    for a, b in (("Bob", "alice"), ("Zoë", "zz"), ("😀 grin", "ｚ")):
        ch = dm(a, b)
        r = ct.sql1("SELECT array_to_string(crosstalk.dm_members(:'v1'), '|')", ch)
        T.eq(r, "%s|%s" % tuple(sorted([a, b])), "dm name %r accepted" % ch)
    pairs = [(IDS[i], IDS[j]) for i, j in ((0, 1), (2, 1), (3, 4), (5, 6), (7, 1), (2, 0))]
    for a, b in pairs:
        await pair(a, b)
    await forged()
    adv.pids_kept(st, pids, "odd user ids")


with fx.Stack("adv-ids", env={"CT_DB_LOCALE": "en-US"}) as st:
    asyncio.run(main(st))
T.done()
