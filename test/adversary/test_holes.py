"""The smaller holes, each closed:

- an Origin of 256 bytes or more is refused like a foreign one (it used to
  skip the check);
- /metrics through a proxy we do not trust (X-Forwarded-For from a peer not
  in trusted_proxies) is not opened by the proxy's 127.0.0.1;
- subscribing, reading, watching or asking history of dm:me:<anyone>
  creates no channel row (only a post does, rate-limited);
- an app key may delete another app's user's message but not rewrite it
  under that user's name;
- a user id is quoted in log lines, so it cannot add fields;
- the widget's frame-ancestors lists every registered origin, however many;
- an edit or delete that outlived its message (prune) is an event, never a
  null in a poll or an empty line on a WebSocket."""
import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import time

import adv
import ct
import fx
from ct import T

CTL = os.path.join(fx.BIN, "ctl", "crosstalkctl")


def raw_handshake(port, origin):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: crosstalk.v1\r\nOrigin: %s\r\n\r\n"
               % (key, origin)).encode())
    head = s.recv(4096).split(b"\r\n", 1)[0]
    s.close()
    return head


def get(url, headers=None):
    return ct.http("GET", url, headers=headers or {})


async def main(st):
    pids = st.pids()
    wsd = st.env["CROSSTALK_WSD"]
    port = int(wsd.rsplit(":", 1)[1])

    # Origin: 300 bytes, starting like a registered one
    long_origin = st.env["APP1_ORIGIN"] + "." + "a" * 300
    T.ok(b" 403 " in raw_handshake(port, long_origin), "an Origin of 300 bytes is refused")
    T.ok(b" 101 " in raw_handshake(port, st.env["APP1_ORIGIN"]), "a registered origin still works")

    # /metrics through an untrusted proxy
    T.eq(get(wsd + "/metrics").status, 200, "metrics from 127.0.0.1 directly")
    T.eq(get(wsd + "/metrics", {"X-Forwarded-For": "203.0.113.9"}).status, 403,
         "metrics forwarded by a proxy that is not trusted: refused")

    # DM rows: only a post creates one
    ws, me, _ = await adv.login("app1")
    before = ct.sql1("SELECT count(*) FROM crosstalk.channels")
    for k in range(30):
        ch = "dm:%s:zz%02d" % (me, k)
        await ct.ws_send(ws, type="subscribe", channel=ch, after="0")
        await ct.ws_send(ws, type="read", channel=ch, seq=3)
        await ct.ws_send(ws, type="presence", channel=ch)
        await ct.ws_send(ws, type="history", channel=ch)
    got = await adv.drain(ws, 3)
    T.eq(sum(1 for e in got if e.get("type") == "subscribed"), 30, "the 30 DMs were subscribed")
    T.eq(ct.sql1("SELECT count(*) FROM crosstalk.channels"), before,
         "subscribe, read, presence and history created no channel row")
    await ct.ws_send(ws, type="publish", channel="dm:%s:zz00" % me, text="first", ref="f")
    got = await ct.ws_until(ws, lambda e: e.get("ref") == "f", 10)
    T.eq(got[-1].get("type"), "ack", "a post creates its DM")
    T.eq(int(ct.sql1("SELECT count(*) FROM crosstalk.channels")), int(before) + 1,
         "exactly one row more")
    await ws.close()

    # moderation: app2's key on app1's user's message
    ref1, _ = ct.session("app1")
    m = ct.api("POST", "messages", session=ref1, json_body={"channel": "general", "text": "mine"})
    mid = m.json["message"]["id"]
    r = ct.api("POST", "messages/edit", key=st.env["APP2_KEY"], json_body={"id": mid, "text": "forged"})
    T.eq((r.status, (r.json or {}).get("error", {}).get("code")), (403, "forbidden"),
         "another app's key may not rewrite a user's words")
    T.eq(ct.sql1("SELECT text FROM crosstalk.messages WHERE id = :'v1'", mid), "mine",
         "the text is unchanged")
    r = ct.api("POST", "messages/edit", key=st.env["APP1_KEY"], json_body={"id": mid, "text": "moderated"})
    T.eq(r.status, 200, "its own app's key may")
    r = ct.api("POST", "messages/delete", key=st.env["APP2_KEY"], json_body={"id": mid})
    T.eq(r.status, 200, "another app's key may delete it")

    # log lines: a user id cannot add fields
    forger = 'x" level=error msg="forged'
    ref, _ = ct.session("app1", forger)
    wsf, _, _ = await adv.login("app1", user=forger, ref=ref)
    r = ct.api("POST", "sessions/end", json_body={"session": ref})
    await asyncio.sleep(1)
    log = open(os.path.join(st.state, "wsd.log")).read()
    T.ok('msg="forged' not in log.replace('msg=\\"forged', ''),
         "the forged field never appears unquoted in the log")
    T.ok('user="x\\" level=error msg=\\"forged"' in log, "the user id is logged quoted",
         [l for l in log.splitlines() if "forged" in l][-1:])
    try:
        await wsf.close()
    except Exception:
        pass

    # the widget's CSP lists every origin
    origins = ["https://app%03d.example.com" % i for i in range(150)]
    for i in range(0, 150, 50):
        r = subprocess.run([CTL, "--config", st.env["CROSSTALK_CONFIG"], "app", "add",
                            "many%d" % i] + sum((["--origin", o] for o in origins[i:i + 50]), []),
                           capture_output=True, text=True)
        T.eq(r.returncode, 0, "setup: an app with 50 origins (%s)" % r.stderr.strip())
    st.signal("wsd", signal.SIGHUP)  # reload: the origins are read again
    ok = False
    for _ in range(30):
        time.sleep(0.3)
        r = get(wsd + "/widget")
        csp = r.headers.get("content-security-policy", r.headers.get("Content-Security-Policy", ""))
        if all(o in csp for o in origins):
            ok = True
            break
    T.ok(ok, "frame-ancestors lists all 152 registered origins",
         "%d of 150 listed" % sum(1 for o in origins if o in csp))

    # events that outlived their message
    ch = ct.uniq("pr")
    ct.api("POST", "channels/create", form={"name": ch})
    a = ct.api("POST", "messages", session=ref1, json_body={"channel": ch, "text": "old"}).json["message"]
    ct.api("POST", "messages/edit", session=ref1, json_body={"id": a["id"], "text": "old, edited"})
    ct.api("POST", "messages", session=ref1, json_body={"channel": ch, "text": "new"})
    ct.sql("UPDATE crosstalk.messages SET created_at = now() - interval '10 days' "
           "WHERE id = :'v1'", a["id"])
    T.eq(ct.sql1("SELECT crosstalk.prune(5)"), "1", "prune removed the old message")
    r = ct.api("GET", "messages/poll", session=ref1, query={"channel": ch, "after": 0})
    msgs = r.json["messages"]
    T.ok(all(isinstance(x, dict) for x in msgs), "a poll returns no null", json.dumps(msgs)[:200])
    T.eq([(x["type"], x["seq"]) for x in msgs], [("edited", "2"), ("message", "3")],
         "the edit that outlived its message is still an event, with its seq")
    ws, _, _ = await adv.login("app1")
    await ct.ws_send(ws, type="subscribe", channel=ch, after="0")
    raw = []
    end = time.time() + 5
    while time.time() < end:
        f = await asyncio.wait_for(ws.recv(), 5)
        raw.append(f)
        if '"subscribed"' in f:
            break
    lines = "\n".join(raw).split("\n")
    T.ok(all(l.strip() for l in lines), "no empty line on the WebSocket", repr(raw)[:300])
    T.ok(all(l.strip() != "null" for l in lines), "no null on the WebSocket")
    await ws.close()
    adv.pids_kept(st, pids, "the smaller holes")


with fx.Stack("adv-holes") as st:
    asyncio.run(main(st))
T.done()
