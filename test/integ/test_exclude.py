"""exclude_sender: a message an app posts for its user over HTTP with
exclude_sender does not come back to that login's own WebSocket
connections; every other subscriber gets it, and the next message reaches
the sender again."""
import asyncio

import ct
from ct import T


async def main():
    ref, user = ct.session("app1")
    t = ct.ticket(ref)
    me = await ct.ws_open()
    await ct.ws_send(me, type="auth", ticket=t)
    await ct.ws_until(me, lambda e: e.get("type") == "welcome")
    other, _, _, _ = await ct.ws_login("app2")
    ch = "random"
    for ws in (me, other):
        await ct.ws_send(ws, type="subscribe", channel=ch, after="-1")
        await ct.ws_until(ws, lambda e: e.get("type") == "subscribed")
    tag = ct.uniq("x")
    r = ct.api("POST", "messages", session=ref,
               form={"channel": ch, "text": tag + "-hidden", "exclude_sender": "YES"})
    T.eq(r.status, 201, "post with exclude_sender")
    r = ct.api("POST", "messages", session=ref, form={"channel": ch, "text": tag + "-shown"})
    T.eq(r.status, 201, "post without it")
    got_other = await ct.ws_until(other, lambda e: e.get("text") == tag + "-shown")
    T.ok(any(e.get("text") == tag + "-hidden" for e in got_other), "others get the excluded message")
    got_me = await ct.ws_until(me, lambda e: e.get("text") == tag + "-shown")
    T.ok(not any(e.get("text") == tag + "-hidden" for e in got_me),
         "the sender's own connection does not get it back",
         repr([e.get("text") for e in got_me]))
    await me.close()
    await other.close()


asyncio.run(main())
T.done()
