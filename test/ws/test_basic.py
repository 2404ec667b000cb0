"""Protocol basics: cross-app delivery, ack, idempotent publish, edit and
delete events, typing, read/unread, presence, history, channels, ping, DMs."""
from wsh import *


async def main():
    ch = new_channel("basic")
    a, ua, ra = await login("app1")
    b, ub, rb = await login("app2")
    a2 = (await ws_login("app1", ua))[0]  # a second connection of ua

    _, sa = await subscribe(a, ch)
    T.eq(sa, {"type": "subscribed", "channel": ch, "last_seq": "0"}, "subscribed frame")
    _, sb = await subscribe(b, ch)
    T.eq(sb.get("type"), "subscribed", "app2 user subscribes to an open channel")

    await ws_send(a, type="publish", channel=ch, text="hello", client_id="c-1", ref="r1")
    ack = (await ws_until(a, lambda e: e["type"] == "ack"))[-1]
    T.eq((ack["client_id"], ack["seq"], ack["channel"], ack.get("ref")), ("c-1", "1", ch, "r1"), "ack")
    got = await ws_until(b, lambda e: e["type"] == "message")
    m = got[-1]
    T.eq((m["text"], m["seq"], m["app"], m["user"]["id"], m["id"]), ("hello", "1", "app1", ua, ack["id"]),
         "app2 user receives app1 user's message")
    T.ok(isinstance(m["created_at_ms"], int) and m["created_at"].endswith("Z"), "times", m)

    # same client_id: acks the original, stores nothing new
    await ws_send(a, type="publish", channel=ch, text="hello again", client_id="c-1")
    ack2 = (await ws_until(a, lambda e: e["type"] == "ack"))[-1]
    T.eq((ack2["id"], ack2["seq"]), (ack["id"], "1"), "repeated client_id acks the original")
    T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1'", ch), "1", "stored once")

    # edit and delete: own messages only; events with seqs
    await ws_send(b, type="edit", id=ack["id"], text="hijack", ref="e1")
    err = (await ws_until(b, lambda e: e["type"] == "error"))[-1]
    T.eq((err["code"], err.get("ref")), ("forbidden", "e1"), "cannot edit another user's message")
    await ws_send(a, type="edit", id=ack["id"], text="hello, edited", ref="e2")
    ack3 = (await ws_until(a, lambda e: e["type"] == "ack"))[-1]
    T.eq((ack3["id"], ack3["seq"], ack3["channel"], ack3["ref"]), (ack["id"], "2", ch, "e2"), "edit ack")
    ev = (await ws_until(b, lambda e: e["type"] == "edited"))[-1]
    T.eq((ev["id"], ev["seq"], ev["text"]), (ack["id"], "2", "hello, edited"), "edited event")
    T.ok("edited_at_ms" in ev, "edited_at_ms present")
    await ws_send(a, type="delete", id=ack["id"])
    ev = (await ws_until(b, lambda e: e["type"] == "deleted"))[-1]
    T.eq((ev["seq"], ev["text"], ev.get("deleted")), ("3", "", True), "deleted event")

    # typing reaches the others, not the sender
    await ws_send(a, type="typing", channel=ch)
    ev = (await ws_until(b, lambda e: e["type"] == "typing"))[-1]
    T.eq((ev["channel"], ev["user"]["id"], ev["user"]["app"]), (ch, ua, "app1"), "typing to the others")
    await ws_send(a, type="typing", channel=ch, ref="t2")
    err = (await ws_until(a, lambda e: e["type"] == "error"))[-1]
    T.eq((err["code"], err.get("ref")), ("rate_limited", "t2"), "typing twice in a second is limited")

    # read: unread to every connection of the user
    await ws_send(b, type="publish", channel=ch, text="for a")
    await ws_until(b, lambda e: e["type"] == "ack")
    await ws_send(a, type="read", channel=ch, seq="0")
    u1 = (await ws_until(a, lambda e: e["type"] == "unread"))[-1]
    u2 = (await ws_until(a2, lambda e: e["type"] == "unread"))[-1]
    T.eq((u1["channel"], u1["count"]), (ch, 1), "unread after read at 0")
    T.eq(u2, u1, "unread reaches the user's other connection")
    await ws_send(a, type="read", channel=ch, seq="4")
    u1 = (await ws_until(a, lambda e: e["type"] == "unread"))[-1]
    T.eq(u1["count"], 0, "unread 0 after reading everything")

    # presence: full list, then join and leave
    await ws_send(a, type="presence", channel=ch)
    p = (await ws_until(a, lambda e: e["type"] == "presence", 5))[-1]
    # other tests' widgets on the shared stack may be in any open channel
    ids = sorted(u["id"] for u in p["users"] if u["id"] in (ua, ub) or u["id"].startswith("u"))
    T.eq(ids, sorted([ua, ub]), "presence lists both subscribers")
    c, uc, rc = await login("app2")
    await subscribe(c, ch)
    j = (await ws_until(a, lambda e: e["type"] == "join" and e["user"]["id"] == uc, 5))[-1]
    T.eq((j["channel"], j["user"]["id"], j["user"]["app"]), (ch, uc, "app2"), "join")
    await c.close()
    lv = (await ws_until(a, lambda e: e["type"] == "leave" and e["user"]["id"] == uc, 5))[-1]
    T.eq(lv["channel"], ch, "leave")

    # history: older events, oldest first
    for i in range(5):
        post_sql(ch, "h%d" % i)
    await ws_send(a, type="history", channel=ch, before="9", limit=3, ref="h")
    h = (await ws_until(a, lambda e: e["type"] == "history"))[-1]
    T.eq([e["seq"] for e in h["events"]], ["6", "7", "8"], "history before 9, limit 3")
    T.eq((h["has_more"], h["channel"], h.get("ref")), (True, ch, "h"), "history has_more")
    await ws_send(a, type="history", channel=ch, before=3)
    h = (await ws_until(a, lambda e: e["type"] == "history"))[-1]
    T.eq(([e["seq"] for e in h["events"]], h["has_more"]), (["1", "2"], False), "history from the start")

    # channels
    await ws_send(a, type="channels")
    cl = (await ws_until(a, lambda e: e["type"] == "channels"))[-1]
    names = [x["name"] for x in cl["channels"]]
    T.ok(ch in names and "general" in names and "app1-only" in names, "channels for app1", names)
    mine = [x for x in cl["channels"] if x["name"] == ch][0]
    T.eq(mine["last_seq"], "9", "channel last_seq")
    await ws_send(b, type="channels")
    cl = (await ws_until(b, lambda e: e["type"] == "channels"))[-1]
    T.ok("app1-only" not in [x["name"] for x in cl["channels"]], "app2 does not see app1-only")

    # ping
    await ws_send(a, type="ping")
    T.eq((await ws_until(a, lambda e: e["type"] == "pong"))[-1], {"type": "pong"}, "pong")

    # errors
    await ws_send(b, type="subscribe", channel="app1-only", ref="x")
    err = (await ws_until(b, lambda e: e["type"] == "error"))[-1]
    T.eq((err["code"], err["ref"]), ("forbidden", "x"), "app2 may not subscribe to app1-only")
    await ws_send(a, type="subscribe", channel="no-such-channel-" + ua)
    T.eq((await ws_until(a, lambda e: e["type"] == "error"))[-1]["code"], "not_found", "unknown channel")
    await ws_send(a, type="frobnicate")
    T.eq((await ws_until(a, lambda e: e["type"] == "error"))[-1]["code"], "bad_request", "unknown type")
    await a.send("not json")
    T.eq((await ws_until(a, lambda e: e["type"] == "error"))[-1]["code"], "bad_request", "not JSON")
    await ws_send(a, type="publish", channel=ch, text="")
    T.eq((await ws_until(a, lambda e: e["type"] == "error"))[-1]["code"], "invalid", "empty text")
    await ws_send(a, type="publish", channel=ch, text="x" * 4001)
    T.eq((await ws_until(a, lambda e: e["type"] == "error"))[-1]["code"], "too_large", "text over 4000")

    # DM: only its two members
    dm = "dm:%s:%s" % tuple(sorted([ua, ub]))
    _, s = await subscribe(a, dm)
    T.eq(s.get("type"), "subscribed", "DM member subscribes")
    _, s = await subscribe(b, dm)
    T.eq(s.get("type"), "subscribed", "other DM member subscribes (across apps)")
    d, ud, rd = await login("app1")
    await ws_send(d, type="subscribe", channel=dm, ref="dm")
    err = (await ws_until(d, lambda e: e["type"] in ("error", "subscribed")))[-1]
    T.eq(err.get("code"), "forbidden", "third user cannot subscribe to the DM")
    await ws_send(d, type="publish", channel=dm, text="sneak")
    T.eq((await ws_until(d, lambda e: e["type"] in ("error", "ack")))[-1].get("code"), "forbidden",
         "third user cannot publish to the DM")
    await ws_send(d, type="history", channel=dm)
    T.eq((await ws_until(d, lambda e: e["type"] in ("error", "history")))[-1].get("code"), "forbidden",
         "third user cannot read DM history")
    await ws_send(a, type="publish", channel=dm, text="psst")
    m = (await ws_until(b, lambda e: e["type"] == "message" and e["channel"] == dm))[-1]
    T.eq(m["text"], "psst", "DM delivered to the other member")
    await ws_send(d, type="channels")
    cl = (await ws_until(d, lambda e: e["type"] == "channels"))[-1]
    T.ok(dm not in [x["name"] for x in cl["channels"]], "DM not listed for a third user")
    extra = await collect(d, lambda g: False, 0.5)
    T.ok(not [e for e in extra if e.get("channel") == dm and e["type"] == "message"],
         "third user never sees the DM message")
    # unsubscribe
    await ws_send(b, type="unsubscribe", channel=ch)
    T.eq((await ws_until(b, lambda e: e["type"] == "unsubscribed"))[-1], {"type": "unsubscribed", "channel": ch},
         "unsubscribed")
    post_sql(ch, "after unsub")
    extra = await collect(b, lambda g: False, 0.7)
    T.ok(not msgs(extra, ch), "no events after unsubscribe", extra)
    for w in (a, a2, b, d):
        await w.close()


run(main())
