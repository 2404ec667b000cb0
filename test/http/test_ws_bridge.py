#!/usr/bin/python3
"""test_ws_bridge.py - the HTTP API meets the WebSocket daemon: a ticket
from POST tickets authenticates a browser connection, a message posted over
HTTP reaches a subscriber of another app at once, the WebSocket event is the
same JSON the poll returns, and POST sessions/end closes the login's
connections (4001) within a second or two. Spent or ended tickets fail."""
import asyncio
import json
import time

from ct import ENV, T, api, ws_events, ws_open, ws_send, ws_until
from hx import key, new_channel, new_session, post


async def connect(ref, app):
    r = api("POST", "tickets", key=key(app), session=ref)
    T.eq(r.status, 200, "ticket for %s" % app)
    t = r.json["ticket"]
    ws = await ws_open(ENV["APP1_ORIGIN" if app == "app1" else "APP2_ORIGIN"])
    await ws_send(ws, type="auth", ticket=t)
    evs = await ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), 10)
    return ws, t, evs[-1]


async def main():
    ref1, u1 = new_session("app1")
    ref2, u2 = new_session("app2")
    ch = new_channel()
    ws2, t2, welcome = await connect(ref2, "app2")
    T.eq(welcome.get("type"), "welcome", "ticket from the HTTP API authenticates")
    T.eq(welcome.get("user", {}).get("id"), u2, "welcome user")
    await ws_send(ws2, type="subscribe", channel=ch, after="0")
    await ws_until(ws2, lambda e: e.get("type") == "subscribed", 10)

    t0 = time.monotonic()
    r = post(ref1, ch, "over http")
    T.eq(r.status, 201, "HTTP post")
    evs = await ws_until(ws2, lambda e: e.get("type") == "message", 10)
    took = (time.monotonic() - t0) * 1000
    ev = evs[-1]
    T.eq(ev.get("text"), "over http", "WebSocket subscriber of app2 got the HTTP post")
    print("HTTP post -> WebSocket delivery: %.1f ms" % took, flush=True)
    polled = api("GET", "messages/poll", key=key("app2"), query={"channel": ch}).json
    T.eq(ev, polled["messages"][0], "WebSocket event == poll event")

    # a used ticket is spent
    ws_again = await ws_open(ENV["APP2_ORIGIN"])
    await ws_send(ws_again, type="auth", ticket=t2)
    try:
        evs = await ws_until(ws_again, lambda e: e.get("type") in ("welcome", "error"), 5)
        T.ok(evs[-1].get("type") != "welcome", "a spent ticket is refused")
    except Exception:
        T.ok(ws_again.close_code == 4001, "a spent ticket is refused (4001)",
             str(ws_again.close_code))
    await ws_again.close()

    # sessions/end closes this login's connection
    t0 = time.monotonic()
    r = api("POST", "sessions/end", key=key("app2"), form={"session": ref2})
    T.eq(r.status, 200, "sessions/end")
    code = None
    try:
        while time.monotonic() - t0 < 5:
            await ws_events(ws2, 5 - (time.monotonic() - t0))
    except Exception:
        code = ws2.close_code
    took = time.monotonic() - t0
    T.eq(code, 4001, "connection closed with 4001 after sessions/end")
    T.ok(took < 2.5, "closed within about a second", "%.2f s" % took)
    print("sessions/end -> close: %.0f ms" % (took * 1000), flush=True)
    T.eq(api("POST", "tickets", key=key("app2"), session=ref2).status, 401,
         "no new ticket for the ended login")


asyncio.run(main())
T.done()
