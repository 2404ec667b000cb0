"""Presence shows nothing of a channel the asker may not read.

An app1 user races subscribe and presence frames on a channel open only to
app2, and on two other users' direct channel, while the members come and
go, type and post: the attacker gets errors and nothing else of those
channels (no member list, no join or leave, no typing, no message), not
while the access check runs and not after it failed. Presence watches count
against the 256 subscriptions a connection may hold."""
import asyncio
import json

import adv
import ct
import fx
from ct import T

SUBS_MAX = 256
LEAKS = ("presence", "join", "leave", "typing", "message", "subscribed", "history")


async def main(st):
    pids = st.pids()
    secret = ct.uniq("sec")
    r = ct.api("POST", "channels/create", key=ct.ENV["APP2_KEY"],
               form={"name": secret, "apps": "app2"})
    T.eq(r.status, 200, "setup: a channel open to app2 only")
    # two app2 users in it, and their direct channel
    a_ws, a_id, _ = await adv.login("app2")
    b_ws, b_id, _ = await adv.login("app2")
    dm = "dm:%s:%s" % tuple(sorted([a_id, b_id]))
    for ws in (a_ws, b_ws):
        for ch in (secret, dm):
            await ct.ws_send(ws, type="subscribe", channel=ch, after="0")
            await ct.ws_send(ws, type="presence", channel=ch)
    await adv.drain(a_ws, 1)
    await adv.drain(b_ws, 1)

    m_ws, m_id, _ = await adv.login("app1")
    for i in range(40):
        for ch in (secret, dm):
            await ct.ws_send(m_ws, type="subscribe", channel=ch, after="0", ref="s%d" % i)
            await ct.ws_send(m_ws, type="presence", channel=ch, ref="p%d" % i)
            await ct.ws_send(m_ws, type="presence", channel=ch, ref="q%d" % i)
            await ct.ws_send(m_ws, type="history", channel=ch, ref="h%d" % i)
    # meanwhile the members come and go, type and post
    for round_ in range(3):
        c_ws, _, _ = await adv.login("app2")
        for ch in (secret,):
            await ct.ws_send(c_ws, type="subscribe", channel=ch, after="0")
        await asyncio.sleep(0.6)
        await ct.ws_send(a_ws, type="typing", channel=secret)
        await ct.ws_send(a_ws, type="publish", channel=dm, text="private %d" % round_)
        await ct.ws_send(b_ws, type="publish", channel=secret, text="team %d" % round_)
        await c_ws.close()
        await asyncio.sleep(0.6)
    got = await adv.drain(m_ws, 3)
    leaks = [e for e in got if e.get("type") in LEAKS and e.get("channel") in (secret, dm)]
    errors = [e for e in got if e.get("type") == "error"]
    fx.figure("adv_presence", frames=40 * 8, errors=len(errors), leaks=len(leaks))
    T.eq(leaks, [], "nothing of the forbidden channels reached the attacker")
    # every history frame is refused; a subscribe or presence frame that
    # arrives while the same channel's check is in flight is answered by
    # that check (a later subscribe supersedes an earlier one)
    T.ok(len(errors) >= 40 * 2 + 2, "the frames on them were refused",
         "%d errors" % len(errors))
    T.ok(all(e.get("code") == "forbidden" for e in errors),
         "refused as forbidden", str({e.get("code") for e in errors}))

    # presence watches count against the cap
    frames = [json.dumps({"type": "presence", "channel": "dm:%s:w%03d" % (m_id, k),
                          "ref": "w%d" % k}) for k in range(SUBS_MAX + 40)]
    for f in frames:
        await m_ws.send(f)
    got = await adv.drain(m_ws, 4)
    capped = [e for e in got if e.get("type") == "error" and "too many" in e.get("message", "")]
    answered = [e for e in got if e.get("type") == "presence"]
    T.eq(len(answered), SUBS_MAX, "%d presence watches answered" % SUBS_MAX)
    T.eq(len(capped), 40, "the rest refused: too many subscriptions")
    T.eq(ct.sql1("SELECT count(*) FROM crosstalk.channels WHERE name LIKE :'v1'",
                 "dm:%s:w%%" % m_id), "0", "watching created no DM channel rows")
    await m_ws.close()
    await adv.victim("after the presence races", secret, app="app2")
    adv.pids_kept(st, pids, "presence races")


with fx.Stack("adv-presence") as st:
    asyncio.run(main(st))
T.done()
